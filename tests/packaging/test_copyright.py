#!/usr/bin/env python3
"""packaging/debian/copyright names every holder of the vendored files.

Each file under third_party/collectd/include is matched to its Files
stanza as DEP-5 does (shell globs, the last matching stanza wins); every
"Copyright (C) YEARS HOLDER" line at the top of the file must appear in
that stanza's Copyright field (the same holder, years covering the
file's), and the stanza's license must be the file's (Expat: each of these
headers carries the MIT text). oconfig.h's "2006-2009 Florian Forster"
was missing. Standard library only; no root.
"""

import argparse
import fnmatch
import os
import re
import sys

HOLDER = re.compile(r"Copyright \(C\) +([0-9][0-9, -]*[0-9]) +(.+?)\s*$")
STANZA_HOLDER = re.compile(r"^([0-9][0-9, -]*[0-9]) +(.+?)(?: <[^>]*>)?$")
MIT_TEXT = "Permission is hereby granted, free of charge"


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def years(text):
    """'2005-2015' or '2005,2006' -> (2005, 2015)."""
    ys = [int(y) for y in re.findall(r"[0-9]{4}", text)]
    return min(ys), max(ys)


def paragraphs(path):
    """DEP-5 paragraphs as {field: value}, continuation lines joined by
    newlines."""
    out, cur, key = [], {}, None
    with open(path) as f:
        for line in f.read().splitlines():
            if not line.strip():
                if cur:
                    out.append(cur)
                cur, key = {}, None
            elif line[0] in " \t":
                if key is None:
                    fail("%s: continuation line without a field: %r"
                         % (path, line))
                cur[key] += "\n" + line.strip()
            else:
                key, _, value = line.partition(":")
                cur[key] = value.strip()
    if cur:
        out.append(cur)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    a = ap.parse_args()
    top = a.source
    paras = paragraphs(os.path.join(top, "packaging/debian/copyright"))
    files = [p for p in paras if "Files" in p]
    licenses = {p["License"].split("\n")[0] for p in paras
                if "License" in p and "Files" not in p}
    for p in files:
        if p.get("License") not in licenses:
            fail("stanza %r: license %r has no License paragraph"
                 % (p["Files"], p.get("License")))

    inc = os.path.join(top, "third_party/collectd/include")
    checked = 0
    for root, _, names in os.walk(inc):
        for name in sorted(names):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, top)
            with open(path) as f:
                head = f.read(4000)
            held = [HOLDER.search(line) for line in head.splitlines()]
            held = [m for m in held if m]
            if not held:
                continue  # tsstore's own (core/config.h)
            stanza = None
            for p in files:
                if any(fnmatch.fnmatch(rel, g) for g in p["Files"].split()):
                    stanza = p
            if stanza is None:
                fail("%s: no Files stanza" % rel)
            listed = []
            for line in stanza["Copyright"].split("\n"):
                m = STANZA_HOLDER.match(line.strip())
                if not m:
                    fail("stanza %r: cannot read Copyright line %r"
                         % (stanza["Files"], line))
                listed.append((years(m.group(1)), m.group(2)))
            for m in held:
                (lo, hi), who = years(m.group(1)), m.group(2)
                if not any(w == who and ylo <= lo and hi <= yhi
                           for (ylo, yhi), w in listed):
                    fail("%s: \"Copyright (C) %s %s\" is not in the "
                         "Copyright of its stanza (Files: %s): %s"
                         % (rel, m.group(1), who,
                            stanza["Files"].replace("\n", " "),
                            stanza["Copyright"].replace("\n", "; ")))
            if MIT_TEXT in head and stanza["License"] != "Expat":
                fail("%s: MIT text, stanza license %r"
                     % (rel, stanza["License"]))
            checked += 1
    if checked == 0:
        fail("no vendored file with a copyright line under %s" % inc)
    print("ok: %d vendored files" % checked)


if __name__ == "__main__":
    main()
