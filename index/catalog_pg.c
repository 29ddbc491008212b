/*
 * catalog_pg.c - the catalogue in PostgreSQL (catalog_pg.h), on libpq.
 *
 * The queries are catalog_sqlite.c's, in PostgreSQL's dialect.  The hot
 * ones (the S_* table) are prepared once per connection, on first use, and
 * kept; walks that run once per verify, gc or rm send their text each time.
 * What the import's writer does per instance is one round trip each for
 * placing it and inserting it (plpgsql functions dcmfs_place and
 * dcmfs_insert_instance) and one per new blob.  Parameters go as text,
 * except hashes and payloads (bytea, binary); results come back as text.
 *
 * Invariants:
 *  1. A connection is one PGconn, used by one thread at a time.
 *  2. Every statement that may break a unique constraint is written
 *     "ON CONFLICT DO NOTHING" and a missing row is -EEXIST: an error
 *     inside a PostgreSQL transaction would abort all of it, where
 *     SQLite's leaves the transaction usable, and callers (ingest,
 *     reindex) go on after -EEXIST.
 *  3. Writers hold advisory lock PG_CATALOG_LOCK from catalog_begin (or
 *     from their first change row, taken by the feed's trigger) to their
 *     end.  The feed's seq is max(seq) + 1 under that lock, so a reader's
 *     snapshot that holds a change row holds every row of a smaller seq:
 *     no slower concurrent transaction can commit a smaller seq later
 *     (SCALING.md's caveat about a bigserial seq).
 *  4. Triggers that look at other rows of their own table are BEFORE
 *     triggers (segments' tallies): they then see the rows the same
 *     statement handled before, as SQLite's row triggers do.
 *  5. Folder counts (nchildren) change by the difference an insert made
 *     to current flags, mtimes only grow, and catalog_prune counts all
 *     again: t0721 holds them against a recount.
 *  6. The server functions plan with enable_seqscan off (PLAN_INDEXED):
 *     a plan cached while a new catalogue's tables were small would scan
 *     them whole for the rest of a session.
 *  7. A lost connection is made again only between the caller's
 *     transactions (live()).
 */
#include "catalog_pg.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "catalog_names.h"
#include "hash.h"

#define KEPT_TEXT(n) #n
#define KEPT(n) KEPT_TEXT(n)
#define LOCK_KEY KEPT(PG_CATALOG_LOCK)

/* The functions and triggers below look rows up by key, each call a few
 * rows: a plan they cache for the session, made while a new catalogue's
 * tables were small, must not go on scanning them whole as they grow
 * (3000 instances imported in one session took 15 s that way). */
#define PLAN_INDEXED " SET enable_seqscan = off "

/* Text compared bytewise, as SQLite's BINARY collation does. */
#define T "text COLLATE \"C\""

#define FNAME_OF(t) "coalesce(" t "fname, " t "sop_uid || '.dcm')"
#define VNAME_OF(t) "coalesce(" t "vname, " t "sop_uid || '.v' || " t "version || '.dcm')"
#define NAME_OF(t) "(CASE WHEN " t "version<=1 THEN " FNAME_OF(t) " ELSE " VNAME_OF(t) " END)"

/* ---- the schema ---- */

static const char schema_sql[] =
	"CREATE TABLE schema_version(version integer NOT NULL);"
	"CREATE TABLE counters(kind " T " PRIMARY KEY, next bigint NOT NULL);"
	"CREATE TABLE packs(id bigint PRIMARY KEY, name " T " NOT NULL UNIQUE);"
	"CREATE TABLE blobs(id bigint PRIMARY KEY, hash bytea NOT NULL, ordinal bigint NOT NULL,"
	" kind integer NOT NULL, raw_size bigint NOT NULL, enc_size bigint NOT NULL,"
	" pack bigint NOT NULL, \"offset\" bigint NOT NULL, UNIQUE(hash, ordinal));"
	"CREATE TABLE patients(id bigint PRIMARY KEY, patient_id " T " NOT NULL, issuer " T " NOT NULL,"
	" name " T ", birth_date " T ", sex " T ", dirname " T " NOT NULL UNIQUE,"
	" mtime bigint NOT NULL DEFAULT 0, nchildren bigint NOT NULL DEFAULT 0,"
	" UNIQUE(patient_id, issuer));"
	"CREATE TABLE studies(id bigint PRIMARY KEY, patient bigint NOT NULL, study_uid " T " NOT NULL,"
	" study_date " T ", study_time " T ", description " T ", accession " T ","
	" referring " T ", dirname " T " NOT NULL, mtime bigint NOT NULL DEFAULT 0,"
	" nchildren bigint NOT NULL DEFAULT 0,"
	" UNIQUE(patient, study_uid), UNIQUE(patient, dirname));"
	"CREATE INDEX studies_uid ON studies(study_uid);"
	"CREATE TABLE series(id bigint PRIMARY KEY, study bigint NOT NULL, series_uid " T " NOT NULL,"
	" modality " T ", number bigint, description " T ", dirname " T " NOT NULL,"
	" mtime bigint NOT NULL DEFAULT 0, nchildren bigint NOT NULL DEFAULT 0,"
	" UNIQUE(study, series_uid), UNIQUE(study, dirname));"
	"CREATE INDEX series_uid ON series(series_uid);"
	"CREATE TABLE instances(id bigint PRIMARY KEY, series bigint NOT NULL, sop_uid " T " NOT NULL,"
	" version bigint NOT NULL, instance_number bigint,"
	" frames bigint, rows bigint, columns bigint, bits_allocated bigint,"
	" modality " T ", size bigint NOT NULL, stored_at bigint NOT NULL, file_hash bytea NOT NULL,"
	" record_pack bigint NOT NULL, record_offset bigint NOT NULL, record_len bigint NOT NULL,"
	" fname " T ", vname " T ", current integer NOT NULL DEFAULT 0,"
	" unclean " T " NOT NULL DEFAULT '', UNIQUE(sop_uid, version));"
	"CREATE INDEX instances_series ON instances(series, current);"
	"CREATE INDEX instances_kept_fname ON instances(series, fname) WHERE fname IS NOT NULL;"
	"CREATE INDEX instances_kept_vname ON instances(series, vname) WHERE vname IS NOT NULL;"
	"CREATE INDEX instances_unclean ON instances(unclean) WHERE unclean<>'';"
	"CREATE INDEX instances_record ON instances(record_pack, record_offset);"
	"CREATE TABLE segments(instance bigint NOT NULL, idx integer NOT NULL, blob bigint NOT NULL,"
	" PRIMARY KEY(instance, idx));"
	"CREATE INDEX segments_blob ON segments(blob);"
	"CREATE TABLE import_log(id bigint PRIMARY KEY, started bigint, ended bigint, n_new bigint,"
	" n_duplicate bigint, n_version bigint, n_rejected bigint,"
	" bytes_in bigint, bytes_stored bigint);"
	"CREATE INDEX studies_accession ON studies(accession);"
	"CREATE INDEX studies_date ON studies(study_date);"
	"CREATE INDEX series_modality ON series(modality);"
	"CREATE INDEX patients_name_upper ON patients(upper(name));"
	"CREATE INDEX patients_birth ON patients(birth_date);"
	/* ids of rows that are no inode: a counters row each, as the others */
	"CREATE FUNCTION dcmfs_take_id(k text) RETURNS bigint LANGUAGE sql AS $$"
	" INSERT INTO counters(kind, next) VALUES(k, 2) ON CONFLICT(kind)"
	" DO UPDATE SET next=counters.next+1 RETURNING next-1 $$;"
	/* the change feed (catalog.h) */
	"CREATE TABLE changes(seq bigint PRIMARY KEY, kind integer NOT NULL, id bigint NOT NULL,"
	" parent bigint NOT NULL, name " T " NOT NULL, mtime bigint NOT NULL, state integer NOT NULL);"
	"CREATE FUNCTION dcmfs_feed(k integer, i bigint, p bigint, n text, m bigint, s integer)"
	" RETURNS void LANGUAGE plpgsql" PLAN_INDEXED "AS $$ DECLARE q bigint; BEGIN"
	" PERFORM pg_advisory_xact_lock(" LOCK_KEY ");"
	" SELECT coalesce(max(seq), 0) + 1 INTO q FROM changes;"
	" INSERT INTO changes(seq, kind, id, parent, name, mtime, state) VALUES(q, k, i, p, n, m, s);"
	" IF q % 1024 = 0 THEN DELETE FROM changes WHERE seq <= q - " KEPT(CATALOG_CHANGES_KEPT) "; END IF;"
	" END $$;";

/* The feed's triggers of a folder table: as catalog.c's FOLDER_TRIGGERS. */
#define FOLDER_FEED(t, k, pnew, pold) \
	"CREATE FUNCTION dcmfs_feed_" t "() RETURNS trigger LANGUAGE plpgsql" PLAN_INDEXED "AS $$ BEGIN" \
	" IF TG_OP = 'INSERT' THEN PERFORM dcmfs_feed(" k ", NEW.id, " pnew ", NEW.dirname, NEW.mtime, 1);" \
	" ELSIF TG_OP = 'DELETE' THEN PERFORM dcmfs_feed(" k ", OLD.id, " pold ", OLD.dirname, OLD.mtime, -1);" \
	" ELSE" \
	"  IF OLD.dirname IS DISTINCT FROM NEW.dirname AND OLD.nchildren>0 THEN" \
	"   PERFORM dcmfs_feed(" k ", OLD.id, " pold ", OLD.dirname, OLD.mtime, 0); END IF;" \
	"  PERFORM dcmfs_feed(" k ", NEW.id, " pnew ", NEW.dirname, NEW.mtime, (NEW.nchildren>0)::integer);" \
	" END IF; RETURN NULL; END $$;" \
	"CREATE TRIGGER changes_" t "_add AFTER INSERT ON " t " FOR EACH ROW WHEN (NEW.nchildren>0)" \
	" EXECUTE FUNCTION dcmfs_feed_" t "();" \
	"CREATE TRIGGER changes_" t "_change AFTER UPDATE OF dirname, mtime, nchildren ON " t \
	" FOR EACH ROW WHEN ((OLD.nchildren>0 OR NEW.nchildren>0) AND (OLD.dirname IS DISTINCT FROM" \
	" NEW.dirname OR OLD.mtime IS DISTINCT FROM NEW.mtime OR OLD.nchildren IS DISTINCT FROM" \
	" NEW.nchildren)) EXECUTE FUNCTION dcmfs_feed_" t "();" \
	"CREATE TRIGGER changes_" t "_delete AFTER DELETE ON " t " FOR EACH ROW" \
	" EXECUTE FUNCTION dcmfs_feed_" t "();"

/* The feed's triggers, apart: a reindex adds them once its rows are in
 * (a feed of the build's own inserts would serve no mount). */
static const char feed_sql[] =
	FOLDER_FEED("patients", "1", "0", "0")
	FOLDER_FEED("studies", "2", "NEW.patient", "OLD.patient")
	FOLDER_FEED("series", "3", "NEW.study", "OLD.study")
	/* Files: a current version that stops being current (its name goes). */
	"CREATE FUNCTION dcmfs_feed_instances() RETURNS trigger LANGUAGE plpgsql" PLAN_INDEXED "AS $$ BEGIN"
	" PERFORM dcmfs_feed(4, OLD.id, OLD.series, " FNAME_OF("OLD.") ", OLD.stored_at,"
	" CASE WHEN TG_OP = 'DELETE' THEN -1 ELSE 0 END); RETURN NULL; END $$;"
	"CREATE TRIGGER changes_instances_delete AFTER DELETE ON instances FOR EACH ROW"
	" WHEN (OLD.current=1) EXECUTE FUNCTION dcmfs_feed_instances();"
	"CREATE TRIGGER changes_instances_hide AFTER UPDATE OF current, fname ON instances FOR EACH ROW"
	" WHEN (OLD.current=1 AND (NEW.current=0 OR OLD.fname IS DISTINCT FROM NEW.fname))"
	" EXECUTE FUNCTION dcmfs_feed_instances();"
;

static const char triggers_sql[] =
	/* the kept totals (catalog.c's tally_*) */
	"CREATE TABLE tallies(series bigint NOT NULL, modality " T " NOT NULL,"
	" instances bigint NOT NULL, versions bigint NOT NULL, bytes bigint NOT NULL,"
	" PRIMARY KEY(series, modality));"
	"CREATE TABLE blob_tallies(kind integer PRIMARY KEY, blobs bigint NOT NULL,"
	" raw bigint NOT NULL, enc bigint NOT NULL);"
	"CREATE TABLE modality_blobs(modality " T " PRIMARY KEY, raw bigint NOT NULL,"
	" enc bigint NOT NULL, pixel_raw bigint NOT NULL, pixel_enc bigint NOT NULL);"
	"CREATE FUNCTION dcmfs_tally_instance() RETURNS trigger LANGUAGE plpgsql" PLAN_INDEXED "AS $$ BEGIN"
	" IF TG_OP = 'INSERT' THEN"
	"  INSERT INTO tallies(series, modality, instances, versions, bytes)"
	"  VALUES(NEW.series, coalesce(NEW.modality, ''), 1, (NEW.version>1)::integer, NEW.size)"
	"  ON CONFLICT(series, modality) DO UPDATE SET instances=tallies.instances+1,"
	"  versions=tallies.versions+excluded.versions, bytes=tallies.bytes+excluded.bytes;"
	" ELSE"
	"  UPDATE tallies SET instances=instances-1, versions=versions-(OLD.version>1)::integer,"
	"  bytes=bytes-OLD.size WHERE series=OLD.series AND modality=coalesce(OLD.modality, '');"
	"  DELETE FROM tallies WHERE series=OLD.series AND modality=coalesce(OLD.modality, '')"
	"  AND instances<=0;"
	" END IF; RETURN NULL; END $$;"
	"CREATE TRIGGER tally_instance AFTER INSERT OR DELETE ON instances FOR EACH ROW"
	" EXECUTE FUNCTION dcmfs_tally_instance();"
	"CREATE FUNCTION dcmfs_tally_blob() RETURNS trigger LANGUAGE plpgsql" PLAN_INDEXED "AS $$ BEGIN"
	" IF TG_OP = 'INSERT' THEN"
	"  INSERT INTO blob_tallies(kind, blobs, raw, enc) VALUES(NEW.kind, 1, NEW.raw_size, NEW.enc_size)"
	"  ON CONFLICT(kind) DO UPDATE SET blobs=blob_tallies.blobs+1,"
	"  raw=blob_tallies.raw+excluded.raw, enc=blob_tallies.enc+excluded.enc;"
	" ELSE"
	"  UPDATE blob_tallies SET blobs=blobs-1, raw=raw-OLD.raw_size, enc=enc-OLD.enc_size"
	"  WHERE kind=OLD.kind;"
	" END IF; RETURN NULL; END $$;"
	"CREATE TRIGGER tally_blob AFTER INSERT OR DELETE ON blobs FOR EACH ROW"
	" EXECUTE FUNCTION dcmfs_tally_blob();"
	/* BEFORE (invariant 4): a blob is counted in a modality once, by the
	 * first segment naming it from an instance of that modality. */
	"CREATE FUNCTION dcmfs_tally_segment() RETURNS trigger LANGUAGE plpgsql" PLAN_INDEXED "AS $$"
	" DECLARE r segments; m text; sg bigint; BEGIN"
	" IF TG_OP = 'INSERT' THEN r := NEW; sg := 1; ELSE r := OLD; sg := -1; END IF;"
	" SELECT coalesce(modality, '') INTO m FROM instances WHERE id=r.instance;"
	" IF m IS NULL OR EXISTS(SELECT 1 FROM segments g WHERE g.blob=r.blob"
	"  AND (g.instance<>r.instance OR g.idx<>r.idx) AND (SELECT coalesce(i.modality, '')"
	"  FROM instances i WHERE i.id=g.instance)=m) THEN RETURN r; END IF;"
	" INSERT INTO modality_blobs(modality, raw, enc, pixel_raw, pixel_enc)"
	" SELECT m, sg*raw_size, sg*enc_size, sg*(CASE WHEN kind=1 THEN raw_size ELSE 0 END),"
	" sg*(CASE WHEN kind=1 THEN enc_size ELSE 0 END) FROM blobs WHERE id=r.blob"
	" ON CONFLICT(modality) DO UPDATE SET raw=modality_blobs.raw+excluded.raw,"
	" enc=modality_blobs.enc+excluded.enc, pixel_raw=modality_blobs.pixel_raw+excluded.pixel_raw,"
	" pixel_enc=modality_blobs.pixel_enc+excluded.pixel_enc;"
	" RETURN r; END $$;"
	"CREATE TRIGGER tally_segment BEFORE INSERT OR DELETE ON segments FOR EACH ROW"
	" EXECUTE FUNCTION dcmfs_tally_segment();"
	/* catalog_place in one round trip: each folder row found, or made
	 * with the id offered (NULL: none left, o_err 1); o_used says which
	 * offered ids were taken (1 patient, 2 study, 4 series); o_err 2 when
	 * a new row breaks a unique rule.  A %noid patient folder (p_noid)
	 * takes the first of stem, stem-2, stem-3... no patient has. */
	"CREATE FUNCTION dcmfs_place(p_key text, p_issuer text, p_name text, p_birth text, p_sex text,"
	" p_pdir text, p_noid boolean, p_pid bigint, p_study_uid text, p_date text, p_time text,"
	" p_desc text, p_acc text, p_ref text, p_stdir text, p_stid bigint, p_series_uid text,"
	" p_mod text, p_num bigint, p_sedesc text, p_sedir text, p_seid bigint,"
	" OUT o_pat bigint, OUT o_stu bigint, OUT o_ser bigint, OUT o_used integer, OUT o_err integer)"
	" LANGUAGE plpgsql" PLAN_INDEXED "AS $$ DECLARE d text; n integer; BEGIN"
	" o_used := 0; o_err := 0;"
	" SELECT id INTO o_pat FROM patients WHERE patient_id=p_key AND issuer=p_issuer;"
	" IF NOT FOUND THEN"
	"  IF p_pid IS NULL THEN o_err := 1; RETURN; END IF;"
	"  d := p_pdir; n := 1;"
	"  WHILE p_noid AND EXISTS(SELECT 1 FROM patients WHERE dirname=d) LOOP"
	"   n := n + 1; d := p_pdir || '-' || n; END LOOP;"
	"  INSERT INTO patients(id, patient_id, issuer, name, birth_date, sex, dirname)"
	"  VALUES(p_pid, p_key, p_issuer, p_name, p_birth, p_sex, d) ON CONFLICT DO NOTHING;"
	"  IF NOT FOUND THEN o_err := 2; RETURN; END IF;"
	"  o_pat := p_pid; o_used := 1;"
	" END IF;"
	" SELECT id INTO o_stu FROM studies WHERE patient=o_pat AND study_uid=p_study_uid;"
	" IF NOT FOUND THEN"
	"  IF p_stid IS NULL THEN o_err := 1; RETURN; END IF;"
	"  INSERT INTO studies(id, patient, study_uid, study_date, study_time, description, accession,"
	"  referring, dirname) VALUES(p_stid, o_pat, p_study_uid, p_date, p_time, p_desc, p_acc, p_ref,"
	"  p_stdir) ON CONFLICT DO NOTHING;"
	"  IF NOT FOUND THEN o_err := 2; RETURN; END IF;"
	"  o_stu := p_stid; o_used := o_used | 2;"
	" END IF;"
	" SELECT id INTO o_ser FROM series WHERE study=o_stu AND series_uid=p_series_uid;"
	" IF NOT FOUND THEN"
	"  IF p_seid IS NULL THEN o_err := 1; RETURN; END IF;"
	"  INSERT INTO series(id, study, series_uid, modality, number, description, dirname)"
	"  VALUES(p_seid, o_stu, p_series_uid, p_mod, p_num, p_sedesc, p_sedir) ON CONFLICT DO NOTHING;"
	"  IF NOT FOUND THEN o_err := 2; RETURN; END IF;"
	"  o_ser := p_seid; o_used := o_used | 4;"
	" END IF; END $$;"
	/* catalog_insert_instance in one round trip: the row (false when its
	 * id or (sop_uid, version) is taken), its segments, then dcmfs_placed. */
	"CREATE FUNCTION dcmfs_insert_instance(p_id bigint, p_series bigint, p_sop text, p_version bigint,"
	" p_inum bigint, p_frames bigint, p_rows bigint, p_cols bigint, p_bits bigint, p_mod text,"
	" p_size bigint, p_at bigint, p_hash bytea, p_rpack bigint, p_roff bigint, p_rlen bigint,"
	" p_fname text, p_vname text, p_unclean text, p_segs bigint[], p_study bigint, p_patient bigint)"
	" RETURNS boolean LANGUAGE plpgsql" PLAN_INDEXED "AS $$ BEGIN"
	" INSERT INTO instances(id, series, sop_uid, version, instance_number, frames, rows, columns,"
	"  bits_allocated, modality, size, stored_at, file_hash, record_pack, record_offset, record_len,"
	"  fname, vname, unclean) VALUES(p_id, p_series, p_sop, p_version, p_inum, p_frames, p_rows,"
	"  p_cols, p_bits, p_mod, p_size, p_at, p_hash, p_rpack, p_roff, p_rlen, p_fname, p_vname,"
	"  p_unclean) ON CONFLICT DO NOTHING;"
	" IF NOT FOUND THEN RETURN false; END IF;"
	" INSERT INTO segments(instance, idx, blob) SELECT p_id, o - 1, b"
	"  FROM unnest(p_segs) WITH ORDINALITY AS t(b, o);"
	" PERFORM dcmfs_placed(p_series, p_study, p_patient, p_at, p_sop);"
	" RETURN true; END $$;"
	/* After an instance row is inserted (catalog_insert_instance): the
	 * current version of its SOP UID, and for each version whose flag
	 * changed, its series' count of shown files by one (a study's count
	 * when its series starts or stops showing something, a patient's
	 * likewise); the new row's folders' mtimes raised to p_at.  Where
	 * catalog_sqlite.c counts a folder's rows again at each insert, this
	 * adds the difference: a count is then no dearer in a big series,
	 * where PostgreSQL would visit every row's heap tuple (they are too
	 * new for an index-only scan).  Gains are added before losses, so a
	 * new version replacing the current one in its series never shows the
	 * folders empty on the way.  catalog_prune counts them all again. */
	"CREATE FUNCTION dcmfs_placed(p_series bigint, p_study bigint, p_patient bigint, p_at bigint,"
	" p_sop text) RETURNS void LANGUAGE plpgsql" PLAN_INDEXED "AS $$ DECLARE f record; BEGIN"
	" FOR f IN WITH u AS (UPDATE instances i SET current=c.v FROM (SELECT j.id, (j.id=(SELECT k.id"
	"  FROM instances k WHERE k.sop_uid=p_sop ORDER BY k.unclean<>'', k.version DESC LIMIT 1))::integer"
	"  AS v FROM instances j WHERE j.sop_uid=p_sop) c WHERE i.id=c.id AND i.current<>c.v"
	"  RETURNING i.series AS x, 2 * c.v - 1 AS d) SELECT x, d FROM u ORDER BY d DESC LOOP"
	"  PERFORM dcmfs_count(f.x, f.d, p_series, p_study, p_patient, p_at); END LOOP;"
	" UPDATE series SET mtime=p_at WHERE id=p_series AND mtime<p_at;"
	" UPDATE studies SET mtime=p_at WHERE id=p_study AND mtime<p_at;"
	" UPDATE patients SET mtime=p_at WHERE id=p_patient AND mtime<p_at;"
	" END $$;"
	/* Series x shows d (+1, -1) files more; its study and patient follow
	 * when it starts or stops showing any.  The new row's folders (p_*)
	 * take their mtime in the same write. */
	"CREATE FUNCTION dcmfs_count(x bigint, d integer, p_series bigint, p_study bigint,"
	" p_patient bigint, p_at bigint) RETURNS void LANGUAGE plpgsql" PLAN_INDEXED "AS $$"
	" DECLARE up bigint; n bigint; BEGIN"
	" UPDATE series SET nchildren=nchildren+d, mtime=CASE WHEN id=p_series"
	"  THEN greatest(mtime, p_at) ELSE mtime END WHERE id=x RETURNING study, nchildren INTO up, n;"
	" IF NOT FOUND OR n <> (d+1)/2 THEN RETURN; END IF;"
	" UPDATE studies SET nchildren=nchildren+d, mtime=CASE WHEN id=p_study"
	"  THEN greatest(mtime, p_at) ELSE mtime END WHERE id=up RETURNING patient, nchildren INTO up, n;"
	" IF NOT FOUND OR n <> (d+1)/2 THEN RETURN; END IF;"
	" UPDATE patients SET nchildren=nchildren+d, mtime=CASE WHEN id=p_patient"
	"  THEN greatest(mtime, p_at) ELSE mtime END WHERE id=up;"
	" END $$;";

/* ---- the connection ---- */

enum stmt_id {
	S_RESERVE, S_BLOB_CAND, S_BLOB_ID, S_BLOB_KEY, S_BLOB_INS, S_PACK_GET, S_PACK_INS,
	S_PACK_NAME, S_VERSIONS, S_SEGMENTS, S_INST_INS, S_PLACE,
	S_CH_PATIENTS, S_CH_STUDIES, S_CH_SERIES, S_CH_INSTANCES,
	S_LK_PATIENT, S_LK_STUDY, S_LK_SERIES, S_LK_INSTANCE, S_LK_INSTANCE_SOP,
	S_NODE_PATIENT, S_NODE_STUDY, S_NODE_SERIES, S_NODE_INSTANCE, S_INST_SHOWN,
	S_INST_RECORD, S_INST_DEL, S_SEG_DEL, S_DATA_VERSION, S_NEXT_IN_SERIES,
	S_IDENTITY, S_SEGMENTS_OWNERS,
	S_RX_TOMB_ADD, S_RX_TOMB_HAS, S_RX_DEFER, S_RX_NEXT,
	S_RX_FOLDERS, S_RX_DROP_SERIES, S_RX_DROP_STUDY, S_RX_DROP_PATIENT,
	S_NSTMT
};

#define BLOB_COLS "id, hash, ordinal, kind, raw_size, enc_size, pack, \"offset\""
#define NODE_PATIENTS "SELECT id, 0, dirname, mtime, nchildren FROM patients"
#define NODE_STUDIES "SELECT id, patient, dirname, mtime, nchildren FROM studies"
#define NODE_SERIES "SELECT id, study, dirname, mtime, nchildren FROM series"
#define NODE_INSTANCES(name) "SELECT id, series, " name ", stored_at, size FROM instances"
#define NODE_FNAME NODE_INSTANCES(FNAME_OF(""))
#define NODE_VNAME NODE_INSTANCES(VNAME_OF(""))

static const char *const stmt_sql[S_NSTMT] = {
	[S_RESERVE] = "INSERT INTO counters(kind, next) VALUES($1, 1 + $2::bigint) ON CONFLICT(kind)"
		      " DO UPDATE SET next=counters.next+$2::bigint RETURNING next-$2::bigint",
	[S_BLOB_CAND] = "SELECT " BLOB_COLS " FROM blobs WHERE hash=$1 ORDER BY ordinal",
	[S_BLOB_ID] = "SELECT " BLOB_COLS " FROM blobs WHERE id=$1",
	[S_BLOB_KEY] = "SELECT " BLOB_COLS " FROM blobs WHERE hash=$1 AND ordinal=$2",
	[S_BLOB_INS] = "INSERT INTO blobs(" BLOB_COLS ") VALUES(coalesce($1::bigint,"
		       " dcmfs_take_id('blob')), $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING id",
	[S_PACK_GET] = "SELECT id FROM packs WHERE name=$1",
	[S_PACK_INS] = "INSERT INTO packs(id, name) VALUES(dcmfs_take_id('pack'), $1)"
		       " ON CONFLICT DO NOTHING RETURNING id",
	[S_PACK_NAME] = "SELECT name FROM packs WHERE id=$1",
	[S_VERSIONS] = "SELECT id, version, size, file_hash, series, current, (unclean<>'')::integer"
		       " FROM instances WHERE sop_uid=$1 ORDER BY version",
	[S_SEGMENTS] = "SELECT b.id, b.hash, b.ordinal, b.kind, b.raw_size, b.enc_size, b.pack, b.\"offset\""
		       " FROM segments s JOIN blobs b ON b.id=s.blob WHERE s.instance=$1 ORDER BY s.idx",
	[S_INST_INS] = "SELECT dcmfs_insert_instance($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
		       " $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)",
	[S_PLACE] = "SELECT * FROM dcmfs_place($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,"
		    " $14, $15, $16, $17, $18, $19, $20, $21, $22)",
	[S_CH_PATIENTS] = NODE_PATIENTS " WHERE nchildren>0 ORDER BY id",
	[S_CH_STUDIES] = NODE_STUDIES " WHERE patient=$1 AND nchildren>0 ORDER BY id",
	[S_CH_SERIES] = NODE_SERIES " WHERE study=$1 AND nchildren>0 ORDER BY id",
	[S_CH_INSTANCES] = NODE_FNAME " WHERE series=$1 AND current=1 ORDER BY id",
	[S_LK_PATIENT] = NODE_PATIENTS " WHERE dirname=$2 AND nchildren>0 AND $1::bigint IS NOT NULL",
	[S_LK_STUDY] = NODE_STUDIES " WHERE patient=$1 AND dirname=$2 AND nchildren>0",
	[S_LK_SERIES] = NODE_SERIES " WHERE study=$1 AND dirname=$2 AND nchildren>0",
	[S_LK_INSTANCE] = NODE_FNAME " WHERE series=$1 AND fname=$2 AND current=1",
	[S_LK_INSTANCE_SOP] = NODE_FNAME " WHERE sop_uid=$2 AND series=$1 AND current=1"
			      " AND $3::bigint IS NOT NULL",
	[S_NODE_PATIENT] = NODE_PATIENTS " WHERE id=$1",
	[S_NODE_STUDY] = NODE_STUDIES " WHERE id=$1",
	[S_NODE_SERIES] = NODE_SERIES " WHERE id=$1",
	[S_NODE_INSTANCE] = NODE_INSTANCES(NAME_OF("")) " WHERE id=$1",
	[S_INST_SHOWN] = "SELECT series, current FROM instances WHERE id=$1",
	[S_INST_RECORD] = "SELECT i.id, i.series, se.study, st.patient, i.sop_uid, i.version, i.size,"
			  " i.file_hash, i.record_pack, i.record_offset, i.record_len"
			  " FROM instances i LEFT JOIN series se ON se.id=i.series"
			  " LEFT JOIN studies st ON st.id=se.study WHERE i.id=$1",
	[S_INST_DEL] = "DELETE FROM instances WHERE id=$1",
	[S_SEG_DEL] = "DELETE FROM segments WHERE instance=$1",
	[S_DATA_VERSION] = "SELECT coalesce(max(seq), 0) FROM changes",
	[S_NEXT_IN_SERIES] = "SELECT n.id, n.size FROM instances i JOIN instances n ON n.series=i.series"
			     " AND n.current=1 AND n.id>i.id WHERE i.id=$1 ORDER BY n.id LIMIT $2",
	[S_IDENTITY] = "SELECT p.patient_id, p.issuer, p.dirname, st.study_uid, st.dirname,"
		       " se.series_uid, se.dirname, i.sop_uid, i.version, " FNAME_OF("i.") ", "
		       VNAME_OF("i.") ", i.unclean, i.current,"
		       " (SELECT count(*) FROM instances j WHERE j.sop_uid=i.sop_uid AND j.current=1),"
		       " (SELECT j.id FROM instances j WHERE j.sop_uid=i.sop_uid"
		       "  ORDER BY j.unclean<>'', j.version DESC LIMIT 1)"
		       " FROM instances i LEFT JOIN series se ON se.id=i.series"
		       " LEFT JOIN studies st ON st.id=se.study LEFT JOIN patients p ON p.id=st.patient"
		       " WHERE i.id=$1",
	[S_SEGMENTS_OWNERS] = "SELECT b.id, b.hash, b.ordinal, b.kind, b.raw_size, b.enc_size, b.pack,"
			      " b.\"offset\", (SELECT u.instance FROM segments u WHERE u.blob=b.id"
			      " AND EXISTS(SELECT 1 FROM instances i WHERE i.id=u.instance)"
			      " ORDER BY u.instance LIMIT 1)"
			      " FROM segments s JOIN blobs b ON b.id=s.blob WHERE s.instance=$1"
			      " ORDER BY s.idx",
	[S_RX_TOMB_ADD] = "INSERT INTO rx_tomb(id) VALUES($1) ON CONFLICT DO NOTHING",
	[S_RX_TOMB_HAS] = "SELECT 1 FROM rx_tomb WHERE id=$1",
	[S_RX_DEFER] = "INSERT INTO rx_defer(seq, pack, \"offset\", payload) VALUES($1, $2, $3, $4)",
	[S_RX_NEXT] = "SELECT seq, pack, \"offset\", payload FROM rx_defer WHERE seq>$1"
		      " ORDER BY seq LIMIT 1",
	[S_RX_FOLDERS] = "SELECT se.id, se.study, st.patient FROM instances i JOIN series se"
			 " ON se.id=i.series JOIN studies st ON st.id=se.study WHERE i.id=$1",
	[S_RX_DROP_SERIES] = "DELETE FROM series WHERE id=$1"
			     " AND NOT EXISTS(SELECT 1 FROM instances WHERE series=$1)",
	[S_RX_DROP_STUDY] = "DELETE FROM studies WHERE id=$1"
			    " AND NOT EXISTS(SELECT 1 FROM series WHERE study=$1)",
	[S_RX_DROP_PATIENT] = "DELETE FROM patients WHERE id=$1"
			      " AND NOT EXISTS(SELECT 1 FROM studies WHERE patient=$1)",
};

struct pgcat {
	struct catalog base;        /* first: a struct catalog * is this */
	PGconn *conn;
	char prepared[S_NSTMT];     /* statement i is prepared as "s<i>" */
	char msg[512];              /* the last failure, for errmsg */
	int64_t rx_seq;             /* the last rx_defer row's seq */
	int silence_ms;             /* answer()'s limit: ANSWER_SILENCE_MS, or BUILD_SILENCE_MS */
	int build;                  /* catalog_pg_build_open's: its one transaction fills a new
				     * schema, which its catalog_commit puts in place */
	int readonly;
	int txn;                    /* the caller's transaction (catalog_begin) is open */
	int dropped;                /* answer() shut a silent connection: 1 until pg_fail tells
				     * it, then 2 until live() connects again */
	char xid[24];               /* the open write transaction's txid_current(), to ask its
				     * fate when the answer to its COMMIT is lost */
};

static struct pgcat *pg(struct catalog *c)
{
	return (struct pgcat *)c;
}

/* Parameters of one statement. */
#define MAXP 40
struct args {
	int n;
	const char *v[MAXP];
	int len[MAXP], fmt[MAXP];
	char num[MAXP][24];
};

static void a_i64(struct args *a, int64_t x)
{
	snprintf(a->num[a->n], sizeof(a->num[0]), "%" PRId64, x);
	a->v[a->n] = a->num[a->n];
	a->len[a->n] = 0;
	a->fmt[a->n++] = 0;
}

static void a_text(struct args *a, const char *s)
{
	a->v[a->n] = s;
	a->len[a->n] = 0;
	a->fmt[a->n++] = 0;
}

static void a_null(struct args *a)
{
	a_text(a, NULL);
}

static void a_bytes(struct args *a, const void *p, size_t n)
{
	a->v[a->n] = p;
	a->len[a->n] = (int)n;
	a->fmt[a->n++] = 1;
}

/* Keep the message of a failure (one line) and map it to an errno. */
static int pg_fail(struct pgcat *c, PGresult *res)
{
	if (c->dropped == 1) {
		c->dropped = 2;         /* answer() said why in c->msg */
		return -EIO;
	}
	const char *m = res ? PQresultErrorMessage(res) : "";
	if (!m || !m[0])
		m = PQerrorMessage(c->conn);
	snprintf(c->msg, sizeof(c->msg), "%s", m && m[0] ? m : "PostgreSQL failed");
	char *nl = strchr(c->msg, '\n');
	if (nl)
		*nl = '\0';
	if (PQstatus(c->conn) != CONNECTION_OK)
		return -EIO;
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (!st)
		return -EIO;
	if (!strncmp(st, "23", 2))
		return -EEXIST;
	if (!strcmp(st, "53100"))
		return -ENOSPC;
	if (!strcmp(st, "53200"))
		return -ENOMEM;
	if (!strcmp(st, "25006"))
		return -EROFS;
	if (!strcmp(st, "40P01") || !strcmp(st, "40001") || !strcmp(st, "55P03"))
		return -EBUSY;
	if (!strcmp(st, "42501"))
		return -EACCES;
	return -EIO;
}

/* The result of res when it succeeded, else NULL with *err set (and res
 * freed). */
static PGresult *checked(struct pgcat *c, PGresult *res, int *err)
{
	ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK)
		return res;
	*err = pg_fail(c, res);
	PQclear(res);
	return NULL;
}

static int session_setup(struct pgcat *c);

/* How long a statement's answer may keep silent.  A server that stops
 * answering (stopped, a frozen VM, a cut network without a reset) would
 * otherwise hold the caller for ever: in a mount, a thread no signal
 * reaches.  Silence, not total time: a long listing that keeps sending
 * rows is not cut. */
#define ANSWER_SILENCE_MS 60000
/* A reindex's single statements (catalog_prune, the swap) work through
 * every row before they answer: on a store of millions that is minutes. */
#define BUILD_SILENCE_MS (3600 * 1000)

static int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The result of what was just sent on c (sent: PQsend* succeeded), as
 * PQexec* would give it: the first failed result, else the last one.
 * After c->silence_ms without a byte the connection is shut (its
 * transaction, if any, dies with it on the server; live() connects again
 * between transactions) and NULL is returned with c->msg set. */
static PGresult *answer(struct pgcat *c, int sent)
{
	if (!sent)
		return NULL;
	PGresult *keep = NULL, *r;
	int64_t deadline = now_ms() + c->silence_ms;
	for (;;) {
		while (PQisBusy(c->conn)) {
			int64_t left = deadline - now_ms();
			struct pollfd p = { .fd = PQsocket(c->conn), .events = POLLIN };
			int n = left > 0 ? poll(&p, 1, (int)left) : 0;
			if (n < 0 && errno == EINTR)
				continue;
			if (n == 0) {
				shutdown(PQsocket(c->conn), SHUT_RDWR);
				PQclear(keep);
				while ((r = PQgetResult(c->conn)))
					PQclear(r);
				snprintf(c->msg, sizeof(c->msg), "the catalogue's server did not answer"
					 " for %d s: connection dropped", c->silence_ms / 1000);
				c->dropped = 1;
				return NULL;
			}
			if (!PQconsumeInput(c->conn))
				break;          /* PQgetResult then says what failed */
			deadline = now_ms() + c->silence_ms;
		}
		if (!(r = PQgetResult(c->conn)))
			break;
		ExecStatusType st = keep ? PQresultStatus(keep) : PGRES_COMMAND_OK;
		if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
			PQclear(r);     /* the first failure is the one to tell */
			continue;
		}
		PQclear(keep);
		keep = r;
	}
	return keep;
}

/* 0 when the connection is up.  One lost (a server restart, the network)
 * is made again between the caller's transactions, never inside one,
 * whose later statements would otherwise run on their own: the call that
 * meets the loss fails (-EIO), the transaction fails to its end, and the
 * next call after it connects again. */
static int live(struct pgcat *c)
{
	if (PQstatus(c->conn) == CONNECTION_OK && !c->dropped)
		return 0;
	if (c->txn) {
		snprintf(c->msg, sizeof(c->msg), "the connection to the catalogue was lost in a transaction");
		return -EIO;
	}
	c->dropped = 0;
	PQreset(c->conn);
	if (PQstatus(c->conn) != CONNECTION_OK) {
		snprintf(c->msg, sizeof(c->msg), "cannot connect to the catalogue again: %s",
			 PQerrorMessage(c->conn));
		char *nl = strchr(c->msg, '\n');
		if (nl)
			*nl = '\0';
		return -EIO;
	}
	memset(c->prepared, 0, sizeof(c->prepared));
	return session_setup(c);
}

/* Run prepared statement id with a's parameters: its result, or NULL and
 * *err. */
static PGresult *run(struct pgcat *c, enum stmt_id id, const struct args *a, int *err)
{
	if ((*err = live(c)))
		return NULL;
	char name[16];
	snprintf(name, sizeof(name), "s%d", (int)id);
	if (!c->prepared[id]) {
		PGresult *p = checked(c, answer(c, PQsendPrepare(c->conn, name, stmt_sql[id], 0, NULL)), err);
		if (!p)
			return NULL;
		PQclear(p);
		c->prepared[id] = 1;
	}
	return checked(c, answer(c, PQsendQueryPrepared(c->conn, name, a ? a->n : 0, a ? a->v : NULL,
							a ? a->len : NULL, a ? a->fmt : NULL, 0)), err);
}

/* Run sql (one statement) with a's parameters. */
static PGresult *runq(struct pgcat *c, const char *sql, const struct args *a, int *err)
{
	if ((*err = live(c)))
		return NULL;
	return checked(c, answer(c, PQsendQueryParams(c->conn, sql, a ? a->n : 0, NULL, a ? a->v : NULL,
						      a ? a->len : NULL, a ? a->fmt : NULL, 0)), err);
}

/* r when it has a row (the caller PQclears it); else NULL, with *err
 * -ENOENT when r had none (it is cleared) or run's -errno when r is NULL.
 * For statements that look one row up: first_row(run(...), &err). */
static PGresult *first_row(PGresult *r, int *err)
{
	if (r && !PQntuples(r)) {
		PQclear(r);
		*err = -ENOENT;
		return NULL;
	}
	return r;
}

/* Run a prepared statement for its effect: 0 or -errno. */
static int run_done(struct pgcat *c, enum stmt_id id, const struct args *a)
{
	int err = 0;
	PGresult *r = run(c, id, a, &err);
	PQclear(r);
	return r ? 0 : err;
}

/* Run statements without parameters (several, ';'-separated). */
static int exec_sql(struct pgcat *c, const char *sql)
{
	int err = live(c);
	if (err)
		return err;
	PGresult *r = checked(c, answer(c, PQsendQuery(c->conn, sql)), &err);
	PQclear(r);
	return r ? 0 : err;
}

static int64_t g_i64(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static const char *g_text(const PGresult *r, int row, int col)
{
	return PQgetvalue(r, row, col);   /* "" for NULL */
}

static int hexval(int ch)
{
	return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 :
	       ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

/* A bytea column in text form ("\x0a1b..."), decoded into out (max bytes):
 * how many bytes it holds, or -1 when it is not hex of at most max. */
static long g_bytes(const PGresult *r, int row, int col, uint8_t *out, size_t max)
{
	const char *v = PQgetvalue(r, row, col);
	if (v[0] != '\\' || v[1] != 'x')
		return -1;
	v += 2;
	size_t n = strlen(v);
	if (n % 2 || n / 2 > max)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(v[2 * i]), lo = hexval(v[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (long)(n / 2);
}

static void g_hash(const PGresult *r, int row, int col, uint8_t hash[HASH_LEN])
{
	if (g_bytes(r, row, col, hash, HASH_LEN) != HASH_LEN)
		memset(hash, 0, HASH_LEN);
}

/* Whether a transaction is open on c. */
static int in_txn(struct pgcat *c)
{
	return PQtransactionStatus(c->conn) != PQTRANS_IDLE;
}

/* A read snapshot for a walk of several statements, unless the caller has
 * a transaction open: 1 when one was begun here (end it with read_end). */
static int read_begin(struct pgcat *c)
{
	if (in_txn(c))
		return 0;
	return exec_sql(c, "BEGIN ISOLATION LEVEL REPEATABLE READ") == 0;
}

static void read_end(struct pgcat *c, int own)
{
	if (own)
		exec_sql(c, "COMMIT");
}

/* ---- opening ---- */

static void quiet(void *arg, const char *message)
{
	(void)arg, (void)message;   /* notices are no errors: a library prints nothing */
}

/* The schema version of the database: 0 when it has none, or -errno. */
static int schema_version(struct pgcat *c)
{
	int err = 0;
	/* asked apart: a query naming a missing table does not plan */
	PGresult *r = runq(c, "SELECT to_regclass('schema_version') IS NOT NULL", NULL, &err);
	if (!r)
		return err;
	int there = !strcmp(g_text(r, 0, 0), "t");
	PQclear(r);
	if (!there)
		return 0;
	if (!(r = runq(c, "SELECT coalesce(max(version), -1) FROM schema_version", NULL, &err)))
		return err;
	int v = (int)g_i64(r, 0, 0);
	PQclear(r);
	return v < 0 ? -EINVAL : v;
}

/* DICOM values are bytes (dicom.h: only names and descriptions are made
 * UTF-8), kept whole as SQLite keeps them: a database that checks text
 * against an encoding would refuse some files, and a batch with them.
 * 0 when the database keeps text as bytes (SQL_ASCII), else -EINVAL
 * with the way to make one in msg. */
static int encoding_check(struct pgcat *c)
{
	int err = 0;
	PGresult *r = runq(c, "SELECT current_setting('server_encoding')", NULL, &err);
	if (!r)
		return err;
	int ok = !strcmp(g_text(r, 0, 0), "SQL_ASCII");
	if (!ok)
		snprintf(c->msg, sizeof(c->msg), "the database's encoding is %s, not SQL_ASCII: DICOM"
			 " values are bytes, not always UTF-8 (make it with 'createdb -E SQL_ASCII"
			 " -T template0 --locale=C NAME')", g_text(r, 0, 0));
	PQclear(r);
	return ok ? 0 : -EINVAL;
}

/* Make the schema in one transaction, unless another opener made it
 * while this one waited for the lock. */
static int schema_create(struct pgcat *c)
{
	int r = exec_sql(c, "BEGIN; SELECT pg_advisory_xact_lock(" LOCK_KEY ")");
	if (r)
		return r;
	int v = schema_version(c);
	if (v == 0 && (r = encoding_check(c))) {
		exec_sql(c, "ROLLBACK");
		return r;
	}
	if (v == 0) {
		r = exec_sql(c, schema_sql);
		if (!r)
			r = exec_sql(c, feed_sql);
		if (!r)
			r = exec_sql(c, triggers_sql);
		if (!r)
			r = exec_sql(c, "INSERT INTO schema_version VALUES(" KEPT(PG_CATALOG_SCHEMA) ")");
	}
	if (r || v < 0) {
		exec_sql(c, "ROLLBACK");
		return r ? r : v;
	}
	return exec_sql(c, "COMMIT");
}

/* A session's settings, at connect and after a reconnect. */
static int session_setup(struct pgcat *c)
{
	/* Wait for another writer as SQLite's busy timeout does; then -EBUSY. */
	int r = exec_sql(c, "SET lock_timeout = '30s'; SET client_min_messages = warning");
	if (!r && c->readonly)
		r = exec_sql(c, "SET default_transaction_read_only = on");
	return r;
}

static void pg_close(struct catalog *cat)
{
	if (!cat)
		return;
	struct pgcat *c = pg(cat);
	PQfinish(c->conn);
	free(c);
}

/* A connection to url, set up, in *out: 0, or -ENOMEM, -EIO with err. */
static int pg_connect(const char *url, struct pgcat **out, char *err, size_t errlen)
{
	struct pgcat *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->base.ops = &catalog_pg_ops;
	c->silence_ms = ANSWER_SILENCE_MS;
	/* A server that takes the connection and never answers (its postmaster
	 * stopped) would hold us for ever: 10 s unless the URL says otherwise
	 * (the URL's settings override the earlier keyword). */
	static const char *const keys[] = { "connect_timeout", "dbname", NULL };
	const char *const vals[] = { "10", url, NULL };
	c->conn = PQconnectdbParams(keys, vals, 1);
	if (!c->conn) {
		free(c);
		return -ENOMEM;
	}
	int r = -EIO;
	if (PQstatus(c->conn) != CONNECTION_OK) {
		snprintf(err, errlen, "cannot connect to the catalogue: %s", PQerrorMessage(c->conn));
		goto fail;
	}
	PQsetNoticeProcessor(c->conn, quiet, NULL);
	if ((r = session_setup(c))) {
		snprintf(err, errlen, "cannot set up the catalogue connection: %s", c->msg);
		goto fail;
	}
	*out = c;
	return 0;
fail:
	pg_close(&c->base);
	return r;
}

int catalog_pg_open(const char *url, int create, int readonly, struct catalog **out, char *err,
		    size_t errlen)
{
	struct pgcat *c;
	int r = pg_connect(url, &c, err, errlen);
	if (r)
		return r;
	int v = schema_version(c);
	if (v == 0 && create && !readonly) {
		if ((r = schema_create(c))) {
			snprintf(err, errlen, "cannot create the catalogue's schema: %s", c->msg);
			if (r != -EINVAL)
				r = -EIO;
			goto fail;
		}
		v = schema_version(c);
	}
	if (v < 0) {
		snprintf(err, errlen, "cannot read the catalogue's schema version: %s", c->msg);
		r = v == -EINVAL ? -EINVAL : -EIO;
		goto fail;
	}
	r = -EINVAL;
	if (v == 0) {
		snprintf(err, errlen, "the database has no dcmfs schema");
		goto fail;
	}
	if (v > PG_CATALOG_SCHEMA) {
		snprintf(err, errlen, "the catalogue has schema version %d, newer than this dcmfs (%d):"
			 " upgrade dcmfs", v, PG_CATALOG_SCHEMA);
		goto fail;
	}
	if (v < PG_CATALOG_SCHEMA) {
		snprintf(err, errlen, "the catalogue has schema version %d, older than this dcmfs (%d):"
			 " rebuild it with 'dcmfsctl reindex'", v, PG_CATALOG_SCHEMA);
		goto fail;
	}
	c->readonly = readonly;
	if (readonly && (r = exec_sql(c, "SET default_transaction_read_only = on"))) {
		snprintf(err, errlen, "cannot set up the catalogue connection: %s", c->msg);
		goto fail;
	}
	*out = &c->base;
	return 0;
fail:
	pg_close(&c->base);
	return r;
}

/* ---- the reindex's build ----
 *
 * Why a new schema and not TRUNCATE: reindex reads the old catalogue on a
 * second connection while it builds (to name what damage costs), and
 * TRUNCATE's ACCESS EXCLUSIVE locks, held to the commit, would leave that
 * connection waiting on the build's own transaction (each of its calls
 * failing after lock_timeout); the old tables stay readable here until the
 * swap, which takes their locks only at the end, and briefly.  Measured,
 * 7,603 small instances on a local socket: the swap (install_sql) 0.05 to
 * 0.13 s and its COMMIT 0.16 s of a 14 to 16 s reindex, which, like the
 * import (13 s), goes at the pace of its round trips, several per instance.
 * Everything, the schema made, filled and swapped in, is one transaction:
 * a kill or a lost server at any moment rolls it all back and the old
 * catalogue stays whole (t0727).  The new tables belong to the role that
 * ran the reindex; grants made on the old ones by hand go with them.
 *
 * The swap (pg_commit of a build connection, install_sql) keeps what the
 * packs cannot give back: every counter (ids, inode numbers) ends at the
 * greater of the old and the new, so no id goes backwards or is handed out
 * twice; the import log is kept; the old catalogue is kept in schema
 * OLD_SCHEMA; and the feed goes on after the old one's
 * newest seq with a gap (its first row is at the old newest + 2), so that
 * a reader holding an old seq is told -ESTALE and starts afresh rather
 * than apply old rows to new rows. */
#define BUILD_SCHEMA "dcmfs_reindex"
/* Where the replaced catalogue stays until the next reindex, as index.db.old
 * does beside index.db: what a reindex that met damage (a folder of packs
 * not all there) dropped can still be read back by hand. */
#define OLD_SCHEMA "dcmfs_old"

static const char install_sql[] =
	"DO $$ DECLARE h text := current_setting('dcmfs.home'); s text := '" BUILD_SCHEMA "';"
	" o text := '" OLD_SCHEMA "'; v integer := 0; f record; BEGIN"
	" IF to_regclass(format('%I.schema_version', h)) IS NOT NULL THEN"
	"  EXECUTE format('SELECT coalesce(max(version), 0) FROM %I.schema_version', h) INTO v; END IF;"
	" IF to_regclass(format('%I.counters', h)) IS NOT NULL THEN"
	"  EXECUTE format('INSERT INTO %I.counters(kind, next) SELECT kind, next FROM %I.counters"
	"   ON CONFLICT(kind) DO UPDATE SET next=greatest(counters.next, excluded.next)', s, h); END IF;"
	" IF to_regclass(format('%I.changes', h)) IS NOT NULL THEN"
	"  EXECUTE format('INSERT INTO %I.changes(seq, kind, id, parent, name, mtime, state)"
	"   SELECT coalesce(max(seq), 0) + 2, 1, 0, 0, '''', 0, 1 FROM %I.changes', s, h); END IF;"
	" IF v = " KEPT(PG_CATALOG_SCHEMA) " THEN"
	"  EXECUTE format('INSERT INTO %I.import_log SELECT * FROM %I.import_log', s, h); END IF;"
	/* the old tables (their indexes and triggers with them) to OLD_SCHEMA,
	 * the previous reindex's dropped; their triggers off, as they would
	 * write to the live tables (names resolve by search_path) */
	" EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', o);"
	" EXECUTE format('CREATE SCHEMA %I', o);"
	" FOR f IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid=c.relnamespace"
	"  WHERE n.nspname=s AND c.relkind='r' LOOP"
	"  IF to_regclass(format('%I.%I', h, f.relname)) IS NOT NULL THEN"
	"   EXECUTE format('ALTER TABLE %I.%I SET SCHEMA %I', h, f.relname, o);"
	"   EXECUTE format('ALTER TABLE %I.%I DISABLE TRIGGER USER', o, f.relname); END IF;"
	"  EXECUTE format('ALTER TABLE %I.%I SET SCHEMA %I', s, f.relname, h); END LOOP;"
	/* then the functions: the old ones of each name, every signature */
	" FOR f IN SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS a FROM pg_proc p"
	"  JOIN pg_namespace n ON n.oid=p.pronamespace WHERE n.nspname=h AND p.proname IN"
	"  (SELECT q.proname FROM pg_proc q JOIN pg_namespace m ON m.oid=q.pronamespace"
	"  WHERE m.nspname=s) LOOP"
	"  EXECUTE format('ALTER FUNCTION %I.%I(%s) SET SCHEMA %I', h, f.proname, f.a, o); END LOOP;"
	" FOR f IN SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS a FROM pg_proc p"
	"  JOIN pg_namespace n ON n.oid=p.pronamespace WHERE n.nspname=s LOOP"
	"  EXECUTE format('ALTER FUNCTION %I.%I(%s) SET SCHEMA %I', s, f.proname, f.a, h); END LOOP;"
	/* empty now: anything left in it is a bug, and refused */
	" EXECUTE format('DROP SCHEMA %I', s);"
	" END $$";

int catalog_pg_build_open(const char *url, struct catalog **out, char *err, size_t errlen)
{
	struct pgcat *c;
	int r = pg_connect(url, &c, err, errlen);
	if (r)
		return r;
	c->build = 1;
	c->silence_ms = BUILD_SILENCE_MS;
	const char *what = "cannot start the new catalogue";
	int v = schema_version(c);
	if (v > PG_CATALOG_SCHEMA) {
		snprintf(err, errlen, "the catalogue has schema version %d, newer than this dcmfs (%d):"
			 " upgrade dcmfs", v, PG_CATALOG_SCHEMA);
		r = -EINVAL;
		goto fail;
	}
	/* An empty schema_version (-EINVAL) is a catalogue to rebuild, as
	 * one of an older schema is; a server that fails is not. */
	if ((r = v < 0 && v != -EINVAL ? v : encoding_check(c)))
		goto said;
	/* The writers' lock to the end, as pg_begin takes it; the new rows go
	 * where search_path sends them, the old ones' schema kept for the
	 * swap.  Plans chosen while the new tables are small must not go on
	 * scanning them whole as they grow (invariant 6). */
	if ((r = exec_sql(c, "BEGIN; SELECT pg_advisory_xact_lock(" LOCK_KEY ");"
			  " SELECT set_config('dcmfs.home', current_schema(), true);"
			  " SET LOCAL enable_seqscan = off;"
			  " DROP SCHEMA IF EXISTS " BUILD_SCHEMA " CASCADE; CREATE SCHEMA " BUILD_SCHEMA ";"
			  " SET LOCAL search_path = " BUILD_SCHEMA)))
		goto said;
	c->txn = 1;
	/* its id, to ask its fate should the answer to its COMMIT be lost */
	PGresult *x = runq(c, "SELECT txid_current()", NULL, &r);
	if (!x)
		goto said;
	snprintf(c->xid, sizeof(c->xid), "%s", g_text(x, 0, 0));
	PQclear(x);
	r = exec_sql(c, schema_sql);
	if (!r)
		r = exec_sql(c, triggers_sql);
	if (!r)
		r = exec_sql(c, "INSERT INTO schema_version VALUES(" KEPT(PG_CATALOG_SCHEMA) ")");
	if (r)
		goto said;
	*out = &c->base;
	return 0;
said:
	snprintf(err, errlen, "%s: %s", what, c->msg);
	if (r != -EINVAL)
		r = -EIO;
fail:
	pg_close(&c->base);
	return r;
}

static const char *pg_errmsg(struct catalog *cat)
{
	return pg(cat)->msg;
}

static int64_t pg_data_version(struct catalog *cat)
{
	int err = 0;
	PGresult *r = run(pg(cat), S_DATA_VERSION, NULL, &err);
	if (!r)
		return -1;
	int64_t v = g_i64(r, 0, 0);
	PQclear(r);
	return v;
}

static int pg_nothing(struct catalog *cat)
{
	(void)cat;
	return 0;
}

/* SQL text, with two words of SQLite's that callers send (verify): a
 * PRAGMA tunes SQLite and does nothing here; a bare BEGIN is SQLite's
 * read snapshot, which READ COMMITTED would not give (REPEATABLE READ). */
static int pg_exec(struct catalog *cat, const char *sql)
{
	if (!cat)
		return -EINVAL;
	if (!strncmp(sql, "PRAGMA ", 7))
		return 0;
	if (!strcmp(sql, "BEGIN"))
		sql = "BEGIN ISOLATION LEVEL REPEATABLE READ";
	return exec_sql(pg(cat), sql);
}

/* ---- transactions ---- */

static int pg_begin(struct catalog *cat)
{
	struct pgcat *c = pg(cat);
	if (c->build) {
		/* The build's one transaction, open since catalog_pg_build_open. */
		if (c->txn && in_txn(c))
			return 0;
		snprintf(c->msg, sizeof(c->msg), "the new catalogue's transaction is over");
		return -EIO;
	}
	int r = exec_sql(c, "BEGIN");
	c->xid[0] = '\0';
	if (!r) {
		PGresult *res = runq(c, "SELECT pg_advisory_xact_lock(" LOCK_KEY "), txid_current()",
				     NULL, &r);
		if (res) {
			snprintf(c->xid, sizeof(c->xid), "%s", g_text(res, 0, 1));
			PQclear(res);
		} else {
			exec_sql(c, "ROLLBACK");
		}
	}
	c->txn = !r;
	return r;
}

/* How long a commit whose answer was lost waits for the server to come
 * back and say whether it committed (a restart, a failover). */
#define COMMIT_FATE_MS 15000

/* The fate of transaction c->xid, whose COMMIT was sent but not answered:
 * 0 committed, -EIO rolled back, -EINPROGRESS not learnt in time.  The
 * server aborts a transaction whose connection is gone unless its commit
 * record was written first; txid_status says which, once it runs again. */
static int commit_fate(struct pgcat *c)
{
	char lost[300];
	snprintf(lost, sizeof(lost), "%.299s", c->msg);
	int64_t deadline = now_ms() + COMMIT_FATE_MS;
	c->dropped = 2;         /* this connection is not trusted again: live() makes a new one */
	while (c->xid[0]) {
		if (!live(c)) {
			struct args a = { 0 };
			a_text(&a, c->xid);
			int err = 0;
			PGresult *r = runq(c, "SELECT txid_status($1::bigint)", &a, &err);
			if (r) {
				char st[32];
				snprintf(st, sizeof(st), "%s", g_text(r, 0, 0));
				PQclear(r);
				if (!strcmp(st, "committed"))
					return 0;
				if (!strcmp(st, "aborted")) {
					snprintf(c->msg, sizeof(c->msg), "%.300s (the transaction was"
						 " rolled back)", lost);
					return -EIO;
				}
				if (strcmp(st, "in progress"))
					break;  /* too old to tell: unknown */
				/* its backend has not noticed the loss yet */
			}
		}
		if (now_ms() >= deadline)
			break;
		usleep(250 * 1000);
	}
	snprintf(c->msg, sizeof(c->msg), "%.300s, while the transaction committed: whether it"
		 " is stored is unknown (its data is kept)", lost);
	return -EINPROGRESS;
}

static void pg_rollback(struct catalog *cat);

static int pg_commit(struct catalog *cat)
{
	struct pgcat *c = pg(cat);
	int err = live(c);
	if (!err && c->build) {
		/* The feed's triggers, then the new catalogue in the old one's
		 * place: committed with its rows, or nothing is. */
		c->build = 0;
		err = exec_sql(c, feed_sql);
		if (!err)
			err = exec_sql(c, install_sql);
		if (err) {
			pg_rollback(cat);
			return err;
		}
	}
	c->txn = 0;
	if (err)
		return err;
	/* COMMIT of a failed transaction answers ROLLBACK, no error */
	PGresult *r = answer(c, PQsendQuery(c->conn, "COMMIT"));
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK) {
		/* Only an error the server sent is its word that nothing was
		 * committed; any other (a socket's, libpq's) leaves it open. */
		int told = r && PQresultErrorField(r, PG_DIAG_SQLSTATE) &&
			   PQstatus(c->conn) == CONNECTION_OK && !c->dropped;
		err = pg_fail(c, r);
		PQclear(r);
		if (!told)
			err = commit_fate(c);
		c->xid[0] = '\0';
		return err;
	}
	c->xid[0] = '\0';
	int rolled = !strcmp(PQcmdStatus(r), "ROLLBACK");
	PQclear(r);
	if (rolled) {
		snprintf(c->msg, sizeof(c->msg), "the transaction failed and was rolled back");
		return -EIO;
	}
	return 0;
}

static void pg_rollback(struct catalog *cat)
{
	struct pgcat *c = pg(cat);
	c->txn = 0;
	if (PQstatus(c->conn) == CONNECTION_OK && in_txn(c))
		exec_sql(c, "ROLLBACK");
}

static int pg_reserve_ids(struct catalog *cat, const char *kind, int64_t n, int64_t *first)
{
	struct pgcat *c = pg(cat);
	struct args a = { 0 };
	a_text(&a, kind);
	a_i64(&a, n);
	int err = 0;
	/* outside a transaction the statement commits on its own */
	PGresult *r = run(c, S_RESERVE, &a, &err);
	if (!r)
		return err;
	*first = g_i64(r, 0, 0);
	PQclear(r);
	return 0;
}

/* ---- blobs and packs ---- */

static void blob_from_row(const PGresult *r, int row, struct blob_ref *b)
{
	memset(b, 0, sizeof(*b));
	b->id = g_i64(r, row, 0);
	g_hash(r, row, 1, b->hash);
	b->ordinal = (uint32_t)g_i64(r, row, 2);
	b->kind = (uint32_t)g_i64(r, row, 3);
	b->raw_size = (uint64_t)g_i64(r, row, 4);
	b->enc_size = (uint64_t)g_i64(r, row, 5);
	b->pack = g_i64(r, row, 6);
	b->offset = (uint64_t)g_i64(r, row, 7);
}

static int blob_rows(struct pgcat *c, enum stmt_id id, const struct args *a, struct blob_ref *out,
		     int max)
{
	int err = 0;
	PGresult *r = run(c, id, a, &err);
	if (!r)
		return err;
	int n = PQntuples(r);
	if (n > max)
		n = max;
	for (int i = 0; i < n; i++)
		blob_from_row(r, i, &out[i]);
	PQclear(r);
	return n;
}

static int pg_blob_candidates(struct catalog *cat, const uint8_t hash[HASH_LEN],
			      struct blob_ref *out, int max)
{
	struct args a = { 0 };
	a_bytes(&a, hash, HASH_LEN);
	return blob_rows(pg(cat), S_BLOB_CAND, &a, out, max);
}

static int pg_blob_by_id(struct catalog *cat, int64_t id, struct blob_ref *out)
{
	struct args a = { 0 };
	a_i64(&a, id);
	int n = blob_rows(pg(cat), S_BLOB_ID, &a, out, 1);
	return n < 0 ? n : n ? 0 : -ENOENT;
}

static int pg_blob_by_key(struct catalog *cat, const uint8_t hash[HASH_LEN], uint32_t ordinal,
			  struct blob_ref *out)
{
	struct args a = { 0 };
	a_bytes(&a, hash, HASH_LEN);
	a_i64(&a, ordinal);
	int n = blob_rows(pg(cat), S_BLOB_KEY, &a, out, 1);
	return n < 0 ? n : n ? 0 : -ENOENT;
}

/* The id a RETURNING statement gave: 0 and *id, -EEXIST when it inserted
 * nothing (ON CONFLICT DO NOTHING), or -errno. */
static int returned_id(struct pgcat *c, enum stmt_id id, const struct args *a, int64_t *out)
{
	int err = 0;
	PGresult *r = first_row(run(c, id, a, &err), &err);
	if (!r) {
		if (err != -ENOENT)
			return err;
		snprintf(c->msg, sizeof(c->msg), "a row with this key exists already");
		return -EEXIST;
	}
	*out = g_i64(r, 0, 0);
	PQclear(r);
	return 0;
}

static int pg_insert_blob(struct catalog *cat, struct blob_ref *ref)
{
	struct args a = { 0 };
	if (ref->id)
		a_i64(&a, ref->id);
	else
		a_null(&a);
	a_bytes(&a, ref->hash, HASH_LEN);
	a_i64(&a, ref->ordinal);
	a_i64(&a, ref->kind);
	a_i64(&a, (int64_t)ref->raw_size);
	a_i64(&a, (int64_t)ref->enc_size);
	a_i64(&a, ref->pack);
	a_i64(&a, (int64_t)ref->offset);
	return returned_id(pg(cat), S_BLOB_INS, &a, &ref->id);
}

static int pg_pack_find(struct catalog *cat, const char *name, int64_t *id)
{
	struct args a = { 0 };
	a_text(&a, name);
	int err = 0;
	PGresult *r = first_row(run(pg(cat), S_PACK_GET, &a, &err), &err);
	if (!r)
		return err;
	*id = g_i64(r, 0, 0);
	PQclear(r);
	return 0;
}

static int pg_pack_id(struct catalog *cat, const char *name, int64_t *id)
{
	int r = pg_pack_find(cat, name, id);
	if (r != -ENOENT)
		return r;
	struct args a = { 0 };
	a_text(&a, name);
	r = returned_id(pg(cat), S_PACK_INS, &a, id);
	/* another connection named it meanwhile */
	return r == -EEXIST ? pg_pack_find(cat, name, id) : r;
}

static int pg_pack_name(struct catalog *cat, int64_t id, char *name, size_t len)
{
	struct args a = { 0 };
	a_i64(&a, id);
	int err = 0;
	PGresult *r = first_row(run(pg(cat), S_PACK_NAME, &a, &err), &err);
	if (!r)
		return err;
	snprintf(name, len, "%s", g_text(r, 0, 0));
	PQclear(r);
	return 0;
}

/* ---- instances ---- */

static int pg_versions(struct catalog *cat, const char *sop_uid, struct cat_version **out)
{
	struct args a = { 0 };
	a_text(&a, sop_uid);
	int err = 0;
	*out = NULL;
	PGresult *r = run(pg(cat), S_VERSIONS, &a, &err);
	if (!r)
		return err;
	int n = PQntuples(r);
	struct cat_version *v = n ? calloc((size_t)n, sizeof(*v)) : NULL;
	if (n && !v) {
		PQclear(r);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		v[i].instance_id = g_i64(r, i, 0);
		v[i].version = (uint32_t)g_i64(r, i, 1);
		v[i].size = (uint64_t)g_i64(r, i, 2);
		g_hash(r, i, 3, v[i].file_hash);
		v[i].series_id = g_i64(r, i, 4);
		v[i].current = (int)g_i64(r, i, 5);
		v[i].unclean = (int)g_i64(r, i, 6);
	}
	PQclear(r);
	*out = v;
	return n;
}

static int pg_segments(struct catalog *cat, int64_t instance_id, struct blob_ref *segs, int max)
{
	struct args a = { 0 };
	a_i64(&a, instance_id);
	return blob_rows(pg(cat), S_SEGMENTS, &a, segs, max);
}

/* The id a new row of a kind would take: the record's own (reindex
 * replays them), else the next of its pool; NULL when that is used up. */
static void a_new_id(struct args *a, int64_t own, const struct id_pool *p)
{
	if (own)
		a_i64(a, own);
	else if (p->next < p->end)
		a_i64(a, p->next);
	else
		a_null(a);
}

static int pg_place(struct catalog *cat, struct instance_record *r, struct id_pool *patients,
		    struct id_pool *studies, struct id_pool *series)
{
	struct pgcat *c = pg(cat);
	const struct dcm_info *d = &r->info;
	char *key = names_patient_key(d);
	if (!key)
		return -ENOMEM;
	char pdir[NAME_COMPONENT_MAX + 1], stdir[NAME_COMPONENT_MAX + 1], sedir[NAME_COMPONENT_MAX + 1];
	int noid;
	/* a %noid stem: dcmfs_place adds the -N (catalog_names.h) */
	int rc = names_patient_dir(d, key, pdir, &noid);
	if (rc) {
		free(key);
		return rc;
	}
	names_folder_dir(d->study_uid, stdir);
	names_folder_dir(d->series_uid, sedir);
	struct args a = { 0 };
	a_text(&a, key);
	a_text(&a, d->issuer_of_patient_id);
	a_text(&a, d->patient_name);
	a_text(&a, d->patient_birth_date);
	a_text(&a, d->patient_sex);
	a_text(&a, pdir);
	a_text(&a, noid ? "t" : "f");
	a_new_id(&a, r->patient_id, patients);
	a_text(&a, d->study_uid);
	a_text(&a, d->study_date);
	a_text(&a, d->study_time);
	a_text(&a, d->study_description);
	a_text(&a, d->accession_number);
	a_text(&a, d->referring_physician);
	a_text(&a, stdir);
	a_new_id(&a, r->study_id, studies);
	a_text(&a, d->series_uid);
	a_text(&a, d->modality);
	if (d->series_number >= 0)
		a_i64(&a, d->series_number);
	else
		a_null(&a);
	a_text(&a, d->series_description);
	a_text(&a, sedir);
	a_new_id(&a, r->series_id, series);
	int err = 0;
	PGresult *res = run(c, S_PLACE, &a, &err);
	free(key);
	if (!res)
		return err;
	int64_t ids[3] = { g_i64(res, 0, 0), g_i64(res, 0, 1), g_i64(res, 0, 2) };
	int used = (int)g_i64(res, 0, 3), fail = (int)g_i64(res, 0, 4);
	PQclear(res);
	if (fail == 1)
		return -ERANGE;
	if (fail) {
		snprintf(c->msg, sizeof(c->msg), "a new folder row breaks a uniqueness rule");
		return -EEXIST;
	}
	/* *id changes only on success: a failed batch may be placed again */
	int64_t *own[3] = { &r->patient_id, &r->study_id, &r->series_id };
	struct id_pool *pool[3] = { patients, studies, series };
	for (int k = 0; k < 3; k++) {
		if ((used & 1 << k) && !*own[k])
			pool[k]->next++;
		*own[k] = ids[k];
	}
	return 0;
}

/* name when it is kept (names_kept), else NULL. */
static void a_kept_name(struct args *a, const char *name, const char *sop_uid, const char *suffix)
{
	if (names_kept(name, sop_uid, suffix))
		a_text(a, name);
	else
		a_null(a);
}

static int pg_insert_instance(struct catalog *cat, const struct instance_record *r,
			      const int64_t *seg_blob, const struct record_loc *loc)
{
	struct pgcat *c = pg(cat);
	const struct dcm_info *d = &r->info;
	char fname[NAME_COMPONENT_MAX + 1], vname[NAME_COMPONENT_MAX + 1], vsuffix[32];
	names_instance(d->sop_instance_uid, r->version, fname, vname);
	names_version_suffix(r->version, vsuffix);
	struct args a = { 0 };
	a_i64(&a, r->instance_id);
	a_i64(&a, r->series_id);
	a_text(&a, d->sop_instance_uid);
	a_i64(&a, r->version);
	if (d->instance_number >= 0)
		a_i64(&a, d->instance_number);
	else
		a_null(&a);
	a_i64(&a, d->number_of_frames);
	a_i64(&a, d->rows);
	a_i64(&a, d->columns);
	a_i64(&a, d->bits_allocated);
	a_text(&a, d->modality);
	a_i64(&a, (int64_t)r->size);
	a_i64(&a, r->stored_at_ns);
	a_bytes(&a, r->file_hash, HASH_LEN);
	a_i64(&a, loc->pack);
	a_i64(&a, (int64_t)loc->offset);
	a_i64(&a, loc->len);
	a_kept_name(&a, fname, d->sop_instance_uid, ".dcm");
	a_kept_name(&a, vname, d->sop_instance_uid, vsuffix);
	a_text(&a, d->unclean);
	/* the segments as an array of their blob ids */
	char *list = malloc((size_t)r->nseg * 22 + 3);
	if (!list)
		return -ENOMEM;
	size_t n = 0;
	list[n++] = '{';
	for (uint32_t i = 0; i < r->nseg; i++)
		n += (size_t)sprintf(list + n, i ? ",%" PRId64 : "%" PRId64, seg_blob[i]);
	list[n++] = '}';
	list[n] = '\0';
	a_text(&a, list);
	a_i64(&a, r->study_id);
	a_i64(&a, r->patient_id);
	int err = 0;
	PGresult *res = run(c, S_INST_INS, &a, &err);
	free(list);
	if (!res)
		return err;
	int inserted = !strcmp(g_text(res, 0, 0), "t");
	PQclear(res);
	if (!inserted)
		snprintf(c->msg, sizeof(c->msg), "instance %" PRId64 " (or its SOP UID's version %u)"
			 " exists already", r->instance_id, r->version);
	return inserted ? 0 : -EEXIST;
}

/* Rows a prepared statement changed: >= 0 or -errno. */
static int64_t run_changes(struct pgcat *c, enum stmt_id id, const struct args *a)
{
	int err = 0;
	PGresult *r = run(c, id, a, &err);
	if (!r)
		return err;
	int64_t n = strtoll(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return n;
}

static int pg_delete_instance(struct catalog *cat, int64_t instance_id)
{
	struct pgcat *c = pg(cat);
	struct args a = { 0 };
	a_i64(&a, instance_id);
	int64_t n = run_changes(c, S_SEG_DEL, &a);
	if (n < 0)
		return (int)n;
	n = run_changes(c, S_INST_DEL, &a);
	return n < 0 ? (int)n : n ? 0 : -ENOENT;
}

#define PICK_CURRENT \
	"UPDATE instances SET current=1 WHERE id IN (SELECT (SELECT j.id FROM instances j" \
	" WHERE j.sop_uid=i.sop_uid ORDER BY j.unclean<>'', j.version DESC LIMIT 1)" \
	" FROM instances i GROUP BY i.sop_uid HAVING max(i.current)=0);"

static int pg_prune(struct catalog *cat)
{
	return exec_sql(pg(cat),
		"DELETE FROM series WHERE NOT EXISTS (SELECT 1 FROM instances i WHERE i.series=series.id);"
		"DELETE FROM studies WHERE NOT EXISTS (SELECT 1 FROM series s WHERE s.study=studies.id);"
		"DELETE FROM patients WHERE NOT EXISTS (SELECT 1 FROM studies s WHERE s.patient=patients.id);"
		PICK_CURRENT
		"UPDATE series SET nchildren=(SELECT count(*) FROM instances i WHERE i.series=series.id"
		" AND i.current=1), mtime=coalesce((SELECT max(stored_at) FROM instances i"
		" WHERE i.series=series.id), 0);"
		"UPDATE studies SET nchildren=(SELECT count(*) FROM series s WHERE s.study=studies.id"
		" AND s.nchildren>0), mtime=coalesce((SELECT max(mtime) FROM series s"
		" WHERE s.study=studies.id), 0);"
		"UPDATE patients SET nchildren=(SELECT count(*) FROM studies s WHERE s.patient=patients.id"
		" AND s.nchildren>0), mtime=coalesce((SELECT max(mtime) FROM studies s"
		" WHERE s.patient=patients.id), 0);");
}

/* ---- the tree ---- */

static void node_from_row(const PGresult *r, int row, int kind, struct cat_node *n)
{
	n->kind = kind;
	n->id = g_i64(r, row, 0);
	n->parent = g_i64(r, row, 1);
	snprintf(n->name, sizeof(n->name), "%s", g_text(r, row, 2));
	n->mtime_ns = g_i64(r, row, 3);
	uint64_t v = (uint64_t)g_i64(r, row, 4);
	if (kind == CAT_INSTANCE)
		n->size = v;
	else
		n->nchildren = v;
}

/* Every row of a node statement to cb (the rows are all read first). */
static int list_nodes(struct pgcat *c, enum stmt_id id, const struct args *a, int kind,
		      cat_node_cb cb, void *arg)
{
	int err = 0;
	PGresult *r = run(c, id, a, &err);
	if (!r)
		return err;
	int rc = 0;
	for (int i = 0; i < PQntuples(r) && !rc; i++) {
		struct cat_node n;
		node_from_row(r, i, kind, &n);
		rc = cb(arg, &n);
	}
	PQclear(r);
	return rc;
}

static int one_node(struct pgcat *c, enum stmt_id id, const struct args *a, int kind,
		    struct cat_node *out)
{
	int err = 0;
	PGresult *r = first_row(run(c, id, a, &err), &err);
	if (!r)
		return err;
	node_from_row(r, 0, kind, out);
	PQclear(r);
	return 0;
}

static int list_children(struct pgcat *c, enum stmt_id id, int parent_kind, int64_t parent_id,
			 cat_node_cb cb, void *arg)
{
	struct args a = { 0 };
	if (parent_kind)
		a_i64(&a, parent_id);
	return list_nodes(c, id, &a, parent_kind + 1, cb, arg);
}

static int lookup_child(struct pgcat *c, enum stmt_id id, int parent_kind, int64_t parent_id,
			const char *name, struct cat_node *out)
{
	struct args a = { 0 };
	a_i64(&a, parent_id);
	a_text(&a, name);
	return one_node(c, id, &a, parent_kind + 1, out);
}

/* The instance named name in a series: by its SOP UID when the name is
 * plain, else by its kept name; the row's name must be name itself.  The
 * queries are prepared statements name_id and sop_id, or the texts by_name
 * and by_sop when not NULL (the views'). */
static int lookup_instance(struct pgcat *c, enum stmt_id name_id, enum stmt_id sop_id,
			   const char *by_name, const char *by_sop, int versioned, int64_t parent_id,
			   const char *name, struct cat_node *out)
{
	char sop[NAME_COMPONENT_MAX + 1];
	uint32_t version = 0;
	struct args a = { 0 };
	a_i64(&a, parent_id);
	int err = 0, n;
	PGresult *r;
	if (!names_plain_sop(name, versioned, sop, sizeof(sop), &version)) {
		a_text(&a, name);
		r = by_name ? runq(c, by_name, &a, &err) : run(c, name_id, &a, &err);
	} else {
		a_text(&a, sop);
		a_i64(&a, version);
		r = by_sop ? runq(c, by_sop, &a, &err) : run(c, sop_id, &a, &err);
	}
	if (!r)
		return err;
	n = PQntuples(r);
	if (n)
		node_from_row(r, 0, CAT_INSTANCE, out);
	PQclear(r);
	if (!n)
		return -ENOENT;
	return strcmp(out->name, name) ? -ENOENT : 0;
}

static int pg_children(struct catalog *cat, int parent_kind, int64_t parent_id, cat_node_cb cb,
		       void *arg)
{
	static const enum stmt_id which[] = { S_CH_PATIENTS, S_CH_STUDIES, S_CH_SERIES, S_CH_INSTANCES };
	if (parent_kind < 0 || parent_kind > CAT_SERIES)
		return -ENOTDIR;
	return list_children(pg(cat), which[parent_kind], parent_kind, parent_id, cb, arg);
}

static int pg_lookup(struct catalog *cat, int parent_kind, int64_t parent_id, const char *name,
		     struct cat_node *out)
{
	static const enum stmt_id which[] = { S_LK_PATIENT, S_LK_STUDY, S_LK_SERIES };
	if (parent_kind < 0 || parent_kind > CAT_SERIES)
		return -ENOTDIR;
	if (parent_kind == CAT_SERIES)
		return lookup_instance(pg(cat), S_LK_INSTANCE, S_LK_INSTANCE_SOP, NULL, NULL, 0,
				       parent_id, name, out);
	return lookup_child(pg(cat), which[parent_kind], parent_kind, parent_id, name, out);
}

static int pg_node(struct catalog *cat, int kind, int64_t id, struct cat_node *out)
{
	static const enum stmt_id which[] = { 0, S_NODE_PATIENT, S_NODE_STUDY, S_NODE_SERIES,
					      S_NODE_INSTANCE };
	if (kind < CAT_PATIENT || kind > CAT_INSTANCE)
		return -ENOENT;
	struct args a = { 0 };
	a_i64(&a, id);
	return one_node(pg(cat), which[kind], &a, kind, out);
}

static int pg_instance_shown(struct catalog *cat, int64_t id, int64_t *series)
{
	struct args a = { 0 };
	a_i64(&a, id);
	int err = 0;
	PGresult *r = run(pg(cat), S_INST_SHOWN, &a, &err);
	if (!r)
		return err;
	int n = PQntuples(r), shown = 0;
	if (n) {
		shown = g_i64(r, 0, 1) != 0;
		if (series)
			*series = g_i64(r, 0, 0);
	}
	PQclear(r);
	return n ? shown : -ENOENT;
}

static int pg_nodes(struct catalog *cat, int kind, const int64_t *ids, size_t n, cat_node_cb cb,
		    void *arg)
{
	if (kind < CAT_PATIENT || kind > CAT_INSTANCE)
		return -ENOENT;
	struct pgcat *c = pg(cat);
	int own = read_begin(c);
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		struct cat_node node;
		rc = pg_node(cat, kind, ids[i], &node);
		if (rc == -ENOENT)
			rc = 0;
		else if (!rc)
			rc = cb(arg, &node);
	}
	read_end(c, own);
	return rc;
}

static int pg_instance_row(struct catalog *cat, int64_t instance_id, struct cat_instance *out)
{
	struct args a = { 0 };
	a_i64(&a, instance_id);
	int err = 0;
	PGresult *r = first_row(run(pg(cat), S_INST_RECORD, &a, &err), &err);
	if (!r)
		return err;
	memset(out, 0, sizeof(*out));
	out->id = g_i64(r, 0, 0);
	out->series_id = g_i64(r, 0, 1);
	out->study_id = g_i64(r, 0, 2);
	out->patient_id = g_i64(r, 0, 3);
	snprintf(out->sop_uid, sizeof(out->sop_uid), "%s", g_text(r, 0, 4));
	out->version = (uint32_t)g_i64(r, 0, 5);
	out->size = (uint64_t)g_i64(r, 0, 6);
	g_hash(r, 0, 7, out->file_hash);
	out->rec.pack = g_i64(r, 0, 8);
	out->rec.offset = (uint64_t)g_i64(r, 0, 9);
	out->rec.len = (uint32_t)g_i64(r, 0, 10);
	PQclear(r);
	return 0;
}

static void copy_col(const PGresult *r, int col, char *out, size_t len)
{
	snprintf(out, len, "%s", g_text(r, 0, col));
}

static int pg_identity(struct catalog *cat, int64_t instance_id, struct cat_identity *out)
{
	struct args a = { 0 };
	a_i64(&a, instance_id);
	int err = 0;
	PGresult *r = first_row(run(pg(cat), S_IDENTITY, &a, &err), &err);
	if (!r)
		return err;
	memset(out, 0, sizeof(*out));
	copy_col(r, 0, out->patient_key, sizeof(out->patient_key));
	copy_col(r, 1, out->issuer, sizeof(out->issuer));
	copy_col(r, 2, out->patient_dir, sizeof(out->patient_dir));
	copy_col(r, 3, out->study_uid, sizeof(out->study_uid));
	copy_col(r, 4, out->study_dir, sizeof(out->study_dir));
	copy_col(r, 5, out->series_uid, sizeof(out->series_uid));
	copy_col(r, 6, out->series_dir, sizeof(out->series_dir));
	copy_col(r, 7, out->sop_uid, sizeof(out->sop_uid));
	out->version = (uint32_t)g_i64(r, 0, 8);
	copy_col(r, 9, out->fname, sizeof(out->fname));
	copy_col(r, 10, out->vname, sizeof(out->vname));
	copy_col(r, 11, out->unclean, sizeof(out->unclean));
	out->current = (int)g_i64(r, 0, 12);
	out->ncurrent = g_i64(r, 0, 13);
	out->pick = g_i64(r, 0, 14);
	PQclear(r);
	return 0;
}

static int pg_folder_key(struct catalog *cat, int kind, int64_t id, char *key, size_t keylen,
			 char *issuer, size_t issuerlen)
{
	const char *q = kind == CAT_PATIENT ? "SELECT patient_id, issuer FROM patients WHERE id=$1"
		: kind == CAT_STUDY ? "SELECT study_uid, '' FROM studies WHERE id=$1"
		: kind == CAT_SERIES ? "SELECT series_uid, '' FROM series WHERE id=$1" : NULL;
	if (!q)
		return -ENOENT;
	struct args a = { 0 };
	a_i64(&a, id);
	int err = 0;
	PGresult *r = first_row(runq(pg(cat), q, &a, &err), &err);
	if (!r)
		return err;
	copy_col(r, 0, key, keylen);
	copy_col(r, 1, issuer, issuerlen);
	PQclear(r);
	return 0;
}

static int pg_integrity_check(struct catalog *cat, char *msg, size_t len)
{
	struct pgcat *c = pg(cat);
	int r = exec_sql(c, "SELECT 1");
	snprintf(msg, len, "%s", r ? c->msg : "ok");
	return r;
}

/* ---- walks for verify, gc, rm and reindex ---- */

static int pg_each_pack(struct catalog *cat, cat_pack_cb cb, void *arg)
{
	int err = 0;
	PGresult *r = runq(pg(cat), "SELECT id, name FROM packs ORDER BY id", NULL, &err);
	if (!r)
		return err;
	int rc = 0;
	for (int i = 0; i < PQntuples(r) && !rc; i++)
		rc = cb(arg, g_i64(r, i, 0), g_text(r, i, 1));
	PQclear(r);
	return rc;
}

/* Every row (id, sop_uid, record) of a query to an affected callback. */
static int affected_rows(struct pgcat *c, const char *sql, const struct args *a, cat_affected_cb cb,
			 void *arg)
{
	int err = 0;
	PGresult *r = runq(c, sql, a, &err);
	if (!r)
		return err;
	int rc = 0;
	for (int i = 0; i < PQntuples(r) && !rc; i++)
		rc = cb(arg, g_i64(r, i, 0), g_text(r, i, 1), (int)g_i64(r, i, 2));
	PQclear(r);
	return rc;
}

static int pg_affected(struct catalog *cat, int64_t pack, uint64_t start, uint64_t end,
		       cat_affected_cb cb, void *arg)
{
	struct args a = { 0 };
	a_i64(&a, pack);
	a_i64(&a, (int64_t)start);
	a_i64(&a, (int64_t)end);
	a_i64(&a, BLOB_HEADER_BYTES + PACK_ENTRY_HEADER);
	a_i64(&a, PACK_ENTRY_HEADER);
	/* offsets as catalog.c's: a blob's entry starts BLOB_HEADER_BYTES +
	 * PACK_ENTRY_HEADER before its bytes, a record's PACK_ENTRY_HEADER */
	return affected_rows(pg(cat),
			     "SELECT id, sop_uid, 1 FROM instances WHERE record_pack=$1"
			     " AND record_offset + record_len > $2::bigint AND record_offset - $5::bigint < $3::bigint"
			     " UNION SELECT i.id, i.sop_uid, 0 FROM blobs b JOIN segments g ON g.blob=b.id"
			     " JOIN instances i ON i.id=g.instance WHERE b.pack=$1"
			     " AND b.\"offset\" + b.enc_size > $2::bigint AND b.\"offset\" - $4::bigint < $3::bigint"
			     " ORDER BY 1", &a, cb, arg);
}

static int pg_blob_users(struct catalog *cat, int64_t blob_id, cat_affected_cb cb, void *arg)
{
	struct args a = { 0 };
	a_i64(&a, blob_id);
	return affected_rows(pg(cat), "SELECT i.id, i.sop_uid, 0 FROM segments g JOIN instances i"
			     " ON i.id=g.instance WHERE g.blob=$1 ORDER BY 1", &a, cb, arg);
}

/* Column 0 of every row of sql into a malloc'd array: the count or -errno. */
static int ids_of(struct pgcat *c, const char *sql, const struct args *a, int64_t **ids)
{
	int err = 0;
	*ids = NULL;
	PGresult *r = runq(c, sql, a, &err);
	if (!r)
		return err;
	int n = PQntuples(r);
	if (n && !(*ids = malloc((size_t)n * sizeof(**ids)))) {
		PQclear(r);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++)
		(*ids)[i] = g_i64(r, i, 0);
	PQclear(r);
	return n;
}

static int pg_instances_under(struct catalog *cat, int kind, int64_t id, cat_id_cb cb, void *arg)
{
	static const char *const sql[] = {
		"SELECT id FROM instances ORDER BY id",
		"SELECT i.id FROM instances i JOIN series se ON se.id=i.series JOIN studies st"
		" ON st.id=se.study WHERE st.patient=$1 ORDER BY i.id",
		"SELECT i.id FROM instances i JOIN series se ON se.id=i.series WHERE se.study=$1 ORDER BY i.id",
		"SELECT id FROM instances WHERE series=$1 ORDER BY id",
		"SELECT id FROM instances WHERE sop_uid=(SELECT sop_uid FROM instances WHERE id=$1)"
		" ORDER BY id",
	};
	if (kind < 0 || kind > CAT_INSTANCE)
		return -EINVAL;
	struct args a = { 0 };
	if (kind)
		a_i64(&a, id);
	int64_t *ids;
	int n = ids_of(pg(cat), sql[kind], &a, &ids);
	int r = n < 0 ? n : 0;
	for (int i = 0; !r && i < n; i++)
		r = cb(arg, ids[i]);
	free(ids);
	return r;
}

static int pg_next_in_series(struct catalog *cat, int64_t instance_id, int64_t *ids,
			     uint64_t *sizes, int max)
{
	struct args a = { 0 };
	a_i64(&a, instance_id);
	a_i64(&a, max);
	int err = 0;
	PGresult *r = run(pg(cat), S_NEXT_IN_SERIES, &a, &err);
	if (!r)
		return err;
	int n = PQntuples(r);
	if (n > max)
		n = max;
	for (int i = 0; i < n; i++) {
		ids[i] = g_i64(r, i, 0);
		sizes[i] = (uint64_t)g_i64(r, i, 1);
	}
	PQclear(r);
	return n;
}

static int pg_find_ids(struct catalog *cat, int kind, const char *uid, int64_t **ids)
{
	static const char *const sql[] = {
		NULL,
		"SELECT id FROM patients WHERE patient_id=$1 OR dirname=$1 ORDER BY id",
		"SELECT id FROM studies WHERE study_uid=$1 ORDER BY id",
		"SELECT id FROM series WHERE series_uid=$1 ORDER BY id",
		"SELECT id FROM instances WHERE sop_uid=$1 ORDER BY version",
	};
	*ids = NULL;
	if (kind < CAT_PATIENT || kind > CAT_INSTANCE)
		return -EINVAL;
	struct args a = { 0 };
	a_text(&a, uid);
	return ids_of(pg(cat), sql[kind], &a, ids);
}

/* Every row of sql (a blob row and a count of its users) to cb. */
static int blob_walk(struct pgcat *c, const char *sql, cat_blob_cb cb, void *arg)
{
	int err = 0;
	PGresult *r = runq(c, sql, NULL, &err);
	if (!r)
		return err;
	int rc = 0;
	for (int i = 0; i < PQntuples(r) && !rc; i++) {
		struct blob_ref b;
		blob_from_row(r, i, &b);
		rc = cb(arg, &b, g_i64(r, i, 8));
	}
	PQclear(r);
	return rc;
}

static int pg_all_blobs(struct catalog *cat, cat_blob_cb cb, void *arg)
{
	return blob_walk(pg(cat), "SELECT " BLOB_COLS ", (SELECT count(*) FROM segments g WHERE g.blob=b.id)"
			 " FROM blobs b ORDER BY pack, \"offset\"", cb, arg);
}

static int pg_blobs_unreferenced(struct catalog *cat, cat_blob_cb cb, void *arg)
{
	return blob_walk(pg(cat), "SELECT " BLOB_COLS ", 0 FROM blobs b WHERE NOT EXISTS"
			 " (SELECT 1 FROM segments g WHERE g.blob=b.id"
			 " AND EXISTS(SELECT 1 FROM instances i WHERE i.id=g.instance))"
			 " ORDER BY pack, \"offset\"", cb, arg);
}

static int pg_delete_blob(struct catalog *cat, int64_t blob_id)
{
	struct args a = { 0 };
	a_i64(&a, blob_id);
	int err = 0;
	PGresult *r = runq(pg(cat), "DELETE FROM blobs WHERE id=$1 AND NOT EXISTS"
			   " (SELECT 1 FROM segments WHERE blob=$1)", &a, &err);
	if (!r)
		return err;
	int64_t n = strtoll(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return n ? 0 : -EBUSY;
}

static int pg_log_import(struct catalog *cat, int64_t started_ns, int64_t ended_ns, int64_t n_new,
			 int64_t n_dup, int64_t n_version, int64_t n_rejected, uint64_t bytes_in,
			 uint64_t bytes_stored)
{
	struct args a = { 0 };
	int64_t v[] = { started_ns, ended_ns, n_new, n_dup, n_version, n_rejected,
			(int64_t)bytes_in, (int64_t)bytes_stored };
	for (int i = 0; i < 8; i++)
		a_i64(&a, v[i]);
	int err = 0;
	PGresult *r = runq(pg(cat), "INSERT INTO import_log(id, started, ended, n_new, n_duplicate,"
			   " n_version, n_rejected, bytes_in, bytes_stored) VALUES(dcmfs_take_id('import'),"
			   " $1, $2, $3, $4, $5, $6, $7, $8)", &a, &err);
	PQclear(r);
	return r ? 0 : err;
}

static int pg_instance_ids(struct catalog *cat, cat_id_cb cb, void *arg)
{
	/* read in pages by id: memory stays flat at any size */
	struct pgcat *c = pg(cat);
	int64_t after = 0;
	for (;;) {
		struct args a = { 0 };
		a_i64(&a, after);
		int err = 0;
		PGresult *r = runq(c, "SELECT id FROM instances WHERE id>$1 ORDER BY id LIMIT 8192", &a,
				   &err);
		if (!r)
			return err;
		int n = PQntuples(r), rc = 0;
		for (int i = 0; i < n && !rc; i++)
			rc = cb(arg, after = g_i64(r, i, 0));
		PQclear(r);
		if (rc || n < 8192)
			return rc;
	}
}

static int pg_segments_owners(struct catalog *cat, int64_t instance_id, struct blob_ref *segs,
			      int64_t *owners, int max)
{
	struct args a = { 0 };
	a_i64(&a, instance_id);
	int err = 0;
	PGresult *r = run(pg(cat), S_SEGMENTS_OWNERS, &a, &err);
	if (!r)
		return err;
	int n = PQntuples(r);
	if (n > max)
		n = max;
	for (int i = 0; i < n; i++) {
		blob_from_row(r, i, &segs[i]);
		owners[i] = g_i64(r, i, 8);
	}
	PQclear(r);
	return n;
}

/* ---- totals ---- */

/* The columns of the one row of sql into v[0..n) (zeros when none). */
static void row_of(struct pgcat *c, const char *sql, const char *bind, int64_t *v, int n)
{
	memset(v, 0, (size_t)n * sizeof(*v));
	struct args a = { 0 };
	if (bind)
		a_text(&a, bind);
	int err = 0;
	PGresult *r = runq(c, sql, &a, &err);
	if (r && PQntuples(r))
		for (int i = 0; i < n; i++)
			v[i] = g_i64(r, 0, i);
	PQclear(r);
}

/* The totals from the kept counters (the triggers keep them from the
 * first row on). */
static void totals_kept(struct pgcat *c, const char *mod, struct cat_totals *t)
{
	char sql[512];
	int64_t v[6];
	snprintf(sql, sizeof(sql), "SELECT coalesce(sum(t.instances),0), coalesce(sum(t.versions),0),"
		 " coalesce(sum(t.bytes),0), count(DISTINCT t.series), count(DISTINCT se.study),"
		 " count(DISTINCT st.patient) FROM tallies t JOIN series se ON se.id=t.series"
		 " JOIN studies st ON st.id=se.study%s", mod ? " WHERE t.modality=$1" : "");
	row_of(c, sql, mod, v, 6);
	*t = (struct cat_totals){ .instances = v[0], .versions = v[1], .logical_bytes = (uint64_t)v[2],
				  .series = v[3], .studies = v[4], .patients = v[5] };
	row_of(c, mod ? "SELECT raw, enc, pixel_raw, pixel_enc FROM modality_blobs WHERE modality=$1" :
	       "SELECT coalesce(sum(raw),0), coalesce(sum(enc),0),"
	       " coalesce(sum(CASE WHEN kind=1 THEN raw ELSE 0 END),0),"
	       " coalesce(sum(CASE WHEN kind=1 THEN enc ELSE 0 END),0) FROM blob_tallies", mod, v, 4);
	t->unique_raw_bytes = (uint64_t)v[0];
	t->stored_bytes = (uint64_t)v[1];
	t->pixel_raw_bytes = (uint64_t)v[2];
	t->pixel_stored_bytes = (uint64_t)v[3];
}

static int pg_totals(struct catalog *cat, struct cat_totals *t)
{
	totals_kept(pg(cat), NULL, t);
	return 0;
}

static int pg_totals_by_modality(struct catalog *cat, cat_modality_cb cb, void *arg)
{
	struct pgcat *c = pg(cat);
	int err = 0;
	PGresult *r = runq(c, "SELECT DISTINCT modality FROM tallies ORDER BY 1", NULL, &err);
	if (!r)
		return err;
	int rc = 0;
	for (int i = 0; i < PQntuples(r) && !rc; i++) {
		struct cat_totals t;
		totals_kept(c, g_text(r, i, 0), &t);
		rc = cb(arg, g_text(r, i, 0), &t);
	}
	PQclear(r);
	return rc;
}

/* What the kept totals must hold, counted from the rows. */
#define TALLIES_COUNTED \
	"SELECT series, coalesce(modality,'') AS modality, count(*) AS instances," \
	" sum((version>1)::integer) AS versions, sum(size) AS bytes FROM instances GROUP BY 1, 2"
#define BLOB_TALLIES_COUNTED \
	"SELECT kind, count(*) AS blobs, sum(raw_size) AS raw, sum(enc_size) AS enc FROM blobs GROUP BY kind"
#define MODALITY_BLOBS_COUNTED \
	"SELECT m AS modality, sum(raw_size) AS raw, sum(enc_size) AS enc," \
	" sum(CASE WHEN kind=1 THEN raw_size ELSE 0 END) AS pixel_raw," \
	" sum(CASE WHEN kind=1 THEN enc_size ELSE 0 END) AS pixel_enc" \
	" FROM (SELECT DISTINCT coalesce(i.modality,'') AS m, g.blob AS blob FROM segments g" \
	" JOIN instances i ON i.id=g.instance) x JOIN blobs b ON b.id=x.blob GROUP BY m"

static int pg_tallies_check(struct catalog *cat, char *msg, size_t len)
{
	struct pgcat *c = pg(cat);
	static const struct { const char *table, *counted, *nonzero, *what; } t[] = {
		{ "tallies", TALLIES_COUNTED, "true", "instances, versions and bytes per series" },
		{ "blob_tallies", BLOB_TALLIES_COUNTED, "blobs<>0 OR raw<>0 OR enc<>0",
		  "blobs and bytes per kind" },
		{ "modality_blobs", MODALITY_BLOBS_COUNTED,
		  "raw<>0 OR enc<>0 OR pixel_raw<>0 OR pixel_enc<>0", "blob bytes per modality" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char sql[1536];
		snprintf(sql, sizeof(sql),
			 "WITH k AS (SELECT * FROM %s WHERE %s), c AS MATERIALIZED (SELECT * FROM (%s) y"
			 " WHERE %s) SELECT count(*) FROM (SELECT * FROM (SELECT * FROM k EXCEPT"
			 " SELECT * FROM c) a UNION ALL SELECT * FROM (SELECT * FROM c EXCEPT"
			 " SELECT * FROM k) b) z", t[i].table, t[i].nonzero, t[i].counted, t[i].nonzero);
		int err = 0;
		PGresult *r = runq(c, sql, NULL, &err);
		if (!r) {
			snprintf(msg, len, "index: cannot count the kept totals (%s): %s", t[i].table,
				 c->msg);
			return err;
		}
		int64_t n = g_i64(r, 0, 0);
		PQclear(r);
		if (n > 0) {
			snprintf(msg, len, "index: the kept totals (%s, %s) differ from a count in %" PRId64
				 " row%s: 'dcmfsctl reindex' rebuilds them", t[i].table, t[i].what, n,
				 n == 1 ? "" : "s");
			return 1;
		}
	}
	return 0;
}

static int pg_recent_imports(struct catalog *cat, int max, cat_import_cb cb, void *arg)
{
	struct args a = { 0 };
	a_i64(&a, max);
	int err = 0;
	PGresult *r = runq(pg(cat), "SELECT coalesce(started, 0), coalesce(ended, 0),"
			   " coalesce(n_new, 0), coalesce(n_duplicate, 0), coalesce(n_version, 0),"
			   " coalesce(n_rejected, 0), coalesce(bytes_in, 0), coalesce(bytes_stored, 0)"
			   " FROM import_log ORDER BY id DESC LIMIT $1", &a, &err);
	if (!r)
		return err;
	int rc = 0;
	for (int i = 0; i < PQntuples(r) && !rc; i++) {
		struct cat_import im = {
			g_i64(r, i, 0), g_i64(r, i, 1), g_i64(r, i, 2), g_i64(r, i, 3),
			g_i64(r, i, 4), g_i64(r, i, 5), (uint64_t)g_i64(r, i, 6),
			(uint64_t)g_i64(r, i, 7),
		};
		rc = cb(arg, &im);
	}
	PQclear(r);
	return rc;
}

static int pg_max_row_id(struct catalog *cat, int64_t *out)
{
	int err = 0;
	PGresult *r = runq(pg(cat), "SELECT greatest(coalesce((SELECT max(next) - 1 FROM counters"
			   " WHERE kind IN ('patient', 'study', 'series', 'instance')), 0),"
			   " coalesce((SELECT max(id) FROM patients), 0), coalesce((SELECT max(id) FROM studies), 0),"
			   " coalesce((SELECT max(id) FROM series), 0), coalesce((SELECT max(id) FROM instances), 0))",
			   NULL, &err);
	if (!r)
		return err;
	*out = g_i64(r, 0, 0);
	PQclear(r);
	return 0;
}

/* ---- the change feed ---- */

static int64_t pg_change_seq(struct catalog *cat)
{
	int64_t v = pg_data_version(cat);
	return v < 0 ? -EIO : v;
}

#define FEED_BATCH 1024

static int feed_walk(struct pgcat *c, int64_t after, int64_t *last, cat_change_cb cb, void *arg)
{
	int err = 0;
	PGresult *r = runq(c, "SELECT coalesce(max(seq), 0), coalesce(min(seq), 0) FROM changes",
			   NULL, &err);
	if (!r)
		return err;
	int64_t newest = g_i64(r, 0, 0), oldest = g_i64(r, 0, 1);
	PQclear(r);
	if (after > newest)
		return -ESTALE;             /* a feed of another catalogue */
	if (after == newest)
		return 0;
	if (!oldest || oldest > after + 1)
		return -ESTALE;             /* rows after `after` were dropped */
	for (;;) {
		struct args a = { 0 };
		a_i64(&a, after);
		if (!(r = runq(c, "SELECT seq, kind, id, parent, name, mtime, state FROM changes"
			       " WHERE seq > $1 ORDER BY seq LIMIT " KEPT(FEED_BATCH), &a, &err)))
			return err;
		int n = PQntuples(r), rc = 0;
		for (int i = 0; i < n && !rc; i++) {
			struct cat_change ch;
			ch.seq = g_i64(r, i, 0);
			ch.kind = (int)g_i64(r, i, 1);
			ch.id = g_i64(r, i, 2);
			ch.parent = g_i64(r, i, 3);
			snprintf(ch.name, sizeof(ch.name), "%s", g_text(r, i, 4));
			ch.mtime_ns = g_i64(r, i, 5);
			ch.state = (int)g_i64(r, i, 6);
			rc = cb(arg, &ch);
			after = *last = ch.seq;
		}
		PQclear(r);
		if (rc || n < FEED_BATCH)
			return rc;
	}
}

static int pg_changes_since(struct catalog *cat, int64_t after, int64_t *last, cat_change_cb cb,
			    void *arg)
{
	struct pgcat *c = pg(cat);
	*last = after;
	/* one snapshot: no bound may drop rows between the check and the walk */
	int own = read_begin(c);
	int r = feed_walk(c, after, last, cb, arg);
	read_end(c, own);
	return r;
}

static int pg_shown_patients(struct catalog *cat, int64_t *count, int64_t *newest_ns)
{
	int err = 0;
	*count = *newest_ns = 0;
	PGresult *r = runq(pg(cat), "SELECT count(*), coalesce(max(mtime), 0) FROM patients"
			   " WHERE nchildren>0", NULL, &err);
	if (!r)
		return err;
	*count = g_i64(r, 0, 0);
	*newest_ns = g_i64(r, 0, 1);
	PQclear(r);
	return 0;
}

/* ---- reindex scratch ---- */

static int pg_rx_begin(struct catalog *cat)
{
	return exec_sql(pg(cat), "CREATE TEMP TABLE IF NOT EXISTS rx_tomb(id bigint PRIMARY KEY);"
			"CREATE TEMP TABLE IF NOT EXISTS rx_defer(seq bigint PRIMARY KEY,"
			" pack bigint NOT NULL, \"offset\" bigint NOT NULL, payload bytea NOT NULL);");
}

static int pg_rx_tomb_add(struct catalog *cat, int64_t instance_id)
{
	struct args a = { 0 };
	a_i64(&a, instance_id);
	return run_done(pg(cat), S_RX_TOMB_ADD, &a);
}

static int pg_rx_tomb_has(struct catalog *cat, int64_t instance_id)
{
	struct args a = { 0 };
	a_i64(&a, instance_id);
	int err = 0;
	PGresult *r = run(pg(cat), S_RX_TOMB_HAS, &a, &err);
	if (!r)
		return err;
	int n = PQntuples(r);
	PQclear(r);
	return n ? 1 : 0;
}

static int pg_rx_tomb_apply(struct catalog *cat, int64_t instance_id)
{
	struct pgcat *c = pg(cat);
	struct args a = { 0 };
	a_i64(&a, instance_id);
	int err = 0;
	PGresult *r = run(c, S_RX_FOLDERS, &a, &err);
	if (!r)
		return err;
	int64_t folder[3] = { 0, 0, 0 };   /* series, study, patient */
	if (PQntuples(r))
		for (int i = 0; i < 3; i++)
			folder[i] = g_i64(r, 0, i);
	PQclear(r);
	int rc = pg_delete_instance(cat, instance_id);
	if (rc)
		return rc;
	/* emptied folders go now: a later record must find no stale row */
	static const enum stmt_id drop[3] = { S_RX_DROP_SERIES, S_RX_DROP_STUDY, S_RX_DROP_PATIENT };
	for (int i = 0; i < 3 && !rc && folder[i]; i++) {
		struct args d = { 0 };
		a_i64(&d, folder[i]);
		rc = run_done(c, drop[i], &d);
	}
	return rc;
}

static int pg_rx_defer(struct catalog *cat, const struct record_loc *loc, const void *payload)
{
	struct pgcat *c = pg(cat);
	struct args a = { 0 };
	a_i64(&a, ++c->rx_seq);
	a_i64(&a, loc->pack);
	a_i64(&a, (int64_t)loc->offset);
	a_bytes(&a, payload, loc->len);
	return run_done(c, S_RX_DEFER, &a);
}

static int pg_rx_deferred_next(struct catalog *cat, int64_t *cursor, struct record_loc *loc,
			       void **payload)
{
	*payload = NULL;
	struct args a = { 0 };
	a_i64(&a, *cursor);
	int err = 0;
	PGresult *r = run(pg(cat), S_RX_NEXT, &a, &err);
	if (!r)
		return err;
	if (!PQntuples(r)) {
		PQclear(r);
		return 0;
	}
	*cursor = g_i64(r, 0, 0);
	loc->pack = g_i64(r, 0, 1);
	loc->offset = (uint64_t)g_i64(r, 0, 2);
	size_t max = strlen(g_text(r, 0, 3)) / 2 + 1;
	uint8_t *p = malloc(max);
	long n = p ? g_bytes(r, 0, 3, p, max) : -1;
	PQclear(r);
	if (!p)
		return -ENOMEM;
	if (n < 0) {
		free(p);
		return -EIO;
	}
	loc->len = (uint32_t)n;
	*payload = p;
	return 1;
}

/* ---- the /versions and /quarantine views ---- */

#define UNCLEAN_UNDER_PATIENT \
	" AND EXISTS (SELECT 1 FROM studies st JOIN series se ON se.study=st.id JOIN instances i" \
	" ON i.series=se.id WHERE st.patient=patients.id AND i.unclean<>'')"
#define UNCLEAN_UNDER_STUDY \
	" AND EXISTS (SELECT 1 FROM series se JOIN instances i ON i.series=se.id" \
	" WHERE se.study=studies.id AND i.unclean<>'')"
#define UNCLEAN_UNDER_SERIES \
	" AND EXISTS (SELECT 1 FROM instances i WHERE i.series=series.id AND i.unclean<>'')"

enum { V_CH_PATIENTS, V_CH_STUDIES, V_CH_SERIES, V_CH_INSTANCES, V_LK_PATIENT, V_LK_STUDY,
       V_LK_SERIES, V_LK_INSTANCE, V_LK_INSTANCE_SOP, V_NODE_INSTANCE, V_N };

/* [0]: /versions (every version), [1]: /quarantine (unclean versions). */
static const char *const view_sql[2][V_N] = { {
	[V_CH_PATIENTS] = NODE_PATIENTS " ORDER BY id",
	[V_CH_STUDIES] = NODE_STUDIES " WHERE patient=$1 ORDER BY id",
	[V_CH_SERIES] = NODE_SERIES " WHERE study=$1 ORDER BY id",
	[V_CH_INSTANCES] = NODE_VNAME " WHERE series=$1 ORDER BY id",
	[V_LK_PATIENT] = NODE_PATIENTS " WHERE dirname=$2 AND $1::bigint IS NOT NULL",
	[V_LK_STUDY] = NODE_STUDIES " WHERE patient=$1 AND dirname=$2",
	[V_LK_SERIES] = NODE_SERIES " WHERE study=$1 AND dirname=$2",
	[V_LK_INSTANCE] = NODE_VNAME " WHERE series=$1 AND vname=$2",
	[V_LK_INSTANCE_SOP] = NODE_VNAME " WHERE sop_uid=$2 AND version=$3 AND series=$1",
	[V_NODE_INSTANCE] = NODE_VNAME " WHERE id=$1",
}, {
	[V_CH_PATIENTS] = NODE_PATIENTS " WHERE true" UNCLEAN_UNDER_PATIENT " ORDER BY id",
	[V_CH_STUDIES] = NODE_STUDIES " WHERE patient=$1" UNCLEAN_UNDER_STUDY " ORDER BY id",
	[V_CH_SERIES] = NODE_SERIES " WHERE study=$1" UNCLEAN_UNDER_SERIES " ORDER BY id",
	[V_CH_INSTANCES] = NODE_VNAME " WHERE series=$1 AND unclean<>'' ORDER BY id",
	[V_LK_PATIENT] = NODE_PATIENTS " WHERE dirname=$2 AND $1::bigint IS NOT NULL"
			 UNCLEAN_UNDER_PATIENT,
	[V_LK_STUDY] = NODE_STUDIES " WHERE patient=$1 AND dirname=$2" UNCLEAN_UNDER_STUDY,
	[V_LK_SERIES] = NODE_SERIES " WHERE study=$1 AND dirname=$2" UNCLEAN_UNDER_SERIES,
	[V_LK_INSTANCE] = NODE_VNAME " WHERE series=$1 AND vname=$2 AND unclean<>''",
	[V_LK_INSTANCE_SOP] = NODE_VNAME " WHERE sop_uid=$2 AND version=$3 AND series=$1"
			      " AND unclean<>''",
	[V_NODE_INSTANCE] = NODE_VNAME " WHERE id=$1 AND unclean<>''",
} };

/* A view's node query: rows to cb, or (out) the one row. */
static int view_nodes(struct pgcat *c, const char *sql, const struct args *a, int kind,
		      cat_node_cb cb, void *arg, struct cat_node *out)
{
	int err = 0;
	PGresult *r = runq(c, sql, a, &err);
	if (!r)
		return err;
	int n = PQntuples(r), rc = 0;
	if (out) {
		if (n)
			node_from_row(r, 0, kind, out);
		rc = n ? 0 : -ENOENT;
	}
	for (int i = 0; !out && i < n && !rc; i++) {
		struct cat_node node;
		node_from_row(r, i, kind, &node);
		rc = cb(arg, &node);
	}
	PQclear(r);
	return rc;
}

static int pg_view_children(struct catalog *cat, int view, int parent_kind, int64_t parent_id,
			    cat_node_cb cb, void *arg)
{
	if (view == CAT_VIEW_PATIENTS)
		return pg_children(cat, parent_kind, parent_id, cb, arg);
	if (parent_kind < 0 || parent_kind > CAT_SERIES)
		return -ENOTDIR;
	if (view < 1 || view > 2)
		return -EIO;
	struct args a = { 0 };
	if (parent_kind)
		a_i64(&a, parent_id);
	return view_nodes(pg(cat), view_sql[view - 1][V_CH_PATIENTS + parent_kind], &a,
			  parent_kind + 1, cb, arg, NULL);
}

static int pg_view_lookup(struct catalog *cat, int view, int parent_kind, int64_t parent_id,
			  const char *name, struct cat_node *out)
{
	if (view == CAT_VIEW_PATIENTS)
		return pg_lookup(cat, parent_kind, parent_id, name, out);
	if (parent_kind < 0 || parent_kind > CAT_SERIES)
		return -ENOTDIR;
	if (view < 1 || view > 2)
		return -EIO;
	const char *const *q = view_sql[view - 1];
	if (parent_kind == CAT_SERIES)
		return lookup_instance(pg(cat), 0, 0, q[V_LK_INSTANCE], q[V_LK_INSTANCE_SOP], 1,
				       parent_id, name, out);
	struct args a = { 0 };
	a_i64(&a, parent_id);
	a_text(&a, name);
	return view_nodes(pg(cat), q[V_LK_PATIENT + parent_kind], &a, parent_kind + 1, NULL, NULL,
			  out);
}

static int pg_view_node(struct catalog *cat, int view, int kind, int64_t id, struct cat_node *out)
{
	if (view == CAT_VIEW_PATIENTS || kind != CAT_INSTANCE)
		return pg_node(cat, kind, id, out);
	if (view < 1 || view > 2)
		return -EIO;
	struct args a = { 0 };
	a_i64(&a, id);
	return view_nodes(pg(cat), view_sql[view - 1][V_NODE_INSTANCE], &a, kind, NULL, NULL, out);
}

static int pg_quarantined(struct catalog *cat, cat_quarantine_cb cb, void *arg)
{
	int err = 0;
	PGresult *r = runq(pg(cat), "SELECT i.id, p.dirname || '/' || st.dirname || '/' || se.dirname"
			   " || '/' || " VNAME_OF("i.") ", i.current, i.unclean FROM instances i"
			   " JOIN series se ON se.id=i.series JOIN studies st ON st.id=se.study"
			   " JOIN patients p ON p.id=st.patient WHERE i.unclean<>'' ORDER BY i.id",
			   NULL, &err);
	if (!r)
		return err;
	int rc = 0;
	for (int i = 0; i < PQntuples(r) && !rc; i++)
		rc = cb(arg, g_i64(r, i, 0), g_text(r, i, 1), (int)g_i64(r, i, 2), g_text(r, i, 3));
	PQclear(r);
	return rc;
}

/* ---- /by-date and /by-accession ---- */

#define DATE8 "'^[0-9]{8}$'"
#define GROUP_DATE "CASE WHEN study_date ~ " DATE8 " THEN substr(study_date, 1, $1::integer) ELSE '' END"
#define STUDY_INFO "SELECT s.id, s.mtime, s.nchildren, p.dirname, coalesce(p.name, '')," \
	" coalesce(s.description, ''), coalesce(s.study_date, ''), coalesce(s.accession, '')" \
	" FROM studies s JOIN patients p ON p.id=s.patient WHERE s.nchildren>0"

static int pg_study_groups(struct catalog *cat, int by, const char *prefix, int len,
			   cat_group_cb cb, void *arg)
{
	const char *sql = by == CAT_BY_DATE ? (prefix[0] ?
		"SELECT g, max(mtime), min(id) FROM (SELECT " GROUP_DATE " AS g, mtime, id"
		" FROM studies WHERE nchildren>0 AND study_date>=$2 AND study_date<$2 || ':') x"
		" WHERE substr(g, 1, length($2))=$2 GROUP BY g ORDER BY g" :
		"SELECT g, max(mtime), min(id) FROM (SELECT " GROUP_DATE " AS g, mtime, id"
		" FROM studies WHERE nchildren>0) x GROUP BY g ORDER BY g") : prefix[0] ?
		"SELECT accession, max(mtime), min(id) FROM studies"
		" WHERE nchildren>0 AND accession=$1 GROUP BY 1" :
		"SELECT coalesce(accession, ''), max(mtime), min(id) FROM studies"
		" WHERE nchildren>0 GROUP BY 1 ORDER BY 1";
	struct args a = { 0 };
	if (by == CAT_BY_DATE)
		a_i64(&a, len);
	if (prefix[0])
		a_text(&a, prefix);
	int err = 0;
	PGresult *r = runq(pg(cat), sql, &a, &err);
	if (!r)
		return err;
	int rc = 0;
	for (int i = 0; i < PQntuples(r) && !rc; i++)
		rc = cb(arg, g_text(r, i, 0), g_i64(r, i, 1), g_i64(r, i, 2));
	PQclear(r);
	return rc;
}

static void view_study_from_row(const PGresult *r, int i, struct cat_view_study *o)
{
	o->id = g_i64(r, i, 0);
	o->mtime_ns = g_i64(r, i, 1);
	o->nchildren = (uint64_t)g_i64(r, i, 2);
	snprintf(o->patient_dir, sizeof(o->patient_dir), "%s", g_text(r, i, 3));
	snprintf(o->patient_name, sizeof(o->patient_name), "%s", g_text(r, i, 4));
	snprintf(o->description, sizeof(o->description), "%s", g_text(r, i, 5));
	snprintf(o->date, sizeof(o->date), "%s", g_text(r, i, 6));
	snprintf(o->accession, sizeof(o->accession), "%s", g_text(r, i, 7));
}

static int pg_group_studies(struct catalog *cat, int by, const char *value, cat_view_study_cb cb,
			    void *arg)
{
	const char *sql = by == CAT_BY_ACCESSION ?
		STUDY_INFO " AND coalesce(s.accession, '')=$1 ORDER BY s.id" :
		value[0] ? STUDY_INFO " AND s.study_date=$1 ORDER BY s.id" :
		STUDY_INFO " AND coalesce(s.study_date, '') !~ " DATE8 " ORDER BY s.id";
	struct args a = { 0 };
	if (by == CAT_BY_ACCESSION || value[0])
		a_text(&a, value);
	int err = 0;
	PGresult *r = runq(pg(cat), sql, &a, &err);
	if (!r)
		return err;
	int rc = 0;
	for (int i = 0; i < PQntuples(r) && !rc; i++) {
		struct cat_view_study s;
		view_study_from_row(r, i, &s);
		rc = cb(arg, &s);
	}
	PQclear(r);
	return rc;
}

static int pg_view_study(struct catalog *cat, int64_t id, struct cat_view_study *out)
{
	struct args a = { 0 };
	a_i64(&a, id);
	int err = 0;
	PGresult *r = first_row(runq(pg(cat), STUDY_INFO " AND s.id=$1", &a, &err), &err);
	if (!r)
		return err;
	view_study_from_row(r, 0, out);
	PQclear(r);
	return 0;
}

/* ---- shares ---- */

#define SHARE_MAX_VALUES 32000

/* A text[] literal of list[0..n): {"a","b\"c"}; malloc'd or NULL. */
static char *array_literal(char *const *list, size_t n)
{
	size_t cap = 3;
	for (size_t i = 0; i < n; i++)
		cap += 2 * strlen(list[i]) + 3;
	char *s = malloc(cap), *o = s;
	if (!s)
		return NULL;
	*o++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i)
			*o++ = ',';
		*o++ = '"';
		for (const char *p = list[i]; *p; p++) {
			if (*p == '"' || *p == '\\')
				*o++ = '\\';
			*o++ = *p;
		}
		*o++ = '"';
	}
	*o++ = '}';
	*o = '\0';
	return s;
}

/* "<head> FROM series se JOIN studies st ... WHERE <rules> <tail>" run
 * with the rules bound: its result, or NULL and *err. */
static PGresult *share_query(struct pgcat *c, const struct cat_share_rules *r, int64_t series_id,
			     const char *head, const char *tail, int *err)
{
	size_t total = r->all ? 0 : r->npatients + r->nstudies + r->nseries + r->naccessions +
		r->nmodalities;
	if (total > SHARE_MAX_VALUES) {
		*err = -E2BIG;
		return NULL;
	}
	size_t cap = strlen(head) + strlen(tail) + 1024;
	char *sql = malloc(cap);
	char *arrays[5] = { NULL };
	struct args a = { 0 };
	if (!sql) {
		*err = -ENOMEM;
		return NULL;
	}
	size_t len = (size_t)snprintf(sql, cap, "%s FROM series se JOIN studies st ON st.id=se.study"
				      " JOIN patients p ON p.id=st.patient WHERE true", head);
	PGresult *res = NULL;
	if (!r->all) {
		char *const *lists[] = { r->patients, r->studies, r->series, r->accessions, r->modalities };
		size_t ns[] = { r->npatients, r->nstudies, r->nseries, r->naccessions, r->nmodalities };
		static const char *const cond[] = {
			" AND (p.patient_id = ANY($%d::text[]) OR p.dirname = ANY($%d::text[]))",
			" AND st.study_uid = ANY($%d::text[])", " AND se.series_uid = ANY($%d::text[])",
			" AND st.accession = ANY($%d::text[])", " AND se.modality = ANY($%d::text[])",
		};
		for (int l = 0; l < 5; l++) {
			if (!ns[l])
				continue;
			if (!(arrays[l] = array_literal(lists[l], ns[l]))) {
				*err = -ENOMEM;
				goto out;
			}
			a_text(&a, arrays[l]);
			len += (size_t)snprintf(sql + len, cap - len, cond[l], a.n, a.n);
		}
		if ((r->from && r->from[0]) || (r->to && r->to[0])) {
			a_text(&a, r->from && r->from[0] ? r->from : "00000000");
			a_text(&a, r->to && r->to[0] ? r->to : "99999999");
			len += (size_t)snprintf(sql + len, cap - len, " AND length(st.study_date)=8"
						" AND st.study_date>=$%d AND st.study_date<=$%d", a.n - 1, a.n);
		}
	}
	if (series_id) {
		a_i64(&a, series_id);
		len += (size_t)snprintf(sql + len, cap - len, " AND se.id=$%d", a.n);
	}
	snprintf(sql + len, cap - len, " %s", tail);
	res = runq(c, sql, &a, err);
out:
	for (int l = 0; l < 5; l++)
		free(arrays[l]);
	free(sql);
	return res;
}

static int pg_share_series(struct catalog *cat, const struct cat_share_rules *rules,
			   int64_t series_id, cat_share_cb cb, void *arg)
{
	int err = 0;
	PGresult *r = share_query(pg(cat), rules, series_id, "SELECT p.id, 0, p.dirname, p.mtime,"
				  " p.nchildren, st.id, st.patient, st.dirname, st.mtime, st.nchildren,"
				  " se.id, se.study, se.dirname, se.mtime, se.nchildren", "", &err);
	if (!r)
		return err;
	int rc = 0;
	for (int i = 0; i < PQntuples(r) && !rc; i++) {
		struct cat_node n[3];
		for (int k = 0; k < 3; k++) {
			n[k].kind = CAT_PATIENT + k;
			n[k].id = g_i64(r, i, 5 * k);
			n[k].parent = g_i64(r, i, 5 * k + 1);
			snprintf(n[k].name, sizeof(n[k].name), "%s", g_text(r, i, 5 * k + 2));
			n[k].mtime_ns = g_i64(r, i, 5 * k + 3);
			n[k].nchildren = (uint64_t)g_i64(r, i, 5 * k + 4);
		}
		rc = cb(arg, &n[0], &n[1], &n[2]);
	}
	PQclear(r);
	return rc;
}

static int pg_share_totals(struct catalog *cat, const struct cat_share_rules *rules,
			   struct cat_share_totals *t)
{
	memset(t, 0, sizeof(*t));
	int err = 0;
	PGresult *r = share_query(pg(cat), rules, 0, "WITH m AS (SELECT se.id AS series,"
				  " se.study AS study, st.patient AS patient",
				  "AND se.nchildren>0) SELECT (SELECT count(DISTINCT patient) FROM m),"
				  " (SELECT count(DISTINCT study) FROM m), (SELECT count(*) FROM m),"
				  " (SELECT count(*) FROM m JOIN instances i ON i.series=m.series"
				  " AND i.current=1), (SELECT coalesce(sum(i.size), 0) FROM m"
				  " JOIN instances i ON i.series=m.series AND i.current=1)", &err);
	if (!r)
		return err;
	if (PQntuples(r)) {
		t->patients = g_i64(r, 0, 0);
		t->studies = g_i64(r, 0, 1);
		t->series = g_i64(r, 0, 2);
		t->instances = g_i64(r, 0, 3);
		t->bytes = (uint64_t)g_i64(r, 0, 4);
	}
	PQclear(r);
	return 0;
}

/* ---- finding studies ---- */

/* The modalities come as "<length>:<value>" runs (text holds no NUL). */
#define STUDY_INFO_SQL \
	"SELECT p.id, p.patient_id, p.issuer, p.name, p.birth_date, p.sex, p.dirname," \
	" st.id, st.study_uid, st.study_date, st.study_time, st.description, st.accession," \
	" st.dirname," \
	" (SELECT string_agg(octet_length(m) || ':' || m, '' ORDER BY m) FROM (SELECT DISTINCT" \
	"  se.modality m FROM series se WHERE se.study=st.id AND se.nchildren>0 AND se.modality<>'') x)," \
	" (SELECT count(*) FROM series se WHERE se.study=st.id AND se.nchildren>0)," \
	" (SELECT coalesce(sum(se.nchildren), 0) FROM series se WHERE se.study=st.id)" \
	" FROM studies st JOIN patients p ON p.id=st.patient WHERE st.nchildren>0"

/* "3:CT2:MR" into "CT\0MR\0\0" (malloc'd; NULL on ENOMEM). */
static char *modality_list(const char *runs)
{
	size_t n = strlen(runs);
	char *out = malloc(n + 2), *o = out;
	if (!out)
		return NULL;
	const char *p = runs;
	while (*p) {
		char *colon;
		unsigned long l = strtoul(p, &colon, 10);
		if (*colon != ':' || strlen(colon + 1) < l)
			break;
		memcpy(o, colon + 1, l);
		o += l;
		*o++ = '\0';
		p = colon + 1 + l;
	}
	*o = '\0';
	return out;
}

static int study_rows(PGresult *r, cat_study_cb cb, void *arg)
{
	int rc = 0;
	for (int i = 0; i < PQntuples(r) && !rc; i++) {
		char *mods = modality_list(g_text(r, i, 14));
		if (!mods)
			return -ENOMEM;
		const char *pid = g_text(r, i, 1);
		struct cat_study_info s = {
			.patient_row = g_i64(r, i, 0),
			/* a key without a PatientID starts with \x01 (patient_key) */
			.patient_id = pid[0] == '\x01' ? "" : pid,
			.issuer = g_text(r, i, 2), .patient_name = g_text(r, i, 3),
			.birth_date = g_text(r, i, 4), .sex = g_text(r, i, 5), .patient_dir = g_text(r, i, 6),
			.study_row = g_i64(r, i, 7), .study_uid = g_text(r, i, 8),
			.study_date = g_text(r, i, 9), .study_time = g_text(r, i, 10),
			.description = g_text(r, i, 11), .accession = g_text(r, i, 12),
			.study_dir = g_text(r, i, 13), .modalities = mods,
			.nseries = g_i64(r, i, 15), .ninstances = g_i64(r, i, 16),
		};
		rc = cb(arg, &s);
		free(mods);
	}
	return rc;
}

/* A DICOM pattern ('*', '?') as an anchored regular expression, upper-cased
 * when fold; malloc'd or NULL.  '?' is one character as SQLite's GLOB reads
 * one (catalog_sqlite.c): a byte from 0xc0 up with the 0x80-0xbf bytes after
 * it, or any other single byte.  LIKE's '_' would take one byte of a UTF-8
 * letter, so find would answer differently on the two catalogues. */
static char *dicom_regex(const char *pat, int fold)
{
	static const char one[] = "([\xc0-\xff][\x80-\xbf]*|[\x01-\xbf])";
	char *g = malloc(sizeof(one) * strlen(pat) + 3), *o = g;
	if (!g)
		return NULL;
	*o++ = '^';
	for (const char *p = pat; *p; p++) {
		char ch = *p;
		if (fold && ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		if (ch == '*') {
			*o++ = '.';
			*o++ = '*';
		} else if (ch == '?') {
			memcpy(o, one, sizeof(one) - 1);
			o += sizeof(one) - 1;
		} else {
			/* a backslash before any other ASCII punctuation makes it literal */
			if ((unsigned char)ch < 0x80 && !isalnum((unsigned char)ch))
				*o++ = '\\';
			*o++ = ch;
		}
	}
	*o++ = '$';
	*o = '\0';
	return g;
}

/* A growing statement and its parameters. */
struct find_sql {
	char sql[4096];
	size_t len;
	struct args a;
	char *owned[8];
	int nowned;
	int oom;
};

/* " AND <cond>" with %d in cond numbered for the value v (once or twice). */
static void fs_cond(struct find_sql *q, const char *cond, const char *v)
{
	a_text(&q->a, v);
	q->len += (size_t)snprintf(q->sql + q->len, sizeof(q->sql) - q->len, " AND ");
	q->len += (size_t)snprintf(q->sql + q->len, sizeof(q->sql) - q->len, cond, q->a.n, q->a.n);
}

static const char *fs_own(struct find_sql *q, char *p)
{
	if (!p)
		q->oom = 1;
	else
		q->owned[q->nowned++] = p;
	return p ? p : "";
}

static void fs_dates(struct find_sql *q, const char *col, const char *from, const char *to)
{
	char cond[128];
	if (!from && !to)
		return;
	q->len += (size_t)snprintf(q->sql + q->len, sizeof(q->sql) - q->len, " AND length(%s)=8", col);
	if (from) {
		snprintf(cond, sizeof(cond), "%s>=$%%d", col);
		fs_cond(q, cond, from);
	}
	if (to) {
		snprintf(cond, sizeof(cond), "%s<=$%%d", col);
		fs_cond(q, cond, to);
	}
}

static int pg_find_studies(struct catalog *cat, const struct cat_study_filter *f, cat_study_cb cb,
			   void *arg)
{
	struct find_sql *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->len = (size_t)snprintf(q->sql, sizeof(q->sql), "%s", STUDY_INFO_SQL);
	if (f->name)
		fs_cond(q, "upper(p.name) ~ $%d", fs_own(q, dicom_regex(f->name, 1)));
	if (f->patient_id) {
		if (strpbrk(f->patient_id, "*?"))
			fs_cond(q, "(p.patient_id ~ $%d OR p.dirname ~ $%d)",
				fs_own(q, dicom_regex(f->patient_id, 0)));
		else
			fs_cond(q, "(p.patient_id=$%d OR p.dirname=$%d)", f->patient_id);
	}
	fs_dates(q, "p.birth_date", f->birth_from, f->birth_to);
	fs_dates(q, "st.study_date", f->date_from, f->date_to);
	if (f->accession)
		fs_cond(q, "st.accession=$%d", f->accession);
	if (f->modality) {
		char *up = (char *)fs_own(q, strdup(f->modality));
		for (char *p = up; *p; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
		/* as given or upper-cased: Modality codes are upper case */
		a_text(&q->a, f->modality);
		a_text(&q->a, up);
		q->len += (size_t)snprintf(q->sql + q->len, sizeof(q->sql) - q->len,
					   " AND EXISTS (SELECT 1 FROM series sm WHERE sm.study=st.id"
					   " AND sm.nchildren>0 AND sm.modality IN ($%d, $%d))",
					   q->a.n - 1, q->a.n);
	}
	if (f->description) {
		if (strpbrk(f->description, "*?"))
			fs_cond(q, "upper(coalesce(st.description, '')) ~ $%d",
				fs_own(q, dicom_regex(f->description, 1)));
		else
			fs_cond(q, "strpos(upper(coalesce(st.description, '')), upper($%d))>0",
				f->description);
	}
	q->len += (size_t)snprintf(q->sql + q->len, sizeof(q->sql) - q->len,
				   " ORDER BY p.dirname, st.study_date, st.dirname");
	int rc = q->oom ? -ENOMEM : 0;
	if (!rc) {
		int err = 0;
		PGresult *r = runq(pg(cat), q->sql, &q->a, &err);
		rc = r ? study_rows(r, cb, arg) : err;
		PQclear(r);
	}
	for (int i = 0; i < q->nowned; i++)
		free(q->owned[i]);
	free(q);
	return rc;
}

static int pg_study_info(struct catalog *cat, int64_t study_id, cat_study_cb cb, void *arg)
{
	struct args a = { 0 };
	a_i64(&a, study_id);
	int err = 0;
	PGresult *r = runq(pg(cat), STUDY_INFO_SQL " AND st.id=$1", &a, &err);
	if (!r)
		return err;
	int n = PQntuples(r);
	int rc = study_rows(r, cb, arg);
	PQclear(r);
	return rc ? rc : n ? 0 : -ENOENT;
}

static int pg_patient_info(struct catalog *cat, int64_t patient_id, cat_patient_cb cb, void *arg)
{
	struct args a = { 0 };
	a_i64(&a, patient_id);
	int err = 0;
	PGresult *r = first_row(runq(pg(cat), "SELECT id, patient_id, issuer, name, birth_date, sex,"
				     " dirname, nchildren FROM patients WHERE id=$1", &a, &err), &err);
	if (!r)
		return err;
	const char *pid = g_text(r, 0, 1);
	struct cat_patient_info p = {
		.row = g_i64(r, 0, 0), .patient_id = pid[0] == '\x01' ? "" : pid,
		.issuer = g_text(r, 0, 2), .name = g_text(r, 0, 3), .birth_date = g_text(r, 0, 4),
		.sex = g_text(r, 0, 5), .dir = g_text(r, 0, 6), .nstudies = g_i64(r, 0, 7),
	};
	int rc = cb(arg, &p);
	PQclear(r);
	return rc;
}

static int pg_series_info(struct catalog *cat, int64_t series_id, cat_series_cb cb, void *arg)
{
	struct args a = { 0 };
	a_i64(&a, series_id);
	int err = 0;
	PGresult *r = first_row(runq(pg(cat), "SELECT id, series_uid, modality, description,"
				     " dirname, coalesce(number, -1), nchildren FROM series WHERE id=$1",
				     &a, &err), &err);
	if (!r)
		return err;
	struct cat_series_info s = {
		.row = g_i64(r, 0, 0), .series_uid = g_text(r, 0, 1), .modality = g_text(r, 0, 2),
		.description = g_text(r, 0, 3), .dir = g_text(r, 0, 4),
		.number = g_i64(r, 0, 5), .ninstances = g_i64(r, 0, 6),
	};
	int rc = cb(arg, &s);
	PQclear(r);
	return rc;
}

const struct catalog_ops catalog_pg_ops = {
	.close = pg_close,
	.errmsg = pg_errmsg,
	.data_version = pg_data_version,
	.bulk_writer = pg_nothing,
	.build_indexes = pg_nothing,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.reserve_ids = pg_reserve_ids,
	.blob_candidates = pg_blob_candidates,
	.blob_by_id = pg_blob_by_id,
	.blob_by_key = pg_blob_by_key,
	.insert_blob = pg_insert_blob,
	.pack_id = pg_pack_id,
	.pack_find = pg_pack_find,
	.pack_name = pg_pack_name,
	.versions = pg_versions,
	.segments = pg_segments,
	.place = pg_place,
	.insert_instance = pg_insert_instance,
	.delete_instance = pg_delete_instance,
	.prune = pg_prune,
	.children = pg_children,
	.lookup = pg_lookup,
	.node = pg_node,
	.instance_shown = pg_instance_shown,
	.nodes = pg_nodes,
	.instance_row = pg_instance_row,
	.identity = pg_identity,
	.folder_key = pg_folder_key,
	.integrity_check = pg_integrity_check,
	.each_pack = pg_each_pack,
	.affected = pg_affected,
	.blob_users = pg_blob_users,
	.instances_under = pg_instances_under,
	.next_in_series = pg_next_in_series,
	.find_ids = pg_find_ids,
	.all_blobs = pg_all_blobs,
	.delete_blob = pg_delete_blob,
	.log_import = pg_log_import,
	.totals = pg_totals,
	.totals_by_modality = pg_totals_by_modality,
	.tallies_check = pg_tallies_check,
	.view_children = pg_view_children,
	.view_lookup = pg_view_lookup,
	.view_node = pg_view_node,
	.quarantined = pg_quarantined,
	.rx_begin = pg_rx_begin,
	.rx_tomb_add = pg_rx_tomb_add,
	.rx_tomb_has = pg_rx_tomb_has,
	.rx_tomb_apply = pg_rx_tomb_apply,
	.rx_defer = pg_rx_defer,
	.rx_deferred_next = pg_rx_deferred_next,
	.change_seq = pg_change_seq,
	.changes_since = pg_changes_since,
	.shown_patients = pg_shown_patients,
	.study_groups = pg_study_groups,
	.group_studies = pg_group_studies,
	.view_study = pg_view_study,
	.max_row_id = pg_max_row_id,
	.share_series = pg_share_series,
	.share_totals = pg_share_totals,
	.share_indexes = pg_nothing,
	.exec = pg_exec,
	.find_studies = pg_find_studies,
	.study_info = pg_study_info,
	.patient_info = pg_patient_info,
	.series_info = pg_series_info,
	.find_indexes = pg_nothing,
	.recent_imports = pg_recent_imports,
	.segments_owners = pg_segments_owners,
	.blobs_unreferenced = pg_blobs_unreferenced,
	.instance_ids = pg_instance_ids,
};
