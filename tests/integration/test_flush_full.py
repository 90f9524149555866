#!/usr/bin/env python3
"""Integration test: a FLUSH that could not persist anything fails.

Runs the real collectd 5.12 with write_tsstore storing into a 1 MiB tmpfs
(in a private mount namespace of its own: `unshare -m`, so the mount goes
when the test ends), fills the tmpfs, feeds 100 series through PUTVAL and
asks `FLUSH plugin=write_tsstore`: the head snapshot cannot be written, so
the flush must say so in collectd's log (collectd 5.12's FLUSH reply says
"1 successful" whatever a flush callback returns, so the log is where a
failed flush shows; it used to stay silent about the flush, with nothing
readable). Then the filler goes, a second FLUSH logs no such error, and
`tsstore ls` lists all 100 series with their points; after collectd stops,
`tsstore verify` finds no problem.

Needs root (mount) and util-linux's unshare; skipped otherwise.

Usage: test_flush_full.py --plugin write_tsstore.so --cli tsstore [--keep]
Exit status: 0 pass, 1 fail (temp dir kept, path printed), 77 skip.
"""

import argparse
import errno
import os
import re
import shutil
import subprocess
import sys
import time

from collectd_harness import (SKIP, Collectd, TestFailure, require_collectd,
                              run_test)

SERIES = 100
HOST = "flushfull"
BARRIER = "flushfull-barrier/barrier/gauge"
TMPFS_SIZE = "1m"


FLUSH_FAILED = "write_tsstore plugin: flush: the head snapshot could not " \
    "be written"


def flush_failures(cd, sock):
    """FLUSH plugin=write_tsstore (it returns when the flush is done);
    returns how many flush failures collectd logged since its start."""
    st, msg, _ = sock.command("FLUSH plugin=write_tsstore")
    if st < 0 or not re.search(r"\d+ successful", msg):
        raise TestFailure("FLUSH replied %d %s" % (st, msg))
    return sum(FLUSH_FAILED in ln
               for ln in cd.log_text(since_start=True).splitlines())


def fill(path):
    """Writes `path` until the file system is full."""
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                f.write(chunk)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                break
        for size in (4096, 512, 1):  # the last blocks too
            try:
                while True:
                    f.write(chunk[:size])
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise


def ls_points(cli, store):
    """{series identifier: points} of tsstore ls --format csv."""
    p = subprocess.run([cli, "ls", "--format", "csv", "--series",
                        HOST + "/*", store], capture_output=True, text=True,
                       timeout=60, check=False)
    if p.returncode != 0:
        raise TestFailure("tsstore ls: exit %d: %s"
                          % (p.returncode, p.stderr.strip()))
    out = {}
    for line in p.stdout.splitlines()[1:]:
        f = line.split(",")
        out[f[1] + "-" + f[2]] = int(f[7])
    return out


def run(args, tmp, report):
    mnt = os.path.join(tmp, "mnt")
    os.makedirs(mnt)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755"
                    % TMPFS_SIZE, "tmpfs", mnt], check=True)
    store = os.path.join(mnt, "store")
    cd = Collectd(os.path.join(tmp, "cd"), args.plugin,
                  ["logfile", "unixsock", "write_tsstore"],
                  {"write_tsstore": 'DataDir "%s"\nSnapshotInterval "1h"'
                   # the log itself on the full disk, not staged in
                   # /dev/shm (where the records would stay readable)
                   '\nSnapshotStage ""' % store}, options=["WriteThreads 1"])
    report["cd"] = cd
    cd.start()
    cd.wait_writer_started()
    cd.wait_socket(30)
    sock = cd.connect()
    fill(os.path.join(mnt, "filler"))
    now = int(time.time())
    lines = ["PUTVAL %s/p-%d/gauge interval=1 %d:%d" % (HOST, i, now - k, k)
             for i in range(SERIES) for k in (2, 1, 0)]
    for st, msg in sock.pipeline(lines):
        if st < 0:
            raise TestFailure("PUTVAL replied %d %s" % (st, msg))
    # the values are in write_tsstore's head before the FLUSH (one write
    # thread, in order)
    sock.barrier(BARRIER, 1, "%d" % now)
    if ls_points(args.cli, store):
        raise TestFailure("series readable before any snapshot was written")
    if flush_failures(cd, sock) != 1:
        raise TestFailure("a FLUSH on a full disk logged no failure "
                          "(%r expected)" % FLUSH_FAILED)
    if ls_points(args.cli, store):
        raise TestFailure("series readable after a FLUSH that failed")
    os.unlink(os.path.join(mnt, "filler"))
    if flush_failures(cd, sock) != 1:
        raise TestFailure("a FLUSH with room on the disk logged a failure")
    if "head snapshot writes to %s succeed again" % store not in \
            cd.log_text(since_start=True):
        raise TestFailure("no NOTICE that head snapshot writes succeed again")
    got = ls_points(args.cli, store)
    want = {"p-%d" % i: 3 for i in range(SERIES)}
    if got != want:
        missing = sorted(set(want) - set(got))[:5]
        raise TestFailure("after the second FLUSH, ls lists %d of %d series "
                          "(missing e.g. %s)" % (len(got), SERIES, missing))
    sock.close()
    if cd.stop() != 0:
        raise TestFailure("collectd exited with %s" % cd.returncode)
    p = subprocess.run([args.cli, "verify", store], capture_output=True,
                       text=True, timeout=120, check=False)
    if p.returncode != 0:
        raise TestFailure("tsstore verify: exit %d\n%s%s"
                          % (p.returncode, p.stdout, p.stderr))
    report["errors"] = len(cd.error_lines())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--plugin", required=True, help="write_tsstore.so")
    ap.add_argument("--cli", required=True, help="the tsstore CLI")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory")
    ap.add_argument("--in-namespace", action="store_true",
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.plugin = os.path.abspath(args.plugin)
    args.cli = os.path.abspath(args.cli)
    require_collectd(["logfile", "unixsock"])
    if not args.in_namespace:
        if os.geteuid() != 0 or not shutil.which("unshare"):
            print("SKIP: needs root and unshare(1) for a private tmpfs")
            return SKIP
        # again, in a mount namespace of its own: the tmpfs dies with it
        argv = ["unshare", "-m", "--propagation", "private",
                sys.executable, "-B", os.path.abspath(__file__),
                "--in-namespace"] + sys.argv[1:]
        return subprocess.run(argv, check=False).returncode
    return run_test(
        run, args, "tss-flushfull-",
        lambda r: "a FLUSH on a full disk failed, the next one stored all "
        "%d series; %d ERROR lines logged" % (SERIES, r["errors"]),
        " (the tmpfs went with its namespace)")


if __name__ == "__main__":
    sys.exit(main())
