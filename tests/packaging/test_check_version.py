#!/usr/bin/env python3
"""packaging/check-version: every file naming the version agrees.

Runs the script on a copy of the files it reads: it passes on the tree as
it is, and fails (exit 1, naming the file and the wrong version) when one
of them names another version: debian/changelog, the spec's %changelog,
CHANGELOG.md, a man page's title line, and each mention in README.md (the
.deb and .rpm file names of "Install from packages", the read plugin's
version line in the sample log), which it did not check. Standard
library only; no root.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

FILES = ["CMakeLists.txt", "CHANGELOG.md", "README.md",
         "packaging/version", "packaging/check-version",
         "packaging/debian/changelog",
         "packaging/rpm/collectd-tsstore.spec.in"]
OTHER = "9.8.7"


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def run(tree):
    r = subprocess.run([os.path.join(tree, "packaging", "check-version")],
                       capture_output=True, text=True)
    print(r.stdout + r.stderr, end="")
    return r


def copy_tree(source, tree):
    for rel in FILES:
        os.makedirs(os.path.dirname(os.path.join(tree, rel)), exist_ok=True)
        shutil.copy2(os.path.join(source, rel), os.path.join(tree, rel))
    shutil.copytree(os.path.join(source, "docs", "man"),
                    os.path.join(tree, "docs", "man"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    a = ap.parse_args()
    version = subprocess.run(
        [os.path.join(a.source, "packaging", "version")], check=True,
        capture_output=True, text=True).stdout.strip()
    if version == OTHER:
        fail("the version is the test's other version %s" % OTHER)
    with open(os.path.join(a.source, "README.md")) as f:
        readme = f.read().splitlines()
    # what README.md must keep saying, by line (1-based)
    patterns = [r"collectd-tsstore_%s-1_amd64\.deb",
                r"collectd-tsstore-%s-1\.x86_64\.rpm",
                r"tsstore plugin: version %s reading"]
    mentions = []
    for pat in patterns:
        rx = re.compile(pat % re.escape(version))
        lines = [i + 1 for i, ln in enumerate(readme) if rx.search(ln)]
        if not lines:
            fail("README.md has no line matching %r" % (pat % version))
        mentions += lines

    with tempfile.TemporaryDirectory(prefix="tss-check-version-") as tmp:
        tree = os.path.join(tmp, "src")
        copy_tree(a.source, tree)
        r = run(tree)
        if r.returncode != 0 or \
                r.stdout.strip() != "check-version: %s everywhere" % version:
            fail("on the tree as it is: exit status %d" % r.returncode)

        def with_other(rel, lineno, what):
            """Replaces the version on line `lineno` (1-based; 0: the
            first line naming it) of `rel`, runs the script, puts the
            file back."""
            path = os.path.join(tree, rel)
            with open(path) as f:
                orig = f.read()
            lines = orig.split("\n")
            if lineno == 0:
                lineno = next(i + 1 for i, ln in enumerate(lines)
                              if version in ln)
            if version not in lines[lineno - 1]:
                fail("%s line %d does not name %s" % (rel, lineno, version))
            lines[lineno - 1] = lines[lineno - 1].replace(version, OTHER)
            with open(path, "w") as f:
                f.write("\n".join(lines))
            r = run(tree)
            with open(path, "w") as f:
                f.write(orig)
            want = "check-version: %s says '%s', CMakeLists.txt says '%s'" \
                % (what, OTHER, version)
            if r.returncode != 1 or want not in r.stderr:
                fail("%s line %d naming %s: exit status %d, want 1 and %r"
                     % (rel, lineno, OTHER, r.returncode, want))

        for n in mentions:
            with_other("README.md", n, "README.md line %d" % n)
        with_other("packaging/debian/changelog", 1,
                   "packaging/debian/changelog")
        with_other("packaging/rpm/collectd-tsstore.spec.in", 0,
                   "packaging/rpm/collectd-tsstore.spec.in %changelog")
        with_other("CHANGELOG.md", 0, "CHANGELOG.md")
        for m in sorted(os.listdir(os.path.join(tree, "docs", "man"))):
            with_other(os.path.join("docs", "man", m), 0,
                       "docs/man/%s (.TH)" % m)

        # the tree is back as it was
        if run(tree).returncode != 0:
            fail("the copy does not pass after the changes were undone")
    print("ok: %d README.md mentions" % len(mentions))


if __name__ == "__main__":
    main()
