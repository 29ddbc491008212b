#!/usr/bin/python3
"""find_check.py - `dcmfsctl find` against pydicom's reading of the files.

  find_check.py oracle DIR OUT.json      read every DICOM file below DIR into
                                          the studies a store of them holds
  find_check.py check CTL STORE ORACLE.json QUERY
                                          run `dcmfsctl find STORE --json` with
                                          QUERY's options and compare the
                                          studies (and their counts) with
                                          what the oracle says match

QUERY names one filter, its value taken from the data (so the test holds on
any corpus): all, name, name-lower, patient-id, birth, date, date-range,
modality, accession, description, combined, none.  Exit 0 when equal; else
the differences on stdout and exit 1.
"""
import fnmatch
import json
import os
import subprocess
import sys

import pydicom


def text(ds, kw):
    v = ds.get(kw, "")
    return "" if v is None else str(v).strip()


def oracle(top, out):
    studies = {}
    for root, _, files in os.walk(top):
        for f in sorted(files):
            try:
                ds = pydicom.dcmread(os.path.join(root, f), stop_before_pixels=True)
            except Exception:
                continue
            if "SOPInstanceUID" not in ds or "StudyInstanceUID" not in ds:
                continue
            pid = text(ds, "PatientID")
            key = (pid if pid else "noid:" + text(ds, "PatientName") + "|" +
                   text(ds, "PatientBirthDate"), text(ds, "IssuerOfPatientID"),
                   text(ds, "StudyInstanceUID"))
            st = studies.setdefault("\x00".join(key), {
                "patient_id": pid, "patient_name": text(ds, "PatientName"),
                "birth_date": text(ds, "PatientBirthDate"),
                "study_uid": text(ds, "StudyInstanceUID"),
                "study_date": text(ds, "StudyDate"),
                "accession": text(ds, "AccessionNumber"),
                "description": text(ds, "StudyDescription"),
                "series": {}, "sops": []})
            st["series"].setdefault(text(ds, "SeriesInstanceUID"), text(ds, "Modality"))
            st["sops"].append(text(ds, "SOPInstanceUID"))
    for st in studies.values():
        st["sops"] = sorted(set(st["sops"]))
    with open(out, "w") as f:
        json.dump(list(studies.values()), f)


def dicom_match(pattern, value, fold):
    if fold:
        pattern, value = pattern.upper(), value.upper()
    if "*" not in pattern and "?" not in pattern:
        return pattern == value
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def in_range(value, lo, hi):
    return len(value) == 8 and (not lo or value >= lo) and (not hi or value <= hi)


def query(name, studies):
    """The find options and the predicate of one query."""
    named = [s for s in studies if s["patient_name"]]
    dated = sorted(s["study_date"] for s in studies if len(s["study_date"]) == 8)
    if name == "all":
        return [], lambda s: True
    if name == "none":
        return ["--accession", "no-such-accession"], lambda s: False
    if name in ("name", "name-lower"):
        n = named[len(named) // 2]["patient_name"]
        pat = n[:3] + "*"
        if name == "name-lower":
            pat = n[:2].lower() + "?" + n[3:].lower() if len(n) > 3 else n.lower()
        return ["--name", pat], lambda s: dicom_match(pat, s["patient_name"], True)
    if name == "patient-id":
        p = [s for s in studies if s["patient_id"]][0]["patient_id"]
        return ["--patient-id", p], lambda s: s["patient_id"] == p
    if name == "birth":
        b = [s for s in studies if len(s["birth_date"]) == 8][0]["birth_date"]
        return ["--birth", b], lambda s: s["birth_date"] == b
    if name == "date":
        d = dated[len(dated) // 2]
        return ["--date", d], lambda s: s["study_date"] == d
    if name == "date-range":
        lo, hi = dated[len(dated) // 4], dated[3 * len(dated) // 4]
        return ["--date", lo + "-" + hi], lambda s: in_range(s["study_date"], lo, hi)
    if name == "modality":
        return ["--modality", "MR"], lambda s: "MR" in s["series"].values()
    if name == "accession":
        a = [s for s in studies if s["accession"]][0]["accession"]
        return ["--accession", a], lambda s: s["accession"] == a
    if name == "description":
        d = [s for s in studies if s["description"]][0]["description"]
        word = d.split()[0].lower()
        return ["--description", word], lambda s: word.upper() in s["description"].upper()
    if name == "combined":
        lo = dated[0]
        return (["--modality", "CT", "--date", lo + "-"],
                lambda s: "CT" in s["series"].values() and in_range(s["study_date"], lo, ""))
    raise SystemExit("unknown query " + name)


def check(ctl, store, oracle_path, name):
    with open(oracle_path) as f:
        studies = json.load(f)
    opts, pred = query(name, studies)
    out = subprocess.run([ctl, "find", store, "--json"] + opts, capture_output=True)
    if out.returncode != 0:
        print("find %s exited %d: %s" % (opts, out.returncode, out.stderr.decode()))
        return 1
    got = {s["study_uid"]: s for s in json.loads(out.stdout.decode("utf-8"))}
    want = {s["study_uid"]: s for s in studies if pred(s)}
    print("# find %s: %d studies, pydicom says %d" % (" ".join(opts), len(got), len(want)))
    bad = 0
    for uid in sorted(set(want) - set(got)):
        print("missing: %s" % uid)
        bad = 1
    for uid in sorted(set(got) - set(want)):
        print("not expected: %s" % uid)
        bad = 1
    for uid in sorted(set(got) & set(want)):
        g, w = got[uid], want[uid]
        mods = sorted(set(m for m in w["series"].values() if m))
        for field, gv, wv in (("series", g["series"], len(w["series"])),
                              ("instances", g["instances"], len(w["sops"])),
                              ("modalities", g["modalities"], mods),
                              ("study_date", g["study_date"], w["study_date"]),
                              ("accession", g["accession"], w["accession"])):
            if gv != wv:
                print("%s: %s is %r, pydicom says %r" % (uid, field, gv, wv))
                bad = 1
        if not g["path"].startswith("/patients/") or "/studies/" not in g["path"]:
            print("%s: path %r is not /patients/P/studies/S" % (uid, g["path"]))
            bad = 1
    if name != "none" and not want:
        print("the query %s matches nothing in these files: it tests nothing" % opts)
        bad = 1
    return bad


if __name__ == "__main__":
    if sys.argv[1] == "oracle":
        oracle(sys.argv[2], sys.argv[3])
        sys.exit(0)
    sys.exit(check(*sys.argv[2:6]))
