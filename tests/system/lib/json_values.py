#!/usr/bin/python3
"""json_values.py FILE INDEX_DB COLUMN... - FILE is JSON a strict parser
reads (UTF-8 only, no control byte unescaped), and every value the store's
catalogue (INDEX_DB) holds in each COLUMN appears in it exactly, as a
string value or key.  COLUMN: modality (series), name and patient_id
(patients; a key without a PatientID is skipped), description and accession
(studies); odd_modality: the Modality values that are not only letters
and digits.  Exit 0, or 1 with what is wrong."""
import json
import sqlite3
import sys

TABLE = {"modality": "series", "odd_modality": "series", "name": "patients", "patient_id": "patients",
         "description": "studies", "accession": "studies"}


def strings(v, out):
    if isinstance(v, str):
        out.add(v)
    elif isinstance(v, list):
        for x in v:
            strings(x, out)
    elif isinstance(v, dict):
        for k, x in v.items():
            out.add(k)
            strings(x, out)


def main():
    raw = open(sys.argv[1], "rb").read()
    try:
        doc = json.loads(raw.decode("utf-8", "strict"))
    except (UnicodeDecodeError, ValueError) as e:
        print("not valid JSON: %s" % e)
        print(raw[:400])
        return 1
    got = set()
    strings(doc, got)
    db = sqlite3.connect("file:%s?mode=ro" % sys.argv[2], uri=True)
    bad = 0
    for col in sys.argv[3:]:
        c = "modality" if col == "odd_modality" else col
        rows = db.execute("SELECT DISTINCT %s FROM %s WHERE coalesce(%s, '') <> ''"
                          % (c, TABLE[col], c)).fetchall()
        for (v,) in rows:
            if col == "odd_modality" and v.isalnum():
                continue
            if col == "patient_id" and v.startswith("\x01"):
                continue
            if v not in got:
                print("%s value %r is not in the JSON" % (col, v))
                bad = 1
    return bad


sys.exit(main())
