/*
 * catalog_sqlite.c - the SQLite catalogue (catalog_sqlite.h): index.db in
 * the store folder, behind the table of catalog_impl.h.  The statements of
 * the hot paths (stmt_sql, vstmt_sql) are prepared once per connection and
 * kept: the filesystem runs the same few lookups millions of times.  Walks
 * that run once per verify, gc or reindex prepare theirs per call.  Folder
 * mtimes and child counts are kept in their rows, so that a stat of a
 * folder is one indexed lookup.
 */
#include "catalog_sqlite.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_names.h"

/* The indexes share rules are matched with (catalog_share_indexes). */
#define SHARE_INDEXES_SQL \
	"CREATE INDEX IF NOT EXISTS studies_accession ON studies(accession);" \
	"CREATE INDEX IF NOT EXISTS studies_date ON studies(study_date);" \
	"CREATE INDEX IF NOT EXISTS series_modality ON series(modality);"

/* The indexes find uses besides the share indexes (catalog_find_indexes):
 * name patterns are matched on upper(name), by range on their prefix. */
#define FIND_INDEXES_SQL \
	"CREATE INDEX IF NOT EXISTS patients_name_upper ON patients(upper(name));" \
	"CREATE INDEX IF NOT EXISTS patients_birth ON patients(birth_date);"

/* The file names of an instance (catalog.h, identity), from its row: its
 * fname and vname columns are NULL when the name is the plain <SOP>.dcm or
 * <SOP>.v<N>.dcm, and hold it only when the SOP UID had to be escaped or
 * cut (escape.h); name (fname for version 1, else vname) is always NULL.
 * Schema 2 kept every name (three copies of the SOP UID, each indexed);
 * these read both.  t: "" or a table alias with its dot. */
#define FNAME_OF(t) "coalesce(" t "fname, " t "sop_uid || '.dcm')"
#define VNAME_OF(t) "coalesce(" t "vname, " t "sop_uid || '.v' || " t "version || '.dcm')"
#define NAME_OF(t) "coalesce(" t "name, CASE WHEN " t "version<=1 THEN " FNAME_OF(t) \
	" ELSE " VNAME_OF(t) " END)"

/* Schema 3's instances table (the upgrade from 2 makes it under another
 * name first) and its indexes.  Schema 2's SOP class, transfer syntax and
 * character set columns are gone: nothing read them, and the record in its
 * pack has them.  A name is looked up by its SOP UID
 * (UNIQUE(sop_uid, version)), or, when it is kept, by the small partial
 * indexes; a folder's listing and counts by instances_series, in id order
 * (creation order). */
#define INSTANCES_COLUMNS \
	"(id INTEGER PRIMARY KEY, series INTEGER NOT NULL, sop_uid TEXT NOT NULL," \
	" version INTEGER NOT NULL, instance_number INTEGER," \
	" frames INTEGER, rows INTEGER, columns INTEGER, bits_allocated INTEGER," \
	" modality TEXT, size INTEGER NOT NULL," \
	" stored_at INTEGER NOT NULL, file_hash BLOB NOT NULL, name TEXT," \
	" record_pack INTEGER NOT NULL, record_offset INTEGER NOT NULL," \
	" record_len INTEGER NOT NULL, fname TEXT, vname TEXT," \
	" current INTEGER NOT NULL DEFAULT 0, unclean TEXT NOT NULL DEFAULT ''," \
	" UNIQUE(sop_uid, version))"
/* unclean: why the dataset does not parse to its end, '' when it does
 * (see catalog_quarantined). */
#define INSTANCES_INDEXES \
	"CREATE INDEX IF NOT EXISTS instances_series ON instances(series, current);" \
	"CREATE INDEX IF NOT EXISTS instances_kept_fname ON instances(series, fname) WHERE fname IS NOT NULL;" \
	"CREATE INDEX IF NOT EXISTS instances_kept_vname ON instances(series, vname) WHERE vname IS NOT NULL;" \
	"CREATE INDEX IF NOT EXISTS instances_unclean ON instances(unclean) WHERE unclean<>'';"
/* The indexes only verify, gc and rm use: a bulk build (catalog_build_open)
 * makes them once at its end, from sorted keys, instead of row by row. */
#define LATE_INDEXES_SQL \
	"CREATE INDEX IF NOT EXISTS instances_record ON instances(record_pack, record_offset);" \
	"CREATE INDEX IF NOT EXISTS segments_blob ON segments(blob);"

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS counters(kind TEXT PRIMARY KEY, next INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS packs(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
	"CREATE TABLE IF NOT EXISTS blobs("
	" id INTEGER PRIMARY KEY, hash BLOB NOT NULL, ordinal INTEGER NOT NULL,"
	" kind INTEGER NOT NULL, raw_size INTEGER NOT NULL, enc_size INTEGER NOT NULL,"
	" pack INTEGER NOT NULL, offset INTEGER NOT NULL, UNIQUE(hash, ordinal));"
	"CREATE TABLE IF NOT EXISTS patients("
	" id INTEGER PRIMARY KEY, patient_id TEXT NOT NULL, issuer TEXT NOT NULL,"
	" name TEXT, birth_date TEXT, sex TEXT, dirname TEXT NOT NULL UNIQUE,"
	" mtime INTEGER NOT NULL DEFAULT 0, nchildren INTEGER NOT NULL DEFAULT 0,"
	" UNIQUE(patient_id, issuer));"
	"CREATE TABLE IF NOT EXISTS studies("
	" id INTEGER PRIMARY KEY, patient INTEGER NOT NULL, study_uid TEXT NOT NULL,"
	" study_date TEXT, study_time TEXT, description TEXT, accession TEXT,"
	" referring TEXT, dirname TEXT NOT NULL, mtime INTEGER NOT NULL DEFAULT 0,"
	" nchildren INTEGER NOT NULL DEFAULT 0,"
	" UNIQUE(patient, study_uid), UNIQUE(patient, dirname));"
	"CREATE INDEX IF NOT EXISTS studies_uid ON studies(study_uid);"
	"CREATE TABLE IF NOT EXISTS series("
	" id INTEGER PRIMARY KEY, study INTEGER NOT NULL, series_uid TEXT NOT NULL,"
	" modality TEXT, number INTEGER, description TEXT, dirname TEXT NOT NULL,"
	" mtime INTEGER NOT NULL DEFAULT 0, nchildren INTEGER NOT NULL DEFAULT 0,"
	" UNIQUE(study, series_uid), UNIQUE(study, dirname));"
	"CREATE INDEX IF NOT EXISTS series_uid ON series(series_uid);"
	"CREATE TABLE IF NOT EXISTS instances" INSTANCES_COLUMNS ";"
	INSTANCES_INDEXES
	"CREATE TABLE IF NOT EXISTS segments("
	" instance INTEGER NOT NULL, idx INTEGER NOT NULL, blob INTEGER NOT NULL,"
	" PRIMARY KEY(instance, idx)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS import_log("
	" id INTEGER PRIMARY KEY, started INTEGER, ended INTEGER, n_new INTEGER,"
	" n_duplicate INTEGER, n_version INTEGER, n_rejected INTEGER,"
	" bytes_in INTEGER, bytes_stored INTEGER);"
	SHARE_INDEXES_SQL
	FIND_INDEXES_SQL;

/* Schema 2 to 3, at the first writable open of a store of schema 2: the
 * instances table made again without the names the SOP UID gives, and
 * without their three indexes.  legacy_alter_table: the triggers on other
 * tables that name instances must go on naming it, untouched by the
 * rename.  The triggers on instances go with the old table: feed_create
 * and tallies_create make them again. */
static const char upgrade_2_sql[] =
	"CREATE TABLE instances_3" INSTANCES_COLUMNS ";"
	"INSERT INTO instances_3 SELECT id, series, sop_uid, version, instance_number,"
	" frames, rows, columns, bits_allocated, modality, size, stored_at,"
	" file_hash, NULL, record_pack, record_offset, record_len,"
	" nullif(nullif(fname, ''), sop_uid || '.dcm'),"
	" nullif(nullif(vname, ''), sop_uid || '.v' || version || '.dcm'), current, unclean"
	" FROM instances ORDER BY id;"
	"DROP TABLE instances; ALTER TABLE instances_3 RENAME TO instances;"
	INSTANCES_INDEXES LATE_INDEXES_SQL
	"PRAGMA user_version=3;";

/* The columns node_from_row reads, in its order: id, parent, name, mtime,
 * and the file size (instances) or the number of entries shown (folders). */
#define NODE_PATIENTS "SELECT id, 0, dirname, mtime, nchildren FROM patients"
#define NODE_STUDIES "SELECT id, patient, dirname, mtime, nchildren FROM studies"
#define NODE_SERIES "SELECT id, study, dirname, mtime, nchildren FROM series"
#define NODE_INSTANCES(name) "SELECT id, series, " name ", stored_at, size FROM instances"
#define NODE_FNAME NODE_INSTANCES(FNAME_OF(""))
#define NODE_VNAME NODE_INSTANCES(VNAME_OF(""))

/* The change feed (catalog.h): the table, the triggers that fill it, and
 * the one that bounds it.  A folder row is recorded only when what
 * /patients shows of it changes (its name, mtime or child count, while it
 * is shown before or after), so prune's store-wide recount adds rows only
 * for the folders it changed.  FOLDER_TRIGGERS(table, kind, parent of NEW,
 * parent of OLD) makes the three triggers of a folder table. */
#define FEED_ROW "INSERT INTO changes(kind, id, parent, name, mtime, state)"
#define FOLDER_TRIGGERS(t, k, pnew, pold) \
	"CREATE TRIGGER IF NOT EXISTS changes_" t "_add AFTER INSERT ON " t \
	" WHEN NEW.nchildren>0 BEGIN " FEED_ROW \
	" VALUES(" k ", NEW.id, " pnew ", NEW.dirname, NEW.mtime, 1); END;" \
	"CREATE TRIGGER IF NOT EXISTS changes_" t "_change AFTER UPDATE OF dirname, mtime, nchildren" \
	" ON " t " WHEN (OLD.nchildren>0 OR NEW.nchildren>0) AND (OLD.dirname IS NOT NEW.dirname" \
	" OR OLD.mtime IS NOT NEW.mtime OR OLD.nchildren IS NOT NEW.nchildren) BEGIN " \
	FEED_ROW " SELECT " k ", OLD.id, " pold ", OLD.dirname, OLD.mtime, 0" \
	" WHERE OLD.dirname IS NOT NEW.dirname AND OLD.nchildren>0; " \
	FEED_ROW " VALUES(" k ", NEW.id, " pnew ", NEW.dirname, NEW.mtime, NEW.nchildren>0); END;" \
	"CREATE TRIGGER IF NOT EXISTS changes_" t "_delete AFTER DELETE ON " t " BEGIN " FEED_ROW \
	" VALUES(" k ", OLD.id, " pold ", OLD.dirname, OLD.mtime, -1); END;"
#define KEPT_TEXT(n) #n
#define KEPT(n) KEPT_TEXT(n)
static const char feed_sql[] =
	/* seq without AUTOINCREMENT (a write less per row): rows go from the
	 * oldest end only and the newest always stays, so seq still only grows. */
	"CREATE TABLE IF NOT EXISTS changes(seq INTEGER PRIMARY KEY,"
	" kind INTEGER NOT NULL, id INTEGER NOT NULL, parent INTEGER NOT NULL,"
	" name TEXT NOT NULL, mtime INTEGER NOT NULL, state INTEGER NOT NULL);"
	FOLDER_TRIGGERS("patients", "1", "0", "0")
	FOLDER_TRIGGERS("studies", "2", "NEW.patient", "OLD.patient")
	FOLDER_TRIGGERS("series", "3", "NEW.study", "OLD.study")
	/* Files: only a current version that stops being current needs a row
	 * (its cached name must go); a new one changes its series row anyway. */
	"CREATE TRIGGER IF NOT EXISTS changes_instances_delete AFTER DELETE ON instances"
	" WHEN OLD.current=1 BEGIN " FEED_ROW
	" VALUES(4, OLD.id, OLD.series, " FNAME_OF("OLD.") ", OLD.stored_at, -1); END;"
	"CREATE TRIGGER IF NOT EXISTS changes_instances_hide AFTER UPDATE OF current, fname"
	" ON instances WHEN OLD.current=1 AND (NEW.current=0 OR OLD.fname IS NOT NEW.fname) BEGIN "
	FEED_ROW " VALUES(4, OLD.id, OLD.series, " FNAME_OF("OLD.") ", OLD.stored_at, 0); END;"
	/* Amortised: one range delete (by primary key) every 1024 rows. */
	"CREATE TRIGGER IF NOT EXISTS changes_bound AFTER INSERT ON changes"
	" WHEN NEW.seq % 1024 = 0 BEGIN DELETE FROM changes WHERE seq <= NEW.seq - "
	KEPT(CATALOG_CHANGES_KEPT) "; END;";

/* The kept totals stats reads instead of scanning (catalog_totals): made
 * and filled once at the first writable open of a store without them, then
 * kept by triggers in the transaction of every change, so a crash leaves
 * them as right as the rows they count.
 *   tallies          per series and modality: instances, later versions,
 *                    their bytes (a few rows per series)
 *   blob_tallies     per blob kind: blobs, raw and encoded bytes
 *   modality_blobs   per modality: the bytes of the blobs its instances
 *                    reference, each blob once (shared blobs count in
 *                    each modality that references them)
 * Instance rows change only in current, names and unclean, and blob rows
 * never: inserts and deletes are all the triggers need to see.  A segment
 * is inserted after its instance and deleted before it (catalog_insert_
 * instance, delete_instance_rows), so its trigger finds the modality. */
#define TALLY_MODALITY(inst) "(SELECT coalesce(modality,'') FROM instances WHERE id=" inst ")"
/* Whether another segment row than this one references blob b from an
 * instance of modality m. */
#define TALLY_BLOB_ELSEWHERE(row, b, m) \
	"EXISTS(SELECT 1 FROM segments g JOIN instances i ON i.id=g.instance WHERE g.blob=" b \
	" AND (g.instance<>" row ".instance OR g.idx<>" row ".idx) AND coalesce(i.modality,'')=" m ")"
#define TALLY_BLOB_ADD(sign, row) \
	"INSERT INTO modality_blobs(modality, raw, enc, pixel_raw, pixel_enc)" \
	" SELECT m, " sign "raw_size, " sign "enc_size, " sign "(kind=1)*raw_size, " sign "(kind=1)*enc_size" \
	" FROM blobs, (SELECT " TALLY_MODALITY(row ".instance") " AS m) WHERE blobs.id=" row ".blob" \
	" ON CONFLICT(modality) DO UPDATE SET raw=raw+excluded.raw, enc=enc+excluded.enc," \
	" pixel_raw=pixel_raw+excluded.pixel_raw, pixel_enc=pixel_enc+excluded.pixel_enc;"
static const char tally_tables_sql[] =
	"CREATE TABLE IF NOT EXISTS tallies(series INTEGER NOT NULL, modality TEXT NOT NULL,"
	" instances INTEGER NOT NULL, versions INTEGER NOT NULL, bytes INTEGER NOT NULL,"
	" PRIMARY KEY(series, modality)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS blob_tallies(kind INTEGER PRIMARY KEY, blobs INTEGER NOT NULL,"
	" raw INTEGER NOT NULL, enc INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS modality_blobs(modality TEXT PRIMARY KEY, raw INTEGER NOT NULL,"
	" enc INTEGER NOT NULL, pixel_raw INTEGER NOT NULL, pixel_enc INTEGER NOT NULL);";
/* What the kept totals must hold, counted from the rows (the first fill,
 * and verify's check). */
#define TALLIES_COUNTED \
	"SELECT series, coalesce(modality,'') AS modality, count(*) AS instances," \
	" sum(version>1) AS versions, sum(size) AS bytes" \
	" FROM instances GROUP BY 1, 2"
#define BLOB_TALLIES_COUNTED \
	"SELECT kind, count(*) AS blobs, sum(raw_size) AS raw, sum(enc_size) AS enc FROM blobs GROUP BY kind"
#define MODALITY_BLOBS_COUNTED \
	"SELECT m AS modality, sum(raw_size) AS raw, sum(enc_size) AS enc," \
	" sum((kind=1)*raw_size) AS pixel_raw, sum((kind=1)*enc_size) AS pixel_enc" \
	" FROM (SELECT DISTINCT coalesce(i.modality,'') AS m, g.blob AS blob FROM segments g" \
	" JOIN instances i ON i.id=g.instance) JOIN blobs b ON b.id=blob GROUP BY m"
static const char tally_fill_sql[] =
	"DELETE FROM tallies; INSERT INTO tallies " TALLIES_COUNTED ";"
	"DELETE FROM blob_tallies; INSERT INTO blob_tallies " BLOB_TALLIES_COUNTED ";"
	"DELETE FROM modality_blobs; INSERT INTO modality_blobs " MODALITY_BLOBS_COUNTED ";";
static const char tally_triggers_sql[] =
	"CREATE TRIGGER IF NOT EXISTS tally_instance_add AFTER INSERT ON instances BEGIN"
	" INSERT INTO tallies(series, modality, instances, versions, bytes)"
	" VALUES(NEW.series, coalesce(NEW.modality,''), 1, NEW.version>1, NEW.size)"
	" ON CONFLICT(series, modality) DO UPDATE SET instances=instances+1,"
	" versions=versions+excluded.versions, bytes=bytes+excluded.bytes; END;"
	"CREATE TRIGGER IF NOT EXISTS tally_instance_drop AFTER DELETE ON instances BEGIN"
	" UPDATE tallies SET instances=instances-1, versions=versions-(OLD.version>1), bytes=bytes-OLD.size"
	" WHERE series=OLD.series AND modality=coalesce(OLD.modality,'');"
	" DELETE FROM tallies WHERE series=OLD.series AND modality=coalesce(OLD.modality,'')"
	" AND instances<=0; END;"
	"CREATE TRIGGER IF NOT EXISTS tally_blob_add AFTER INSERT ON blobs BEGIN"
	" INSERT INTO blob_tallies(kind, blobs, raw, enc) VALUES(NEW.kind, 1, NEW.raw_size, NEW.enc_size)"
	" ON CONFLICT(kind) DO UPDATE SET blobs=blobs+1, raw=raw+excluded.raw, enc=enc+excluded.enc; END;"
	"CREATE TRIGGER IF NOT EXISTS tally_blob_drop AFTER DELETE ON blobs BEGIN"
	" UPDATE blob_tallies SET blobs=blobs-1, raw=raw-OLD.raw_size, enc=enc-OLD.enc_size"
	" WHERE kind=OLD.kind; END;"
	"CREATE TRIGGER IF NOT EXISTS tally_segment_add AFTER INSERT ON segments"
	" WHEN NOT " TALLY_BLOB_ELSEWHERE("NEW", "NEW.blob", TALLY_MODALITY("NEW.instance")) " BEGIN "
	TALLY_BLOB_ADD("", "NEW") " END;"
	/* the last one made: tallies_create looks for it */
	"CREATE TRIGGER IF NOT EXISTS tally_segment_drop AFTER DELETE ON segments"
	" WHEN NOT " TALLY_BLOB_ELSEWHERE("OLD", "OLD.blob", TALLY_MODALITY("OLD.instance")) " BEGIN "
	TALLY_BLOB_ADD("-", "OLD") " END;";

enum stmt_id {
	S_RESERVE_GET, S_RESERVE_SET, S_BLOB_CAND, S_BLOB_ID, S_BLOB_KEY,
	S_BLOB_INS, S_PACK_GET, S_PACK_INS, S_PACK_NAME, S_VERSIONS, S_SEGMENTS,
	S_PAT_GET, S_PAT_INS, S_STU_GET, S_STU_INS, S_SER_GET, S_SER_INS,
	S_INST_INS, S_SEG_INS, S_PAT_TOUCH, S_STU_TOUCH, S_SER_TOUCH,
	S_CH_PATIENTS, S_CH_STUDIES, S_CH_SERIES, S_CH_INSTANCES,
	S_LK_PATIENT, S_LK_STUDY, S_LK_SERIES, S_LK_INSTANCE, S_LK_INSTANCE_SOP,
	S_NODE_PATIENT, S_NODE_STUDY, S_NODE_SERIES, S_NODE_INSTANCE, S_INST_SHOWN,
	S_INST_RECORD, S_INST_DEL, S_SEG_DEL, S_DATA_VERSION, S_NEXT_IN_SERIES,
	S_RX_TOMB_ADD, S_RX_TOMB_HAS, S_RX_DEFER, S_RX_NEXT,
	S_RX_FOLDERS, S_RX_DROP_SERIES, S_RX_DROP_STUDY, S_RX_DROP_PATIENT,
	S_NSTMT
};

static const char *stmt_sql[S_NSTMT] = {
	[S_RESERVE_GET] = "SELECT next FROM counters WHERE kind=?1",
	[S_RESERVE_SET] = "INSERT INTO counters(kind, next) VALUES(?1, ?2)"
			  " ON CONFLICT(kind) DO UPDATE SET next=excluded.next",
	[S_BLOB_CAND] = "SELECT id, hash, ordinal, kind, raw_size, enc_size, pack, offset"
			" FROM blobs WHERE hash=?1 ORDER BY ordinal",
	[S_BLOB_ID] = "SELECT id, hash, ordinal, kind, raw_size, enc_size, pack, offset"
		      " FROM blobs WHERE id=?1",
	[S_BLOB_KEY] = "SELECT id, hash, ordinal, kind, raw_size, enc_size, pack, offset"
		       " FROM blobs WHERE hash=?1 AND ordinal=?2",
	[S_BLOB_INS] = "INSERT INTO blobs(id, hash, ordinal, kind, raw_size, enc_size, pack, offset)"
		       " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[S_PACK_GET] = "SELECT id FROM packs WHERE name=?1",
	[S_PACK_INS] = "INSERT INTO packs(name) VALUES(?1)",
	[S_PACK_NAME] = "SELECT name FROM packs WHERE id=?1",
	[S_VERSIONS] = "SELECT id, version, size, file_hash, series, current, unclean<>''"
		       " FROM instances WHERE sop_uid=?1 ORDER BY version",
	[S_SEGMENTS] = "SELECT b.id, b.hash, b.ordinal, b.kind, b.raw_size, b.enc_size, b.pack, b.offset"
		       " FROM segments s JOIN blobs b ON b.id=s.blob WHERE s.instance=?1 ORDER BY s.idx",
	[S_PAT_GET] = "SELECT id FROM patients WHERE patient_id=?1 AND issuer=?2",
	[S_PAT_INS] = "INSERT INTO patients(id, patient_id, issuer, name, birth_date, sex, dirname)"
		      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[S_STU_GET] = "SELECT id FROM studies WHERE patient=?1 AND study_uid=?2",
	[S_STU_INS] = "INSERT INTO studies(id, patient, study_uid, study_date, study_time, description,"
		      " accession, referring, dirname) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[S_SER_GET] = "SELECT id FROM series WHERE study=?1 AND series_uid=?2",
	[S_SER_INS] = "INSERT INTO series(id, study, series_uid, modality, number, description, dirname)"
		      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[S_INST_INS] = "INSERT INTO instances(id, series, sop_uid, version, instance_number,"
		       " frames, rows, columns, bits_allocated, modality, size,"
		       " stored_at, file_hash, name, record_pack, record_offset, record_len,"
		       " fname, vname, unclean)"
		       " VALUES(?1, ?2, ?3, ?4, ?6, ?7, ?8, ?9,"
		       " ?10, ?13, ?14, ?15, ?16, NULL, ?18, ?19, ?20, ?21, ?22, ?23)",
	[S_SEG_INS] = "INSERT INTO segments(instance, idx, blob) VALUES(?1, ?2, ?3)",
	/* /patients shows current versions only (catalog.h): a folder's
	 * nchildren counts what it shows, and folders showing nothing (all
	 * their instances have a newer version elsewhere) are left out. */
	[S_PAT_TOUCH] = "UPDATE patients SET mtime=max(mtime, ?2),"
			" nchildren=(SELECT count(*) FROM studies WHERE patient=?1 AND nchildren>0) WHERE id=?1",
	[S_STU_TOUCH] = "UPDATE studies SET mtime=max(mtime, ?2),"
			" nchildren=(SELECT count(*) FROM series WHERE study=?1 AND nchildren>0) WHERE id=?1",
	[S_SER_TOUCH] = "UPDATE series SET mtime=max(mtime, ?2),"
			" nchildren=(SELECT count(*) FROM instances WHERE series=?1 AND current=1) WHERE id=?1",
	[S_CH_PATIENTS] = NODE_PATIENTS " WHERE nchildren>0 ORDER BY id",
	[S_CH_STUDIES] = NODE_STUDIES " WHERE patient=?1"
			 " AND nchildren>0 ORDER BY id",
	[S_CH_SERIES] = NODE_SERIES " WHERE study=?1"
			" AND nchildren>0 ORDER BY id",
	[S_CH_INSTANCES] = NODE_FNAME " WHERE series=?1"
			   " AND current=1 ORDER BY id",
	[S_LK_PATIENT] = NODE_PATIENTS " WHERE dirname=?2 AND nchildren>0",
	[S_LK_STUDY] = NODE_STUDIES " WHERE patient=?1"
		       " AND dirname=?2 AND nchildren>0",
	[S_LK_SERIES] = NODE_SERIES " WHERE study=?1"
			" AND dirname=?2 AND nchildren>0",
	[S_LK_INSTANCE] = NODE_FNAME " WHERE series=?1"
			  " AND fname=?2 AND current=1",
	/* '+': by the SOP UID's index, never by scanning the series */
	[S_LK_INSTANCE_SOP] = NODE_FNAME " WHERE sop_uid=?2 AND +series=?1 AND +current=1",
	[S_NODE_PATIENT] = NODE_PATIENTS " WHERE id=?1",
	[S_NODE_STUDY] = NODE_STUDIES " WHERE id=?1",
	[S_NODE_SERIES] = NODE_SERIES " WHERE id=?1",
	[S_NODE_INSTANCE] = NODE_INSTANCES(NAME_OF("")) " WHERE id=?1",
	[S_INST_SHOWN] = "SELECT series, current FROM instances WHERE id=?1",
	[S_INST_RECORD] = "SELECT i.id, i.series, se.study, st.patient, i.sop_uid, i.version, i.size,"
			  " i.file_hash, i.record_pack, i.record_offset, i.record_len"
			  " FROM instances i LEFT JOIN series se ON se.id=i.series"
			  " LEFT JOIN studies st ON st.id=se.study WHERE i.id=?1",
	[S_INST_DEL] = "DELETE FROM instances WHERE id=?1",
	[S_SEG_DEL] = "DELETE FROM segments WHERE instance=?1",
	[S_DATA_VERSION] = "PRAGMA data_version",
	[S_NEXT_IN_SERIES] = "SELECT n.id, n.size FROM instances i JOIN instances n ON n.series=i.series"
			     " AND n.current=1 AND n.id>i.id WHERE i.id=?1 ORDER BY n.id LIMIT ?2",
	/* Reindex scratch tables (catalog_rx_begin). */
	[S_RX_TOMB_ADD] = "INSERT OR IGNORE INTO temp.rx_tomb(id) VALUES(?1)",
	[S_RX_TOMB_HAS] = "SELECT 1 FROM temp.rx_tomb WHERE id=?1",
	[S_RX_FOLDERS] = "SELECT se.id, se.study, st.patient FROM instances i JOIN series se ON se.id=i.series"
			 " JOIN studies st ON st.id=se.study WHERE i.id=?1",
	[S_RX_DROP_SERIES] = "DELETE FROM series WHERE id=?1"
			     " AND NOT EXISTS(SELECT 1 FROM instances WHERE series=?1)",
	[S_RX_DROP_STUDY] = "DELETE FROM studies WHERE id=?1"
			    " AND NOT EXISTS(SELECT 1 FROM series WHERE study=?1)",
	[S_RX_DROP_PATIENT] = "DELETE FROM patients WHERE id=?1"
			      " AND NOT EXISTS(SELECT 1 FROM studies WHERE patient=?1)",
	[S_RX_DEFER] = "INSERT INTO temp.rx_defer(pack, offset, payload) VALUES(?1, ?2, ?3)",
	[S_RX_NEXT] = "SELECT seq, pack, offset, payload FROM temp.rx_defer WHERE seq>?1"
		      " ORDER BY seq LIMIT 1",
};

/* Statements of the identity rules and the /versions and /quarantine views
 * (kept apart from the table above: one job, one list). */
enum vstmt_id {
	V_DIRNAME_USED, V_CURRENT, V_FOLDERS,
	V_CH_PATIENTS, V_CH_STUDIES, V_CH_SERIES, V_CH_INSTANCES,
	V_LK_PATIENT, V_LK_STUDY, V_LK_SERIES, V_LK_INSTANCE, V_LK_INSTANCE_SOP, V_NODE_INSTANCE,
	V_NSTMT
};

/* Statements verify asks for every instance, prepared once per connection. */
enum { VERIFY_ST_SEGMENTS_OWNERS, VERIFY_ST_IDENTITY, VERIFY_NST };

/* One connection: struct catalog first, so a struct catalog * is one. */
struct sqlite_catalog {
	struct catalog base;                /* ops = &catalog_sqlite_ops */
	sqlite3 *db;
	sqlite3_stmt *st[S_NSTMT];
	sqlite3_stmt *vst[2 * V_NSTMT];     /* [view - 1][id] */
	int building;                       /* catalog_build_open's connection */
	sqlite3_stmt *verify_st[VERIFY_NST];   /* asked once or more per instance by verify */
};

static struct sqlite_catalog *sq(struct catalog *cat)
{
	return (struct sqlite_catalog *)cat;
}

/* The statement for sql, prepared into *slot on first use and kept; reset
 * and unbound, ready to bind.  NULL when it does not prepare. */
static sqlite3_stmt *cached_stmt(sqlite3 *db, sqlite3_stmt **slot, const char *sql)
{
	if (!*slot &&
	    sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_reset(*slot);
	sqlite3_clear_bindings(*slot);
	return *slot;
}

static sqlite3_stmt *stmt(struct sqlite_catalog *c, enum stmt_id id)
{
	return cached_stmt(c->db, &c->st[id], stmt_sql[id]);
}

/* Map SQLite result codes to errno values for callers. */
static int sqerr(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK: case SQLITE_DONE: case SQLITE_ROW: return 0;
	case SQLITE_BUSY: case SQLITE_LOCKED: return -EBUSY;
	case SQLITE_NOMEM: return -ENOMEM;
	case SQLITE_FULL: return -ENOSPC;
	case SQLITE_READONLY: return -EROFS;
	case SQLITE_CONSTRAINT: return -EEXIST;
	case SQLITE_CANTOPEN: return -ENOENT;
	case SQLITE_PERM: case SQLITE_AUTH: return -EACCES;
	default: return -EIO;
	}
}

static int step_done(sqlite3_stmt *s)
{
	if (!s)
		return -EIO;
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sqerr(rc);
}

static int sq_exec(struct catalog *cat, const char *sql)
{
	struct sqlite_catalog *c = sq(cat);
	return sqerr(sqlite3_exec(c->db, sql, NULL, NULL, NULL));
}

static const char *sq_errmsg(struct catalog *cat) { return sqlite3_errmsg(sq(cat)->db); }

static int identity_placed(struct sqlite_catalog *c, const struct instance_record *r);
static sqlite3_stmt *vstmt(struct sqlite_catalog *c, enum vstmt_id id);

/* Make current, for every SOPInstanceUID without a current version, its
 * newest clean version, or its newest if none is clean. */
#define IDENTITY_PICK_CURRENT \
	"UPDATE instances SET current=1 WHERE id IN (SELECT (SELECT j.id FROM instances j" \
	" WHERE j.sop_uid=i.sop_uid ORDER BY j.unclean<>'', j.version DESC LIMIT 1)" \
	" FROM instances i GROUP BY i.sop_uid HAVING max(i.current)=0);"

/* Run sql (a whole transaction) that adds what to the schema: 0, or -EIO
 * with err saying what could not be added. */
static int schema_add(struct sqlite_catalog *c, const char *sql, const char *what, char *err, size_t errlen)
{
	char *msg = NULL;
	if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "cannot add %s to the index: %s", what, msg ? msg : "?");
		sqlite3_free(msg);
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		return -EIO;
	}
	return 0;
}

/* Make the change feed unless it is there (the last trigger made tells):
 * checking first keeps a writable open from taking the write lock. */
static int feed_create(struct sqlite_catalog *c, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int there = 0;
	/* changes_instances_hide too: schema 2's upgrade drops it */
	if (sqlite3_prepare_v2(c->db, "SELECT count(*) FROM sqlite_master WHERE type='trigger'"
			       " AND name IN ('changes_bound', 'changes_instances_hide')", -1, &s, NULL) == SQLITE_OK) {
		there = sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) == 2;
		sqlite3_finalize(s);
	}
	if (there)
		return 0;
	char sql[sizeof(feed_sql) + 32];
	snprintf(sql, sizeof(sql), "BEGIN IMMEDIATE;%sCOMMIT;", feed_sql);
	return schema_add(c, sql, "the change feed", err, errlen);
}

/* Make find's indexes unless they are there (checked first, as the
 * feed is, so that a writable open takes no write lock for nothing). */
static int find_indexes_create(struct sqlite_catalog *c, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int there = 0;
	/* find also uses the share indexes, which older stores made only
	 * with their first share: they are made here too */
	if (sqlite3_prepare_v2(c->db, "SELECT count(*) FROM sqlite_master WHERE type='index'"
			       " AND name IN ('patients_name_upper', 'patients_birth', 'studies_accession',"
			       " 'studies_date', 'series_modality')", -1, &s, NULL) == SQLITE_OK) {
		there = sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) == 5;
		sqlite3_finalize(s);
	}
	if (there)
		return 0;
	return schema_add(c, "BEGIN IMMEDIATE;" FIND_INDEXES_SQL SHARE_INDEXES_SQL "COMMIT;",
			  "the search indexes", err, errlen);
}

/* Whether the kept totals are there (their last trigger made tells). */
static int tallies_there(sqlite3 *db)
{
	sqlite3_stmt *s;
	int there = 0;
	/* tally_instance_drop too: schema 2's upgrade drops it */
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE type='trigger'"
			       " AND name IN ('tally_segment_drop', 'tally_instance_drop')", -1, &s, NULL) == SQLITE_OK) {
		there = sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) == 2;
		sqlite3_finalize(s);
	}
	return there;
}

/* Make the kept totals unless they are there, counted once from the rows
 * in the same transaction as their triggers (the upgrade of a store made
 * before them: one scan, then never again). */
static int tallies_create(struct sqlite_catalog *c, char *err, size_t errlen)
{
	if (tallies_there(c->db))
		return 0;
	char sql[sizeof(tally_tables_sql) + sizeof(tally_fill_sql) + sizeof(tally_triggers_sql) + 32];
	snprintf(sql, sizeof(sql), "BEGIN IMMEDIATE;%s%s%sCOMMIT;", tally_tables_sql, tally_fill_sql,
		 tally_triggers_sql);
	/* The fill's DISTINCT over every segment is a sort as big as the
	 * store: on disk, not in the daemon's memory (190 MB at 1M). */
	sqlite3_exec(c->db, "PRAGMA temp_store=FILE", NULL, NULL, NULL);
	int r = schema_add(c, sql, "the kept totals", err, errlen);
	sqlite3_exec(c->db, "PRAGMA temp_store=MEMORY", NULL, NULL, NULL);
	return r;
}

/* How long a connection waits for another's write lock; and a writer
 * opening a schema 2 index for another's upgrade of it (upgrade_from_2). */
#define BUSY_WAIT_MS 30000
#define UPGRADE_WAIT_MS (15 * 60 * 1000)

/* upgrade_2_sql in one transaction, unless another writer made the index
 * schema 3 while this one waited for the write lock (two opening at once):
 * the version is read again under the lock, so the rows are copied once. */
static int upgrade_from_2(struct sqlite_catalog *c, char *err, size_t errlen)
{
	static const char what[] = "schema 3 (instances without their names)";
	/* Who holds the lock of a schema 2 index is upgrading it (any other
	 * writer would have upgraded it first): a minute at 1M instances,
	 * past the usual wait, so this one waits up to UPGRADE_WAIT_MS. */
	sqlite3_busy_timeout(c->db, UPGRADE_WAIT_MS);
	int r = schema_add(c, "PRAGMA legacy_alter_table=ON; BEGIN IMMEDIATE", what, err, errlen);
	sqlite3_busy_timeout(c->db, BUSY_WAIT_MS);
	sqlite3_stmt *s;
	int version = -1;
	if (!r && sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW)
			version = sqlite3_column_int(s, 0);
		sqlite3_finalize(s);
	}
	if (!r && version != 2 && version != CATALOG_SCHEMA_VERSION) {
		snprintf(err, errlen, "cannot add %s to the index: its schema version is now %d",
			 what, version);
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		r = -EIO;
	}
	if (!r && version == 2)
		r = schema_add(c, upgrade_2_sql, what, err, errlen);
	if (!r)
		r = schema_add(c, "COMMIT", what, err, errlen);
	sqlite3_exec(c->db, "PRAGMA legacy_alter_table=OFF", NULL, NULL, NULL);
	return r;
}

/* catalog_sqlite_open, or with building catalog_sqlite_build_open. */
static int open_index(const char *store_dir, int create, int readonly, int building,
		      struct catalog **out, char *err, size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/index.db", store_dir);
	struct sqlite_catalog *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->base.ops = &catalog_sqlite_ops;
	c->building = building;
	int flags = SQLITE_OPEN_NOMUTEX |
		    (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
		    (create ? SQLITE_OPEN_CREATE : 0);
	int rc = sqlite3_open_v2(path, &c->db, flags, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open '%s': %s", path,
			 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		sqlite3_close(c->db);
		free(c);
		return sqerr(rc) ? sqerr(rc) : -EIO;
	}
	sqlite3_busy_timeout(c->db, BUSY_WAIT_MS);
	sqlite3_stmt *s;
	int version = -1;
	if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW)
			version = sqlite3_column_int(s, 0);
		sqlite3_finalize(s);
	}
	if (version < 0) {
		snprintf(err, errlen, "'%s' is not a dcmfs index: %s", path, sqlite3_errmsg(c->db));
		goto fail;
	}
	if (version > CATALOG_SCHEMA_VERSION) {
		snprintf(err, errlen, "store index has schema version %d, newer than this dcmfs (%d): upgrade dcmfs",
			 version, CATALOG_SCHEMA_VERSION);
		goto fail;
	}
	if (version == 2 && !readonly) {
		/* Schema 2 reads as it is; a writer makes it 3 first. */
		if (upgrade_from_2(c, err, errlen))
			goto fail;
		version = CATALOG_SCHEMA_VERSION;
	}
	if (version > 0 && version < CATALOG_SCHEMA_READABLE) {
		/* The index is a cache: rebuilding it from the packs is the
		 * upgrade (schema 1 kept a second copy of every record). */
		snprintf(err, errlen, "store index has schema version %d, older than this dcmfs (%d):"
			 " rebuild it with 'dcmfsctl reindex %s'", version, CATALOG_SCHEMA_VERSION, store_dir);
		goto fail;
	}
	if (building) {
		/* A new file nobody else opens, thrown away unless finished:
		 * nothing to journal, one fsync by the caller at the end. */
		sqlite3_exec(c->db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
			     " PRAGMA cache_size=-65536", NULL, NULL, NULL);
	} else if (!readonly) {
		/* WAL lets the mount read while an import writes; NORMAL sync is
		 * safe in WAL mode (a crash loses recent commits, never order). */
		sqlite3_exec(c->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
	}
	if (!building)
		sqlite3_exec(c->db, "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-8000;"
			     " PRAGMA temp_store=MEMORY", NULL, NULL, NULL);
	if (version == 0) {
		if (!create) {
			snprintf(err, errlen, "'%s' has no dcmfs schema", path);
			goto fail;
		}
		char *msg = NULL;
		char sql[sizeof(schema_sql) + sizeof(LATE_INDEXES_SQL) + 64];
		snprintf(sql, sizeof(sql), "BEGIN IMMEDIATE;%s%sPRAGMA user_version=%d;COMMIT;",
			 schema_sql, c->building ? "" : LATE_INDEXES_SQL, CATALOG_SCHEMA_VERSION);
		if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
			snprintf(err, errlen, "cannot create schema in '%s': %s", path, msg ? msg : "?");
			sqlite3_free(msg);
			goto fail;
		}
	}
	/* A new index.db gets its feed at its next writable open: reindex
	 * fills a new one in one long transaction, and a feed of that would
	 * cost it dearly and serve no mount (none runs across a reindex). */
	if (!readonly && version == CATALOG_SCHEMA_VERSION && feed_create(c, err, errlen))
		goto fail;
	if (!readonly && version == CATALOG_SCHEMA_VERSION && find_indexes_create(c, err, errlen))
		goto fail;
	if (!readonly && version == CATALOG_SCHEMA_VERSION && tallies_create(c, err, errlen))
		goto fail;
	*out = &c->base;
	return 0;
fail:
	sqlite3_close(c->db);
	free(c);
	return -EINVAL;
}

int catalog_sqlite_open(const char *store_dir, int create, int readonly,
			struct catalog **out, char *err, size_t errlen)
{
	return open_index(store_dir, create, readonly, 0, out, err, errlen);
}

int catalog_sqlite_build_open(const char *dir, struct catalog **out, char *err, size_t errlen)
{
	return open_index(dir, 1, 0, 1, out, err, errlen);
}

static int sq_build_indexes(struct catalog *cat)
{
	/* The kept totals too, counted once here (the build's temporary
	 * store is on disk), so the index reindex puts in place is whole: its
	 * first writable open (a mount) has nothing left to count. */
	int r = sq_exec(cat, LATE_INDEXES_SQL);
	if (!r)
		r = sq_exec(cat, tally_tables_sql);
	if (!r)
		r = sq_exec(cat, tally_fill_sql);
	if (!r)
		r = sq_exec(cat, tally_triggers_sql);
	return r;
}

static void sq_close(struct catalog *cat)
{
	struct sqlite_catalog *c = sq(cat);
	if (!c)
		return;
	for (int i = 0; i < S_NSTMT; i++)
		sqlite3_finalize(c->st[i]);
	for (int i = 0; i < 2 * V_NSTMT; i++)
		sqlite3_finalize(c->vst[i]);
	for (int i = 0; i < VERIFY_NST; i++)
		sqlite3_finalize(c->verify_st[i]);
	sqlite3_close(c->db);
	free(c);
}

static int64_t sq_data_version(struct catalog *cat)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s = stmt(c, S_DATA_VERSION);
	int64_t v = -1;
	if (s && sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	if (s)
		sqlite3_reset(s);
	return v;
}

static int sq_bulk_writer(struct catalog *cat)
{
	/* 64 MiB of cache, a WAL of up to 16 MiB between checkpoints */
	return sq_exec(cat, "PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=4096");
}

static int sq_begin(struct catalog *cat)
{
	struct sqlite_catalog *c = sq(cat);
	return sqerr(sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL));
}

static int sq_commit(struct catalog *cat)
{
	struct sqlite_catalog *c = sq(cat);
	return sqerr(sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL));
}

static void sq_rollback(struct catalog *cat)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

static int sq_reserve_ids(struct catalog *cat, const char *kind, int64_t n,
			  int64_t *first)
{
	struct sqlite_catalog *c = sq(cat);
	int in_txn = !sqlite3_get_autocommit(c->db);
	int r = in_txn ? 0 : sq_begin(cat);
	if (r)
		return r;
	sqlite3_stmt *s = stmt(c, S_RESERVE_GET);
	int64_t next = 1;
	if (!s) {
		r = -EIO;
		goto out;
	}
	sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		next = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	s = stmt(c, S_RESERVE_SET);
	sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, next + n);
	r = step_done(s);
	*first = next;
out:
	if (!in_txn) {
		if (r)
			sq_rollback(cat);
		else
			r = sq_commit(cat);
	}
	return r;
}

static void blob_from_row(sqlite3_stmt *s, struct blob_ref *b)
{
	memset(b, 0, sizeof(*b));
	b->id = sqlite3_column_int64(s, 0);
	if (sqlite3_column_bytes(s, 1) == HASH_LEN)
		memcpy(b->hash, sqlite3_column_blob(s, 1), HASH_LEN);
	b->ordinal = (uint32_t)sqlite3_column_int64(s, 2);
	b->kind = (uint32_t)sqlite3_column_int(s, 3);
	b->raw_size = (uint64_t)sqlite3_column_int64(s, 4);
	b->enc_size = (uint64_t)sqlite3_column_int64(s, 5);
	b->pack = sqlite3_column_int64(s, 6);
	b->offset = (uint64_t)sqlite3_column_int64(s, 7);
}

/* The first max blob rows of a bound statement into out: how many, or
 * -errno. */
static int blob_rows(sqlite3_stmt *s, struct blob_ref *out, int max)
{
	int n = 0, rc = SQLITE_DONE;
	while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW)
		blob_from_row(s, &out[n++]);
	sqlite3_reset(s);
	return n == max || rc == SQLITE_DONE ? n : sqerr(rc);
}

static int sq_blob_candidates(struct catalog *cat, const uint8_t hash[HASH_LEN],
			      struct blob_ref *out, int max)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s = stmt(c, S_BLOB_CAND);
	if (!s)
		return -EIO;
	sqlite3_bind_blob(s, 1, hash, HASH_LEN, SQLITE_STATIC);
	return blob_rows(s, out, max);
}

static int one_blob(sqlite3_stmt *s, struct blob_ref *out)
{
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		blob_from_row(s, out);
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : sqerr(rc);
}

static int sq_blob_by_id(struct catalog *cat, int64_t id, struct blob_ref *out)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s = stmt(c, S_BLOB_ID);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, id);
	return one_blob(s, out);
}

static int sq_blob_by_key(struct catalog *cat, const uint8_t hash[HASH_LEN],
			  uint32_t ordinal, struct blob_ref *out)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s = stmt(c, S_BLOB_KEY);
	if (!s)
		return -EIO;
	sqlite3_bind_blob(s, 1, hash, HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, ordinal);
	return one_blob(s, out);
}

static int sq_insert_blob(struct catalog *cat, struct blob_ref *ref)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s = stmt(c, S_BLOB_INS);
	if (!s)
		return -EIO;
	if (ref->id)
		sqlite3_bind_int64(s, 1, ref->id);
	sqlite3_bind_blob(s, 2, ref->hash, HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, ref->ordinal);
	sqlite3_bind_int64(s, 4, ref->kind);
	sqlite3_bind_int64(s, 5, (int64_t)ref->raw_size);
	sqlite3_bind_int64(s, 6, (int64_t)ref->enc_size);
	sqlite3_bind_int64(s, 7, ref->pack);
	sqlite3_bind_int64(s, 8, (int64_t)ref->offset);
	int r = step_done(s);
	if (!r)
		ref->id = sqlite3_last_insert_rowid(c->db);
	return r;
}

static int sq_pack_find(struct catalog *cat, const char *name, int64_t *id)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s = stmt(c, S_PACK_GET);
	if (!s)
		return -EIO;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : sqerr(rc);
}

static int sq_pack_id(struct catalog *cat, const char *name, int64_t *id)
{
	struct sqlite_catalog *c = sq(cat);
	int r = sq_pack_find(cat, name, id);
	if (r != -ENOENT)
		return r;
	sqlite3_stmt *s = stmt(c, S_PACK_INS);
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	r = step_done(s);
	if (!r)
		*id = sqlite3_last_insert_rowid(c->db);
	return r;
}

static int sq_pack_name(struct catalog *cat, int64_t id, char *name, size_t len)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s = stmt(c, S_PACK_NAME);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, id);
	int r = -ENOENT;
	if (sqlite3_step(s) == SQLITE_ROW) {
		snprintf(name, len, "%s", (const char *)sqlite3_column_text(s, 0));
		r = 0;
	}
	sqlite3_reset(s);
	return r;
}

static int sq_versions(struct catalog *cat, const char *sop_uid,
		       struct cat_version **out)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s = stmt(c, S_VERSIONS);
	*out = NULL;
	if (!s)
		return -EIO;
	sqlite3_bind_text(s, 1, sop_uid, -1, SQLITE_STATIC);
	struct cat_version *v = NULL;
	int n = 0, cap = 0, rc, r = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			struct cat_version *p = realloc(v, (size_t)cap * sizeof(*v));
			if (!p) {
				r = -ENOMEM;
				break;
			}
			v = p;
		}
		v[n].instance_id = sqlite3_column_int64(s, 0);
		v[n].version = (uint32_t)sqlite3_column_int(s, 1);
		v[n].size = (uint64_t)sqlite3_column_int64(s, 2);
		memset(v[n].file_hash, 0, HASH_LEN);
		if (sqlite3_column_bytes(s, 3) == HASH_LEN)
			memcpy(v[n].file_hash, sqlite3_column_blob(s, 3), HASH_LEN);
		v[n].series_id = sqlite3_column_int64(s, 4);
		v[n].current = sqlite3_column_int(s, 5);
		v[n].unclean = sqlite3_column_int(s, 6);
		n++;
	}
	sqlite3_reset(s);
	if (!r && rc != SQLITE_DONE)
		r = sqerr(rc);
	if (r) {
		free(v);
		return r;
	}
	*out = v;
	return n;
}

static int sq_segments(struct catalog *cat, int64_t instance_id,
		       struct blob_ref *segs, int max)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s = stmt(c, S_SEGMENTS);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, instance_id);
	return blob_rows(s, segs, max);
}

static int lookup_id(sqlite3_stmt *s, int64_t *id)
{
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : sqerr(rc);
}

static int take_id(struct id_pool *p, int64_t *want)
{
	/* A record being replayed by reindex brings its own id. */
	if (*want)
		return 0;
	if (p->next >= p->end)
		return -ERANGE;
	*want = p->next++;
	return 0;
}

/* The folder of a new patient (names_patient_dir); a %noid stem that
 * another patient's folder has takes -2, -3... (catalog_names.h). */
static int patient_dir(struct sqlite_catalog *c, const struct dcm_info *d, const char *key,
		       char *out)
{
	int noid;
	int rc = names_patient_dir(d, key, out, &noid);
	if (rc || !noid)
		return rc;
	char stem[NAME_COMPONENT_MAX + 1];
	memcpy(stem, out, sizeof(stem));
	for (int i = 1;; i++) {
		if (i > 1)
			snprintf(out, NAME_COMPONENT_MAX + 1, "%s-%d", stem, i);
		sqlite3_stmt *s = vstmt(c, V_DIRNAME_USED);
		if (!s)
			return -EIO;
		sqlite3_bind_text(s, 1, out, -1, SQLITE_STATIC);
		int st = sqlite3_step(s);
		sqlite3_reset(s);
		if (st == SQLITE_DONE)
			return 0;
		if (st != SQLITE_ROW)
			return sqerr(st);
	}
}

/* Binds the columns of a new folder row after its id (?1): its parent, its
 * values and its folder name, written into dir, which must stay as it is
 * until the statement has been stepped.  Returns 0 or -errno. */
typedef int bind_new_folder(struct sqlite_catalog *c, sqlite3_stmt *insert,
			    const struct instance_record *r, const char *patient_key,
			    char *dir);

static int bind_new_patient(struct sqlite_catalog *c, sqlite3_stmt *insert,
			    const struct instance_record *r, const char *patient_key,
			    char *dir)
{
	const struct dcm_info *d = &r->info;
	int rc = patient_dir(c, d, patient_key, dir);
	if (rc)
		return rc;
	sqlite3_bind_text(insert, 2, patient_key, -1, SQLITE_STATIC);
	sqlite3_bind_text(insert, 3, d->issuer_of_patient_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(insert, 4, d->patient_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(insert, 5, d->patient_birth_date, -1, SQLITE_STATIC);
	sqlite3_bind_text(insert, 6, d->patient_sex, -1, SQLITE_STATIC);
	sqlite3_bind_text(insert, 7, dir, -1, SQLITE_STATIC);
	return 0;
}

static int bind_new_study(struct sqlite_catalog *c, sqlite3_stmt *insert,
			  const struct instance_record *r, const char *patient_key,
			  char *dir)
{
	(void)c, (void)patient_key;
	const struct dcm_info *d = &r->info;
	names_folder_dir(d->study_uid, dir);
	sqlite3_bind_int64(insert, 2, r->patient_id);
	sqlite3_bind_text(insert, 3, d->study_uid, -1, SQLITE_STATIC);
	sqlite3_bind_text(insert, 4, d->study_date, -1, SQLITE_STATIC);
	sqlite3_bind_text(insert, 5, d->study_time, -1, SQLITE_STATIC);
	sqlite3_bind_text(insert, 6, d->study_description, -1, SQLITE_STATIC);
	sqlite3_bind_text(insert, 7, d->accession_number, -1, SQLITE_STATIC);
	sqlite3_bind_text(insert, 8, d->referring_physician, -1, SQLITE_STATIC);
	sqlite3_bind_text(insert, 9, dir, -1, SQLITE_STATIC);
	return 0;
}

static int bind_new_series(struct sqlite_catalog *c, sqlite3_stmt *insert,
			   const struct instance_record *r, const char *patient_key,
			   char *dir)
{
	(void)c, (void)patient_key;
	const struct dcm_info *d = &r->info;
	names_folder_dir(d->series_uid, dir);
	sqlite3_bind_int64(insert, 2, r->study_id);
	sqlite3_bind_text(insert, 3, d->series_uid, -1, SQLITE_STATIC);
	sqlite3_bind_text(insert, 4, d->modality, -1, SQLITE_STATIC);
	if (d->series_number >= 0)
		sqlite3_bind_int(insert, 5, d->series_number);
	sqlite3_bind_text(insert, 6, d->series_description, -1, SQLITE_STATIC);
	sqlite3_bind_text(insert, 7, dir, -1, SQLITE_STATIC);
	return 0;
}

/* The id of the folder row that `get` (bound by the caller) finds, or else
 * of a new row inserted by `insert`: its id is *id when the record brings
 * one (reindex replays ids) or the next of pool, and bind fills its other
 * columns.  On success *id is the row's id.  Returns 0, -ERANGE when the
 * pool is used up, -ENOMEM, -EIO or another -errno from SQLite. */
static int folder_get_or_insert(struct sqlite_catalog *c, sqlite3_stmt *get,
				enum stmt_id insert, bind_new_folder *bind,
				struct id_pool *pool, const struct instance_record *r,
				const char *patient_key, int64_t *id)
{
	if (!get)
		return -EIO;
	int64_t found = 0;
	int rc = lookup_id(get, &found);
	if (rc != -ENOENT) {
		if (!rc)
			*id = found;
		return rc;
	}
	/* *id changes only on success: a failed batch may be placed again. */
	int64_t new_id = *id;
	if ((rc = take_id(pool, &new_id)))
		return rc;
	sqlite3_stmt *s = stmt(c, insert);
	if (!s)
		return -EIO;
	char dir[NAME_COMPONENT_MAX + 1];
	sqlite3_bind_int64(s, 1, new_id);
	if ((rc = bind(c, s, r, patient_key, dir)) || (rc = step_done(s)))
		return rc;
	*id = new_id;
	return 0;
}

static int sq_place(struct catalog *cat, struct instance_record *r,
		    struct id_pool *patients, struct id_pool *studies,
		    struct id_pool *series)
{
	struct sqlite_catalog *c = sq(cat);
	const struct dcm_info *d = &r->info;
	char *key = names_patient_key(d);
	if (!key)
		return -ENOMEM;
	sqlite3_stmt *get = stmt(c, S_PAT_GET);
	if (get) {
		sqlite3_bind_text(get, 1, key, -1, SQLITE_STATIC);
		sqlite3_bind_text(get, 2, d->issuer_of_patient_id, -1, SQLITE_STATIC);
	}
	int rc = folder_get_or_insert(c, get, S_PAT_INS, bind_new_patient, patients,
				      r, key, &r->patient_id);
	free(key);
	if (rc)
		return rc;

	if ((get = stmt(c, S_STU_GET))) {
		sqlite3_bind_int64(get, 1, r->patient_id);
		sqlite3_bind_text(get, 2, d->study_uid, -1, SQLITE_STATIC);
	}
	rc = folder_get_or_insert(c, get, S_STU_INS, bind_new_study, studies,
				  r, NULL, &r->study_id);
	if (rc)
		return rc;

	if ((get = stmt(c, S_SER_GET))) {
		sqlite3_bind_int64(get, 1, r->study_id);
		sqlite3_bind_text(get, 2, d->series_uid, -1, SQLITE_STATIC);
	}
	return folder_get_or_insert(c, get, S_SER_INS, bind_new_series, series,
				    r, NULL, &r->series_id);
}

static int touch(struct sqlite_catalog *c, enum stmt_id which, int64_t id, int64_t mtime)
{
	sqlite3_stmt *s = stmt(c, which);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, mtime);
	return step_done(s);
}

/* Bind name to parameter i of s when it is kept (names_kept; FNAME_OF,
 * VNAME_OF give the others), else NULL. */
static void bind_kept_name(sqlite3_stmt *s, int i, const char *name, const char *sop_uid,
			   const char *suffix)
{
	if (names_kept(name, sop_uid, suffix))
		sqlite3_bind_text(s, i, name, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

static int sq_insert_instance(struct catalog *cat, const struct instance_record *r,
			      const int64_t *seg_blob, const struct record_loc *loc)
{
	struct sqlite_catalog *c = sq(cat);
	const struct dcm_info *d = &r->info;
	char fname[NAME_COMPONENT_MAX + 1], vname[NAME_COMPONENT_MAX + 1], vsuffix[32];
	names_instance(d->sop_instance_uid, r->version, fname, vname);
	names_version_suffix(r->version, vsuffix);
	sqlite3_stmt *s = stmt(c, S_INST_INS);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, r->instance_id);
	sqlite3_bind_int64(s, 2, r->series_id);
	sqlite3_bind_text(s, 3, d->sop_instance_uid, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 4, (int)r->version);
	if (d->instance_number >= 0)
		sqlite3_bind_int(s, 6, d->instance_number);
	sqlite3_bind_int(s, 7, d->number_of_frames);
	sqlite3_bind_int(s, 8, d->rows);
	sqlite3_bind_int(s, 9, d->columns);
	sqlite3_bind_int(s, 10, d->bits_allocated);
	sqlite3_bind_text(s, 13, d->modality, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 14, (int64_t)r->size);
	sqlite3_bind_int64(s, 15, r->stored_at_ns);
	sqlite3_bind_blob(s, 16, r->file_hash, HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(s, 18, loc->pack);
	sqlite3_bind_int64(s, 19, (int64_t)loc->offset);
	sqlite3_bind_int64(s, 20, loc->len);
	bind_kept_name(s, 21, fname, d->sop_instance_uid, ".dcm");
	bind_kept_name(s, 22, vname, d->sop_instance_uid, vsuffix);
	sqlite3_bind_text(s, 23, d->unclean, -1, SQLITE_STATIC);
	int rc = step_done(s);
	for (uint32_t i = 0; !rc && i < r->nseg; i++) {
		s = stmt(c, S_SEG_INS);
		sqlite3_bind_int64(s, 1, r->instance_id);
		sqlite3_bind_int(s, 2, (int)i);
		sqlite3_bind_int64(s, 3, seg_blob[i]);
		rc = step_done(s);
	}
	/* A bulk build leaves counts, mtimes and current versions to its
	 * catalog_prune: one pass at the end instead of queries per row. */
	if (c->building)
		return rc;
	if (!rc)
		rc = touch(c, S_SER_TOUCH, r->series_id, r->stored_at_ns);
	if (!rc)
		rc = touch(c, S_STU_TOUCH, r->study_id, r->stored_at_ns);
	if (!rc)
		rc = touch(c, S_PAT_TOUCH, r->patient_id, r->stored_at_ns);
	if (!rc)
		rc = identity_placed(c, r);
	return rc;
}

static int sq_delete_instance(struct catalog *cat, int64_t instance_id)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s = stmt(c, S_SEG_DEL);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, instance_id);
	int rc = step_done(s);
	if (rc)
		return rc;
	s = stmt(c, S_INST_DEL);
	sqlite3_bind_int64(s, 1, instance_id);
	rc = step_done(s);
	return rc ? rc : sqlite3_changes(c->db) ? 0 : -ENOENT;
}

static int sq_rx_begin(struct catalog *cat)
{
	/* On disk, unlike every other temporary table here: a store may hold
	 * millions of tombstones. */
	return sq_exec(cat, "PRAGMA temp_store=FILE;"
		"CREATE TEMP TABLE IF NOT EXISTS rx_tomb(id INTEGER PRIMARY KEY);"
		"CREATE TEMP TABLE IF NOT EXISTS rx_defer(seq INTEGER PRIMARY KEY,"
		" pack INTEGER NOT NULL, offset INTEGER NOT NULL, payload BLOB NOT NULL);");
}

static int sq_rx_tomb_add(struct catalog *cat, int64_t instance_id)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s = stmt(c, S_RX_TOMB_ADD);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, instance_id);
	return step_done(s);
}

static int sq_rx_tomb_apply(struct catalog *cat, int64_t instance_id)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s = stmt(c, S_RX_FOLDERS);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, instance_id);
	int64_t folder[3] = { 0, 0, 0 };   /* series, study, patient */
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		for (int i = 0; i < 3; i++)
			folder[i] = sqlite3_column_int64(s, i);
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sqerr(rc);
	int r = sq_delete_instance(cat, instance_id);
	if (r)
		return r;
	/* Emptied folders go now, not at the final prune: a later record of the
	 * same patient, study or series (imported again after a removal) must
	 * find no stale row to join, or it would lose its own ids. */
	static const enum stmt_id drop[3] = { S_RX_DROP_SERIES, S_RX_DROP_STUDY, S_RX_DROP_PATIENT };
	for (int i = 0; i < 3 && !r && folder[i]; i++) {
		if (!(s = stmt(c, drop[i])))
			return -EIO;
		sqlite3_bind_int64(s, 1, folder[i]);
		r = step_done(s);
	}
	return r;
}

static int sq_rx_tomb_has(struct catalog *cat, int64_t instance_id)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s = stmt(c, S_RX_TOMB_HAS);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, instance_id);
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : sqerr(rc);
}

static int sq_rx_defer(struct catalog *cat, const struct record_loc *loc, const void *payload)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s = stmt(c, S_RX_DEFER);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, loc->pack);
	sqlite3_bind_int64(s, 2, (int64_t)loc->offset);
	sqlite3_bind_blob(s, 3, payload, (int)loc->len, SQLITE_STATIC);
	return step_done(s);
}

static int sq_rx_deferred_next(struct catalog *cat, int64_t *cursor, struct record_loc *loc,
			       void **payload)
{
	struct sqlite_catalog *c = sq(cat);
	*payload = NULL;
	sqlite3_stmt *s = stmt(c, S_RX_NEXT);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, *cursor);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return rc == SQLITE_DONE ? 0 : sqerr(rc);
	}
	*cursor = sqlite3_column_int64(s, 0);
	loc->pack = sqlite3_column_int64(s, 1);
	loc->offset = (uint64_t)sqlite3_column_int64(s, 2);
	int len = sqlite3_column_bytes(s, 3);
	const void *p = sqlite3_column_blob(s, 3);
	loc->len = (uint32_t)len;
	*payload = malloc(len ? (size_t)len : 1);
	if (*payload && len)
		memcpy(*payload, p, (size_t)len);
	sqlite3_reset(s);
	return *payload ? 1 : -ENOMEM;
}

static int sq_prune(struct catalog *cat)
{
	return sq_exec(cat,
		"DELETE FROM series WHERE NOT EXISTS (SELECT 1 FROM instances i WHERE i.series=series.id);"
		"DELETE FROM studies WHERE NOT EXISTS (SELECT 1 FROM series s WHERE s.study=studies.id);"
		"DELETE FROM patients WHERE NOT EXISTS (SELECT 1 FROM studies s WHERE s.patient=patients.id);"
		IDENTITY_PICK_CURRENT
		"UPDATE series SET nchildren=(SELECT count(*) FROM instances i WHERE i.series=series.id"
		" AND i.current=1), mtime=(SELECT max(stored_at) FROM instances i WHERE i.series=series.id);"
		"UPDATE studies SET nchildren=(SELECT count(*) FROM series s WHERE s.study=studies.id"
		" AND s.nchildren>0), mtime=(SELECT max(mtime) FROM series s WHERE s.study=studies.id);"
		"UPDATE patients SET nchildren=(SELECT count(*) FROM studies s WHERE s.patient=patients.id"
		" AND s.nchildren>0), mtime=(SELECT max(mtime) FROM studies s WHERE s.patient=patients.id);");
}

static void node_from_row(sqlite3_stmt *s, int kind, struct cat_node *n)
{
	n->kind = kind;
	n->id = sqlite3_column_int64(s, 0);
	n->parent = sqlite3_column_int64(s, 1);
	snprintf(n->name, sizeof(n->name), "%s", (const char *)sqlite3_column_text(s, 2));
	n->mtime_ns = sqlite3_column_int64(s, 3);
	uint64_t v = (uint64_t)sqlite3_column_int64(s, 4);
	if (kind == CAT_INSTANCE)
		n->size = v;
	else
		n->nchildren = v;
}

/* Hand the rows of a bound listing statement to cb.  All rows are read
 * first, because the callback may run other statements. */
static int list_nodes(sqlite3_stmt *s, int kind, cat_node_cb cb, void *arg)
{
	struct cat_node *all = NULL, n;
	size_t cnt = 0, cap = 0;
	int rc, r = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (cnt == cap) {
			cap = cap ? cap * 2 : 64;
			struct cat_node *p = realloc(all, cap * sizeof(*all));
			if (!p) {
				r = -ENOMEM;
				break;
			}
			all = p;
		}
		node_from_row(s, kind, &n);
		all[cnt++] = n;
	}
	sqlite3_reset(s);
	if (!r && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = sqerr(rc);
	for (size_t i = 0; !r && i < cnt; i++)
		r = cb(arg, &all[i]);
	free(all);
	return r;
}

/* The node of the one row of a bound statement: 0, -ENOENT or -errno. */
static int one_node(sqlite3_stmt *s, int kind, struct cat_node *out)
{
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		node_from_row(s, kind, out);
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : sqerr(rc);
}

/* The two node queries of every view, given its statement (NULL: it did
 * not prepare): a folder's children, and its child of one name. */
static int list_children(sqlite3_stmt *s, int parent_kind, int64_t parent_id,
			 cat_node_cb cb, void *arg)
{
	if (!s)
		return -EIO;
	if (parent_kind)
		sqlite3_bind_int64(s, 1, parent_id);
	return list_nodes(s, parent_kind + 1, cb, arg);
}

static int lookup_child(sqlite3_stmt *s, int parent_kind, int64_t parent_id,
			const char *name, struct cat_node *out)
{
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, parent_id);
	sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
	return one_node(s, parent_kind + 1, out);
}

/* The instance named name in series parent_id: by its SOP UID when the
 * name is plain (by_sop binds ?2 the UID and ?3 the version), else by
 * its kept name (by_name).  The row's name must be name itself (a
 * version written "v01" is not "v1"). */
static int lookup_instance(sqlite3_stmt *by_name, sqlite3_stmt *by_sop, int versioned,
			   int64_t parent_id, const char *name, struct cat_node *out)
{
	char sop[NAME_COMPONENT_MAX + 1];
	uint32_t version = 0;
	if (!names_plain_sop(name, versioned, sop, sizeof(sop), &version))
		return lookup_child(by_name, CAT_SERIES, parent_id, name, out);
	if (!by_sop)
		return -EIO;
	sqlite3_bind_int64(by_sop, 1, parent_id);
	sqlite3_bind_text(by_sop, 2, sop, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(by_sop, 3, version);
	int r = one_node(by_sop, CAT_INSTANCE, out);
	return r == 0 && strcmp(out->name, name) ? -ENOENT : r;
}

static int sq_children(struct catalog *cat, int parent_kind, int64_t parent_id,
		       cat_node_cb cb, void *arg)
{
	struct sqlite_catalog *c = sq(cat);
	static const enum stmt_id which[] = { S_CH_PATIENTS, S_CH_STUDIES, S_CH_SERIES, S_CH_INSTANCES };
	if (parent_kind < 0 || parent_kind > CAT_SERIES)
		return -ENOTDIR;
	return list_children(stmt(c, which[parent_kind]), parent_kind, parent_id, cb, arg);
}

static int sq_lookup(struct catalog *cat, int parent_kind, int64_t parent_id,
		     const char *name, struct cat_node *out)
{
	struct sqlite_catalog *c = sq(cat);
	static const enum stmt_id which[] = { S_LK_PATIENT, S_LK_STUDY, S_LK_SERIES, S_LK_INSTANCE };
	if (parent_kind < 0 || parent_kind > CAT_SERIES)
		return -ENOTDIR;
	if (parent_kind == CAT_SERIES)
		return lookup_instance(stmt(c, S_LK_INSTANCE), stmt(c, S_LK_INSTANCE_SOP), 0,
				       parent_id, name, out);
	return lookup_child(stmt(c, which[parent_kind]), parent_kind, parent_id, name, out);
}

static int sq_node(struct catalog *cat, int kind, int64_t id, struct cat_node *out)
{
	struct sqlite_catalog *c = sq(cat);
	static const enum stmt_id which[] = { 0, S_NODE_PATIENT, S_NODE_STUDY, S_NODE_SERIES, S_NODE_INSTANCE };
	if (kind < CAT_PATIENT || kind > CAT_INSTANCE)
		return -ENOENT;
	sqlite3_stmt *s = stmt(c, which[kind]);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, id);
	return one_node(s, kind, out);
}

static int sq_instance_shown(struct catalog *cat, int64_t id, int64_t *series)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s = stmt(c, S_INST_SHOWN);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, id);
	int rc = sqlite3_step(s);
	int r = rc == SQLITE_ROW ? sqlite3_column_int(s, 1) != 0 : rc == SQLITE_DONE ? -ENOENT : -EIO;
	if (rc == SQLITE_ROW && series)
		*series = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return r;
}

static int sq_nodes(struct catalog *cat, int kind, const int64_t *ids, size_t n,
		    cat_node_cb cb, void *arg)
{
	struct sqlite_catalog *c = sq(cat);
	if (kind < CAT_PATIENT || kind > CAT_INSTANCE)
		return -ENOENT;
	int own = sqlite3_get_autocommit(c->db);
	if (own && sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return -EIO;
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		struct cat_node node;
		rc = sq_node(cat, kind, ids[i], &node);
		if (rc == -ENOENT)
			rc = 0;
		else if (!rc)
			rc = cb(arg, &node);
	}
	if (own)
		sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
	return rc;
}

static int sq_instance_row(struct catalog *cat, int64_t instance_id,
			   struct cat_instance *out)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s = stmt(c, S_INST_RECORD);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, instance_id);
	int rc = sqlite3_step(s), res = 0;
	if (rc == SQLITE_ROW) {
		memset(out, 0, sizeof(*out));
		out->id = sqlite3_column_int64(s, 0);
		out->series_id = sqlite3_column_int64(s, 1);
		out->study_id = sqlite3_column_int64(s, 2);
		out->patient_id = sqlite3_column_int64(s, 3);
		const char *uid = (const char *)sqlite3_column_text(s, 4);
		snprintf(out->sop_uid, sizeof(out->sop_uid), "%s", uid ? uid : "");
		out->version = (uint32_t)sqlite3_column_int(s, 5);
		out->size = (uint64_t)sqlite3_column_int64(s, 6);
		if (sqlite3_column_bytes(s, 7) == HASH_LEN)
			memcpy(out->file_hash, sqlite3_column_blob(s, 7), HASH_LEN);
		out->rec.pack = sqlite3_column_int64(s, 8);
		out->rec.offset = (uint64_t)sqlite3_column_int64(s, 9);
		out->rec.len = (uint32_t)sqlite3_column_int64(s, 10);
	} else {
		res = rc == SQLITE_DONE ? -ENOENT : sqerr(rc);
	}
	sqlite3_reset(s);
	return res;
}

static int sq_affected(struct catalog *cat, int64_t pack, uint64_t start, uint64_t end,
		       cat_affected_cb cb, void *arg)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s;
	/* A blob row's offset is that of its encoded bytes; its entry begins
	 * BLOB_HEADER_BYTES + PACK_ENTRY_HEADER earlier.  A record row's
	 * offset is its payload's, PACK_ENTRY_HEADER after its entry. */
	if (sqlite3_prepare_v2(c->db,
			       "SELECT id, sop_uid, 1 FROM instances WHERE record_pack=?1"
			       " AND record_offset + record_len > ?2 AND record_offset - ?5 < ?3"
			       " UNION SELECT i.id, i.sop_uid, 0 FROM blobs b JOIN segments g ON g.blob=b.id"
			       " JOIN instances i ON i.id=g.instance WHERE b.pack=?1"
			       " AND b.offset + b.enc_size > ?2 AND b.offset - ?4 < ?3"
			       " ORDER BY 1", -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(s, 1, pack);
	sqlite3_bind_int64(s, 2, (int64_t)start);
	sqlite3_bind_int64(s, 3, (int64_t)end);
	sqlite3_bind_int64(s, 4, BLOB_HEADER_BYTES + PACK_ENTRY_HEADER);
	sqlite3_bind_int64(s, 5, PACK_ENTRY_HEADER);
	int rc, r = 0;
	while (!r && (rc = sqlite3_step(s)) == SQLITE_ROW)
		r = cb(arg, sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1),
		       sqlite3_column_int(s, 2));
	if (!r && rc != SQLITE_DONE)
		r = sqerr(rc);
	sqlite3_finalize(s);
	return r;
}

static int sq_blob_users(struct catalog *cat, int64_t blob_id, cat_affected_cb cb, void *arg)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(c->db, "SELECT i.id, i.sop_uid, 0 FROM segments g JOIN instances i"
			       " ON i.id=g.instance WHERE g.blob=?1 ORDER BY 1", -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(s, 1, blob_id);
	int rc, r = 0;
	while (!r && (rc = sqlite3_step(s)) == SQLITE_ROW)
		r = cb(arg, sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1), 0);
	if (!r && rc != SQLITE_DONE)
		r = sqerr(rc);
	sqlite3_finalize(s);
	return r;
}

static int sq_next_in_series(struct catalog *cat, int64_t instance_id, int64_t *ids,
			     uint64_t *sizes, int max)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s = stmt(c, S_NEXT_IN_SERIES);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, instance_id);
	sqlite3_bind_int(s, 2, max);
	int n = 0, rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && n < max) {
		ids[n] = sqlite3_column_int64(s, 0);
		sizes[n++] = (uint64_t)sqlite3_column_int64(s, 1);
	}
	sqlite3_reset(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? n : sqerr(rc);
}

/* The ids in column 0 of every row of the bound statement s, which is
 * finalized, into a malloc'd array (*ids, *n; NULL and 0 on failure or
 * when there are none).  Returns 0 or -errno. */
static int ids_of_rows(sqlite3_stmt *s, int64_t **ids, size_t *n)
{
	size_t cap = 0;
	int rc, r = 0;
	*ids = NULL;
	*n = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 256;
			int64_t *p = realloc(*ids, cap * sizeof(**ids));
			if (!p) {
				r = -ENOMEM;
				break;
			}
			*ids = p;
		}
		(*ids)[(*n)++] = sqlite3_column_int64(s, 0);
	}
	if (!r && rc != SQLITE_DONE)
		r = sqerr(rc);
	sqlite3_finalize(s);
	if (r) {
		free(*ids);
		*ids = NULL;
		*n = 0;
	}
	return r;
}

static int collect_ids(sqlite3 *db, const char *sql, int64_t bind, int bound,
		       int64_t **ids, size_t *n)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	if (bound)
		sqlite3_bind_int64(s, 1, bind);
	return ids_of_rows(s, ids, n);
}

static int sq_instances_under(struct catalog *cat, int kind, int64_t id,
			      cat_id_cb cb, void *arg)
{
	struct sqlite_catalog *c = sq(cat);
	static const char *sql[] = {
		"SELECT id FROM instances ORDER BY id",
		"SELECT i.id FROM instances i JOIN series se ON se.id=i.series JOIN studies st"
		" ON st.id=se.study WHERE st.patient=?1 ORDER BY i.id",
		"SELECT i.id FROM instances i JOIN series se ON se.id=i.series WHERE se.study=?1 ORDER BY i.id",
		"SELECT id FROM instances WHERE series=?1 ORDER BY id",
		/* an instance is every version of its SOPInstanceUID */
		"SELECT id FROM instances WHERE sop_uid=(SELECT sop_uid FROM instances WHERE id=?1) ORDER BY id",
	};
	if (kind < 0 || kind > CAT_INSTANCE)
		return -EINVAL;
	int64_t *ids = NULL;
	size_t n = 0;
	int r = collect_ids(c->db, sql[kind], id, kind != 0, &ids, &n);
	for (size_t i = 0; !r && i < n; i++)
		r = cb(arg, ids[i]);
	free(ids);
	return r;
}

static int sq_find_ids(struct catalog *cat, int kind, const char *uid,
		       int64_t **ids)
{
	struct sqlite_catalog *c = sq(cat);
	static const char *sql[] = {
		NULL,
		"SELECT id FROM patients WHERE patient_id=?1 OR dirname=?1 ORDER BY id",
		"SELECT id FROM studies WHERE study_uid=?1 ORDER BY id",
		"SELECT id FROM series WHERE series_uid=?1 ORDER BY id",
		"SELECT id FROM instances WHERE sop_uid=?1 ORDER BY version",
	};
	*ids = NULL;
	if (kind < CAT_PATIENT || kind > CAT_INSTANCE)
		return -EINVAL;
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(c->db, sql[kind], -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(s, 1, uid, -1, SQLITE_STATIC);
	size_t n;
	int r = ids_of_rows(s, ids, &n);
	return r ? r : (int)n;
}

/* Every row of s (a blob row and a count of its users) to cb; s is
 * finalized.  0, cb's non-zero value, or -errno. */
static int each_blob_row(sqlite3_stmt *s, cat_blob_cb cb, void *arg)
{
	int rc, r = 0;
	while (!r && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct blob_ref b;
		blob_from_row(s, &b);
		r = cb(arg, &b, sqlite3_column_int64(s, 8));
	}
	if (!r && rc != SQLITE_DONE)
		r = sqerr(rc);
	sqlite3_finalize(s);
	return r;
}

static int sq_all_blobs(struct catalog *cat, cat_blob_cb cb, void *arg)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(c->db,
			       "SELECT id, hash, ordinal, kind, raw_size, enc_size, pack, offset,"
			       " (SELECT count(*) FROM segments g WHERE g.blob=b.id)"
			       " FROM blobs b ORDER BY pack, offset", -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	return each_blob_row(s, cb, arg);
}

static int sq_delete_blob(struct catalog *cat, int64_t blob_id)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(c->db, "DELETE FROM blobs WHERE id=?1 AND NOT EXISTS"
			       " (SELECT 1 FROM segments WHERE blob=?1)", -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(s, 1, blob_id);
	int rc = sqlite3_step(s);
	int changed = sqlite3_changes(c->db);
	sqlite3_finalize(s);
	return rc != SQLITE_DONE ? sqerr(rc) : changed ? 0 : -EBUSY;
}

static int sq_log_import(struct catalog *cat, int64_t started_ns, int64_t ended_ns,
			 int64_t n_new, int64_t n_dup, int64_t n_version,
			 int64_t n_rejected, uint64_t bytes_in, uint64_t bytes_stored)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(c->db, "INSERT INTO import_log(started, ended, n_new, n_duplicate,"
			       " n_version, n_rejected, bytes_in, bytes_stored) VALUES(?,?,?,?,?,?,?,?)",
			       -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	int64_t v[] = { started_ns, ended_ns, n_new, n_dup, n_version, n_rejected,
			(int64_t)bytes_in, (int64_t)bytes_stored };
	for (int i = 0; i < 8; i++)
		sqlite3_bind_int64(s, i + 1, v[i]);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : sqerr(rc);
}

static int64_t scalar(sqlite3 *db, const char *sql, const char *bind)
{
	sqlite3_stmt *s;
	int64_t v = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return 0;
	if (bind)
		sqlite3_bind_text(s, 1, bind, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* The columns of the one row of sql (?1 bound to bind unless NULL) into
 * v[0..n-1]; zeros when there is none. */
static void row_of(sqlite3 *db, const char *sql, const char *bind, int64_t *v, int n)
{
	sqlite3_stmt *s;
	memset(v, 0, (size_t)n * sizeof(*v));
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return;
	if (bind)
		sqlite3_bind_text(s, 1, bind, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		for (int i = 0; i < n; i++)
			v[i] = sqlite3_column_int64(s, i);
	sqlite3_finalize(s);
}

/* The totals from the kept counters (tally_tables_sql): a few thousand
 * rows read, whatever the number of instances. */
static void totals_kept(sqlite3 *db, const char *mod, struct cat_totals *t)
{
	char sql[512];
	int64_t v[6];
	snprintf(sql, sizeof(sql), "SELECT coalesce(sum(t.instances),0), coalesce(sum(t.versions),0),"
		 " coalesce(sum(t.bytes),0), count(DISTINCT t.series), count(DISTINCT se.study),"
		 " count(DISTINCT st.patient) FROM tallies t JOIN series se ON se.id=t.series"
		 " JOIN studies st ON st.id=se.study%s", mod ? " WHERE t.modality=?1" : "");
	row_of(db, sql, mod, v, 6);
	*t = (struct cat_totals){ .instances = v[0], .versions = v[1], .logical_bytes = (uint64_t)v[2],
				  .series = v[3], .studies = v[4], .patients = v[5] };
	row_of(db, mod ? "SELECT raw, enc, pixel_raw, pixel_enc FROM modality_blobs WHERE modality=?1" :
	       "SELECT coalesce(sum(raw),0), coalesce(sum(enc),0), coalesce(sum((kind=1)*raw),0),"
	       " coalesce(sum((kind=1)*enc),0) FROM blob_tallies", mod, v, 4);
	t->unique_raw_bytes = (uint64_t)v[0];
	t->stored_bytes = (uint64_t)v[1];
	t->pixel_raw_bytes = (uint64_t)v[2];
	t->pixel_stored_bytes = (uint64_t)v[3];
}

/* The totals counted from the rows: for a store opened read-only before a
 * writable open gave it kept counters. */
static void totals_scanned(sqlite3 *db, const char *mod, struct cat_totals *t)
{
	/* With a modality, count what its instances reference; blobs shared
	 * across modalities count in each. */
	const char *w = mod ? " WHERE i.modality=?1" : "";
	char sql[1024];
	memset(t, 0, sizeof(*t));
#define Q(...) (snprintf(sql, sizeof(sql), __VA_ARGS__), scalar(db, sql, mod))
	t->instances = Q("SELECT count(*) FROM instances i%s", w);
	t->versions = Q("SELECT count(*) FROM instances i%s%s version>1", w, mod ? " AND" : " WHERE");
	t->series = Q("SELECT count(DISTINCT i.series) FROM instances i%s", w);
	t->studies = Q("SELECT count(DISTINCT se.study) FROM instances i JOIN series se ON se.id=i.series%s", w);
	t->patients = Q("SELECT count(DISTINCT st.patient) FROM instances i JOIN series se ON se.id=i.series"
			" JOIN studies st ON st.id=se.study%s", w);
	t->logical_bytes = (uint64_t)Q("SELECT coalesce(sum(i.size),0) FROM instances i%s", w);
	const char *blobset = mod ?
		"(SELECT DISTINCT g.blob FROM segments g JOIN instances i ON i.id=g.instance WHERE i.modality=?1)" :
		"(SELECT id FROM blobs)";
	t->unique_raw_bytes = (uint64_t)Q("SELECT coalesce(sum(raw_size),0) FROM blobs WHERE id IN %s", blobset);
	t->stored_bytes = (uint64_t)Q("SELECT coalesce(sum(enc_size),0) FROM blobs WHERE id IN %s", blobset);
	t->pixel_raw_bytes = (uint64_t)Q("SELECT coalesce(sum(raw_size),0) FROM blobs WHERE kind=1 AND id IN %s", blobset);
	t->pixel_stored_bytes = (uint64_t)Q("SELECT coalesce(sum(enc_size),0) FROM blobs WHERE kind=1 AND id IN %s", blobset);
#undef Q
}

static void totals_for(sqlite3 *db, int kept, const char *mod, struct cat_totals *t)
{
	(kept ? totals_kept : totals_scanned)(db, mod, t);
}

static int sq_totals(struct catalog *cat, struct cat_totals *t)
{
	struct sqlite_catalog *c = sq(cat);
	totals_for(c->db, tallies_there(c->db), NULL, t);
	return 0;
}

/* The number of rows of kept (a table of kept totals) and counted (what it
 * must hold) that are not in the other; rows of nothing but zeros left by
 * deletes do not count. */
static int64_t tally_differences(sqlite3 *db, const char *kept, const char *counted, const char *nonzero)
{
	char sql[1536];
	/* counted once (MATERIALIZED), compared both ways */
	snprintf(sql, sizeof(sql),
		 "WITH k AS (SELECT * FROM %s WHERE %s), c AS MATERIALIZED (SELECT * FROM (%s) WHERE %s)"
		 " SELECT count(*) FROM (SELECT * FROM (SELECT * FROM k EXCEPT SELECT * FROM c)"
		 " UNION ALL SELECT * FROM (SELECT * FROM c EXCEPT SELECT * FROM k))",
		 kept, nonzero, counted, nonzero);
	sqlite3_stmt *s;
	int64_t n = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

static int sq_tallies_check(struct catalog *cat, char *msg, size_t len)
{
	struct sqlite_catalog *c = sq(cat);
	if (!tallies_there(c->db))
		return 0;
	static const struct { const char *table, *counted, *nonzero, *what; } t[] = {
		{ "tallies", TALLIES_COUNTED, "1", "instances, versions and bytes per series" },
		{ "blob_tallies", BLOB_TALLIES_COUNTED, "blobs<>0 OR raw<>0 OR enc<>0", "blobs and bytes per kind" },
		{ "modality_blobs", MODALITY_BLOBS_COUNTED,
		  "raw<>0 OR enc<>0 OR pixel_raw<>0 OR pixel_enc<>0", "blob bytes per modality" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int64_t n = tally_differences(c->db, t[i].table, t[i].counted, t[i].nonzero);
		if (n < 0) {
			snprintf(msg, len, "index: cannot count the kept totals (%s): %s", t[i].table,
				 sqlite3_errmsg(c->db));
			return -EIO;
		}
		if (n > 0) {
			snprintf(msg, len, "index: the kept totals (%s, %s) differ from a count in %" PRId64
				 " row%s: 'dcmfsctl reindex' rebuilds them", t[i].table, t[i].what, n,
				 n == 1 ? "" : "s");
			return 1;
		}
	}
	return 0;
}

static int sq_totals_by_modality(struct catalog *cat, cat_modality_cb cb, void *arg)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s;
	int kept = tallies_there(c->db);
	if (sqlite3_prepare_v2(c->db, kept ? "SELECT DISTINCT modality FROM tallies ORDER BY 1" :
			       "SELECT DISTINCT coalesce(modality,'') FROM instances ORDER BY 1",
			       -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	/* Read every name first (totals_for runs other statements); any
	 * number of modalities, of any length. */
	char **mods = NULL;
	size_t n = 0, cap = 0;
	int r = 0, rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			char **p = realloc(mods, cap * sizeof(*mods));
			if (!p) {
				r = -ENOMEM;
				break;
			}
			mods = p;
		}
		if (!(mods[n] = strdup((const char *)sqlite3_column_text(s, 0)))) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	sqlite3_finalize(s);
	if (!r && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = sqerr(rc);
	for (size_t i = 0; !r && i < n; i++) {
		struct cat_totals t;
		totals_for(c->db, kept, mods[i], &t);
		r = cb(arg, mods[i], &t);
	}
	for (size_t i = 0; i < n; i++)
		free(mods[i]);
	free(mods);
	return r;
}

/* ---- identity: names, the current version, the views ---- */

#define Q_UNCLEAN_UNDER_PATIENT \
	" AND EXISTS (SELECT 1 FROM studies st JOIN series se ON se.study=st.id JOIN instances i" \
	" ON i.series=se.id WHERE st.patient=patients.id AND i.unclean<>'')"
#define Q_UNCLEAN_UNDER_STUDY \
	" AND EXISTS (SELECT 1 FROM series se JOIN instances i ON i.series=se.id" \
	" WHERE se.study=studies.id AND i.unclean<>'')"
#define Q_UNCLEAN_UNDER_SERIES \
	" AND EXISTS (SELECT 1 FROM instances i WHERE i.series=series.id AND i.unclean<>'')"

/* [0]: /versions (every version), [1]: /quarantine (unclean versions). */
static const char *vstmt_sql[2][V_NSTMT] = { {
	[V_DIRNAME_USED] = "SELECT 1 FROM patients WHERE dirname=?1",
	[V_CURRENT] = "UPDATE instances SET current=(id=(SELECT j.id FROM instances j WHERE"
		      " j.sop_uid=?1 ORDER BY j.unclean<>'', j.version DESC LIMIT 1)) WHERE sop_uid=?1",
	[V_FOLDERS] = "SELECT DISTINCT i.series, se.study, st.patient FROM instances i JOIN series se"
		      " ON se.id=i.series JOIN studies st ON st.id=se.study WHERE i.sop_uid=?1",
	[V_CH_PATIENTS] = NODE_PATIENTS " WHERE 1 ORDER BY id",
	[V_CH_STUDIES] = NODE_STUDIES " WHERE patient=?1 ORDER BY id",
	[V_CH_SERIES] = NODE_SERIES " WHERE study=?1 ORDER BY id",
	[V_CH_INSTANCES] = NODE_VNAME " WHERE series=?1 ORDER BY id",
	[V_LK_PATIENT] = NODE_PATIENTS " WHERE dirname=?2",
	[V_LK_STUDY] = NODE_STUDIES " WHERE patient=?1 AND dirname=?2",
	[V_LK_SERIES] = NODE_SERIES " WHERE study=?1 AND dirname=?2",
	[V_LK_INSTANCE] = NODE_VNAME " WHERE series=?1 AND vname=?2",
	[V_LK_INSTANCE_SOP] = NODE_VNAME " WHERE sop_uid=?2 AND version=?3 AND +series=?1",
	[V_NODE_INSTANCE] = NODE_VNAME " WHERE id=?1",
}, {
	[V_CH_PATIENTS] = NODE_PATIENTS " WHERE 1"
			  Q_UNCLEAN_UNDER_PATIENT " ORDER BY id",
	[V_CH_STUDIES] = NODE_STUDIES " WHERE patient=?1"
			 Q_UNCLEAN_UNDER_STUDY " ORDER BY id",
	[V_CH_SERIES] = NODE_SERIES " WHERE study=?1"
			Q_UNCLEAN_UNDER_SERIES " ORDER BY id",
	[V_CH_INSTANCES] = NODE_VNAME " WHERE series=?1"
			   " AND unclean<>'' ORDER BY id",
	[V_LK_PATIENT] = NODE_PATIENTS " WHERE dirname=?2"
			 Q_UNCLEAN_UNDER_PATIENT,
	[V_LK_STUDY] = NODE_STUDIES " WHERE patient=?1"
		       " AND dirname=?2" Q_UNCLEAN_UNDER_STUDY,
	[V_LK_SERIES] = NODE_SERIES " WHERE study=?1"
			" AND dirname=?2" Q_UNCLEAN_UNDER_SERIES,
	[V_LK_INSTANCE] = NODE_VNAME " WHERE series=?1"
			  " AND vname=?2 AND unclean<>''",
	[V_LK_INSTANCE_SOP] = NODE_VNAME " WHERE sop_uid=?2 AND version=?3 AND +series=?1"
			      " AND unclean<>''",
	[V_NODE_INSTANCE] = NODE_VNAME " WHERE id=?1"
			    " AND unclean<>''",
} };

static sqlite3_stmt *vstmt_view(struct sqlite_catalog *c, int view, enum vstmt_id id)
{
	int k = (view - 1) * V_NSTMT + (int)id;
	if (view < 1 || view > 2 || !vstmt_sql[view - 1][id])
		return NULL;
	return cached_stmt(c->db, &c->vst[k], vstmt_sql[view - 1][id]);
}

static sqlite3_stmt *vstmt(struct sqlite_catalog *c, enum vstmt_id id)
{
	return vstmt_view(c, CAT_VIEW_VERSIONS, id);
}

/* After an instance row is inserted: the current version of its
 * SOPInstanceUID, and the counts of every folder holding a version of it
 * (the current one may have moved). */
static int identity_placed(struct sqlite_catalog *c, const struct instance_record *r)
{
	const char *sop = r->info.sop_instance_uid;
	int rc = 0;
	sqlite3_stmt *s = vstmt(c, V_CURRENT);
	if (!rc && !s)
		rc = -EIO;
	if (!rc) {
		sqlite3_bind_text(s, 1, sop, -1, SQLITE_STATIC);
		rc = step_done(s);
	}
	if (rc)
		return rc;
	if (!(s = vstmt(c, V_FOLDERS)))
		return -EIO;
	sqlite3_bind_text(s, 1, sop, -1, SQLITE_STATIC);
	int64_t (*f)[3] = NULL;
	size_t n = 0, cap = 0;
	int st;
	while ((st = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 4;
			int64_t (*p)[3] = realloc(f, cap * sizeof(*f));
			if (!p) {
				rc = -ENOMEM;
				break;
			}
			f = p;
		}
		for (int k = 0; k < 3; k++)
			f[n][k] = sqlite3_column_int64(s, k);
		n++;
	}
	sqlite3_reset(s);
	if (!rc && st != SQLITE_DONE && st != SQLITE_ROW)
		rc = sqerr(st);
	/* Series first: a study counts its series that show something. */
	static const enum stmt_id order[3] = { S_SER_TOUCH, S_STU_TOUCH, S_PAT_TOUCH };
	for (int k = 0; !rc && k < 3; k++)
		for (size_t i = 0; !rc && i < n; i++)
			rc = touch(c, order[k], f[i][k], 0);
	free(f);
	return rc;
}

static int sq_view_children(struct catalog *cat, int view, int parent_kind, int64_t parent_id,
			    cat_node_cb cb, void *arg)
{
	struct sqlite_catalog *c = sq(cat);
	static const enum vstmt_id which[] = { V_CH_PATIENTS, V_CH_STUDIES, V_CH_SERIES, V_CH_INSTANCES };
	if (view == CAT_VIEW_PATIENTS)
		return sq_children(cat, parent_kind, parent_id, cb, arg);
	if (parent_kind < 0 || parent_kind > CAT_SERIES)
		return -ENOTDIR;
	return list_children(vstmt_view(c, view, which[parent_kind]), parent_kind, parent_id,
			     cb, arg);
}

static int sq_view_lookup(struct catalog *cat, int view, int parent_kind, int64_t parent_id,
			  const char *name, struct cat_node *out)
{
	struct sqlite_catalog *c = sq(cat);
	static const enum vstmt_id which[] = { V_LK_PATIENT, V_LK_STUDY, V_LK_SERIES, V_LK_INSTANCE };
	if (view == CAT_VIEW_PATIENTS)
		return sq_lookup(cat, parent_kind, parent_id, name, out);
	if (parent_kind < 0 || parent_kind > CAT_SERIES)
		return -ENOTDIR;
	if (parent_kind == CAT_SERIES)
		return lookup_instance(vstmt_view(c, view, V_LK_INSTANCE),
				       vstmt_view(c, view, V_LK_INSTANCE_SOP), 1, parent_id, name, out);
	return lookup_child(vstmt_view(c, view, which[parent_kind]), parent_kind, parent_id,
			    name, out);
}

static int sq_view_node(struct catalog *cat, int view, int kind, int64_t id, struct cat_node *out)
{
	struct sqlite_catalog *c = sq(cat);
	if (view == CAT_VIEW_PATIENTS || kind != CAT_INSTANCE)
		return sq_node(cat, kind, id, out);
	sqlite3_stmt *s = vstmt_view(c, view, V_NODE_INSTANCE);
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, id);
	return one_node(s, kind, out);
}

static int sq_quarantined(struct catalog *cat, cat_quarantine_cb cb, void *arg)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(c->db,
			       "SELECT i.id, p.dirname || '/' || st.dirname || '/' || se.dirname || '/' || " VNAME_OF("i.") ","
			       " i.current, i.unclean FROM instances i JOIN series se ON se.id=i.series"
			       " JOIN studies st ON st.id=se.study JOIN patients p ON p.id=st.patient"
			       " WHERE i.unclean<>'' ORDER BY i.id", -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	int rc, r = 0;
	while (!r && (rc = sqlite3_step(s)) == SQLITE_ROW)
		r = cb(arg, sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1),
		       sqlite3_column_int(s, 2), (const char *)sqlite3_column_text(s, 3));
	if (!r && rc != SQLITE_DONE)
		r = sqerr(rc);
	sqlite3_finalize(s);
	return r;
}

/* ---- identity, for verify ---- */

static void copy_col(sqlite3_stmt *s, int col, char *out, size_t len)
{
	const char *v = (const char *)sqlite3_column_text(s, col);
	snprintf(out, len, "%s", v ? v : "");
}

static int sq_identity(struct catalog *cat, int64_t instance_id, struct cat_identity *out)
{
	struct sqlite_catalog *c = sq(cat);
	/* LEFT JOINs: a row whose folder is gone still answers (empty). */
	sqlite3_stmt *s = cached_stmt(c->db, &c->verify_st[VERIFY_ST_IDENTITY],
			       "SELECT p.patient_id, p.issuer, p.dirname, st.study_uid, st.dirname,"
			       " se.series_uid, se.dirname, i.sop_uid, i.version, " FNAME_OF("i.") ", " VNAME_OF("i.") ","
			       " i.unclean, i.current,"
			       " (SELECT count(*) FROM instances j WHERE j.sop_uid=i.sop_uid AND j.current=1),"
			       " (SELECT j.id FROM instances j WHERE j.sop_uid=i.sop_uid"
			       "  ORDER BY j.unclean<>'', j.version DESC LIMIT 1)"
			       " FROM instances i LEFT JOIN series se ON se.id=i.series"
			       " LEFT JOIN studies st ON st.id=se.study LEFT JOIN patients p ON p.id=st.patient"
			       " WHERE i.id=?1");
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, instance_id);
	int rc = sqlite3_step(s), res = 0;
	if (rc == SQLITE_ROW) {
		memset(out, 0, sizeof(*out));
		copy_col(s, 0, out->patient_key, sizeof(out->patient_key));
		copy_col(s, 1, out->issuer, sizeof(out->issuer));
		copy_col(s, 2, out->patient_dir, sizeof(out->patient_dir));
		copy_col(s, 3, out->study_uid, sizeof(out->study_uid));
		copy_col(s, 4, out->study_dir, sizeof(out->study_dir));
		copy_col(s, 5, out->series_uid, sizeof(out->series_uid));
		copy_col(s, 6, out->series_dir, sizeof(out->series_dir));
		copy_col(s, 7, out->sop_uid, sizeof(out->sop_uid));
		out->version = (uint32_t)sqlite3_column_int64(s, 8);
		copy_col(s, 9, out->fname, sizeof(out->fname));
		copy_col(s, 10, out->vname, sizeof(out->vname));
		copy_col(s, 11, out->unclean, sizeof(out->unclean));
		out->current = sqlite3_column_int(s, 12);
		out->ncurrent = sqlite3_column_int64(s, 13);
		out->pick = sqlite3_column_int64(s, 14);
	} else {
		res = rc == SQLITE_DONE ? -ENOENT : sqerr(rc);
	}
	sqlite3_reset(s);
	return res;
}

static int sq_folder_key(struct catalog *cat, int kind, int64_t id, char *key, size_t keylen,
			 char *issuer, size_t issuerlen)
{
	struct sqlite_catalog *c = sq(cat);
	const char *q = kind == CAT_PATIENT ? "SELECT patient_id, issuer FROM patients WHERE id=?1"
		: kind == CAT_STUDY ? "SELECT study_uid, '' FROM studies WHERE id=?1"
		: kind == CAT_SERIES ? "SELECT series_uid, '' FROM series WHERE id=?1" : NULL;
	sqlite3_stmt *s;
	if (!q)
		return -ENOENT;
	if (sqlite3_prepare_v2(c->db, q, -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(s, 1, id);
	int rc = sqlite3_step(s), res = 0;
	if (rc == SQLITE_ROW) {
		copy_col(s, 0, key, keylen);
		copy_col(s, 1, issuer, issuerlen);
	} else {
		res = rc == SQLITE_DONE ? -ENOENT : sqerr(rc);
	}
	sqlite3_finalize(s);
	return res;
}

static int sq_integrity_check(struct catalog *cat, char *msg, size_t len)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s;
	msg[0] = '\0';
	if (sqlite3_prepare_v2(c->db, "PRAGMA integrity_check", -1, &s, NULL) != SQLITE_OK) {
		snprintf(msg, len, "%s", sqlite3_errmsg(c->db));
		return -EIO;
	}
	int rc = sqlite3_step(s), res = 0;
	if (rc == SQLITE_ROW) {
		copy_col(s, 0, msg, len);
		res = strcmp(msg, "ok") ? -EBADMSG : 0;
	} else {
		snprintf(msg, len, "%s", sqlite3_errmsg(c->db));
		res = sqerr(rc);
	}
	sqlite3_finalize(s);
	return res;
}

static int sq_each_pack(struct catalog *cat, cat_pack_cb cb, void *arg)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(c->db, "SELECT id, name FROM packs ORDER BY id", -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	int rc, r = 0;
	while (!r && (rc = sqlite3_step(s)) == SQLITE_ROW)
		r = cb(arg, sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1));
	if (!r && rc != SQLITE_DONE)
		r = sqerr(rc);
	sqlite3_finalize(s);
	return r;
}

/* ---------------- the change feed ---------------- */

/* A one-off statement of the feed (prepared per call: the feed is read a
 * few times a second at most).  NULL, and *err -ENOSYS, when the store
 * has no feed. */
static sqlite3_stmt *feed_stmt(struct sqlite_catalog *c, const char *sql, int *err)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL);
	if (rc == SQLITE_OK)
		return s;
	*err = strstr(sqlite3_errmsg(c->db), "no such table") ? -ENOSYS : sqerr(rc);
	return NULL;
}

/* One integer from a query, *v unchanged when it gives NULL or no row. */
static int feed_int(struct sqlite_catalog *c, const char *sql, int64_t *v)
{
	int r = 0;
	sqlite3_stmt *s = feed_stmt(c, sql, &r);
	if (!s)
		return r;
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		*v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sqerr(rc);
}

static int64_t sq_change_seq(struct catalog *cat)
{
	struct sqlite_catalog *c = sq(cat);
	int64_t seq = 0;
	int r = feed_int(c, "SELECT max(seq) FROM changes", &seq);
	return r ? r : seq;
}

#define FEED_BATCH 1024

static int feed_walk(struct sqlite_catalog *c, int64_t after, int64_t *last,
		     cat_change_cb cb, void *arg)
{
	int64_t newest = 0, oldest = 0;
	int64_t seq = sq_change_seq(&c->base);
	if (seq < 0)
		return (int)seq;
	newest = seq;
	int r = feed_int(c, "SELECT min(seq) FROM changes", &oldest);
	if (r)
		return r;
	if (after > newest)
		return -ESTALE;             /* a feed of another index.db */
	if (after == newest)
		return 0;
	if (!oldest || oldest > after + 1)
		return -ESTALE;             /* rows after `after` were dropped */
	sqlite3_stmt *s = feed_stmt(c, "SELECT seq, kind, id, parent, name, mtime, state"
				    " FROM changes WHERE seq > ?1 ORDER BY seq LIMIT "
				    KEPT(FEED_BATCH), &r);
	if (!s)
		return r;
	struct cat_change *batch = malloc(FEED_BATCH * sizeof(*batch));
	if (!batch) {
		sqlite3_finalize(s);
		return -ENOMEM;
	}
	for (;;) {
		sqlite3_reset(s);
		sqlite3_bind_int64(s, 1, after);
		int n = 0, rc;
		while (n < FEED_BATCH && (rc = sqlite3_step(s)) == SQLITE_ROW) {
			struct cat_change *ch = &batch[n++];
			ch->seq = sqlite3_column_int64(s, 0);
			ch->kind = sqlite3_column_int(s, 1);
			ch->id = sqlite3_column_int64(s, 2);
			ch->parent = sqlite3_column_int64(s, 3);
			snprintf(ch->name, sizeof(ch->name), "%s",
				 (const char *)sqlite3_column_text(s, 4));
			ch->mtime_ns = sqlite3_column_int64(s, 5);
			ch->state = sqlite3_column_int(s, 6);
		}
		if (n < FEED_BATCH && rc != SQLITE_DONE) {
			r = sqerr(rc);
			break;
		}
		sqlite3_reset(s);
		for (int i = 0; i < n && !r; i++) {
			r = cb(arg, &batch[i]);
			after = *last = batch[i].seq;
		}
		if (r || n < FEED_BATCH)
			break;
	}
	free(batch);
	sqlite3_finalize(s);
	return r;
}

static int sq_changes_since(struct catalog *cat, int64_t after, int64_t *last,
			    cat_change_cb cb, void *arg)
{
	struct sqlite_catalog *c = sq(cat);
	*last = after;
	/* One snapshot: no prune may drop rows between the check and the walk. */
	int own = sqlite3_get_autocommit(c->db);
	if (own && sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return -EIO;
	int r = feed_walk(c, after, last, cb, arg);
	if (own)
		sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
	return r;
}

static int sq_shown_patients(struct catalog *cat, int64_t *count, int64_t *newest_ns)
{
	struct sqlite_catalog *c = sq(cat);
	*count = 0;
	*newest_ns = 0;
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(c->db, "SELECT count(*), max(mtime) FROM patients"
				    " WHERE nchildren>0", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return sqerr(rc);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*count = sqlite3_column_int64(s, 0);
		*newest_ns = sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : sqerr(rc);
}

/* ---- the readable views ---- */

#define DATE8 "'[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]'"
/* A shown study's group value in each view (catalog.h). */
#define GROUP_DATE "CASE WHEN study_date GLOB " DATE8 " THEN substr(study_date, 1, ?1) ELSE '' END"
#define GROUP_ACCESSION "coalesce(accession, '')"
#define STUDY_INFO "SELECT s.id, s.mtime, s.nchildren, p.dirname, coalesce(p.name, ''),"  \
	" coalesce(s.description, ''), coalesce(s.study_date, ''), coalesce(s.accession, '')" \
	" FROM studies s JOIN patients p ON p.id=s.patient WHERE s.nchildren>0"

static int sq_study_groups(struct catalog *cat, int by, const char *prefix, int len,
			   cat_group_cb cb, void *arg)
{
	struct sqlite_catalog *c = sq(cat);
	/* With a prefix, the index on the value finds the rows (dates: the
	 * range of text starting with it; ':' sorts right after '9'). */
	const char *sql = by == CAT_BY_DATE ? (prefix[0] ?
		"SELECT g, max(mtime), min(id) FROM (SELECT " GROUP_DATE " AS g, mtime, id"
		" FROM studies WHERE nchildren>0 AND study_date>=?2 AND study_date<?2 || ':')"
		" WHERE substr(g, 1, length(?2))=?2 GROUP BY g ORDER BY g" :
		"SELECT g, max(mtime), min(id) FROM (SELECT " GROUP_DATE " AS g, mtime, id"
		" FROM studies WHERE nchildren>0) GROUP BY g ORDER BY g") : prefix[0] ?
		"SELECT accession, max(mtime), min(id) FROM studies"
		" WHERE nchildren>0 AND accession=?2 GROUP BY 1" :
		"SELECT " GROUP_ACCESSION ", max(mtime), min(id) FROM studies"
		" WHERE nchildren>0 GROUP BY 1 ORDER BY 1";
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return sqerr(rc);
	if (by == CAT_BY_DATE)
		sqlite3_bind_int(s, 1, len);
	if (prefix[0])
		sqlite3_bind_text(s, 2, prefix, -1, SQLITE_STATIC);
	int r = 0;
	while (!r && (rc = sqlite3_step(s)) == SQLITE_ROW)
		r = cb(arg, (const char *)sqlite3_column_text(s, 0), sqlite3_column_int64(s, 1),
		       sqlite3_column_int64(s, 2));
	if (!r && rc != SQLITE_DONE)
		r = sqerr(rc);
	sqlite3_finalize(s);
	return r;
}

static void study_info_from_row(sqlite3_stmt *s, struct cat_view_study *o)
{
	o->id = sqlite3_column_int64(s, 0);
	o->mtime_ns = sqlite3_column_int64(s, 1);
	o->nchildren = (uint64_t)sqlite3_column_int64(s, 2);
	snprintf(o->patient_dir, sizeof(o->patient_dir), "%s", (const char *)sqlite3_column_text(s, 3));
	snprintf(o->patient_name, sizeof(o->patient_name), "%s", (const char *)sqlite3_column_text(s, 4));
	snprintf(o->description, sizeof(o->description), "%s", (const char *)sqlite3_column_text(s, 5));
	snprintf(o->date, sizeof(o->date), "%s", (const char *)sqlite3_column_text(s, 6));
	snprintf(o->accession, sizeof(o->accession), "%s", (const char *)sqlite3_column_text(s, 7));
}

static int sq_group_studies(struct catalog *cat, int by, const char *value,
			    cat_view_study_cb cb, void *arg)
{
	struct sqlite_catalog *c = sq(cat);
	const char *sql = by == CAT_BY_ACCESSION ?
		STUDY_INFO " AND " GROUP_ACCESSION "=?2 ORDER BY s.id" :
		value[0] ? STUDY_INFO " AND s.study_date=?2 ORDER BY s.id" :
		STUDY_INFO " AND NOT coalesce(s.study_date, '') GLOB " DATE8 " ORDER BY s.id";
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return sqerr(rc);
	if (sqlite3_bind_parameter_count(s) >= 2)
		sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
	struct cat_view_study *all = NULL;
	size_t n = 0, cap = 0;
	int r = 0;
	/* All rows first: the callback may run other statements. */
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			struct cat_view_study *p = realloc(all, cap * sizeof(*all));
			if (!p) {
				r = -ENOMEM;
				break;
			}
			all = p;
		}
		study_info_from_row(s, &all[n++]);
	}
	if (!r && rc != SQLITE_DONE)
		r = sqerr(rc);
	sqlite3_finalize(s);
	for (size_t i = 0; !r && i < n; i++)
		r = cb(arg, &all[i]);
	free(all);
	return r;
}

static int sq_view_study(struct catalog *cat, int64_t id, struct cat_view_study *out)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(c->db, STUDY_INFO " AND s.id=?1", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return sqerr(rc);
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		study_info_from_row(s, out);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : sqerr(rc);
}

static int sq_max_row_id(struct catalog *cat, int64_t *out)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(c->db, "SELECT max(coalesce((SELECT max(next) - 1 FROM counters), 0),"
				    " coalesce((SELECT max(id) FROM patients), 0), coalesce((SELECT max(id) FROM studies), 0),"
				    " coalesce((SELECT max(id) FROM series), 0), coalesce((SELECT max(id) FROM instances), 0))",
				    -1, &s, NULL);
	if (rc != SQLITE_OK)
		return sqerr(rc);
	rc = sqlite3_step(s);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : sqerr(rc);
}

/* ---- shares ---- */

static int sq_share_indexes(struct catalog *cat)
{
	struct sqlite_catalog *c = sq(cat);
	return sqerr(sqlite3_exec(c->db, SHARE_INDEXES_SQL, NULL, NULL, NULL));
}

#define SHARE_MAX_VALUES 32000

/* Append pre "col IN (?first,?first+1,...)" for a non-empty list of n. */
static int share_in(char **sql, size_t *len, size_t *cap, const char *pre, const char *col,
		    int first, size_t n)
{
	if (!n)
		return 0;
	size_t need = *len + strlen(pre) + strlen(col) + 16 + 8 * n;
	if (need > *cap) {
		size_t nc = need * 2;
		char *p = realloc(*sql, nc);
		if (!p)
			return -ENOMEM;
		*sql = p;
		*cap = nc;
	}
	*len += (size_t)sprintf(*sql + *len, "%s%s IN (", pre, col);
	for (size_t i = 0; i < n; i++)
		*len += (size_t)sprintf(*sql + *len, i ? ",?%d" : "?%d", first + (int)i);
	(*sql)[(*len)++] = ')';
	(*sql)[*len] = 0;
	return 0;
}

/* The statement "<head> FROM series se JOIN studies st ... WHERE <rules>
 * <tail>" with the rules bound.  0 and *out, or -errno. */
static int share_stmt(struct sqlite_catalog *c, const struct cat_share_rules *r, int64_t series_id,
		      const char *head, const char *tail, sqlite3_stmt **out)
{
	size_t total = r->all ? 0 : r->npatients + r->nstudies + r->nseries +
		r->naccessions + r->nmodalities;
	if (total > SHARE_MAX_VALUES)
		return -E2BIG;
	size_t cap = strlen(head) + strlen(tail) + 512 + 4 * total, len = 0;
	char *sql = malloc(cap);
	if (!sql)
		return -ENOMEM;
	len = (size_t)snprintf(sql, cap, "%s FROM series se JOIN studies st ON st.id=se.study"
			       " JOIN patients p ON p.id=st.patient WHERE 1", head);
	int rc = 0;
	int dates = !r->all && ((r->from && r->from[0]) || (r->to && r->to[0]));
	if (!r->all) {
		/* a patient by its PatientID or by its folder's name (patients
		 * without a PatientID, or one issuer's) */
		int k = 1;
		rc = share_in(&sql, &len, &cap, " AND (", "p.patient_id", k, r->npatients);
		if (!rc)
			rc = share_in(&sql, &len, &cap, " OR ", "p.dirname", k, r->npatients);
		if (!rc && r->npatients)
			strcpy(sql + len++, ")");
		k += (int)r->npatients;
		if (!rc)
			rc = share_in(&sql, &len, &cap, " AND ", "st.study_uid", k, r->nstudies);
		k += (int)r->nstudies;
		if (!rc)
			rc = share_in(&sql, &len, &cap, " AND ", "se.series_uid", k, r->nseries);
		k += (int)r->nseries;
		if (!rc)
			rc = share_in(&sql, &len, &cap, " AND ", "st.accession", k, r->naccessions);
		k += (int)r->naccessions;
		if (!rc)
			rc = share_in(&sql, &len, &cap, " AND ", "se.modality", k, r->nmodalities);
	}
	if (!rc && len + strlen(tail) + 160 > cap) {
		char *p = realloc(sql, len + strlen(tail) + 160);
		if (!p)
			rc = -ENOMEM;
		else
			sql = p;
	}
	if (rc) {
		free(sql);
		return rc;
	}
	if (dates)
		len += (size_t)sprintf(sql + len, " AND length(st.study_date)=8"
				       " AND st.study_date>=?%d AND st.study_date<=?%d",
				       (int)total + 1, (int)total + 2);
	if (series_id)
		len += (size_t)sprintf(sql + len, " AND se.id=?%d", (int)total + 3);
	sprintf(sql + len, " %s", tail);
	sqlite3_stmt *s;
	int prc = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL);
	free(sql);
	if (prc != SQLITE_OK)
		return sqerr(prc) ? sqerr(prc) : -EIO;
	int k = 1;
	if (!r->all) {
		char *const *lists[] = { r->patients, r->studies, r->series, r->accessions, r->modalities };
		size_t ns[] = { r->npatients, r->nstudies, r->nseries, r->naccessions, r->nmodalities };
		for (int l = 0; l < 5; l++)
			for (size_t i = 0; i < ns[l]; i++)
				sqlite3_bind_text(s, k++, lists[l][i], -1, SQLITE_STATIC);
	}
	if (dates) {
		sqlite3_bind_text(s, (int)total + 1, r->from && r->from[0] ? r->from : "00000000", -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(s, (int)total + 2, r->to && r->to[0] ? r->to : "99999999", -1,
				  SQLITE_STATIC);
	}
	if (series_id)
		sqlite3_bind_int64(s, (int)total + 3, series_id);
	*out = s;
	return 0;
}

static int sq_share_series(struct catalog *cat, const struct cat_share_rules *r,
			   int64_t series_id, cat_share_cb cb, void *arg)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s;
	int r0 = share_stmt(c, r, series_id, "SELECT p.id, 0, p.dirname, p.mtime, p.nchildren,"
			    " st.id, st.patient, st.dirname, st.mtime, st.nchildren,"
			    " se.id, se.study, se.dirname, se.mtime, se.nchildren", "", &s);
	if (r0)
		return r0;
	int rc, ret = 0;
	while (!ret && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct cat_node n[3];
		for (int k = 0; k < 3; k++) {
			const char *name = (const char *)sqlite3_column_text(s, 5 * k + 2);
			n[k].kind = CAT_PATIENT + k;
			n[k].id = sqlite3_column_int64(s, 5 * k);
			n[k].parent = sqlite3_column_int64(s, 5 * k + 1);
			snprintf(n[k].name, sizeof(n[k].name), "%s", name ? name : "");
			n[k].mtime_ns = sqlite3_column_int64(s, 5 * k + 3);
			n[k].nchildren = (uint64_t)sqlite3_column_int64(s, 5 * k + 4);
		}
		ret = cb(arg, &n[0], &n[1], &n[2]);
	}
	if (!ret && rc != SQLITE_DONE)
		ret = sqerr(rc) ? sqerr(rc) : -EIO;
	sqlite3_finalize(s);
	return ret;
}

static int sq_share_totals(struct catalog *cat, const struct cat_share_rules *r,
			   struct cat_share_totals *t)
{
	struct sqlite_catalog *c = sq(cat);
	memset(t, 0, sizeof(*t));
	sqlite3_stmt *s;
	int r0 = share_stmt(c, r, 0, "WITH m AS (SELECT se.id AS series, se.study AS study,"
			    " st.patient AS patient",
			    "AND se.nchildren>0) SELECT (SELECT count(DISTINCT patient) FROM m),"
			    " (SELECT count(DISTINCT study) FROM m), (SELECT count(*) FROM m),"
			    " (SELECT count(*) FROM m JOIN instances i ON i.series=m.series AND i.current=1),"
			    " (SELECT coalesce(sum(i.size), 0) FROM m JOIN instances i ON i.series=m.series"
			    " AND i.current=1)", &s);
	if (r0)
		return r0;
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		t->patients = sqlite3_column_int64(s, 0);
		t->studies = sqlite3_column_int64(s, 1);
		t->series = sqlite3_column_int64(s, 2);
		t->instances = sqlite3_column_int64(s, 3);
		t->bytes = (uint64_t)sqlite3_column_int64(s, 4);
		rc = SQLITE_DONE;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : sqerr(rc) ? sqerr(rc) : -EIO;
}

/* ---- finding studies ---- */

static int sq_find_indexes(struct catalog *cat)
{
	struct sqlite_catalog *c = sq(cat);
	return sqerr(sqlite3_exec(c->db, FIND_INDEXES_SQL, NULL, NULL, NULL));
}

/* The columns study_from_row reads, in its order. */
#define STUDY_INFO_SQL \
	"SELECT p.id, p.patient_id, p.issuer, p.name, p.birth_date, p.sex, p.dirname," \
	" st.id, st.study_uid, st.study_date, st.study_time, st.description, st.accession," \
	" st.dirname," \
	" (SELECT group_concat(m, char(0)) FROM (SELECT DISTINCT se.modality m" \
	"  FROM series se WHERE se.study=st.id AND se.nchildren>0 AND se.modality<>'' ORDER BY 1))," \
	" (SELECT count(*) FROM series se WHERE se.study=st.id AND se.nchildren>0)," \
	" (SELECT coalesce(sum(se.nchildren), 0) FROM series se WHERE se.study=st.id)" \
	" FROM studies st JOIN patients p ON p.id=st.patient WHERE st.nchildren>0"

static const char *col_text(sqlite3_stmt *s, int col)
{
	const char *t = (const char *)sqlite3_column_text(s, col);
	return t ? t : "";
}

/* The end of a walk of s: cb's value r, else the error that stopped the
 * steps (rc), else 0; s is finalized. */
static int walk_end(sqlite3_stmt *s, int rc, int r)
{
	if (!r && rc != SQLITE_DONE)
		r = sqerr(rc) ? sqerr(rc) : -EIO;
	sqlite3_finalize(s);
	return r;
}

static int study_rows(sqlite3_stmt *s, cat_study_cb cb, void *arg, int *found)
{
	int rc, r = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		/* the modalities, NUL-separated by the query: no value holds a NUL */
		const void *mv = sqlite3_column_blob(s, 14);
		size_t ml = mv ? (size_t)sqlite3_column_bytes(s, 14) : 0;
		char *mods = malloc(ml + 2);
		if (!mods) {
			r = -ENOMEM;
			break;
		}
		if (ml)
			memcpy(mods, mv, ml);
		mods[ml] = mods[ml + 1] = 0;
		const char *pid = col_text(s, 1);
		struct cat_study_info i = {
			.patient_row = sqlite3_column_int64(s, 0),
			/* a key without a PatientID starts with \x01 (patient_key) */
			.patient_id = pid[0] == '\x01' ? "" : pid,
			.issuer = col_text(s, 2), .patient_name = col_text(s, 3),
			.birth_date = col_text(s, 4), .sex = col_text(s, 5), .patient_dir = col_text(s, 6),
			.study_row = sqlite3_column_int64(s, 7), .study_uid = col_text(s, 8),
			.study_date = col_text(s, 9), .study_time = col_text(s, 10),
			.description = col_text(s, 11), .accession = col_text(s, 12),
			.study_dir = col_text(s, 13), .modalities = mods,
			.nseries = sqlite3_column_int64(s, 15), .ninstances = sqlite3_column_int64(s, 16),
		};
		if (found)
			(*found)++;
		r = cb(arg, &i);
		free(mods);
		if (r)
			break;
	}
	return walk_end(s, rc, r);
}

/* A DICOM pattern as a GLOB over upper-cased text (fold) or as it is:
 * '*' and '?' stay, '[' is made literal.  *prefix gets the text before the
 * first wildcard (same case treatment).  Both malloc'd; NULL on ENOMEM. */
static char *dicom_glob(const char *pat, int fold, char **prefix)
{
	size_t n = strlen(pat);
	char *g = malloc(3 * n + 1), *p = malloc(n + 1);
	if (!g || !p) {
		free(g);
		free(p);
		return NULL;
	}
	size_t o = 0, k = 0;
	int wild = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = pat[i];
		if (fold && ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		if (ch == '*' || ch == '?')
			wild = 1;
		if (ch == '[') {
			memcpy(g + o, "[[]", 3);
			o += 3;
		} else {
			g[o++] = ch;
		}
		if (!wild)
			p[k++] = ch;
	}
	g[o] = 0;
	p[k] = 0;
	*prefix = p;
	return g;
}

/* The text after every text with this prefix, in BINARY order: the prefix
 * with its last byte below 0xff raised by one (trailing 0xff bytes cut);
 * "" when there is none (no upper bound then). */
static void prefix_end(const char *prefix, char *out, size_t len)
{
	size_t n = strlen(prefix);
	if (n >= len)
		n = len - 1;
	memcpy(out, prefix, n);
	while (n && (unsigned char)out[n - 1] == 0xff)
		n--;
	if (n)
		out[n - 1] = (char)((unsigned char)out[n - 1] + 1);
	out[n] = 0;
}

/* A growing statement text and the values bound to it, in order. */
struct find_sql {
	char *sql;
	size_t len, cap;
	const char *val[24];
	int nval;
	char *owned[12];            /* patterns made here, freed at the end */
	int nowned;
	int oom;
};

static void fs_add(struct find_sql *q, const char *text)
{
	size_t n = strlen(text);
	if (q->len + n + 1 > q->cap) {
		size_t cap = (q->len + n + 1) * 2;
		char *p = realloc(q->sql, cap);
		if (!p) {
			q->oom = 1;
			return;
		}
		q->sql = p;
		q->cap = cap;
	}
	memcpy(q->sql + q->len, text, n + 1);
	q->len += n;
}

/* " AND <cond>" with each '?' in cond taking the next value. */
static void fs_cond(struct find_sql *q, const char *cond, const char *v1, const char *v2)
{
	fs_add(q, " AND ");
	fs_add(q, cond);
	q->val[q->nval++] = v1;
	if (v2)
		q->val[q->nval++] = v2;
}

static char *fs_own(struct find_sql *q, char *p)
{
	if (!p)
		q->oom = 1;
	else
		q->owned[q->nowned++] = p;
	return p;
}

/* A pattern condition on expression expr: equality when pat has no
 * wildcard, else a range on its prefix (for the index) and a GLOB. */
static void fs_pattern(struct find_sql *q, const char *expr, const char *pat, int fold)
{
	char *prefix = NULL;
	char *g = fs_own(q, dicom_glob(pat, fold, &prefix));
	if (!g)
		return;
	fs_own(q, prefix);
	char cond[256];
	if (!strpbrk(pat, "*?")) {
		snprintf(cond, sizeof(cond), "%s=?", expr);
		fs_cond(q, cond, prefix, NULL);
		return;
	}
	if (prefix[0]) {
		char *end = fs_own(q, malloc(strlen(prefix) + 1));
		if (!end)
			return;
		prefix_end(prefix, end, strlen(prefix) + 1);
		snprintf(cond, sizeof(cond), "%s>=?", expr);
		fs_cond(q, cond, prefix, NULL);
		if (end[0]) {
			snprintf(cond, sizeof(cond), "%s<?", expr);
			fs_cond(q, cond, end, NULL);
		}
	}
	snprintf(cond, sizeof(cond), "%s GLOB ?", expr);
	fs_cond(q, cond, g, NULL);
}

/* A date bound pair on col: 8-character values only. */
static void fs_dates(struct find_sql *q, const char *col, const char *from, const char *to)
{
	char cond[128];
	if (!from && !to)
		return;
	snprintf(cond, sizeof(cond), "length(%s)=8", col);
	fs_add(q, " AND ");
	fs_add(q, cond);
	if (from) {
		snprintf(cond, sizeof(cond), "%s>=?", col);
		fs_cond(q, cond, from, NULL);
	}
	if (to) {
		snprintf(cond, sizeof(cond), "%s<=?", col);
		fs_cond(q, cond, to, NULL);
	}
}

static int sq_find_studies(struct catalog *cat, const struct cat_study_filter *f,
			   cat_study_cb cb, void *arg)
{
	struct sqlite_catalog *c = sq(cat);
	struct find_sql q = { 0 };
	fs_add(&q, STUDY_INFO_SQL);
	if (f->name)
		fs_pattern(&q, "upper(p.name)", f->name, 1);
	if (f->patient_id) {
		/* a PatientID, or the folder name /patients shows */
		char *prefix = NULL;
		char *g = fs_own(&q, dicom_glob(f->patient_id, 0, &prefix));
		fs_own(&q, prefix);
		if (g && strpbrk(f->patient_id, "*?"))
			fs_cond(&q, "(p.patient_id GLOB ? OR p.dirname GLOB ?)", g, g);
		else if (g)
			fs_cond(&q, "(p.patient_id=? OR p.dirname=?)", f->patient_id, f->patient_id);
	}
	fs_dates(&q, "p.birth_date", f->birth_from, f->birth_to);
	fs_dates(&q, "st.study_date", f->date_from, f->date_to);
	if (f->accession)
		fs_cond(&q, "st.accession=?", f->accession, NULL);
	/* With another condition to start from, a study's series are looked
	 * at through (study, ...) ('+' keeps the planner off series_modality,
	 * which would walk every series of the modality for each study);
	 * alone, the modality's series give the studies. */
	int others = f->name || f->patient_id || f->birth_from || f->birth_to || f->date_from ||
		     f->date_to || f->accession;
	/* the value as given or upper-cased (Modality codes are upper case:
	 * "ct" finds CT), each an exact lookup in the index */
	char *mod_upper = f->modality ? fs_own(&q, strdup(f->modality)) : NULL;
	for (char *p = mod_upper; p && *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	if (mod_upper && others)
		fs_cond(&q, "EXISTS (SELECT 1 FROM series sm WHERE sm.study=st.id AND +sm.modality IN (?, ?)"
			" AND sm.nchildren>0)", f->modality, mod_upper);
	else if (mod_upper)
		fs_cond(&q, "st.id IN (SELECT sm.study FROM series sm WHERE sm.modality IN (?, ?)"
			" AND sm.nchildren>0)", f->modality, mod_upper);
	if (f->description) {
		if (strpbrk(f->description, "*?"))
			fs_pattern(&q, "upper(coalesce(st.description, ''))", f->description, 1);
		else
			fs_cond(&q, "instr(upper(coalesce(st.description, '')), upper(?))>0",
				f->description, NULL);
	}
	fs_add(&q, " ORDER BY p.dirname, st.study_date, st.dirname");
	int r = q.oom ? -ENOMEM : 0;
	sqlite3_stmt *s = NULL;
	if (!r)
		r = sqlite3_prepare_v2(c->db, q.sql, -1, &s, NULL) == SQLITE_OK ? 0 : -EIO;
	if (!r) {
		for (int i = 0; i < q.nval; i++)
			sqlite3_bind_text(s, i + 1, q.val[i], -1, SQLITE_STATIC);
		r = study_rows(s, cb, arg, NULL);
	}
	for (int i = 0; i < q.nowned; i++)
		free(q.owned[i]);
	free(q.sql);
	return r;
}

static int sq_study_info(struct catalog *cat, int64_t study_id, cat_study_cb cb, void *arg)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(c->db, STUDY_INFO_SQL " AND st.id=?", -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(s, 1, study_id);
	int found = 0;
	int r = study_rows(s, cb, arg, &found);
	return r ? r : found ? 0 : -ENOENT;
}

/* One row of sql (with ?1 = id) to fill, then cb: 0, -ENOENT, -errno. */
static int one_row(struct sqlite_catalog *c, const char *sql, int64_t id, sqlite3_stmt **out)
{
	if (sqlite3_prepare_v2(c->db, sql, -1, out, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(*out, 1, id);
	int rc = sqlite3_step(*out);
	if (rc == SQLITE_ROW)
		return 0;
	sqlite3_finalize(*out);
	return rc == SQLITE_DONE ? -ENOENT : sqerr(rc) ? sqerr(rc) : -EIO;
}

static int sq_patient_info(struct catalog *cat, int64_t patient_id, cat_patient_cb cb, void *arg)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s;
	int r = one_row(c, "SELECT id, patient_id, issuer, name, birth_date, sex, dirname, nchildren"
			" FROM patients WHERE id=?1", patient_id, &s);
	if (r)
		return r;
	const char *pid = col_text(s, 1);
	struct cat_patient_info p = {
		.row = sqlite3_column_int64(s, 0), .patient_id = pid[0] == '\x01' ? "" : pid,
		.issuer = col_text(s, 2), .name = col_text(s, 3), .birth_date = col_text(s, 4),
		.sex = col_text(s, 5), .dir = col_text(s, 6), .nstudies = sqlite3_column_int64(s, 7),
	};
	r = cb(arg, &p);
	sqlite3_finalize(s);
	return r;
}

static int sq_series_info(struct catalog *cat, int64_t series_id, cat_series_cb cb, void *arg)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s;
	int r = one_row(c, "SELECT id, series_uid, modality, description, dirname,"
			" coalesce(number, -1), nchildren FROM series WHERE id=?1", series_id, &s);
	if (r)
		return r;
	struct cat_series_info i = {
		.row = sqlite3_column_int64(s, 0), .series_uid = col_text(s, 1),
		.modality = col_text(s, 2), .description = col_text(s, 3), .dir = col_text(s, 4),
		.number = sqlite3_column_int64(s, 5), .ninstances = sqlite3_column_int64(s, 6),
	};
	r = cb(arg, &i);
	sqlite3_finalize(s);
	return r;
}

static int sq_recent_imports(struct catalog *cat, int max, cat_import_cb cb, void *arg)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(c->db, "SELECT coalesce(started, 0), coalesce(ended, 0), coalesce(n_new, 0),"
			       " coalesce(n_duplicate, 0), coalesce(n_version, 0), coalesce(n_rejected, 0),"
			       " coalesce(bytes_in, 0), coalesce(bytes_stored, 0) FROM import_log"
			       " ORDER BY id DESC LIMIT ?", -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int(s, 1, max);
	int rc, r = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct cat_import im = {
			sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1), sqlite3_column_int64(s, 2),
			sqlite3_column_int64(s, 3), sqlite3_column_int64(s, 4), sqlite3_column_int64(s, 5),
			(uint64_t)sqlite3_column_int64(s, 6), (uint64_t)sqlite3_column_int64(s, 7),
		};
		if ((r = cb(arg, &im)))
			break;
	}
	return walk_end(s, rc, r);
}

/* ---- verify's queries (maint.c) ---- */

static int sq_segments_owners(struct catalog *cat, int64_t instance_id, struct blob_ref *segs,
			      int64_t *owners, int max)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s = cached_stmt(c->db, &c->verify_st[VERIFY_ST_SEGMENTS_OWNERS],
				      "SELECT b.id, b.hash, b.ordinal, b.kind, b.raw_size, b.enc_size, b.pack,"
				      " b.offset, (SELECT u.instance FROM segments u WHERE u.blob=b.id"
				      " AND EXISTS(SELECT 1 FROM instances i WHERE i.id=u.instance)"
				      " ORDER BY u.instance LIMIT 1)"
				      " FROM segments s JOIN blobs b ON b.id=s.blob WHERE s.instance=?1"
				      " ORDER BY s.idx");
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, instance_id);
	int n = 0, rc = SQLITE_DONE;
	while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		blob_from_row(s, &segs[n]);
		owners[n++] = sqlite3_column_int64(s, 8);
	}
	sqlite3_reset(s);
	return n == max || rc == SQLITE_DONE ? n : sqerr(rc);
}

static int sq_blobs_unreferenced(struct catalog *cat, cat_blob_cb cb, void *arg)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(c->db,
			       "SELECT id, hash, ordinal, kind, raw_size, enc_size, pack, offset, 0 FROM blobs b"
			       " WHERE NOT EXISTS (SELECT 1 FROM segments g WHERE g.blob=b.id"
			       " AND EXISTS(SELECT 1 FROM instances i WHERE i.id=g.instance))"
			       " ORDER BY pack, offset", -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	return each_blob_row(s, cb, arg);
}

static int sq_instance_ids(struct catalog *cat, cat_id_cb cb, void *arg)
{
	struct sqlite_catalog *c = sq(cat);
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(c->db, "SELECT id FROM instances ORDER BY id", -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	int rc, r = 0;
	while (!r && (rc = sqlite3_step(s)) == SQLITE_ROW)
		r = cb(arg, sqlite3_column_int64(s, 0));
	return walk_end(s, rc, r);
}

const struct catalog_ops catalog_sqlite_ops = {
	.close = sq_close,
	.errmsg = sq_errmsg,
	.data_version = sq_data_version,
	.bulk_writer = sq_bulk_writer,
	.build_indexes = sq_build_indexes,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.reserve_ids = sq_reserve_ids,
	.blob_candidates = sq_blob_candidates,
	.blob_by_id = sq_blob_by_id,
	.blob_by_key = sq_blob_by_key,
	.insert_blob = sq_insert_blob,
	.pack_id = sq_pack_id,
	.pack_find = sq_pack_find,
	.pack_name = sq_pack_name,
	.versions = sq_versions,
	.segments = sq_segments,
	.place = sq_place,
	.insert_instance = sq_insert_instance,
	.delete_instance = sq_delete_instance,
	.prune = sq_prune,
	.children = sq_children,
	.lookup = sq_lookup,
	.node = sq_node,
	.instance_shown = sq_instance_shown,
	.nodes = sq_nodes,
	.instance_row = sq_instance_row,
	.identity = sq_identity,
	.folder_key = sq_folder_key,
	.integrity_check = sq_integrity_check,
	.each_pack = sq_each_pack,
	.affected = sq_affected,
	.blob_users = sq_blob_users,
	.instances_under = sq_instances_under,
	.next_in_series = sq_next_in_series,
	.find_ids = sq_find_ids,
	.all_blobs = sq_all_blobs,
	.delete_blob = sq_delete_blob,
	.log_import = sq_log_import,
	.totals = sq_totals,
	.totals_by_modality = sq_totals_by_modality,
	.tallies_check = sq_tallies_check,
	.view_children = sq_view_children,
	.view_lookup = sq_view_lookup,
	.view_node = sq_view_node,
	.quarantined = sq_quarantined,
	.rx_begin = sq_rx_begin,
	.rx_tomb_add = sq_rx_tomb_add,
	.rx_tomb_has = sq_rx_tomb_has,
	.rx_tomb_apply = sq_rx_tomb_apply,
	.rx_defer = sq_rx_defer,
	.rx_deferred_next = sq_rx_deferred_next,
	.change_seq = sq_change_seq,
	.changes_since = sq_changes_since,
	.shown_patients = sq_shown_patients,
	.study_groups = sq_study_groups,
	.group_studies = sq_group_studies,
	.view_study = sq_view_study,
	.max_row_id = sq_max_row_id,
	.share_series = sq_share_series,
	.share_totals = sq_share_totals,
	.share_indexes = sq_share_indexes,
	.exec = sq_exec,
	.find_studies = sq_find_studies,
	.study_info = sq_study_info,
	.patient_info = sq_patient_info,
	.series_info = sq_series_info,
	.find_indexes = sq_find_indexes,
	.recent_imports = sq_recent_imports,
	.segments_owners = sq_segments_owners,
	.blobs_unreferenced = sq_blobs_unreferenced,
	.instance_ids = sq_instance_ids,
};
