#!/usr/bin/env python3
"""tsstore delete/compact and the readers around them, through the CLI.

- unreadable_document: a mutation document cut short is skipped by
  `dump`, `ls`, `coverage` and `stats` like any unreadable file: exit 1,
  the message naming the file, and everything else still printed.
- compact_counts_open: a delete and a compaction request queued while
  the LOCK was held are carried out when `tsstore compact` opens the store
  as the writer; its report counts that work (it said "compacted 0
  window(s) ... 0 document(s) completed").
- prune_rollup_count_open: the same for a prune or rollup request queued
  while the LOCK was held and carried out by the open of the next
  `tsstore prune`/`rollup` (it said "removed 0 segment(s)").
- handover: a command that held the LOCK (delete, compact, prune, a
  rollup that only probed the LOCK, import, verify --repair) leaves
  nothing queued that was
  created just before it released the LOCK: lockshim.so (preloaded) runs
  `tsstore delete` or `tsstore compact` at that instant, which finds the
  LOCK taken and says "queued"; once the first command returned, the
  document is applied. Skipped without --shim (sanitizer builds).
- future_note: a delete without --to, or with --to still ahead, notes on
  stderr that points stored after it is applied are kept (an audit
  expected them deleted); one with --to in the past does not, and both
  delete what the store held.
- wait_timeout: every command that takes --wait (delete, compact, rollup,
  prune) documents --timeout beside it, in the man page's synopsis and in
  --help, and honours it: with the LOCK held and nobody applying, it gives
  up after --timeout seconds with exit 1.

The writer's LOCK is held by this process (fcntl.flock, as the core takes
it) to stand for a running collectd.
"""

import argparse
import fcntl
import glob
import json
import os
import shlex
import subprocess
import sys
import tempfile

TYPES_DB = "load shortterm:GAUGE:0:U, midterm:GAUGE:0:U, longterm:GAUGE:0:U\n" \
    "memory value:GAUGE:0:U\n"

T0 = 1700000000


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def run(cli, *args, want=0, env=None):
    p = subprocess.run([cli] + list(args), capture_output=True, text=True,
                       timeout=60, env=env)
    if want is not None and p.returncode != want:
        fail("tsstore %s: exit %d, want %d\nstdout: %s\nstderr: %s" %
             (" ".join(args), p.returncode, want, p.stdout, p.stderr))
    return p


def make_store(cli, tmp, name):
    """A store of two series, 10 minutes at 1 s, all in segments."""
    src = os.path.join(tmp, name + "-csv")
    for rel, header, fmt in (
            ("vm/load/load-2023-11-14", "epoch,shortterm,midterm,longterm",
             "%d.000,0.5,0.25,0.125"),
            ("vm/memory/memory-used-2023-11-14", "epoch,value",
             "%d.000,1000")):
        p = os.path.join(src, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(header + "\n")
            for t in range(T0, T0 + 600):
                f.write(fmt % t + "\n")
    tdb = os.path.join(tmp, "types.db")
    with open(tdb, "w") as f:
        f.write(TYPES_DB)
    store = os.path.join(tmp, name)
    run(cli, "import", "--csv", src, "--types-db", tdb, store)
    return store


def import_args(tmp, name):
    """import's arguments again, for the store make_store(name) made."""
    return ["import", "--csv", os.path.join(tmp, name + "-csv"),
            "--types-db", os.path.join(tmp, "types.db")]


class Locked:
    """Holds the store's writer LOCK, as a running collectd would."""

    def __init__(self, store):
        self.path = os.path.join(store, "LOCK")

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


def unreadable_document(cli, tmp):
    store = make_store(cli, tmp, "unreadable")
    with Locked(store):
        p = run(cli, "delete", "--series", "vm/load/*", store)
        if "queued" not in p.stdout:
            fail("delete with the LOCK held: %r" % p.stdout)
    docs = glob.glob(os.path.join(store, "wal", "mutations", "*.json"))
    if len(docs) != 1:
        fail("documents: %r" % docs)
    with open(docs[0], "rb") as f:
        body = f.read()
    with open(docs[0], "wb") as f:
        f.write(body[:len(body) // 2])
    rel = "wal/mutations/" + os.path.basename(docs[0])
    for cmd in ("dump", "ls", "coverage"):
        p = run(cli, cmd, store, want=1)
        if p.stderr.count(rel) != 1:
            fail("%s: the message does not name %s once: %r" %
                 (cmd, rel, p.stderr))
        # the rest is still read: both series (the delete is not applied)
        for series in ("memory", "load"):
            if series not in p.stdout:
                fail("%s did not print the %s series: %r" %
                     (cmd, series, p.stdout))
    # stats too: exit 1, the figures still printed, the count in jsonl
    p = run(cli, "stats", store, want=1)
    # (named once: the document is read twice, reported by one of them)
    if p.stderr.count(rel) != 1 or "unreadable" not in p.stderr or \
            "series" not in p.stdout:
        fail("stats: %r / %r" % (p.stdout, p.stderr))
    p = run(cli, "stats", store, "--format", "jsonl", want=1)
    if json.loads(p.stdout)["unreadable_files"] != 1:
        fail("stats jsonl: unreadable_files: %r" % p.stdout)


def compact_counts_open(cli, tmp):
    store = make_store(cli, tmp, "compact")
    with Locked(store):
        run(cli, "delete", "--series", "vm/load/*", store)
        p = run(cli, "compact", store)
        if "requested" not in p.stdout:
            fail("compact with the LOCK held: %r" % p.stdout)
    p = run(cli, "compact", store)
    words = p.stdout.split()
    try:
        windows = int(words[words.index("compacted") + 1])
        written = int(words[words.index("window(s),") + 1])
        docs = int(words[words.index("document(s)") - 1])
    except (ValueError, IndexError):
        fail("compact printed %r" % p.stdout)
    if windows < 1 or written <= 0 or docs != 2:
        fail("compact did the queued work but reported %r" % p.stdout)
    if glob.glob(os.path.join(store, "wal", "mutations", "*.json")):
        fail("documents left after compact")
    if "load" in run(cli, "ls", store).stdout:
        fail("the deleted series is still listed")


def prune_rollup_count_open(cli, tmp):
    for cmd, opts, what in (("prune", ["--older-than", "1d"], "removed"),
                            ("rollup", ["--level", "1d:5m"], "rolled up")):
        store = make_store(cli, tmp, "open-" + cmd)
        with Locked(store):
            p = run(cli, cmd, *opts, store)
            if "requested" not in p.stdout:
                fail("%s with the LOCK held: %r" % (cmd, p.stdout))
        # the open carries out the queued request with these options; the
        # command's own pass then finds nothing left: it reports both
        p = run(cli, cmd, *opts, store)
        words = p.stdout.split()
        try:
            n = int(words[len(what.split()) + words.index(what.split()[0])])
        except (ValueError, IndexError):
            fail("%s printed %r" % (cmd, p.stdout))
        if n < 1:
            fail("%s did the queued work but reported %r" % (cmd, p.stdout))
        if glob.glob(os.path.join(store, "wal", "mutations", "*.json")):
            fail("documents left after %s" % cmd)
    print("prune_rollup_count_open: ok")


def handover(cli, shim, tmp):
    cases = [
        # (first command, its exit status, what runs at its LOCK release)
        (["delete", "--series", "vm/load/*"], 0, "delete"),
        (["delete", "--series", "vm/load/*"], 0, "compact"),
        (["compact"], 0, "delete"),
        (["compact"], 0, "compact"),
        (["prune", "--older-than", "100000d"], 0, "delete"),
        (["rollup"], 2, "delete"),  # no levels, no writer: a probe
        (None, 0, "delete"),        # import
        (["verify", "--repair"], 0, "delete"),
    ]
    for i, (first, status, second) in enumerate(cases):
        name = "handover%d" % i
        store = make_store(cli, tmp, name)
        if first is None:
            first = import_args(tmp, name)
        out = os.path.join(tmp, name + ".out")
        if second == "delete":
            cmd = [cli, "delete", "--series", "vm/memory/*", store]
        else:
            cmd = [cli, "compact", store]
        env = dict(os.environ, LD_PRELOAD=shim,
                   TSS_LOCK_SHIM_CMD=" ".join(shlex.quote(a) for a in cmd) +
                   " >" + shlex.quote(out) + " 2>&1")
        what = "%s, then %s at its release" % (first[0], second)
        run(cli, *first, store, want=status, env=env)
        with open(out) as f:
            said = f.read()
        if "queued" not in said and "requested" not in said:
            fail("%s: the second command did not find the LOCK taken: %r" %
                 (what, said))
        for path in glob.glob(os.path.join(store, "wal", "mutations",
                                           "*.json")):
            with open(path) as f:
                doc = json.load(f)
            if doc["kind"] != "delete" or doc["state"] in ("intent",
                                                            "applying"):
                fail("%s: %s is left %s %s" % (what, os.path.basename(path),
                                               doc["kind"], doc["state"]))
        listed = run(cli, "ls", store).stdout
        if second == "delete" and "memory" in listed:
            fail("%s: the second delete is not applied:\n%s" % (what, listed))
        # applied as `tsstore delete` would: compacted at once (the
        # default CompactAfter 1), also behind a compact, which turns
        # the automatic compaction off for its own pass
        left = glob.glob(os.path.join(store, "wal", "mutations", "*.json"))
        if second == "delete" and first[0] in ("compact", "delete") and left:
            fail("%s: documents left, not compacted: %s" % (what, left))


WAITERS = ("delete", "compact", "rollup", "prune")


def synopsis(man):
    """The man page's SYNOPSIS lines per command (roff, unrendered)."""
    with open(man) as f:
        text = f.read()
    syn = text.split(".SH SYNOPSIS", 1)[1].split(".SH ", 1)[0]
    out = {}
    for block in syn.split(".br"):
        words = block.split()
        if len(words) >= 2 and words[0] == ".B" and words[1] == "tsstore":
            cmd = words[2] if len(words) > 2 else ""
            out[cmd] = block
    return out


def wait_timeout(cli, man, tmp):
    syn = synopsis(man)
    for cmd in WAITERS:
        if cmd not in syn:
            fail("man page: no synopsis of %s" % cmd)
        for opt in ("\\-\\-wait", "\\-\\-timeout"):
            if opt not in syn[cmd]:
                fail("man page synopsis of %s lacks %s:%s" %
                     (cmd, opt.replace("\\", ""), syn[cmd]))
    help_text = run(cli, "delete", "--help").stdout
    lines = help_text.splitlines()
    for opt in ("--wait", "--timeout"):
        i = next((k for k, l in enumerate(lines) if opt + " " in l and
                  l.lstrip().startswith(("-", opt))), None)
        if i is None:
            fail("--help does not list %s" % opt)
        # the option's text: its line and the indented ones after it
        entry = lines[i]
        for l in lines[i + 1:]:
            if not l.startswith(" " * 10):
                break
            entry += " " + l.strip()
        for cmd in WAITERS:
            if cmd not in entry:
                fail("--help: %s does not name %s: %r" % (opt, cmd, entry))
    store = make_store(cli, tmp, "wait")
    with Locked(store):
        for cmd, extra in (("delete", ["--series", "vm/load/*"]),
                           ("compact", []), ("rollup", []), ("prune", [])):
            p = run(cli, cmd, *extra, "--wait", "--timeout", "0.3", store,
                    want=1)
            if "is still" not in p.stderr or "LOCK" not in p.stderr:
                fail("%s --wait --timeout 0.3: %r" % (cmd, p.stderr))


def future_note(cli, tmp):
    note = "points collectd stores later"
    store = make_store(cli, tmp, "note")
    # --to in the past (the data is from 2023): no note
    p = run(cli, "delete", store, "--series", "vm/load/*", "--to",
            str(T0 + 599))
    if note in p.stderr:
        fail("delete --to in the past printed the note: %s" % p.stderr)
    for args, why in ((["--series", "vm/memory/*"], "no --to"),
                      (["--series", "vm/load/*", "--to", "4102444800"],
                       "--to in 2100")):
        p = run(cli, "delete", store, *args)
        if note not in p.stderr:
            fail("delete with %s: no note on stderr: %r" % (why, p.stderr))
    p = run(cli, "ls", store)
    if "vm/" in p.stdout:
        fail("points left after the deletes:\n" + p.stdout)
    print("future_note: ok")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--man", required=True)
    ap.add_argument("--shim")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tss-mutcli-") as tmp:
        unreadable_document(a.cli, tmp)
        compact_counts_open(a.cli, tmp)
        prune_rollup_count_open(a.cli, tmp)
        future_note(a.cli, tmp)
        if a.shim:
            handover(a.cli, a.shim, tmp)
        else:
            print("handover: skipped (no --shim)")
        wait_timeout(a.cli, a.man, tmp)
    print("ok")


if __name__ == "__main__":
    main()
