#!/usr/bin/env python3
"""Integration test: the read plugin's health values in the csv plugin's
output match `tsstore stats DIR --format jsonl`.

Collectd A runs write_tsstore, the read plugin on the same store, the
stock csv plugin and unixsock. It is fed deterministic values, three of
them for a window long past (late points, counted by the writer only in
memory; sealed into a segment after Grace 1s). Every health value must
appear in A's csv files, count-points must reach what was stored and
count-segments 1.

Then A stops, so the store stands still, and collectd B (another process,
no writer: the late points come from writer-stats.json) runs the read
plugin and csv on it. Each health value B's csv plugin wrote after a
`tsstore stats` run must equal that run's figure: exactly for the counts,
bytes, bytes per point, pending deletes and the writer's counters; for the
two that move with the clock, between the figures of the stats runs just
before and just after (snapshot age grows, coverage of the last hour
shrinks).

Usage: test_readplugin_health.py --plugin write_tsstore.so
       --read-plugin tsstore.so --cli tsstore [--keep]
Exit status: 0 pass, 1 fail, 77 skip (collectd not installed).
"""

import os
import sys
import time

from collectd_harness import TestFailure, quote, wait_for
from test_readplugin_util import (HOSTNAME, Collectd, csv_rows, main,
                                  no_errors, stats)

SPAN_S = 7200  # write_tsstore's default SegmentSpan
LATE = 3
# health value (type, type instance) -> its key in stats --format jsonl,
# and how to compare: "exact", "grows" or "shrinks" with time
HEALTH = {
    ("count", "series"): ("series", "exact"),
    ("count", "points"): ("points", "exact"),
    ("count", "segments"): ("segments", "exact"),
    ("count", "head_points"): ("head_points", "exact"),
    ("bytes", "segments"): ("bytes_segments", "exact"),
    ("bytes", "coverage"): ("bytes_coverage", "exact"),
    ("bytes", "head"): ("bytes_head", "exact"),
    ("bytes", "wal"): ("bytes_wal", "exact"),
    ("bytes", "tombstones"): ("bytes_tombstones", "exact"),
    ("bytes", "total"): ("bytes_total", "exact"),
    ("gauge", "bytes_per_point"): ("bytes_per_point", "exact"),
    ("duration", "snapshot_age"): ("snapshot_age_seconds", "grows"),
    ("pending_operations", "deletes"): ("pending_deletes", "exact"),
    ("count", "tombstoned_points"): ("tombstoned_points", "exact"),
    ("percent", "coverage_1h"): ("coverage_percent_1h", "shrinks"),
    ("total_values", "late_points"): ("late_points", "exact"),
    ("errors", "write"): ("write_errors", "exact"),
    ("total_values", "dropped_points"): ("points_dropped", "exact"),
}
# the decimals stats prints (csv prints 6): the slack of a comparison
SLACK = {"snapshot_age_seconds": 0.0006, "coverage_percent_1h": 0.00006}


def health(csv_dir):
    """{(type, type instance): [(epoch, value text)]} written so far."""
    out = {}
    for (t, ti) in HEALTH:
        rows, _ = csv_rows(csv_dir, HOSTNAME, "tsstore-main",
                           "%s-%s" % (t, ti))
        out[(t, ti)] = [(float(r[0]), r[1]) for r in rows]
    return out


def feed(a, base, late_base):
    lines = []
    for i in range(20):
        for ti in ("a", "b"):
            lines.append("PUTVAL %s interval=1 %d:%d" % (
                quote("itest-fed/health/gauge-" + ti), base + i, i))
    for k in range(LATE):
        lines.append("PUTVAL %s interval=1 %d:%d" % (
            quote("itest-fed/health/gauge-late"), late_base + k, k))
    sock = a.connect()
    try:
        bad = [r for r in sock.pipeline(lines) if r[0] != 0]
    finally:
        sock.close()
    if bad:
        raise TestFailure("PUTVAL failed: %r" % bad[:3])
    return len(lines)


def run(args, tmp, instances):
    store = os.path.join(tmp, "store")
    csv_a = os.path.join(tmp, "csv-a", "data")
    csv_b = os.path.join(tmp, "csv-b", "data")
    read_block = "\n".join(['<Store "main">',
                            "  DataDir %s" % quote(store),
                            "</Store>"])

    # A: writer and read plugin in one collectd
    a = Collectd(os.path.join(tmp, "a"), args,
                 ["logfile", "unixsock", "write_tsstore", "csv", "tsstore"],
                 {"write_tsstore": "DataDir %s\nSnapshotInterval \"1s\"\n"
                  "Grace \"1s\"" % quote(store),
                  "csv": "DataDir %s\nStoreRates false" % quote(csv_a),
                  "tsstore": read_block},
                 hostname=HOSTNAME, options=("WriteThreads 1",))
    instances.append(a)
    a.start()
    a.wait_log("write_tsstore plugin: version", 15)  # the store exists
    a.wait_socket(15)
    now = int(time.time())
    fed = feed(a, now - 100, (now // SPAN_S - 2) * SPAN_S + 100)

    def all_there():
        h = health(csv_a)
        return all(h.values()) and \
            float(h[("count", "points")][-1][1]) >= fed and \
            float(h[("count", "segments")][-1][1]) >= 1
    # Grace 1s: the late points' window is sealed into a segment at once
    wait_for(all_there, 20, "every health value in A's csv files, "
             "count-points >= %d, count-segments >= 1" % fed, interval=0.1,
             alive=a.alive)
    if a.stop(20) != 0:
        raise TestFailure("collectd A exited with status %s" % a.returncode)
    no_errors(a, "collectd A")

    # B: the read plugin alone on the store A left
    b = Collectd(os.path.join(tmp, "b"), args,
                 ["logfile", "csv", "tsstore"],
                 {"csv": "DataDir %s\nStoreRates false" % quote(csv_b),
                  "tsstore": read_block},
                 hostname=HOSTNAME)
    instances.append(b)
    b.start()
    b.wait_log("tsstore plugin: version", 15)
    before = stats(args, store)
    t_before = time.time()

    def rows_after():
        h = health(csv_b)
        got = {}
        for key, rows in h.items():
            later = [v for t, v in rows if t > t_before + 0.3]
            if not later:
                return None
            got[key] = later[0]
        return got
    got = wait_for(rows_after, 15, "health values of B read after the "
                   "first tsstore stats", interval=0.1, alive=b.alive)
    after = stats(args, store)
    if b.stop(20) != 0:
        raise TestFailure("collectd B exited with status %s" % b.returncode)
    no_errors(b, "collectd B")

    problems = []
    if int(before["late_points"]) != LATE:
        problems.append("tsstore stats: late_points %s, fed %d"
                        % (before["late_points"], LATE))
    for (t, ti), (key, how) in sorted(HEALTH.items()):
        v = float(got[(t, ti)])
        lo, hi = float(before[key]), float(after[key])
        if how == "exact":
            if lo != hi:
                problems.append("%s changed in a store nobody writes: %s, "
                                "then %s" % (key, before[key], after[key]))
            elif v != lo:
                problems.append("%s-%s = %s, tsstore stats %s = %s"
                                % (t, ti, got[(t, ti)], key, before[key]))
            continue
        if how == "shrinks":
            lo, hi = hi, lo
        if not lo - SLACK[key] <= v <= hi + SLACK[key]:
            problems.append("%s-%s = %s, not between tsstore stats' %s "
                            "before (%s) and after (%s)"
                            % (t, ti, got[(t, ti)], key, before[key],
                               after[key]))
    if problems:
        raise TestFailure("health values differ from tsstore stats:\n  "
                          + "\n  ".join(problems))


if __name__ == "__main__":
    sys.exit(main(__doc__, run, "tss-rphealth-"))
