#!/usr/bin/env python3
"""tsstore prune without a running writer: what it says is left is true.

0 means what RetentionTime 0 and RetentionSize 0 mean to write_tsstore,
no limit: `--older-than 0` and `--max-size 0` would prune nothing, so
they are usage errors naming the option (exit 2), like a duration that is
not a whole number of seconds, and the store is left as it was (it
printed "removed 0 segment(s), 0 bytes; 0 bytes left", exit 0). A prune
that removes nothing, some windows or all of them reports the bytes of
segments, coverage sidecars and tombstones that are really left.
"""

import argparse
import hashlib
import os
import re
import tempfile

from clitest import fail, run

TYPES_DB = ("load shortterm:GAUGE:0:5000, midterm:GAUGE:0:5000, "
            "longterm:GAUGE:0:5000\n")
DAY0 = 1699920000  # 2023-11-14T00:00:00Z
DAYS = 3
STEP = 600

RESULT = re.compile(r"^removed (\d+) segment\(s\), (\d+) bytes; (\d+) bytes "
                    r"left$")


def write_csv(src):
    d = os.path.join(src, "h", "load")
    os.makedirs(d)
    for k in range(DAYS):
        day = DAY0 + k * 86400
        with open(os.path.join(d, "load-2023-11-%02d" % (14 + k)), "w") as f:
            f.write("epoch,shortterm,midterm,longterm\n")
            for t in range(day, day + 86400, STEP):
                f.write("%d.000,%f,0.25,0.125\n" % (t, (t - day) / 86400))


def budget_bytes(store):
    """What prune counts: segments, their sidecars and tombstones."""
    total = 0
    for sub, suffix in (("segments", ".seg"), ("segments", ".tombstones"),
                        ("_coverage/segments", ".roar")):
        d = os.path.join(store, sub)
        for name in os.listdir(d):
            if name.endswith(suffix):
                total += os.path.getsize(os.path.join(d, name))
    return total


def tree_digest(store):
    h = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(store)):
        dirs.sort()
        for name in sorted(files):
            p = os.path.join(root, name)
            h.update(os.path.relpath(p, store).encode() + b"\0")
            with open(p, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def prune(cli, store, args):
    r = run([cli, "prune", store] + args)
    if r.returncode != 0:
        fail("prune %s exited %d" % (" ".join(args), r.returncode))
    m = RESULT.match(r.stdout.strip())
    if not m:
        fail("prune %s printed %r" % (" ".join(args), r.stdout))
    removed, removed_bytes, left = (int(x) for x in m.groups())
    real = budget_bytes(store)
    if left != real:
        fail("prune %s says %d bytes left; the store holds %d"
             % (" ".join(args), left, real))
    return removed, removed_bytes, left


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tss-prune-") as tmp:
        src = os.path.join(tmp, "csv")
        write_csv(src)
        tdb = os.path.join(tmp, "types.db")
        with open(tdb, "w") as f:
            f.write(TYPES_DB)
        store = os.path.join(tmp, "store")
        r = run([a.cli, "import", "--csv", src, "--types-db", tdb, store])
        if r.returncode != 0:
            fail("import exited %d" % r.returncode)
        before = tree_digest(store)

        usage = [
            (["--older-than", "0"], "--older-than: 0 keeps everything"),
            (["--older-than", "0d"], "--older-than: 0 keeps everything"),
            (["--max-size", "0"], "--max-size: 0 sets no limit"),
            (["--max-size", "0K", "--older-than", "1d"],
             "--max-size: 0 sets no limit"),
            (["--older-than", "1.5s"],
             '--older-than: "1.5s" is not a whole number of seconds'),
        ]
        for args, want in usage:
            r = run([a.cli, "prune", store] + args)
            if r.returncode != 2:
                fail("prune %s: exit status %d, want 2 (usage)"
                     % (" ".join(args), r.returncode))
            if want not in r.stderr or "removed" in r.stdout:
                fail("prune %s: want %r on stderr and nothing done"
                     % (" ".join(args), want))
            if tree_digest(store) != before:
                fail("prune %s changed the store" % " ".join(args))

        # a budget it holds: nothing goes, and the size is the real one
        total = budget_bytes(store)
        removed, _, left = prune(a.cli, store, ["--max-size", "1T"])
        if removed != 0 or left != total or total == 0:
            fail("--max-size 1T removed %d, left %d of %d"
                 % (removed, left, total))
        # one byte less: the oldest window goes
        removed, removed_bytes, left = prune(
            a.cli, store, ["--max-size", str(total - 1)])
        if removed == 0 or left + removed_bytes != total:
            fail("--max-size %d removed %d (%d bytes), left %d of %d"
                 % (total - 1, removed, removed_bytes, left, total))
        # the data is from 2023: everything is older than a day
        removed, _, left = prune(a.cli, store, ["--older-than", "1d"])
        if removed == 0 or left != 0:
            fail("--older-than 1d removed %d, left %d" % (removed, left))
    print("ok")


if __name__ == "__main__":
    main()
