#!/usr/bin/env python3
"""tsstore rollup --level: a bad level is a usage error naming --level.

A level is AFTER:RESOLUTION[:KEEP]: two or three fields, none empty
(`3d:5m:30d:junk` ran, ignoring junk; `3d::5m` ran as `3d:5m`), each a
whole number of seconds, RESOLUTION above 0. Levels that parse but that
the writer refuses (a RESOLUTION that does not divide the segment span,
KEEP shorter than AFTER, levels that do not grow, a KEEP that drops
windows before the next level takes them) are usage errors naming the
--level value too (they exited 1 with "rollup N: ..."). Each leaves the
store as it was; a good level rolls up (exit 0).
"""

import argparse
import hashlib
import os
import tempfile

from clitest import fail, run

TYPES_DB = "load shortterm:GAUGE:0:5000, midterm:GAUGE:0:5000, " \
    "longterm:GAUGE:0:5000\n"
DAY0 = 1699920000  # 2023-11-14T00:00:00Z

NOT_A_LEVEL = '--level: "%s" is not AFTER:RESOLUTION[:KEEP]'

# (levels, what stderr must hold)
BAD = [
    (["3d:5m:30d:junk"], NOT_A_LEVEL % "3d:5m:30d:junk"),
    (["3d::5m"], NOT_A_LEVEL % "3d::5m"),
    ([":5m"], NOT_A_LEVEL % ":5m"),
    (["3d:5m:"], NOT_A_LEVEL % "3d:5m:"),
    (["3d"], NOT_A_LEVEL % "3d"),
    (["3d:5m", "7d:1h:30d:"], NOT_A_LEVEL % "7d:1h:30d:"),
    (["junk:5m"], '--level: "junk" is not a duration'),
    (["3d:0"], '--level: "3d:0": RESOLUTION must be above 0'),
    (["3d:1.5s"],
     '--level: "3d:1.5s": RESOLUTION "1.5s" is not a whole number of '
     'seconds'),
    (["3d:7m"],
     '--level: "3d:7m": Resolution 420 s must divide the segment span'),
    (["3d:5m:1d"], '--level: "3d:5m:1d": Keep is shorter than After'),
    (["3d:5m", "1d:1h"],
     '--level: "1d:1h": levels must grow in After and Resolution'),
    (["1d:5m:2d", "3d:1h"],
     '--level: "1d:5m:2d": Keep 172800 s drops windows before rollup 2'),
]


def tree_digest(store):
    """Every file but LOCK (a writer open writes its pid there)."""
    h = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(store)):
        dirs.sort()
        for name in sorted(files):
            if root == store and name == "LOCK":
                continue
            p = os.path.join(root, name)
            h.update(os.path.relpath(p, store).encode() + b"\0")
            with open(p, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tss-rollup-level-") as tmp:
        d = os.path.join(tmp, "csv", "h", "load")
        os.makedirs(d)
        with open(os.path.join(d, "load-2023-11-14"), "w") as f:
            f.write("epoch,shortterm,midterm,longterm\n")
            for t in range(DAY0, DAY0 + 86400, 600):
                f.write("%d.000,0.5,0.25,0.125\n" % t)
        tdb = os.path.join(tmp, "types.db")
        with open(tdb, "w") as f:
            f.write(TYPES_DB)
        store = os.path.join(tmp, "store")
        r = run([a.cli, "import", "--csv", os.path.join(tmp, "csv"),
                 "--types-db", tdb, store])
        if r.returncode != 0:
            fail("import exited %d" % r.returncode)
        before = tree_digest(store)

        for levels, want in BAD:
            args = [x for lv in levels for x in ("--level", lv)]
            r = run([a.cli, "rollup", store] + args)
            if r.returncode != 2:
                fail("%s: exit status %d, want 2 (usage)"
                     % (" ".join(args), r.returncode))
            if want not in r.stderr:
                fail("%s: want %r on stderr" % (" ".join(args), want))
            if "Try 'tsstore --help'." not in r.stderr or r.stdout:
                fail("%s: not a usage error" % " ".join(args))
            if tree_digest(store) != before:
                fail("%s changed the store" % " ".join(args))

        r = run([a.cli, "rollup", store, "--level", "3d:5m:30d"])
        if r.returncode != 0 or not r.stdout.startswith("rolled up "):
            fail("--level 3d:5m:30d: exit status %d" % r.returncode)
    print("ok")


if __name__ == "__main__":
    main()
