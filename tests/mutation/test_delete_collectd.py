#!/usr/bin/env python3
"""Integration test: `tsstore delete` on a store the real collectd writes.

Runs collectd with write_tsstore (SegmentSpan 60s, Grace 1s) and unixsock,
feeds three gauge series through PUTVAL at 1 s steps, first for the past
minutes (so windows get sealed into segments) and then, from a thread, at
the current time for as long as the test runs. While collectd keeps
writing, it checks:

  - `tsstore delete --dry-run` lists exactly the matching series, with the
    point count of the range (some of it in the head), and changes nothing;
  - `tsstore delete --series --from --to --wait` returns 0 and says the
    delete is visible (or done); `tsstore dump` then shows none of the
    deleted points and every other point sent, bit for bit;
  - points sent after the delete keep appearing;
  - within a deadline the points are gone from the disk: no tombstones and
    no mutation documents left, `tsstore verify` clean, and `tsstore
    coverage --gaps` reports the hole, exactly the deleted range;
  - `tsstore compact --wait` returns 0.

Then, with collectd stopped, `tsstore delete` applies a delete itself (and
says so), and `tsstore compact` merges a window a late point split and
says it compacted it.

Usage: test_delete_collectd.py --plugin write_tsstore.so --cli tsstore
       [--keep]
Exit status: 0 pass, 1 fail, 77 skip (collectd not installed). Python 3
standard library only.
"""

import argparse
import csv
import glob
import io
import json
import os
import re
import subprocess
import sys
import threading
import time

# the daemon harness of the integration tests, beside this directory
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                os.pardir, "integration"))
from collectd_harness import (Collectd, TestFailure, quote,  # noqa
                              require_collectd, run_test, wait_for)

HOST = "dtest"
SERIES = ["dtest/cpu-0/gauge", "dtest/cpu-1/gauge", "other/cpu-0/gauge"]
LATE = "late/cpu-0/gauge"  # one point, into an already sealed window
DELETED = "dtest/cpu-0/gauge"
GLOB = "dtest/cpu-0/*"
PAST_S = 360  # seconds of data fed for the past at the start
BUCKET_S = 10  # the store's default coverage bucket
CLI_TIMEOUT = 30
STARTED = "write_tsstore plugin: version"


def value_of(series, t):
    """The value sent for a series at time t: exact in binary, distinct."""
    return (SERIES + [LATE]).index(series) * 100000 + (t % 100000) + 0.25


class Feed:
    """Sends one point per second per series at the current time, from a
    thread, on its own unixsock connection; records what it sent."""

    def __init__(self, cd, start):
        self.cd = cd
        self.next_t = start
        self.lock = threading.Lock()
        self.sent = {}  # (series, t) -> value
        self.error = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        sock = self.cd.connect()
        try:
            while not self.stop.is_set():
                now = int(time.time())
                # every second up to now: a slow loop never leaves a hole
                while self.next_t <= now:
                    put(sock, self.next_t, self.sent, self.lock)
                    self.next_t += 1
                self.stop.wait(0.2)
        except (TestFailure, OSError) as e:
            self.error = e
        finally:
            sock.close()

    def snapshot(self):
        with self.lock:
            return dict(self.sent)

    def check(self):
        if self.error:
            raise TestFailure("the feeding thread failed: %s" % self.error)


def put(sock, t, sent, lock, series=SERIES):
    """PUTVALs time t of every series, recording it as sent."""
    for s in series:
        v = value_of(s, t)
        st, msg, _ = sock.command("PUTVAL %s interval=1 %d:%r"
                                  % (quote(s), t, v))
        if st != 0:
            raise TestFailure("PUTVAL %s %d: %d %s" % (s, t, st, msg))
        with lock:
            sent[(s, t)] = v


def put_past(cd, t0, t1, sent, lock):
    """PUTVALs [t0, t1) of every series, many values per command."""
    sock = cd.connect()
    try:
        for s in SERIES:
            for a in range(t0, t1, 40):
                vals = ["%d:%r" % (t, value_of(s, t))
                        for t in range(a, min(a + 40, t1))]
                st, msg, _ = sock.command("PUTVAL %s interval=1 %s"
                                          % (quote(s), " ".join(vals)))
                if st != 0:
                    raise TestFailure("PUTVAL %s: %d %s" % (s, st, msg))
                with lock:
                    for t in range(a, min(a + 40, t1)):
                        sent[(s, t)] = value_of(s, t)
    finally:
        sock.close()


def cli(args, *argv, ok=True):
    """Runs tsstore; returns (exit status, stdout). ok: fail unless 0."""
    p = subprocess.run([args.cli] + list(argv), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=CLI_TIMEOUT)
    out = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    if ok and p.returncode != 0:
        raise TestFailure("tsstore %s exited %d:\n%s%s"
                          % (" ".join(argv), p.returncode, out, err))
    return p.returncode, out + err


def dump(args, store):
    """{(series, t): value} of the whole store, t in whole seconds."""
    _, out = cli(args, "dump", "--format", "jsonl", store)
    got = {}
    for line in out.splitlines():
        if not line.startswith("{"):
            continue
        o = json.loads(line)
        ident = "%s/%s%s/%s%s" % (
            o["host"], o["plugin"],
            "-" + o["plugin_instance"] if o["plugin_instance"] else "",
            o["type"], "-" + o["type_instance"] if o["type_instance"] else "")
        t = float(o["time"])
        if t != int(t):
            raise TestFailure("dump: time %s is not a whole second"
                              % o["time"])
        got[(ident, int(t))] = float(o["value"])
    return got


def flush(cd):
    sock = cd.connect()
    try:
        st, msg, _ = sock.command("FLUSH")
    finally:
        sock.close()
    if st != 0:
        raise TestFailure("FLUSH: %d %s" % (st, msg))


def in_range(key, lo, hi, series=DELETED):
    return key[0] == series and lo <= key[1] <= hi


def check_dump(args, cd, store, feed, lo, hi, series=DELETED):
    """Waits until the store holds every point sent (as of the call) but
    those of `series` in [lo, hi]; fails at once on a deleted point, a
    point never sent or a wrong value."""
    want = {k: v for k, v in feed.snapshot().items()
            if not in_range(k, lo, hi, series)}

    def complete():
        feed.check()
        flush(cd)
        got = dump(args, store)
        bad = [k for k in got if in_range(k, lo, hi, series)]
        if bad:
            raise TestFailure("dump shows %d deleted point(s), e.g. %s"
                              % (len(bad), sorted(bad)[:3]))
        sent = feed.snapshot()
        for k, v in got.items():
            if k not in sent:
                raise TestFailure("dump shows %s, never sent" % (k,))
            if sent[k] != v:
                raise TestFailure("dump shows %s = %r, sent %r"
                                  % (k, v, sent[k]))
        missing = [k for k in want if k not in got]
        return got if not missing else None
    return wait_for(complete, 20, "every point sent but the deleted ones in "
                    "tsstore dump", interval=0.2, alive=cd.alive)


def leftovers(store):
    return (glob.glob(os.path.join(store, "segments", "*.tombstones")) +
            glob.glob(os.path.join(store, "wal", "mutations", "*.json")))


def gap_rows(args, store, series_glob):
    """The gaps `tsstore coverage --gaps` reports: [(series, from, to)]."""
    _, out = cli(args, "coverage", "--gaps", "--format", "csv", "--series",
                 series_glob, store)
    rows = []
    for r in csv.DictReader(io.StringIO(out)):
        if r["state"] != "gap":
            raise TestFailure("coverage --gaps printed a %r row" % r["state"])
        ident = "%s/%s%s/%s%s" % (
            r["host"], r["plugin"],
            "-" + r["plugin_instance"] if r["plugin_instance"] else "",
            r["type"], "-" + r["type_instance"] if r["type_instance"] else "")
        rows.append((ident, float(r["from"]), float(r["to"])))
    return rows


def run(args, tmp, instances):
    store = os.path.join(tmp, "store")
    cd = Collectd(os.path.join(tmp, "collectd"), args.plugin,
                  ["logfile", "write_tsstore", "unixsock"],
                  {"write_tsstore": "DataDir %s\nSegmentSpan \"60s\"\n"
                                    "Grace \"1s\"" % quote(store)},
                  hostname=HOST)
    instances.append(cd)
    cd.start()
    cd.wait_log(STARTED, 15)
    cd.wait_socket(15)

    # the past minutes, then the present from a thread
    start = int(time.time())
    past = {}
    lock = threading.Lock()
    put_past(cd, start - PAST_S, start, past, lock)
    feed = Feed(cd, start)
    feed.sent.update(past)
    feed.thread.start()
    try:
        late = run_with_feed(args, cd, store, feed, start)
    finally:
        feed.stop.set()
        feed.thread.join(10)
    feed.check()

    # collectd stopped: the CLI is the writer and applies a delete itself
    rc = cd.stop()
    if rc != 0:
        raise TestFailure("collectd exited with status %d" % rc)
    lo, hi = start - 200, start - 150
    _, out = cli(args, "delete", "--series", "other/*", "--from", str(lo),
                 "--to", str(hi), store)
    if "applied here" not in out:
        raise TestFailure("tsstore delete without collectd did not say it "
                          "applied the delete itself:\n%s" % out)
    got = dump(args, store)
    bad = [k for k in got if in_range(k, lo, hi, "other/cpu-0/gauge")]
    if bad:
        raise TestFailure("after the CLI's own delete, dump still shows %s"
                          % sorted(bad)[:3])
    if not any(in_range(k, lo - 10, lo - 1, "other/cpu-0/gauge")
               for k in got):
        raise TestFailure("the CLI's delete took points before its range")
    cli(args, "verify", store)

    # and compacts by itself, saying what it did
    _, out = cli(args, "compact", store)
    m = re.search(r"compacted (\d+) window\(s\)", out)
    if not m or int(m.group(1)) < 1 or len(window_segments(store, late)) != 1:
        raise TestFailure("tsstore compact without collectd: %r, and %d "
                          "segment(s) in the split window"
                          % (out, len(window_segments(store, late))))
    got = dump(args, store)
    if got.get((LATE, late)) != value_of(LATE, late):
        raise TestFailure("the late point is not stored after compaction")
    cli(args, "verify", store)


def run_with_feed(args, cd, store, feed, start):
    segs = os.path.join(store, "segments")

    # past windows sealed into several segments
    def sealed():
        flush(cd)
        return len(glob.glob(os.path.join(segs, "*.seg"))) >= 4
    wait_for(sealed, 20, "the past windows sealed", interval=0.2,
             alive=cd.alive)
    # a range from sealed windows into the head: its end in the current,
    # unsealed window, a whole bucket edge, at least a few seconds old
    wait_for(lambda: time.time() % 60 >= 15, 20, "15 s into a minute",
             interval=0.1)
    now = int(time.time())
    hi = now - now % BUCKET_S - 1  # >= 9 s into the current window
    lo = start - 240
    lo -= lo % BUCKET_S
    wait_for(lambda: feed.next_t > hi + 1, 10, "the feed past the range",
             interval=0.1)
    check_dump(args, cd, store, feed, 1, 0)  # everything so far, nothing gone

    # the dry run: the one series, every point of the range, changes nothing
    _, out = cli(args, "delete", "--dry-run", "--series", GLOB, "--from",
                 str(lo), "--to", str(hi), store)
    lines = [ln for ln in out.splitlines() if not ln.startswith("#")]
    if not lines or any(not ln.startswith(DELETED + " value gauge ")
                        for ln in lines):
        raise TestFailure("dry run lists other series or nothing:\n%s" % out)
    total = sum(int(ln.split()[-1]) for ln in lines)
    head = sum(int(ln.split()[-1]) for ln in lines if ln.split()[3] == "head")
    if total != hi - lo + 1 or head == 0:
        raise TestFailure("dry run: %d point(s), %d in the head; want %d, "
                          "some in the head:\n%s"
                          % (total, head, hi - lo + 1, out))
    if "# would delete %d point(s)" % total not in out:
        raise TestFailure("dry run summary disagrees with its lines:\n%s"
                          % out)
    if leftovers(store):
        raise TestFailure("the dry run left %s" % leftovers(store))
    check_dump(args, cd, store, feed, 1, 0)

    # the delete, while collectd writes
    _, out = cli(args, "delete", "--wait", "--timeout", "20", "--series",
                 GLOB, "--from", str(lo), "--to", str(hi), store)
    if "queued; the running writer applies it" not in out or not any(
            s in out for s in (": visible", ": compacted", ": removed")):
        raise TestFailure("tsstore delete --wait did not say the delete is "
                          "visible or done:\n%s" % out)
    after = feed.next_t
    check_dump(args, cd, store, feed, lo, hi)

    # points sent after it keep coming, the deleted series' too
    wait_for(lambda: feed.next_t > after + 3, 10, "more points fed",
             interval=0.1)
    got = check_dump(args, cd, store, feed, lo, hi)
    if not any(k[0] == DELETED and k[1] >= after for k in got):
        raise TestFailure("no point of %s fed after the delete is stored"
                          % DELETED)

    # compaction takes them off the disk: nothing left of the delete
    def gone():
        if leftovers(store):
            return False
        rc, out = cli(args, "verify", store, ok=False)
        return rc == 0 and " 0 problem(s)" in out
    wait_for(gone, 30, "tombstones and the document gone, verify clean",
             interval=0.5, alive=cd.alive)
    check_dump(args, cd, store, feed, lo, hi)

    # coverage: the hole, exactly the deleted buckets, in that series only
    gaps = gap_rows(args, store, "*/cpu-*/gauge")
    if gaps != [(DELETED, float(lo), float(hi + 1))]:
        raise TestFailure("coverage --gaps: %s; want one gap of %s [%d, %d)"
                          % (gaps, DELETED, lo, hi + 1))

    # compaction on request, while collectd runs
    _, out = cli(args, "compact", "--wait", "--timeout", "20", store)
    if "compaction requested from the running writer" not in out:
        raise TestFailure("tsstore compact did not go through collectd:\n%s"
                          % out)
    check_dump(args, cd, store, feed, lo, hi)
    cli(args, "verify", store)

    # a late point splits an old window over two segments, for the
    # compaction the CLI does itself below
    late = start - 300
    sock = cd.connect()
    try:
        put(sock, late, feed.sent, feed.lock, series=[LATE])
    finally:
        sock.close()

    def split():
        flush(cd)
        return len(window_segments(store, late)) == 2
    wait_for(split, 20, "the late point sealed beside its window",
             interval=0.2, alive=cd.alive)
    return late


def window_segments(store, t):
    """Segment files of the window holding time t (seconds)."""
    w = (t - t % 60) * 1000
    return glob.glob(os.path.join(store, "segments", "%d_*.seg" % w))


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
        "tss-idel-")


if __name__ == "__main__":
    sys.exit(main())
