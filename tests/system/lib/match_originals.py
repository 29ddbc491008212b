# match_originals.py MNT_DIR SRC...: for every file below MNT_DIR, the file
# among SRC (files or folders) with the same bytes (by SHA-256), as
# "mountfile<TAB>original" lines; "MISSING<TAB>mountfile" for a file that
# has none.  Used by fs_match_originals (common.sh).
import hashlib
import os
import sys


def sha256_of(path):
    with open(path, 'rb') as f:
        return hashlib.file_digest(f, 'sha256').hexdigest()


def main():
    mnt, sources = sys.argv[1], sys.argv[2:]
    originals = {}
    for source in sources:
        if os.path.isfile(source):
            originals.setdefault(sha256_of(source), source)
            continue
        for folder, _, names in os.walk(source):
            for name in sorted(names):
                path = os.path.join(folder, name)
                if os.path.isfile(path) and not os.path.islink(path):
                    originals.setdefault(sha256_of(path), path)
    for folder, _, names in os.walk(mnt):
        for name in sorted(names):
            path = os.path.join(folder, name)
            original = originals.get(sha256_of(path))
            print(('%s\t%s' % (path, original)) if original else ('MISSING\t%s' % path))


main()
