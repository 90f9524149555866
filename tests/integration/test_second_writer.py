#!/usr/bin/env python3
"""Integration test: a second collectd on a store that is in use.

Starts collectd A with write_tsstore on a store, then collectd B (its own
BaseDir, PID file, socket and log) with write_tsstore on the same DataDir.
B must log a clear ERROR saying the store is "locked by pid <A's pid>" and
must not write; A must go on storing values, before and after B exits.
After A exits, a third collectd opens the store without complaint (the lock
went with A) and adds to it.

Usage: test_second_writer.py --plugin write_tsstore.so --cli tsstore [--keep]
Exit status: 0 pass, 1 fail, 77 skip (collectd not installed).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

from collectd_harness import (Collectd, TestFailure, quote, require_collectd,
                              run_test, wait_for)

STARTED = "write_tsstore plugin: version"


def start(root, plugin, store, hostname):
    cd = Collectd(root, plugin, ["logfile", "write_tsstore", "unixsock"],
                  {"write_tsstore": "DataDir %s" % quote(store)},
                  hostname=hostname)
    return cd.start()


def wait_outcome(cd):
    """Waits until write_tsstore started or failed; returns the log line."""
    def outcome():
        for ln in cd.log_text().splitlines():
            if STARTED in ln or ("[error]" in ln and "write_tsstore" in ln):
                return ln
        return None
    return wait_for(outcome, 15, "write_tsstore to start or fail in %s"
                    % cd.log, interval=0.05, alive=cd.alive)


def command(cd, line):
    sock = cd.connect()
    try:
        status, msg, _ = sock.command(line)
    finally:
        sock.close()
    if status != 0:
        raise TestFailure("%s to %s: %d %s" % (line.split()[0], cd.root,
                                                status, msg))


def put(cd, host, t, value):
    command(cd, "PUTVAL %s interval=1 %d:%s" % (
        quote("%s/second/gauge-writer" % host), t, value))


def stored(cli, store):
    """{(host, time text): value text} of the store's series."""
    p = subprocess.run([cli, "dump", "--format", "jsonl", store],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    if p.returncode != 0:
        raise TestFailure("tsstore dump exited %d: %s" % (
            p.returncode, p.stderr.decode("utf-8", "replace")))
    out = {}
    for line in p.stdout.decode("utf-8").splitlines():
        o = json.loads(line, parse_float=str, parse_int=str)
        out[(o["host"], o["time"])] = o["value"]
    return out


def wait_stored(cli, store, cd, want):
    """FLUSHes cd until the store holds want.

    PUTVAL only queues the value for collectd's write threads, so one
    FLUSH right after it may run before write_tsstore has the value.
    """
    def have():
        command(cd, "FLUSH")
        got = stored(cli, store)
        return all(got.get(k) == v for k, v in want.items())
    wait_for(have, 10, "%r in the store" % (want,), interval=0.1,
             alive=cd.alive)


def lock_pid(store):
    with open(os.path.join(store, "LOCK"), encoding="ascii") as f:
        return f.read().strip()


def run(args, tmp, instances):
    store = os.path.join(tmp, "store")
    t0 = int(time.time()) - 30
    want = {}

    a = start(os.path.join(tmp, "a"), args.plugin, store, "itest-a")
    instances.append(a)
    line = wait_outcome(a)
    if STARTED not in line:
        raise TestFailure("collectd A could not open the store: %s" % line)
    a.wait_socket(15)
    if lock_pid(store) != str(a.pid):
        raise TestFailure("LOCK holds %r, collectd A is pid %d"
                          % (lock_pid(store), a.pid))
    put(a, "itest-a", t0, "1")
    want[("itest-a", "%d.000" % t0)] = "1"
    wait_stored(args.cli, store, a, want)

    b = start(os.path.join(tmp, "b"), args.plugin, store, "itest-b")
    instances.append(b)
    line = wait_outcome(b)
    m = re.search(r"locked by pid (\d+)\b", line)
    if STARTED in line or not m:
        raise TestFailure("collectd B did not fail with \"locked by pid\": "
                          "%s" % line)
    if m.group(1) != str(a.pid):
        raise TestFailure("collectd B names pid %s, collectd A is pid %d: "
                          "%s" % (m.group(1), a.pid, line))
    if "[error]" not in line or "write_tsstore plugin: " not in line:
        raise TestFailure("the lock message is not an ERROR from "
                          "write_tsstore: %s" % line)
    print("collectd B logged: %s" % line)
    b.wait_socket(15)  # B runs on without write_tsstore

    # A keeps working while B runs; B's values are not stored
    put(a, "itest-a", t0 + 1, "2")
    want[("itest-a", "%d.000" % (t0 + 1))] = "2"
    put(b, "itest-b", t0 + 1, "99")
    command(b, "FLUSH")
    wait_stored(args.cli, store, a, want)
    rc = b.stop(20)
    # collectd 5.12 exits 1 at shutdown when a plugin's init failed
    if rc not in (0, 1):
        raise TestFailure("collectd B exited with status %d" % rc)
    if lock_pid(store) != str(a.pid):
        raise TestFailure("after B exited LOCK holds %r, collectd A is pid "
                          "%d" % (lock_pid(store), a.pid))

    # ... and after B is gone
    put(a, "itest-a", t0 + 2, "3")
    want[("itest-a", "%d.000" % (t0 + 2))] = "3"
    wait_stored(args.cli, store, a, want)
    rc = a.stop(20)
    if rc != 0:
        raise TestFailure("collectd A exited with status %d" % rc)
    errors = a.log_lines("error", "write_tsstore")
    if errors:
        raise TestFailure("ERROR lines from write_tsstore in A's log: %s"
                          % errors)

    # the lock went with A: a new writer opens the store and adds to it
    c = start(os.path.join(tmp, "c"), args.plugin, store, "itest-c")
    instances.append(c)
    line = wait_outcome(c)
    if STARTED not in line:
        raise TestFailure("after A exited, collectd C could not open the "
                          "store: %s" % line)
    c.wait_socket(15)
    put(c, "itest-c", t0 + 3, "4")
    want[("itest-c", "%d.000" % (t0 + 3))] = "4"
    wait_stored(args.cli, store, c, want)
    rc = c.stop(20)
    if rc != 0:
        raise TestFailure("collectd C exited with status %d" % rc)
    errors = c.log_lines("error", "write_tsstore")
    if errors:
        raise TestFailure("ERROR lines from write_tsstore in C's log: %s"
                          % errors)

    got = stored(args.cli, store)
    if got != want:
        raise TestFailure("the store holds %r, want %r (B's value must not "
                          "be there)" % (got, want))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--plugin", required=True, help="write_tsstore.so")
    ap.add_argument("--cli", required=True, help="the tsstore CLI")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory")
    args = ap.parse_args()
    args.plugin = os.path.abspath(args.plugin)
    args.cli = os.path.abspath(args.cli)
    require_collectd(["logfile", "unixsock"])
    return run_test(
        lambda a, tmp, report: run(a, tmp, report["instances"]), args,
        "tss-itest2-")


if __name__ == "__main__":
    sys.exit(main())
