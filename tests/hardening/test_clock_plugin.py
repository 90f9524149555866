#!/usr/bin/env python3
"""Integration test: collectd's wall clock steps back two days, then on.

collectd runs write_tsstore (SnapshotInterval 1 s) and unixsock with
clockshim.so preloaded, which offsets its CLOCK_REALTIME by what a file
says. A value PUTVAL'd with collectd's own time ("N") must reach the head
snapshot -- where `tsstore dump` reads it -- by the plugin's periodic
snapshot, with no FLUSH: before the step, after the wall clock went back
two days, and after it went forward five. The plugin's schedule (snapshot
every SnapshotInterval, rollup and prune every minute, its one-second
wait) must not wait for the wall clock to catch up with where it was.

Each wait polls `tsstore dump` for a bounded time (WAIT_S): a plugin whose
schedule follows the wall clock would take two days, not seconds.

Usage: test_clock_plugin.py --plugin write_tsstore.so --cli tsstore
       --shim clockshim.so [--keep]
Exit status: 0 pass, 1 fail, 77 skip (collectd not installed).
"""

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from collectd_harness import (Collectd, TestFailure, make_tempdir,  # noqa
                              quote, require_collectd, wait_for)

DAY_NS = 86400 * 10**9
WAIT_S = 30


def set_offset(path, ns):
    with open(path + ".new", "wb") as f:
        f.write(struct.pack("=q", ns))
    os.replace(path + ".new", path)


def stored(cli, store, series):
    """The values `tsstore dump` shows for series (a glob)."""
    p = subprocess.run([cli, "dump", "--format", "jsonl", "--series", series,
                        store], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    if p.returncode not in (0, 1):
        raise TestFailure("tsstore dump exited %d: %s" % (
            p.returncode, p.stderr.decode("utf-8", "replace")))
    return [json.loads(ln, parse_float=str, parse_int=str)["value"]
            for ln in p.stdout.decode("utf-8").splitlines()]


def put_and_see(cd, cli, store, name, value):
    """PUTVALs value for itest/clock/gauge-<name> at collectd's now and
    waits until a reader sees it, by the plugin's own snapshot."""
    sock = cd.connect()
    try:
        status, msg, _ = sock.command("PUTVAL %s interval=1 N:%s" % (
            quote("itest/clock/gauge-%s" % name), value))
    finally:
        sock.close()
    if status != 0:
        raise TestFailure("PUTVAL: %d %s" % (status, msg))
    wait_for(lambda: stored(cli, store, "itest/clock/gauge-" + name) ==
             [value], WAIT_S,
             "gauge-%s=%s in a snapshot, without a flush" % (name, value),
             interval=0.1, alive=cd.alive)


def restore_preload(value):
    if value is None:
        os.environ.pop("LD_PRELOAD", None)
    else:
        os.environ["LD_PRELOAD"] = value


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--shim", required=True)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    require_collectd(["logfile", "unixsock"])

    root = make_tempdir("tss-clock-")
    offset = os.path.join(root, "offset")
    store = os.path.join(root, "store")
    set_offset(offset, 0)
    os.environ["TSS_CLOCK_SHIM"] = offset
    # after what is preloaded already (a sanitizer's runtime comes first)
    preloaded = os.environ.get("LD_PRELOAD")
    os.environ["LD_PRELOAD"] = " ".join(
        p for p in (preloaded, os.path.abspath(args.shim)) if p)
    cd = None
    try:
        cd = Collectd(os.path.join(root, "a"), args.plugin,
                      ["logfile", "write_tsstore", "unixsock"],
                      {"write_tsstore": "DataDir %s\nSnapshotInterval 1"
                       % quote(store)}).start()
        restore_preload(preloaded)  # not for the CLI
        cd.wait_socket(30)
        put_and_see(cd, args.cli, store, "before", "1")
        set_offset(offset, -2 * DAY_NS)
        put_and_see(cd, args.cli, store, "back", "2")
        set_offset(offset, 3 * DAY_NS)
        put_and_see(cd, args.cli, store, "forward", "3")
        rc = cd.stop()
        if rc != 0:
            raise TestFailure("collectd exited %s" % rc)
        errors = cd.error_lines()
        if errors:
            raise TestFailure("collectd logged errors:\n" + "\n".join(errors))
        print("PASS: snapshots went on through a wall clock stepped back "
              "2 days and forward 5")
        return 0
    except TestFailure as e:
        print("FAIL: %s" % e)
        if cd is not None:
            print("collectd log (%s):\n%s" % (cd.log, cd.log_text()))
        return 1
    finally:
        restore_preload(preloaded)
        if cd is not None:
            try:
                cd.kill()
            except Exception:  # noqa: BLE001 -- cleanup only
                pass
        if args.keep:
            print("kept %s" % root)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
