#!/usr/bin/env python3
"""Integration test: `tsstore coverage --gaps` finds exactly the holes fed.

Runs the real collectd 5.12 with write_tsstore (SegmentSpan 120 s, Grace
1 s, BucketWidth left at its default of 10 s) and unixsock, and feeds
series through PUTVAL with timestamps on multiples of 10 s over the last
four windows and the current one. Windows that have ended are sealed into
segments (with coverage sidecars) by the maintenance thread; the current
window stays in the head and its snapshot. The feed of some series stops
for exactly 60 s (six timestamps left out):

  cov-inside   a hole inside one sealed window
  cov-across   a hole across the boundary of two sealed windows
  cov-edge     a hole from the last sealed window into the head's window
               (the test starts 20 to 112 s into a window, waiting for
               the clock if need be)
  cov-head     a hole inside the head's window (only when the current
               window is far enough along; said so when skipped)
  cov-if       if_octets (rx and tx): a hole inside another sealed window
  cov-steady   every 10 s, no hole
  cov-minute   every 60 s (interval=60), no hole: no gap either

With t1 the last timestamp before a hole and t2 the first after it, the gap
is [t1 + 10 s, t2): buckets are 10 s wide and a point covers its own
bucket. After a FLUSH, `tsstore coverage DIR --gaps --format csv` must list
exactly these gaps and nothing else, with each series' coverage percent;
the text and jsonl formats (with and without --gaps) must agree with the
csv; the full listing's runs must tile each series' range. The same holds
after collectd stops (the head in its snapshot), and `tsstore verify` finds
no problem.

Usage: test_coverage_gap.py --plugin write_tsstore.so --cli tsstore [--keep]
Exit status: 0 pass, 1 fail (temp dir kept, path printed), 77 skip.
"""

import argparse
import calendar
import json
import os
import re
import subprocess
import sys
import time

from collectd_harness import (Collectd, TestFailure, require_collectd,
                              run_test, wait_for)

SPAN = 120  # SegmentSpan, s
BUCKET = 10  # the default BucketWidth, s
WINDOWS_BACK = 4  # whole windows fed before the current one
MIN_PHASE = 20  # s into the current window, so cov-edge ends in it
MAX_PHASE = SPAN - 8  # and the window must not end while the test runs
HOLE = 60  # s
HOST = "gaps"
BARRIER = "gaps-barrier/barrier/gauge"
CLI_TIMEOUT = 60
ID_FIELDS = ("host", "plugin", "plugin_instance", "type", "type_instance",
             "ds", "kind")


def run_cli(cli, *args):
    p = subprocess.run([cli] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=CLI_TIMEOUT)
    if p.returncode != 0:
        raise TestFailure("tsstore %s exited %d: %s%s" % (
            " ".join(args), p.returncode,
            p.stdout.decode("utf-8", "replace")[-2000:],
            p.stderr.decode("utf-8", "replace")))
    return p.stdout.decode("utf-8")


def sec_of(text):
    """Whole seconds of an epoch time printed with 3 decimals."""
    m = re.fullmatch(r"(\d+)\.000", text)
    if not m:
        raise TestFailure("not a whole epoch second: %r" % text)
    return int(m.group(1))


def rfc3339_sec(text):
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.0+)?Z",
                     text)
    if not m:
        raise TestFailure("not an RFC 3339 UTC time to the second: %r"
                          % text)
    return calendar.timegm(tuple(int(x) for x in m.groups()) + (0, 0, 0))


def duration_sec(text):
    m = re.fullmatch(r"(\d+) (s|min|h)", text)
    if not m:
        raise TestFailure("not a duration: %r" % text)
    return int(m.group(1)) * {"s": 1, "min": 60, "h": 3600}[m.group(2)]


class Series:
    """One fed series: identifier, interval, data sources, timestamps."""

    def __init__(self, name, typ, interval, times, dss=("value",),
                 kind="gauge"):
        self.name = name
        self.typ = typ
        self.interval = interval
        self.times = sorted(times)
        self.dss = dss
        self.kind = kind

    @property
    def ident(self):
        return "%s/cov-%s/%s" % (HOST, self.name, self.typ)

    def keys(self):
        return [(HOST, "cov", self.name, self.typ, "", ds, self.kind)
                for ds in self.dss]

    def expected(self):
        """(gaps [(from, to)], percent text) by the documented rule."""
        tol = -(-self.interval // BUCKET)  # buckets, rounded up
        gaps = []
        for t1, t2 in zip(self.times, self.times[1:]):
            empty = (t2 - t1) // BUCKET - 1
            if empty > tol:
                gaps.append((t1 + BUCKET, t2))
        lo = self.times[0] // BUCKET * BUCKET
        hi = self.times[-1] // BUCKET * BUCKET + BUCKET
        gap_time = sum(b - a for a, b in gaps)
        return gaps, "%.2f" % (100.0 * (hi - lo - gap_time) / (hi - lo)), \
            (lo, hi)


def build(now):
    """The series to feed, given the wall clock (s)."""
    cur = int(now) // SPAN * SPAN  # the current (head) window
    last = int(now) // BUCKET * BUCKET - BUCKET  # last fed time, <= now
    first = cur - WINDOWS_BACK * SPAN
    grid = list(range(first, last + 1, BUCKET))

    def without(start):
        gone = set(range(start, start + HOLE, BUCKET))
        return [t for t in grid if t not in gone]
    series = [
        # window cur-3: hole from +30 s to +90 s
        Series("inside", "gauge", 10, without(cur - 3 * SPAN + 30)),
        # across the boundary of windows cur-2 and cur-1
        Series("across", "gauge", 10, without(cur - SPAN - 30)),
        # from the end of window cur-1 (sealed) to cur + 10 (head)
        Series("edge", "gauge", 10, without(cur - 50)),
        Series("if", "if_octets", 10, without(cur - 4 * SPAN + 50),
               dss=("rx", "tx"), kind="derive"),
        Series("steady", "gauge", 10, grid),
        Series("minute", "gauge", 60, [t for t in grid if t % 60 == 0]),
    ]
    if cur + 10 + HOLE + BUCKET <= last:  # far enough into the window
        series.append(Series("head", "gauge", 10, without(cur + 10)))
    return series, cur, first, last


def putvals(series):
    """PUTVAL lines in time order, all series interleaved."""
    by_time = {}
    for s in series:
        for t in s.times:
            vals = ":".join(str((t // BUCKET + k) % 1000)
                            for k in range(len(s.dss)))
            by_time.setdefault(t, []).append(
                "PUTVAL %s interval=%d %d:%s" % (s.ident, s.interval, t,
                                                  vals))
    return [ln for t in sorted(by_time) for ln in by_time[t]]


# ---- reading the three formats ----------------------------------------------

def parse_csv(text, header):
    lines = text.splitlines()
    if not lines or lines[0] != header:
        raise TestFailure("coverage csv header is %r, want %r"
                          % (lines[:1], header))
    runs = {}
    for ln in lines[1:]:
        f = ln.split(",")
        if len(f) != 12:
            raise TestFailure("coverage csv line %r" % ln)
        key = tuple(f[:7])
        state, a, b, secs, pct = f[7:]
        if state not in ("covered", "gap"):
            raise TestFailure("coverage csv state %r" % state)
        a, b = sec_of(a), sec_of(b)
        if sec_of(secs) != b - a:
            raise TestFailure("coverage csv line %r: seconds is not to - "
                              "from" % ln)
        runs.setdefault(key, []).append((state, a, b, pct))
    return runs


def parse_jsonl(text):
    runs = {}
    for ln in text.splitlines():
        o = json.loads(ln, parse_float=str, parse_int=str)
        key = tuple("" if o[k] is None else o[k] for k in ID_FIELDS)
        a, b = sec_of(o["from"]), sec_of(o["to"])
        if sec_of(o["seconds"]) != b - a:
            raise TestFailure("coverage jsonl %r: seconds is not to - from"
                              % ln)
        runs.setdefault(key, []).append((o["state"], a, b,
                                         o["coverage_percent"]))
    return runs


SERIES_LINE = re.compile(r"(\S+) +(\S+) +(\S+) +(\?|\d+ (?:s|min|h)) +"
                         r"(\d+\.\d\d)% +(\d+)")
RUN_LINE = re.compile(r" {4}(covered|gap) +(\S+)  (\S+)  (.+)")


def parse_text(text):
    """{(identifier, ds, kind): (interval s, percent, gaps, [runs])}"""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("SERIES"):
        raise TestFailure("coverage text has no header: %r" % lines[:1])
    out = {}
    cur = None
    for ln in lines[1:]:
        m = RUN_LINE.fullmatch(ln)
        if m:
            if cur is None:
                raise TestFailure("coverage text: a run before a series: %r"
                                  % ln)
            a, b = rfc3339_sec(m.group(2)), rfc3339_sec(m.group(3))
            if duration_sec(m.group(4)) != b - a:
                raise TestFailure("coverage text: duration of %r" % ln)
            out[cur][3].append((m.group(1), a, b))
            continue
        m = SERIES_LINE.fullmatch(ln)
        if not m:
            raise TestFailure("coverage text: unparsable line %r" % ln)
        cur = (m.group(1), m.group(2), m.group(3))
        iv = None if m.group(4) == "?" else duration_sec(m.group(4))
        out[cur] = (iv, m.group(5), int(m.group(6)), [])
    return out


def text_key(key):
    host, plugin, pi, typ, ti, ds, kind = key
    return ("%s/%s%s/%s%s" % (host, plugin, "-" + pi if pi else "", typ,
                              "-" + ti if ti else ""), ds, kind)


# ---- the checks -------------------------------------------------------------

def check_coverage(cli, store, series, label):
    """Compares the three formats with the expected gaps; returns the
    number of gaps found."""
    header = ("host,plugin,plugin_instance,type,type_instance,ds,kind,"
              "state,from,to,seconds,coverage_percent")
    want = {}
    for s in series:
        gaps, pct, rng = s.expected()
        for k in s.keys():
            want[k] = (gaps, pct, rng, s.interval)
    problems = []

    gaps_csv = parse_csv(run_cli(cli, "coverage", store, "--gaps",
                                 "--format", "csv"), header)
    full_csv = parse_csv(run_cli(cli, "coverage", store, "--format", "csv"),
                         header)
    gaps_jsonl = parse_jsonl(run_cli(cli, "coverage", store, "--gaps",
                                     "--format", "jsonl"))
    full_jsonl = parse_jsonl(run_cli(cli, "coverage", store, "--format",
                                     "jsonl"))
    gaps_text = parse_text(run_cli(cli, "coverage", store, "--gaps"))
    full_text = parse_text(run_cli(cli, "coverage", store))

    # --gaps csv: exactly the holes made, nothing else
    got = {k: [(a, b) for st, a, b, _ in v] for k, v in gaps_csv.items()}
    for k, v in gaps_csv.items():
        if any(st != "gap" for st, _, _, _ in v):
            problems.append("--gaps lists a covered run for %s" % (k,))
    for k, (gaps, pct, _, _) in want.items():
        if got.get(k, []) != gaps:
            problems.append("%s: gaps %s, want %s" % (
                text_key(k)[0] + " " + k[5], got.get(k, []), gaps))
        for _, _, _, p in gaps_csv.get(k, []):
            if p != pct:
                problems.append("%s %s: coverage %s%%, want %s%%"
                                % (text_key(k)[0], k[5], p, pct))
    for k in set(got) - set(want):
        problems.append("gaps reported for a series never fed: %s" % (k,))

    # the full listing: runs alternate and tile the series' range
    for k, (gaps, pct, (lo, hi), _) in want.items():
        runs = full_csv.get(k)
        if not runs:
            problems.append("no coverage listed for %s" % (k,))
            continue
        if runs[0][1] != lo or runs[-1][2] != hi:
            problems.append("%s: runs span [%d, %d), points [%d, %d)"
                            % (k, runs[0][1], runs[-1][2], lo, hi))
        for (s1, a1, b1, _), (s2, a2, b2, _) in zip(runs, runs[1:]):
            if b1 != a2 or s1 == s2:
                problems.append("%s: runs %s and %s do not alternate "
                                "back to back" % (k, (s1, a1, b1),
                                                  (s2, a2, b2)))
        if [(a, b) for st, a, b, _ in runs if st == "gap"] != gaps:
            problems.append("%s: the full listing's gaps differ from "
                            "--gaps" % (k,))
        if any(p != pct for _, _, _, p in runs):
            problems.append("%s: percent differs between runs" % (k,))
    for k in set(full_csv) - set(want):
        if k[0] != "gaps-barrier":
            problems.append("coverage lists a series never fed: %s" % (k,))

    # jsonl and text agree with csv
    if gaps_jsonl != gaps_csv:
        problems.append("--gaps jsonl differs from csv: %r vs %r"
                        % (gaps_jsonl, gaps_csv))
    if full_jsonl != full_csv:
        problems.append("jsonl differs from csv")
    for text, csvruns, what in ((gaps_text, gaps_csv, "--gaps text"),
                                (full_text, full_csv, "text")):
        as_text = {}
        for k, v in csvruns.items():
            as_text[text_key(k)] = [(st, a, b) for st, a, b, _ in v]
        got_runs = {k: v[3] for k, v in text.items()}
        if got_runs != as_text:
            problems.append("%s runs differ from csv: %r vs %r"
                            % (what, got_runs, as_text))
        for k, v in csvruns.items():
            tk = text_key(k)
            if tk in text and text[tk][1] != v[0][3]:
                problems.append("%s: %s says %s%%, csv %s%%"
                                % (what, tk, text[tk][1], v[0][3]))
    for k, (gaps, pct, _, iv) in want.items():
        t = full_text.get(text_key(k))
        if t is None:
            continue
        if t[2] != len(gaps):
            problems.append("text: %s GAPS %d, want %d" % (text_key(k),
                                                           t[2], len(gaps)))
        if t[0] != iv:
            problems.append("text: %s INTERVAL %r s, want %d s"
                            % (text_key(k), t[0], iv))
        if (gaps == []) != (text_key(k) not in gaps_text):
            problems.append("--gaps text %s %s" % (
                "lists gap-free" if not gaps else "leaves out", text_key(k)))
    if problems:
        raise TestFailure("%s:\n  %s" % (label, "\n  ".join(problems)))
    return sum(len(v) for v in got.values()), gaps_csv


def segment_windows(store):
    """{window start s: number of segments}"""
    out = {}
    for n in os.listdir(os.path.join(store, "segments")):
        m = re.fullmatch(r"(-?\d+)_(-?\d+)_\d+_[0-9a-f-]{36}\.seg", n)
        if m:
            w = int(m.group(1)) // 1000
            out[w] = out.get(w, 0) + 1
    return out


def run(args, tmp, report):
    store = os.path.join(tmp, "store")
    cd = Collectd(os.path.join(tmp, "collectd"), args.plugin,
                  ["logfile", "write_tsstore", "unixsock"],
                  {"write_tsstore": "\n".join([
                      'DataDir "%s"' % store,
                      'SegmentSpan "%ds"' % SPAN,
                      'Grace "1s"'])},
                  hostname="gaps-itest", options=["WriteThreads 1"])
    report["cd"] = cd
    sock = None
    try:
        cd.start()
        cd.wait_log("write_tsstore plugin: version", 15)
        cd.wait_socket(15)
        sock = cd.connect()
        # the hole of cov-edge ends 10 s into the current window, which
        # must not end before the checks: feed between MIN_PHASE and
        # MAX_PHASE into it (this waits for the clock, not for collectd)
        now = time.time()
        phase = now % SPAN
        if not MIN_PHASE <= phase < MAX_PHASE:
            wait = (MIN_PHASE - phase) % SPAN + 0.01
            print("waiting %.1f s for the clock to be %d s into a %d s "
                  "window" % (wait, MIN_PHASE, SPAN))
            time.sleep(wait)
            now = time.time()
        series, cur, first, last = build(now)
        names = [s.name for s in series]
        print("fed %s from %d to %d; head window [%d, %d)%s" % (
            ", ".join(names), first, last, cur, cur + SPAN,
            "" if "head" in names else
            "; cov-head skipped: only %d s into the window" % (now - cur)))
        lines = putvals(series)
        for k in range(0, len(lines), 200):
            bad = [(ln, r) for ln, r in zip(lines[k:k + 200],
                                            sock.pipeline(lines[k:k + 200]))
                   if r[0] != 0]
            if bad:
                raise TestFailure("PUTVAL failed: %r -> %r" % bad[0])
        sock.barrier(BARRIER, 1, "%.3f" % time.time())

        # the maintenance thread seals the ended windows on its own
        want = set(range(first, cur, SPAN))
        wait_for(lambda: want <= set(segment_windows(store)), 20,
                 "segments of windows %s" % sorted(want), interval=0.05,
                 alive=cd.alive)
        st, msg, _ = sock.command("FLUSH")
        if st != 0 or not re.search(r"\b0 errors", msg):
            raise TestFailure("FLUSH replied %d %s" % (st, msg))
        wins = segment_windows(store)
        in_head = cur not in wins
        if not in_head and time.time() < cur + SPAN:
            raise TestFailure("window %d was sealed before it ended" % cur)
        print("segments per window: %s; window %d %s" % (
            ", ".join("%d: %d" % kv for kv in sorted(wins.items())), cur,
            "in the head" if in_head else
            "sealed meanwhile (the clock passed its end)"))

        n, gaps = check_coverage(args.cli, store, series,
                                 "while collectd runs")
        for k, v in sorted(gaps.items()):
            print("  gap %s/%s: %s" % (k[2], k[5], ", ".join(
                "[%d, %d) %s%%" % (a, b, p) for _, a, b, p in v)))
        sock.close()
        sock = None
        rc = cd.stop(30)
        if rc != 0:
            raise TestFailure("collectd exited with status %s" % rc)
    finally:
        if sock is not None:
            sock.close()
        cd.kill()
    errors = cd.error_lines()
    if errors:
        raise TestFailure("ERROR lines in the collectd log:\n  %s"
                          % "\n  ".join(errors))
    n2, _ = check_coverage(args.cli, store, series, "after collectd stopped")
    out = run_cli(args.cli, "verify", store)
    if "PROBLEM" in out or not re.search(r"\b0 problem\(s\)", out):
        raise TestFailure("tsstore verify: %s" % out)
    report.update(series=len(series), gaps=n, verify=out.strip())


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
    for p in (args.plugin, args.cli):
        if not os.path.exists(p):
            print("FAIL: %s does not exist (build first)" % p)
            return 1
    return run_test(run, args, "tss-gaps-",
                    lambda r: "%d series, %d gaps found as fed; verify: %s"
                    % (r["series"], r["gaps"], r["verify"]))


if __name__ == "__main__":
    sys.exit(main())
