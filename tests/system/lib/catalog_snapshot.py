#!/usr/bin/python3
"""catalog_snapshot.py URL OUT.db - a SQLite copy of a PostgreSQL catalogue.

For the distributed run (tests/run-distributed): tests that read a store's
catalogue with sqlite3 (the shell or Python's module) read this copy of its
tables instead of index.db.  Every table of the public schema is copied
with its column names; integer columns stay integers, NULL stays NULL, text
keeps its bytes (SQL_ASCII: text when they are UTF-8, else a blob of
them, as index.db may hold); bytea columns are left out (no test reads them).  psql is the only
client: rows come apart by control characters no catalogue value holds.
"""
import sqlite3
import subprocess
import sys

FS, RS, NUL = '\x1f', '\x1e', '\x1b<NULL>'


def value(b):
    try:
        return b.decode('utf-8')
    except UnicodeDecodeError:
        return b


def psql(url, query):
    out = subprocess.run(
        ['psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-F', FS, '-R', RS,
         '-P', 'null=' + NUL, url, '-c', query],
        check=True, stdout=subprocess.PIPE).stdout
    if out.endswith(b'\n'):
        out = out[:-1]
    return [[value(v) for v in r.split(FS.encode())] for r in out.split(RS.encode())] if out else []


def main():
    url, out = sys.argv[1:]
    cols = {}
    for table, col, kind in psql(url, "SELECT table_name, column_name, data_type"
                                      " FROM information_schema.columns WHERE table_schema='public'"
                                      " ORDER BY table_name, ordinal_position"):
        if kind != 'bytea':
            cols.setdefault(table, []).append((col, kind))
    db = sqlite3.connect(out)
    for table, cs in cols.items():
        ints = [k in ('integer', 'bigint', 'smallint') for _, k in cs]
        db.execute('CREATE TABLE "%s"(%s)' % (table, ', '.join(
            '"%s" %s' % (c, 'INTEGER' if i else 'TEXT') for (c, _), i in zip(cs, ints))))
        rows = psql(url, 'SELECT %s FROM "%s"' % (', '.join('"%s"' % c for c, _ in cs), table))
        db.executemany('INSERT INTO "%s" VALUES(%s)' % (table, ', '.join('?' * len(cs))), (
            [None if v == NUL else int(v) if i else v for v, i in zip(r, ints)] for r in rows))
    db.commit()
    db.close()


if __name__ == '__main__':
    main()
