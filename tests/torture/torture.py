#!/usr/bin/python3
"""torture.py - kill -9 and corruption harness for dcmfs.

    torture.py [--seconds S] [--crash N --fuse N --corrupt N] [--seed N]
               [--data DIR]... [--work DIR] [--keep] [-v]

--seconds alone cycles through the kinds of trial until the time is up;
counts alone run that many of each; both run the counts interleaved and
stop at the time limit (the summary counts what ran).

Three kinds of trial, each on a store of its own below --work:

  crash    `dcmfsctl import` of the data set is killed with SIGKILL (by its
           pid) after a random delay; then `dcmfsctl verify` must exit 0
           (temporary files and unreferenced data are reclaimable, not
           problems), a second import must complete the set, and every file
           read back must be byte-identical to its source.
  fuse     the FUSE daemon (dcmfs STORE MNT -f, rw) is killed with SIGKILL
           while `cp` copies the data set into MNT/incoming; the dead mount is
           unmounted (fusermount3 -u, else umount -l), verify must exit 0,
           what the store holds must read back right after a remount, and an
           import completes the set.
  corrupt  one random damage to a copy of a reference store: a single bit
           flip, a truncation or the deletion of a pack (packs/*.pack), a blob
           file (blobs/**) or index.db.  verify must exit 1 and name the
           damage (index.db: see below); then after `rm index.db*` and
           `dcmfsctl reindex`, every instance whose own data (its record and
           its blobs) was not hit must read back byte-identically, instances
           that were hit may be lost, nothing may read back wrong bytes or
           appear under another patient/study/series/SOP, and no deleted
           instance may come back unless its tombstone was hit.
           index.db is a cache: damage to it need not be seen by verify
           (SQLite may not read a damaged free page), a deleted index.db makes
           verify refuse the store (exit 2, "run reindex"); after reindex
           nothing may be lost.

Read-back goes through the mount (dcmfs STORE MNT -o ro) when /dev/fuse
works, else through `dcmfsctl get` per instance.  Every file under
/versions (all versions), /patients (the current version of each SOP) and
/quarantine is judged: it is right when its SHA-256 is that of a source file
and each component of its path names that file's own PatientID (Issuer),
StudyInstanceUID, SeriesInstanceUID and SOPInstanceUID as pydicom reads them
(%XX undone; `%noid-...`: no PatientID; a name cut to `...~<16 hex>`: a
prefix; NUL as 0x01 '0'): the harness does not recompute dcmfs's names.
An instance counts as read back when its version is under /versions.

Prints one line per failure and a summary of counts; exit status 0 when every
promise held, 1 when not, 2 on a harness error.  The random seed (--seed, else
$DCMFS_TORTURE_SEED, else the time) is printed first, so any run can be
repeated.
"""
import argparse
import hashlib
import importlib.util
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import warnings

warnings.filterwarnings("ignore", module="pydicom")

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("BUILD", os.path.join(TOP, "build"))
CTL = os.path.join(BUILD, "dcmfsctl")
DCMFS = os.path.join(BUILD, "dcmfs")
SCAN = os.path.join(BUILD, "dcmfs-scan")

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
_spec = importlib.util.spec_from_file_location("dcmfs_extract", os.path.join(TOP, "tools", "dcmfs-extract.py"))
fmt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fmt)

VERBOSE = False


def log(msg):
    print(msg, flush=True)


def vlog(msg):
    if VERBOSE:
        print("  " + msg, flush=True)


def run(cmd, timeout=300, **kw):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, **kw)
        return p.returncode, p.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        return -999, "timeout after %ss: %s" % (timeout, " ".join(cmd))


def sha256_file(path):
    d = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            d.update(b)
    return d.hexdigest()


# ------------------------------------------------------------ the data set

class Source:
    def __init__(self, path, info, data):
        self.path = path
        self.sop = info["sop_instance_uid"]
        self.sha = hashlib.sha256(data).hexdigest()
        self.xxh = fmt.xxh128(data)
        # identity read with pydicom, not with dcmfs's scanner (see ident())
        self.ident = ident(path, info)


# ------------------------------------------------------------ identity
#
# A file read back is judged by what its path claims: the patient, study,
# series and SOP folder/file names must name the values the file itself
# holds (read with pydicom from the source file with the same bytes).  The
# only naming rules used are the documented reversible ones (README.md,
# "Names in the tree"): %XX and a lone '%' are undone, `<ID>@<Issuer>`
# splits at the one literal '@', a `%noid-...` patient has no PatientID,
# a name ending in `~<16 hex>` was cut and must be a prefix of the value,
# and a NUL inside a value is stored as 0x01 '0' (0x01 as 0x01 0x01).

TAGS = {"patient_id": 0x00100020, "issuer": 0x00100021, "study": 0x0020000D,
        "series": 0x0020000E, "sop": 0x00080018}


def id_map(b):
    """The NUL mapping of identifying values (README.md)."""
    return b.replace(b"\x01", b"\x01\x01").replace(b"\x00", b"\x010")


def ident(path, info):
    """{field: set of acceptable byte strings} for the five identifying
    values of a source file, read with pydicom; the dcmfs-scan values when
    pydicom cannot read it."""
    out = {}
    try:
        import pydicom
        from pydicom import charset
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        try:
            cs = ds.get_item(0x00080005)
            cs = cs.value if cs is not None else None
            if isinstance(cs, (bytes, bytearray)):
                cs = cs.decode("ascii", "replace").strip(" \0").split("\\")
            encs = charset.convert_encodings(cs or ["ISO_IR 6"])
        except Exception:
            encs = ["iso8859"]
        for k, tag in TAGS.items():
            e = ds.get_item(tag)
            raw = b"" if e is None or e.value is None else e.value
            if isinstance(raw, str):
                raw = raw.encode("utf-8")
            cands = set()
            for v in (raw.rstrip(b" \0"), raw.strip(b" \0")):
                v = id_map(v)
                cands.add(v)
                try:
                    cands.add(charset.decode_bytes(v, encs, set()).encode("utf-8"))
                except Exception:
                    pass
                cands.add(v.decode("latin-1").encode("utf-8"))
            out[k] = cands
        return out
    except Exception:
        pass
    for k, f in (("patient_id", "patient_id"), ("issuer", "issuer_of_patient_id"),
                 ("study", "study_uid"), ("series", "series_uid"), ("sop", "sop_instance_uid")):
        out[k] = {info.get(f, "").encode("utf-8")}
    return out


CUT = re.compile(r"^(.*)~[0-9a-f]{16}$")


def name_matches(comp, cands):
    """Does path component comp name one of the values cands?"""
    m = CUT.match(comp)
    if m:
        pre = unescape_b(m.group(1))
        return any(c.startswith(pre) for c in cands)
    return unescape_b(comp) in cands


def patient_matches(comp, idt):
    if comp.startswith("%noid-"):
        return b"" in idt["patient_id"]
    m = CUT.match(comp)
    body = m.group(1) if m else comp
    pid, at, iss = body.partition("@")
    pid, iss = unescape_b(pid), unescape_b(iss)
    if not at:
        if m:
            return any(c.startswith(pid) for c in idt["patient_id"])
        return pid in idt["patient_id"] and b"" in idt["issuer"]
    if pid not in idt["patient_id"]:
        return False
    if m:
        return any(c.startswith(iss) for c in idt["issuer"])
    return iss in idt["issuer"]


def scan_sources(dirs):
    files = sorted(os.path.join(r, f) for d in dirs for r, _, fs in os.walk(d) for f in fs)
    srcs = []
    for i in range(0, len(files), 200):
        rc, out = run([SCAN] + files[i:i + 200])
        cur = None
        infos = []
        for line in out.splitlines():
            if "=" not in line:
                continue
            k, v = line.split("=", 1)
            if k == "file":
                cur = {"file": v}
                infos.append(cur)
            elif cur is not None:
                cur[k] = v
        for info in infos:
            if info.get("status") != "ok":
                continue
            with open(info["file"], "rb") as f:
                data = f.read()
            srcs.append(Source(info["file"], info, data))
    return srcs


class Expect:
    """What a store holding the data set must show."""

    def __init__(self, srcs):
        self.by_sop = {}        # sop -> {sha: Source}
        self.by_key = {}        # (sop, xxh128) -> Source
        for s in srcs:
            self.by_sop.setdefault(s.sop, {})[s.sha] = s
            self.by_key[(s.sop, s.xxh)] = s
        self.keys = {(s.sop, s.sha) for s in srcs}
        self.by_sha = {}        # sha -> [Source]
        for s in srcs:
            self.by_sha.setdefault(s.sha, []).append(s)


def unescape_b(name):
    """A path component back to the value's bytes (%XX undone; '%' alone is
    the empty value)."""
    if name == "%":
        return b""
    out = bytearray()
    i = 0
    while i < len(name):
        if name[i] == "%" and i + 3 <= len(name):
            try:
                out.append(int(name[i + 1:i + 3], 16))
                i += 3
                continue
            except ValueError:
                pass
        out += name[i].encode("utf-8")
        i += 1
    return bytes(out)


def sop_name(name):
    """The SOP part of a file name: <SOP>[.v<N>].dcm."""
    base = name[:-4] if name.endswith(".dcm") else name
    p = base.rsplit(".v", 1)
    if len(p) == 2 and p[1].isdigit():
        base = p[0]
    return base


# ------------------------------------------------------------ read back

class Mounts:
    def __init__(self, work):
        self.work = work
        self.fuse_ok = os.path.exists("/dev/fuse") and shutil.which("fusermount3") and os.path.exists(DCMFS)

    def mount(self, store, mnt, opts=("-o", "ro")):
        os.makedirs(mnt, exist_ok=True)
        errf = open(os.path.join(self.work, "dcmfs.log"), "ab")
        p = subprocess.Popen([DCMFS, store, mnt, "-f"] + list(opts), stdout=errf, stderr=errf)
        for _ in range(300):     # up to 15 s: the machine may be busy
            if mounted(mnt) and os.path.ismount(mnt):
                return p
            if p.poll() is not None:
                break
            time.sleep(0.05)
        self.kill(p)
        unmount(mnt)
        return None

    @staticmethod
    def kill(p):
        if p.poll() is None:
            p.kill()
        p.wait()


def mounted(mnt):
    """Is mnt a mount point?  Read from /proc: os.path.ismount() says no for
    the dead mount a killed daemon leaves (stat fails with ENOTCONN)."""
    mnt = os.path.realpath(mnt)
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                p = line.split()[4].replace("\\040", " ")
                if p == mnt:
                    return True
    except OSError:
        return os.path.ismount(mnt)
    return False


def unmount(mnt):
    if not mounted(mnt):
        return True
    for cmd in (["fusermount3", "-u", mnt], ["fusermount3", "-u", "-z", mnt], ["umount", "-l", mnt]):
        if run(cmd, timeout=30)[0] == 0 and not mounted(mnt):
            return True
    return not mounted(mnt)


def read_back(store, exp, mounts, work):
    """{(sop, sha)} read back right, and a list of wrong ones (descriptions).
    Every version is under /versions/<patient>/<study>/<series>/<SOP>.v<N>.dcm:
    what is read back is what is there.  /patients (the current version of
    each SOP) and /quarantine are judged too: no wrong bytes, no wrong place."""
    got, wrong = set(), []
    mnt = os.path.join(work, "mnt-ro")
    p = mounts.mount(store, mnt) if mounts.fuse_ok else None
    if p is not None:
        try:
            for top, studies in (("versions", False), ("patients", True), ("quarantine", False)):
                base = os.path.join(mnt, top)
                for dp, _, fs in os.walk(base):
                    for n in fs:
                        path = os.path.join(dp, n)
                        rel = os.path.relpath(path, base).split(os.sep)
                        try:
                            sha = sha256_file(path)
                        except OSError as e:
                            # an unreadable file is a lost instance, not wrong bytes
                            vlog("unreadable %s/%s: %s" % (top, "/".join(rel), e))
                            continue
                        judge(exp, top, rel, studies, sha, got if top == "versions" else set(), wrong)
        finally:
            unmount(mnt)
            Mounts.kill(p)
        return got, wrong
    # no FUSE: dcmfsctl get, instance by instance, names (those of /versions)
    # from index.db
    try:
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(store, "index.db"), uri=True)
        rows = db.execute(
            # a vname the SOP UID gives plainly is not kept (FORMAT.md, schema 3)
            "SELECT p.dirname, st.dirname, se.dirname,"
            " coalesce(i.vname, i.sop_uid || '.v' || i.version || '.dcm'), i.sop_uid, i.version FROM instances i"
            " JOIN series se ON se.id = i.series JOIN studies st ON st.id = se.study"
            " JOIN patients p ON p.id = st.patient").fetchall()
        db.close()
    except sqlite3.Error as e:
        wrong.append("index unreadable after reindex: %s" % e)
        return got, wrong
    for pd, sd, sed, name, sop, ver in rows:
        r = subprocess.run([CTL, "get", store, sop, "--version", str(ver)], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
        if r.returncode != 0:
            continue
        judge(exp, "get", [pd, sd, sed, name], False, hashlib.sha256(r.stdout).hexdigest(), got, wrong)
    return got, wrong


def judge(exp, top, rel, studies, sha, got, wrong):
    """A file at top/rel with SHA-256 sha: its bytes must be those of a
    source file, and its path must name that file's patient, study, series
    and SOP (identity read with pydicom, see ident())."""
    where = "%s/%s" % (top, "/".join(rel))
    if studies:
        if len(rel) != 5 or rel[1] != "studies":
            wrong.append("unexpected path %s" % where)
            return
        rel = [rel[0]] + rel[2:]
    if len(rel) != 4 or not rel[3].endswith(".dcm"):
        wrong.append("unexpected path %s" % where)
        return
    srcs = exp.by_sha.get(sha)
    if not srcs:
        wrong.append("%s: bytes %s of no source file" % (where, sha[:16]))
        return
    src = srcs[0]      # the same bytes: the same identity
    idt = src.ident
    bad = []
    if not patient_matches(rel[0], idt):
        bad.append("patient")
    if not name_matches(rel[1], idt["study"]):
        bad.append("study")
    if not name_matches(rel[2], idt["series"]):
        bad.append("series")
    if not name_matches(sop_name(rel[3]), idt["sop"]):
        bad.append("SOP")
    if bad:
        wrong.append("%s: bytes of %s under the wrong %s (it holds PatientID %r, Issuer %r, study %r, series %r, SOP %r)"
                     % (where, src.path, "/".join(bad), *[sorted(idt[k])[0] for k in
                                                          ("patient_id", "issuer", "study", "series", "sop")]))
    else:
        got.add((src.sop, sha))


# ------------------------------------------------------------ store layout

def store_map(store, exp):
    """Where every instance's data lives in a store: for each live record,
    its key (sop, sha), its record's extent and its blobs' locations.
    Entry extents are (pack name, first byte, end)."""
    packs = {}
    recs, tombs = [], {}
    blobs = {}
    pdir = os.path.join(store, "packs")
    for name in sorted(os.listdir(pdir)):
        if not name.endswith(".pack"):
            continue
        with open(os.path.join(pdir, name), "rb") as f:
            data = f.read()
        packs[name] = len(data)
        for etype, start, length in fmt.walk_pack(data, []):
            ext = (name, start - fmt.ENTRY_HEADER, start + length)
            p = data[start:start + length]
            if etype == fmt.ENTRY_BLOB:
                h = fmt.parse_blob_header(p)
                blobs.setdefault((h[0], h[1]), ("pack",) + ext)
            elif etype == fmt.ENTRY_INSTANCE:
                r = fmt.parse_record(p)
                if r:
                    recs.append((r, ext))
            elif etype == fmt.ENTRY_TOMBSTONE:
                tombs[int.from_bytes(p[:8], "little", signed=True)] = ext
    for root, _, fs in os.walk(os.path.join(store, "blobs")):
        for fn in fs:
            if ".tmp" in fn:
                continue
            base, _, o = fn.partition(".")
            blobs.setdefault((bytes.fromhex(base), int(o or 0)),
                             ("file", os.path.relpath(os.path.join(root, fn), store)))
    live, dead = [], []
    for r, ext in recs:
        sop = r["info"].get("sop_instance_uid", b"").decode("latin-1")
        src = exp.by_key.get((sop, r["file_hash"]))
        key = (sop, src.sha if src else None)
        deps = [("pack",) + ext] + [blobs.get((h, o), ("missing",)) for h, o, _, _ in r["segments"]]
        if r["instance_id"] in tombs:
            dead.append((key, deps, tombs[r["instance_id"]]))
        else:
            live.append((key, deps))
    return packs, live, dead, blobs


def hit(dep, dmg):
    """Does damage dmg = (kind, target, action, offset) touch dep?"""
    kind, target, action, off = dmg
    if dep[0] == "pack" and kind == "pack" and dep[1] == target:
        if action == "delete":
            return True
        if action == "truncate":
            return dep[3] > off
        # a damaged file header costs nothing: the entries are still read
        return dep[2] <= off < dep[3]
    if dep[0] == "file" and kind == "blob" and dep[1] == target:
        return True
    return dep[0] == "missing"


# ------------------------------------------------------------ trials

class Tally:
    def __init__(self):
        self.c = {}
        self.failures = []

    def add(self, k, n=1):
        self.c[k] = self.c.get(k, 0) + n

    def fail(self, what):
        self.failures.append(what)
        log("FAIL: " + what)


def dataset_ok(store, exp, mounts, work, t, what, strict=True):
    got, wrong = read_back(store, exp, mounts, work)
    for w in wrong:
        t.fail("%s: wrong bytes: %s" % (what, w))
    t.add("wrong bytes", len(wrong))
    missing = exp.keys - got
    if strict and missing:
        t.fail("%s: %d of %d instances missing after completion" % (what, len(missing), len(exp.keys)))
        t.add("instances lost (unexpected)", len(missing))
    return got, wrong


def verify_clean(store, t, what):
    rc, out = run([CTL, "verify", store], timeout=600)
    if rc != 0:
        t.fail("%s: verify exits %d: %s" % (what, rc, " | ".join(out.strip().splitlines()[:4])))
        t.add("verify not clean after a crash")
    return rc == 0


def fresh_dir(top, name):
    """An empty folder top/name; a leftover (dead) mount below it is
    unmounted first."""
    work = os.path.join(top, name)
    for m in ("mnt", "mnt-ro"):
        unmount(os.path.join(work, m))
    shutil.rmtree(work, ignore_errors=True)
    if os.path.exists(work):
        raise RuntimeError("cannot clean %s" % work)
    os.makedirs(work)
    return work


def trial_crash(rng, args, exp, mounts, t, n, full_time):
    work = fresh_dir(args.work, "crash")
    store = os.path.join(work, "store")
    run([CTL, "init", store])
    delay = rng.uniform(0, full_time * 1.2)
    p = subprocess.Popen([CTL, "import", "-q", store] + args.data, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    time.sleep(delay)
    killed = p.poll() is None
    if killed:
        os.kill(p.pid, signal.SIGKILL)
    p.wait()
    t.add("crash points tried")
    t.add("crash points that landed mid-import" if killed else "crash points after the import ended")
    what = "crash %d (kill after %.3fs)" % (n, delay)
    verify_clean(store, t, what)
    rc, out = run([CTL, "import", "-q", store] + args.data, timeout=600)
    if rc > 1:
        t.fail("%s: re-import exits %d: %s" % (what, rc, out.strip()[-300:]))
    dataset_ok(store, exp, mounts, work, t, what)
    vlog("%s: done" % what)


def trial_fuse(rng, args, exp, mounts, t, n, full_time):
    if not mounts.fuse_ok:
        t.add("fuse crash points skipped (no FUSE)")
        return
    work = fresh_dir(args.work, "fuse")
    store, mnt = os.path.join(work, "store"), os.path.join(work, "mnt")
    run([CTL, "init", store])
    d = mounts.mount(store, mnt, opts=())
    what = "fuse crash %d" % n
    if d is None:
        t.fail("%s: the store did not mount" % what)
        return
    delay = rng.uniform(0, full_time * 3)
    cps = [subprocess.Popen(["cp", "-r", src, os.path.join(mnt, "incoming", "in%d" % i)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
           for i, src in enumerate(args.data)]
    time.sleep(delay)
    os.kill(d.pid, signal.SIGKILL)
    d.wait()
    for c in cps:
        try:
            c.wait(timeout=30)
        except subprocess.TimeoutExpired:
            c.kill()
            c.wait()
    t.add("fuse crash points tried")
    if not unmount(mnt):
        t.fail("%s: the dead mount does not unmount" % what)
        return
    what += " (kill after %.3fs)" % delay
    verify_clean(store, t, what)
    # what is there reads back right after a remount
    dataset_ok(store, exp, mounts, work, t, what, strict=False)
    rc, out = run([CTL, "import", "-q", store] + args.data, timeout=600)
    if rc > 1:
        t.fail("%s: import after the crash exits %d: %s" % (what, rc, out.strip()[-300:]))
    dataset_ok(store, exp, mounts, work, t, what)


def make_reference(args, exp, t):
    """A store of the data set with one instance removed (a tombstone)."""
    ref = os.path.join(args.work, "reference")
    shutil.rmtree(ref, ignore_errors=True)
    run([CTL, "init", ref])
    # one worker: the same packs byte for byte on every run, so that a seed
    # repeats the same damage to the same entries
    rc, out = run([CTL, "import", "-q", "-j", "1", ref] + args.data, timeout=600)
    if rc > 1:
        raise RuntimeError("reference import failed: " + out)
    # remove the first instance of the largest series: a tombstone to keep
    db = sqlite3.connect(os.path.join(ref, "index.db"))
    row = db.execute("SELECT sop_uid FROM instances ORDER BY id LIMIT 1").fetchone()
    db.close()
    removed = None
    if row:
        rc, out = run([CTL, "rm", ref, "--instance", row[0]])
        if rc == 0:
            removed = row[0]
    rc, out = run([CTL, "verify", ref])
    if rc != 0:
        raise RuntimeError("the reference store does not verify: " + out)
    return ref, removed


def trial_corrupt(rng, args, exp, mounts, t, n, ref, refmap, removed):
    packs, live, dead, blobs = refmap
    work = fresh_dir(args.work, "corrupt")
    store = os.path.join(work, "store")
    shutil.copytree(ref, store)
    files = [f for f in sorted(set(d[1] for d in blobs.values() if d[0] == "file"))]
    r = rng.random()
    kind = "pack" if r < 0.5 or not files else "blob" if r < 0.85 else "index"
    if kind == "pack":
        # by the square root of the size: big packs get most hits, the
        # small tombstone pack of the reference store still some
        names = sorted(packs)
        target = rng.choices(names, weights=[max(packs[k], 1) ** 0.5 for k in names])[0]
        path = os.path.join(store, "packs", target)
    elif kind == "blob":
        target = rng.choice(files)
        path = os.path.join(store, target)
    else:
        target = "index.db"
        path = os.path.join(store, "index.db")
    size = os.path.getsize(path)
    action = rng.choice(["flip", "flip", "truncate", "delete"])
    off = 0
    if action == "flip":
        off = rng.randrange(size)
        bit = rng.randrange(8)
        with open(path, "r+b") as f:
            f.seek(off)
            b = f.read(1)[0]
            f.seek(off)
            f.write(bytes([b ^ (1 << bit)]))
        desc = "bit %d of byte %d of %s" % (bit, off, target)
    elif action == "truncate":
        off = rng.randrange(size)
        os.truncate(path, off)
        desc = "%s truncated to %d of %d bytes" % (target, off, size)
    else:
        os.unlink(path)
        desc = "%s deleted" % target
    what = "corruption %d (%s)" % (n, desc)
    t.add("corruptions tried")
    t.add("corruptions of %s" % {"pack": "packs", "blob": "blob files", "index": "index.db"}[kind])
    dmg = (kind, target, action, off)

    rc, out = run([CTL, "verify", store], timeout=600)
    if kind == "index":
        if rc != 0:
            t.add("detected by verify")
        if action == "delete" and rc == 0:
            t.fail("%s: verify exits 0 on a store without index.db" % what)
    elif rc == 1:
        t.add("detected by verify")
        named = target.split("/")[-1].split(".")[0]
        short = os.path.basename(target)
        if short not in out and named not in out and not any(
                k[0] in out for k, deps in live if any(hit(d, dmg) for d in deps)):
            t.fail("%s: verify exits 1 but names neither %s nor an instance that uses it" % (what, short))
            t.add("detected but not named")
    else:
        t.fail("%s: verify exits %d, want 1: %s" % (what, rc, " | ".join(out.strip().splitlines()[:3])))
        t.add("not detected by verify")

    for f in os.listdir(store):
        if f.startswith("index.db"):
            os.unlink(os.path.join(store, f))
    rc, out = run([CTL, "reindex", store], timeout=600)
    if rc not in (0, 1):
        t.fail("%s: reindex exits %d: %s" % (what, rc, out.strip()[-300:]))
        t.add("instances lost (unexpected)", len(live))
        return
    got, wrong = read_back(store, exp, mounts, work)
    for w in wrong:
        t.fail("%s: wrong bytes: %s" % (what, w))
    t.add("wrong bytes", len(wrong))
    unexpected = []
    for key, deps in live:
        if key in got:
            continue
        if kind != "index" and any(hit(d, dmg) for d in deps):
            t.add("instances lost (expected: their data was hit)")
        else:
            t.add("instances lost (unexpected)")
            unexpected.append(key[0])
    if unexpected:
        t.fail("%s: %d instances lost whose data was not hit (reindex: %s), e.g. %s" % (
            what, len(unexpected), " | ".join(out.strip().splitlines()[-2:]), unexpected[0]))
    for key, deps, tomb in dead:
        if key in got and key[1] is not None:
            # same bytes imported twice would be live too; only a resurrection if no live copy
            if any(k == key for k, _ in live):
                continue
            tomb_hit = hit(("pack",) + tomb, dmg)
            if tomb_hit:
                t.add("deleted instances back (expected: tombstone hit)")
            else:
                t.add("deleted instances back (unexpected)")
                t.fail("%s: deleted instance %s is back" % (what, key[0]))


def main():
    global VERBOSE
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=0)
    ap.add_argument("--crash", type=int, default=0)
    ap.add_argument("--fuse", type=int, default=0)
    ap.add_argument("--corrupt", type=int, default=0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--data", action="append", default=[])
    ap.add_argument("--work", default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    VERBOSE = args.v
    seed = args.seed
    if seed is None:
        seed = int(os.environ.get("DCMFS_TORTURE_SEED", "0")) or int(time.time())
    log("torture: seed %d (repeat with --seed %d or DCMFS_TORTURE_SEED=%d)" % (seed, seed, seed))
    rng = random.Random(seed)
    for exe in (CTL, SCAN):
        if not os.access(exe, os.X_OK):
            log("torture: %s not built" % exe)
            return 2
    if not args.data:
        corpus = os.path.join(TOP, "..", "shared", "corpus")
        pyd = "/usr/lib/python3/dist-packages/pydicom/data/test_files"
        if os.path.isdir(corpus):
            args.data = [os.path.join(corpus, "variety")]
        elif os.path.isdir(pyd):
            args.data = [pyd]
        else:
            log("torture: SKIP: no data (../shared/corpus, pydicom test files)")
            return 0
    args.data = [os.path.abspath(d) for d in args.data]
    own_work = args.work is None
    if own_work:
        args.work = tempfile.mkdtemp(prefix="dcmfs-torture.")
    os.makedirs(args.work, exist_ok=True)
    t = Tally()
    mounts = Mounts(args.work)
    try:
        srcs = scan_sources(args.data)
        exp = Expect(srcs)
        log("torture: data %s: %d files, %d distinct instances; read-back via %s" % (
            " ".join(args.data), len(srcs), len(exp.keys), "the mount" if mounts.fuse_ok else "dcmfsctl get"))
        ref, removed = make_reference(args, exp, t)
        t0 = time.time()
        probe = os.path.join(args.work, "probe")
        run([CTL, "init", probe])
        run([CTL, "import", "-q", probe] + args.data, timeout=600)
        full_time = max(time.time() - t0, 0.05)
        shutil.rmtree(probe, ignore_errors=True)
        refmap = store_map(ref, exp)
        log("torture: reference store: %d packs, %d blob files, %d live records, %d deleted; a full import takes %.2fs"
            % (len(refmap[0]), sum(1 for b in refmap[3].values() if b[0] == "file"), len(refmap[1]),
               len(refmap[2]), full_time))
        plan = []
        if args.seconds and (args.crash or args.fuse or args.corrupt):
            # counts and a time limit: the trials interleaved (each kind
            # spread evenly over the plan), stopped at the limit
            deadline = time.time() + args.seconds
            plan = sorted((k / n, kind) for kind, n in (("crash", args.crash), ("fuse", args.fuse),
                                                         ("corrupt", args.corrupt)) if n for k in range(n))
            for i, (_, kind) in enumerate(plan, 1):
                if time.time() >= deadline:
                    log("torture: time limit reached after %d of %d trials" % (i - 1, len(plan)))
                    break
                run_one(kind, i, rng, args, exp, mounts, t, full_time, ref, refmap, removed)
        elif args.seconds:
            deadline = time.time() + args.seconds
            cycle = ["crash", "corrupt", "corrupt", "fuse", "crash", "corrupt", "corrupt"]
            i = 0
            while time.time() < deadline:
                kind = cycle[i % len(cycle)]
                i += 1
                run_one(kind, i, rng, args, exp, mounts, t, full_time, ref, refmap, removed)
        else:
            plan = ["crash"] * args.crash + ["fuse"] * args.fuse + ["corrupt"] * args.corrupt
            for i, kind in enumerate(plan, 1):
                run_one(kind, i, rng, args, exp, mounts, t, full_time, ref, refmap, removed)
    finally:
        # no mount of ours is left behind, even with --work or --keep
        for m in ("crash/mnt", "fuse/mnt", "crash/mnt-ro", "fuse/mnt-ro", "corrupt/mnt-ro"):
            unmount(os.path.join(args.work, m))
        if own_work and not args.keep:
            shutil.rmtree(args.work, ignore_errors=True)
    order = ["crash points tried", "crash points that landed mid-import", "crash points after the import ended",
             "verify not clean after a crash", "fuse crash points tried", "fuse crash points skipped (no FUSE)",
             "corruptions tried", "corruptions of packs", "corruptions of blob files", "corruptions of index.db",
             "detected by verify", "not detected by verify", "detected but not named",
             "instances lost (expected: their data was hit)", "instances lost (unexpected)",
             "deleted instances back (expected: tombstone hit)", "deleted instances back (unexpected)",
             "wrong bytes"]
    log("torture: summary (seed %d)" % seed)
    for k in order + sorted(set(t.c) - set(order)):
        if k in t.c or k in ("wrong bytes", "instances lost (unexpected)", "crash points tried",
                             "corruptions tried", "detected by verify", "not detected by verify",
                             "verify not clean after a crash"):
            log("  %-48s %d" % (k, t.c.get(k, 0)))
    log("torture: %d failures" % len(t.failures))
    return 1 if t.failures else 0


def run_one(kind, i, rng, args, exp, mounts, t, full_time, ref, refmap, removed):
    if kind == "crash":
        trial_crash(rng, args, exp, mounts, t, i, full_time)
    elif kind == "fuse":
        trial_fuse(rng, args, exp, mounts, t, i, full_time)
    else:
        trial_corrupt(rng, args, exp, mounts, t, i, ref, refmap, removed)


if __name__ == "__main__":
    sys.exit(main())
