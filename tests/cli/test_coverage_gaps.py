#!/usr/bin/env python3
"""tsstore coverage: the gaps a series' own interval says are there.

(Late points in a further segment of a window: core_cov_interval.)
- jitter: points every 10.001 s, as collectd's timestamps come, with two
  readings missing: a gap (the interval rounded up to two buckets let it
  pass, while at exactly 10 s it was one).
- slow_series: a reading every hour, or every 40 minutes: no gaps.
- rollup: old windows rolled up to 5-minute aggregates and recent raw
  points at 10 s with a 60 s hole: the hole is a gap, the 5 minutes
  between aggregates are not, and the years between the two are one gap.
"""

import argparse
import calendar
import json
import os
import tempfile
import time

from clitest import fail, run

TYPES_DB = "gauge value:GAUGE:U:U\n"
W0 = 1699934400  # 2023-11-14T04:00:00Z, a window's start at 2 h spans


def write_csv(src, host, points):
    """points: (epoch, value) pairs, written into the daily files of
    host/test/gauge-a-YYYY-MM-DD as collectd's csv plugin names them."""
    days = {}
    for t, v in points:
        days.setdefault(time.strftime("%Y-%m-%d", time.gmtime(t)),
                        []).append((t, v))
    d = os.path.join(src, host, "test")
    os.makedirs(d, exist_ok=True)
    for day, pts in days.items():
        with open(os.path.join(d, "gauge-a-" + day), "w") as f:
            f.write("epoch,value\n")
            for t, v in sorted(pts):
                f.write("%.3f,%f\n" % (t, v))


def import_csv(cli, tmp, store, name, host, points):
    src = os.path.join(tmp, name)
    write_csv(src, host, points)
    tdb = os.path.join(tmp, "types.db")
    with open(tdb, "w") as f:
        f.write(TYPES_DB)
    r = run([cli, "import", "--csv", src, "--types-db", tdb, store])
    if r.returncode != 0:
        fail("import %s exited %d" % (name, r.returncode))


def gaps(cli, store, host):
    r = run([cli, "coverage", store, "--series", host + "/*", "--format",
             "jsonl"])
    if r.returncode != 0:
        fail("coverage exited %d" % r.returncode)
    out = []
    for line in r.stdout.splitlines():
        row = json.loads(line)
        if row["state"] == "gap":
            out.append((row["from"], row["to"]))
    return out


def jitter(cli, tmp):
    store = os.path.join(tmp, "jitter")
    pts = [(W0 + 0.2 + i * 10.001, 1.0) for i in range(600)
           if i not in (300, 301)]
    import_csv(cli, tmp, store, "jitter", "jitter", pts)
    got = gaps(cli, store, "jitter")
    if len(got) != 1 or not (got[0][0] <= W0 + 300 * 10.001 + 0.2 and
                             got[0][1] >= W0 + 301 * 10.001 + 0.2):
        fail("jitter: want one gap over readings 300 and 301: %r" % got)
    print("jitter: ok")


def slow_series(cli, tmp):
    # a reading every hour or every 40 minutes: no gap between them (the
    # 1% allowance for jitter once took 3 buckets off an hour's 360)
    for name, step in (("hourly", 3600), ("forty", 2400)):
        store = os.path.join(tmp, name)
        import_csv(cli, tmp, store, name, name,
                   [(W0 + 0.25 + i * step, 1.0) for i in range(48)])
        got = gaps(cli, store, name)
        if got:
            fail("%s: every %d s, want no gap: %r" % (name, step, got))
    print("slow_series: ok")


def rollup(cli, tmp):
    store = os.path.join(tmp, "rollup")
    old = [(t + 0.5, 1.0) for t in range(W0, W0 + 3 * 7200, 10)]
    now = int(time.time())
    start = now - 3600 - now % 7200  # a recent window's start
    hole = range(start + 600, start + 660, 10)
    recent = [(t + 0.5, 2.0) for t in range(start, start + 1800, 10)
              if t not in hole]
    import_csv(cli, tmp, store, "rollup", "roll", old + recent)
    r = run([cli, "rollup", "--level", "7d:5m", store])
    if r.returncode != 0 or "rolled up 0 window" in r.stdout:
        fail("rollup exited %d: %r" % (r.returncode, r.stdout))
    got = gaps(cli, store, "roll")
    # the years between the two, and the recent hole
    if len(got) != 2:
        fail("rollup: want 2 gaps (the years between, the hole): %r" % got)
    if not (got[0][0] < start and got[0][1] <= start + 10):
        fail("rollup: the first gap is not the years between: %r" % got)
    if not (got[1][0] <= start + 600 + 10 and got[1][1] >= start + 650):
        fail("rollup: the second gap is not the hole at %d: %r" %
             (start + 600, got))
    print("rollup: ok")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tss-covgaps-") as tmp:
        jitter(a.cli, tmp)
        slow_series(a.cli, tmp)
        rollup(a.cli, tmp)
    print("ok")


if __name__ == "__main__":
    main()
