# schema2.sh - make a store's index schema 2, as dcmfs before schema 3
# wrote it (every file name kept and indexed, the SOP class, transfer
# syntax and character set columns since dropped), from its schema 3 rows:
# the stores the upgrade at a first writable open must read and convert.
# Source it after common.sh.

# The names schema 3 gives a row (FORMAT.md, index.db).
SCHEMA3_FNAME="coalesce(fname, sop_uid || '.dcm')"
SCHEMA3_VNAME="coalesce(vname, sop_uid || '.v' || version || '.dcm')"

# to_schema_2 STORE: its index.db (schema 3) made schema 2, checkpointed.
to_schema_2() {
	local F=$SCHEMA3_FNAME V=$SCHEMA3_VNAME
	sqlite3 "$1/index.db" "PRAGMA legacy_alter_table=ON; BEGIN;
CREATE TABLE i2(id INTEGER PRIMARY KEY, series INTEGER NOT NULL, sop_uid TEXT NOT NULL,
 version INTEGER NOT NULL, sop_class TEXT, instance_number INTEGER, frames INTEGER, rows INTEGER,
 columns INTEGER, bits_allocated INTEGER, transfer_syntax TEXT, charset TEXT, modality TEXT,
 size INTEGER NOT NULL, stored_at INTEGER NOT NULL, file_hash BLOB NOT NULL, name TEXT NOT NULL,
 record_pack INTEGER NOT NULL, record_offset INTEGER NOT NULL, record_len INTEGER NOT NULL,
 fname TEXT NOT NULL DEFAULT '', vname TEXT NOT NULL DEFAULT '', current INTEGER NOT NULL DEFAULT 0,
 unclean TEXT NOT NULL DEFAULT '', UNIQUE(sop_uid, version), UNIQUE(series, name));
INSERT INTO i2 SELECT id, series, sop_uid, version, '1.2.840.10008.5.1.4.1.1.2', instance_number,
 frames, rows, columns, bits_allocated, '1.2.840.10008.1.2.1', '', modality, size, stored_at,
 file_hash, CASE WHEN version<=1 THEN $F ELSE $V END, record_pack, record_offset, record_len,
 $F, $V, current, unclean FROM instances;
DROP TABLE instances; ALTER TABLE i2 RENAME TO instances;
CREATE INDEX instances_record ON instances(record_pack, record_offset);
CREATE INDEX instances_fname ON instances(series, fname);
CREATE INDEX instances_vname ON instances(series, vname);
CREATE INDEX instances_unclean ON instances(unclean) WHERE unclean<>'';
PRAGMA user_version=2; COMMIT; PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
}
