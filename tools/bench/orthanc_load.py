#!/usr/bin/env python3
"""orthanc_load.py PORT upload LISTFILE | readback
upload: POST every file in LISTFILE to /instances over one keep-alive
connection; prints: seconds bytes files success already_stored failed.
readback: GET /instances/<id>/file for every stored instance; prints:
seconds bytes files."""
import http.client, json, sys, time

port, mode = int(sys.argv[1]), sys.argv[2]
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

def req(method, url, body=None):
    conn.request(method, url, body=body,
                 headers={"Content-Type": "application/dicom"} if body else {})
    r = conn.getresponse()
    return r.status, r.read()

if mode == "upload":
    paths = [l.rstrip("\n") for l in open(sys.argv[3]) if l.strip()]
    ok = dup = bad = nbytes = 0
    t0 = time.monotonic()
    for p in paths:
        with open(p, "rb") as f:
            data = f.read()
        nbytes += len(data)
        st, body = req("POST", "/instances", data)
        if st != 200:
            bad += 1
            continue
        s = json.loads(body).get("Status", "")
        if s == "Success":
            ok += 1
        elif s == "AlreadyStored":
            dup += 1
        else:
            bad += 1
    print(f"{time.monotonic() - t0:.3f} {nbytes} {len(paths)} {ok} {dup} {bad}")
elif mode == "readback":
    st, body = req("GET", "/instances")
    ids = json.loads(body)
    nbytes = 0
    t0 = time.monotonic()
    for i in ids:
        st, body = req("GET", f"/instances/{i}/file")
        nbytes += len(body)
    print(f"{time.monotonic() - t0:.3f} {nbytes} {len(ids)}")
