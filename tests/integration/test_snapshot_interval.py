#!/usr/bin/env python3
"""Integration test: kill -9 loses at most one snapshot interval, no FLUSH.

test_crash.py acknowledges points with a FLUSH (a synced snapshot). This
test checks the periodic snapshot alone: the real collectd 5.12 with
write_tsstore (SnapshotInterval 1 s, the default SegmentSpan of 2 h, no
FlushInterval) and unixsock; nothing ever sends FLUSH. Each round:

  1. PUTVALs a batch of points (SERIES gauges and derives, POINTS each, at
     recent timestamps, so they stay in the head's window) with values
     computed from (round, series, point);
  2. polls `tsstore dump` (a lock-free reader: it sees the head only
     through the snapshot on disk) until every point of the batch is
     there, and records how long that took: the periodic snapshot must
     carry them within SnapshotInterval plus the maintenance thread's
     tick, bounded here by DEADLINE_S;
  3. PUTVALs a second batch and kills collectd with SIGKILL at once: those
     points may or may not be stored, but if one is, it has its value;
  4. with no writer running: every point of every earlier batch 1 is
     present with its exact value, no timestamp twice, and `tsstore
     verify` finds no problem;
  5. starts collectd again on the same DataDir: it must log that it
     recovered the head and no ERROR.

Prints the rounds, the points checked and the time each batch took to
reach a snapshot.

Usage: test_snapshot_interval.py --plugin write_tsstore.so --cli tsstore
       [--keep]
Exit status: 0 pass, 1 fail (temp dir kept, path printed), 77 skip.
"""

import argparse
import csv
import io
import os
import shutil
import subprocess
import sys
import time
import traceback

from collectd_harness import (COLLECTD_NOISE, Collectd, TestFailure,
                              make_tempdir, require_collectd, wait_for)

ROUNDS = 3
SERIES = 20
POINTS = 5
DEADLINE_S = 20  # SnapshotInterval is 1 s; generous for a loaded machine
HOST = "snapint"
RECOVERED = "recovered the head from snapshot generation"
CLI_TIMEOUT = 60


def ident(i):
    """Series i: a gauge (even i) or a derive (odd i)."""
    if i % 2 == 0:
        return "%s/snap-%d/gauge" % (HOST, i), "gauge"
    return "%s/snap-%d/derive" % (HOST, i), "derive"


def value(r, i, k, kind):
    """The value of round r, series i, point k: exact in text both ways."""
    if kind == "gauge":
        return "%d.25" % (r * 100000 + i * 100 + k)
    return "%d" % -(r * 100000 + i * 100 + k)


def batch(r, t0, tag):
    """{(identifier, time in whole seconds): (kind, value)} and PUTVALs."""
    points, lines = {}, []
    for i in range(SERIES):
        ide, kind = ident(i)
        for k in range(POINTS):
            t = t0 + k
            v = value(r * 2 + tag, i, k, kind)
            points[(ide, t)] = (kind, v)
            lines.append("PUTVAL %s interval=1 %d:%s" % (ide, t, v))
    return points, lines


def run_cli(cli, *args, ok=(0,)):
    p = subprocess.run([cli] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=CLI_TIMEOUT)
    if p.returncode not in ok:
        raise TestFailure("tsstore %s exited %d: %s" % (
            " ".join(args), p.returncode,
            p.stderr.decode("utf-8", "replace").strip()))
    return p.stdout.decode("utf-8")


def stored(cli, store):
    """{(identifier, whole second): [values]} of every snapint point."""
    out = {}
    rows = csv.DictReader(io.StringIO(run_cli(
        cli, "dump", "--series", HOST + "/*", "--format", "csv", store)))
    for row in rows:
        ide = "%s/%s-%s/%s" % (row["host"], row["plugin"],
                               row["plugin_instance"], row["type"])
        t = float(row["time"])
        if t != int(t):
            raise TestFailure("%s: time %s is not a whole second"
                              % (ide, row["time"]))
        out.setdefault((ide, int(t)), []).append(
            (row["kind"], row["value"]))
    return out


def check_store(cli, store, acked, maybe, label):
    """Every acknowledged point once with its value; nothing foreign."""
    got = stored(cli, store)
    problems = []
    for key, vals in got.items():
        if len(vals) != 1:
            problems.append("%s at %d stored %d times" % (key + (len(vals),)))
    for key, want in acked.items():
        if key not in got:
            problems.append("%s at %d: lost (it was in a snapshot)" % key)
        elif got[key][0] != want:
            problems.append("%s at %d: %r, want %r"
                            % (key + (got[key][0], want)))
    for key, vals in got.items():
        if key in acked:
            continue
        if key not in maybe:
            problems.append("%s at %d: never sent" % key)
        elif vals[0] != maybe[key]:
            problems.append("%s at %d: %r, sent %r"
                            % (key + (vals[0], maybe[key])))
    out = run_cli(cli, "verify", store, ok=(0, 1))
    if "0 problem(s)" not in out:
        problems.append("verify: %s" % out.strip().splitlines()[-1])
    if problems:
        raise TestFailure("%s: %d problem(s):\n  %s" % (
            label, len(problems), "\n  ".join(problems[:20])))
    return len(acked), len(got) - len(acked)


def start(cd, recovered):
    cd.start()
    cd.wait_writer_started(30)
    cd.wait_socket(30)
    text = cd.log_text(since_start=True)
    if recovered:
        wait_for(lambda: RECOVERED in cd.log_text(since_start=True), 30,
                 "the log line %r" % RECOVERED, alive=cd.alive)
    errors = [ln for ln in text.splitlines()
              if "[error]" in ln and not COLLECTD_NOISE.search(ln)]
    if errors:
        raise TestFailure("collectd logged:\n  %s" % "\n  ".join(errors))
    return cd.connect()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    require_collectd(["logfile", "unixsock"])
    tmp = make_tempdir("tss-snapint-")
    store = os.path.join(tmp, "store")
    cd = Collectd(os.path.join(tmp, "collectd"), args.plugin,
                  ["logfile", "write_tsstore", "unixsock"],
                  {"write_tsstore": "\n".join([
                      'DataDir "%s"' % store,
                      'SnapshotInterval "1s"',
                  ])})
    acked, maybe, took = {}, {}, []
    ok = False
    try:
        sock = start(cd, False)
        next_t = 0
        for r in range(ROUNDS):
            # recent, and after everything sent before: every (series,
            # time) is sent once
            t0 = max(int(time.time()) - POINTS, next_t)
            next_t = t0 + 2 * POINTS
            pts, lines = batch(r, t0, 0)
            bad = [x for x in sock.pipeline(lines) if x[0] != 0]
            if bad:
                raise TestFailure("PUTVAL failed: %r" % (bad[0],))
            sent = time.monotonic()

            def in_snapshot():
                got = stored(args.cli, store)
                return all(k in got for k in pts)
            wait_for(in_snapshot, DEADLINE_S, "round %d's points in a head "
                     "snapshot (no FLUSH was sent)" % r, interval=0.05,
                     alive=cd.alive)
            took.append(time.monotonic() - sent)
            acked.update(pts)
            # a second batch, killed at once: it may be lost
            more, lines = batch(r, t0 + POINTS, 1)
            maybe.update(more)
            sock.pipeline(lines)
            if cd.kill9() != -9:
                raise TestFailure("collectd had exited before the kill")
            sock.close()
            n, extra = check_store(args.cli, store, acked, maybe,
                                   "after the kill of round %d" % r)
            print("round %d: %d acknowledged points present, %d of %d "
                  "unacknowledged kept; batch in a snapshot after %.2f s"
                  % (r, n, extra, len(maybe), took[-1]))
            sock = start(cd, True)
        sock.close()
        cd.stop()
        check_store(args.cli, store, acked, maybe, "after the last stop")
        print("ok: %d rounds, %d points checked, snapshot delay median "
              "%.2f s, max %.2f s" % (ROUNDS, len(acked),
                                     sorted(took)[len(took) // 2], max(took)))
        ok = True
        return 0
    except TestFailure as e:
        print("FAIL: %s" % e)
        return 1
    except Exception:
        traceback.print_exc()
        return 1
    finally:
        if cd.proc is not None and cd.proc.poll() is None:
            cd.kill()
        if ok and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("files kept in %s" % tmp)
            try:
                with open(cd.log, encoding="utf-8", errors="replace") as f:
                    sys.stdout.write(f.read()[-4000:])
            except OSError:
                pass


if __name__ == "__main__":
    sys.exit(main())
