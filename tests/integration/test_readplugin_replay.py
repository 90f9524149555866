#!/usr/bin/env python3
"""Integration test: the read plugin replays a stored range into a second
collectd, exactly, at its rate, once; write_tsstore there skips it.

Collectd A (write_tsstore on store1, unixsock) stores deterministic values
of four identifiers under host itest-fed (1, 2 and 3 data sources, gauge,
derive and counter) and one under another host, 60 times 1 s apart, then
stops. Collectd B (a second daemon) loads the read plugin with a <Replay>
of the itest-fed series over [From, To] (30 of the 60 times, both ends
inclusive) at Rate 100, the stock csv plugin, and write_tsstore on another
store, store2. Checks:

  - B's csv files hold exactly the stored points of the range (as `tsstore
    dump --from --to` prints them): same times to the millisecond, same
    values, no point outside the range, none twice;
  - the replay finishes (one "finished" line, the position file says
    "done"), and three read intervals later nothing more was written;
  - it took the time Rate 100 allows for 210 points (>= 1.5 s): not one
    burst;
  - write_tsstore in B stored none of the replayed points (they carry the
    meta data it skips) while it did store B's own values.

Usage: test_readplugin_replay.py --plugin write_tsstore.so
       --read-plugin tsstore.so --cli tsstore [--keep]
Exit status: 0 pass, 1 fail, 77 skip (collectd not installed).
"""

import os
import sys
import time

from collectd_harness import TestFailure, quote, wait_for
from test_readplugin_util import (HOSTNAME, Collectd, csv_rows, dump,
                                  main, ms_of, no_errors, run_cli)

FED = "itest-fed"
N = 60
FROM_I, TO_I = 10, 39  # the replayed times, inclusive
RATE = 100


def feed_commands(base):
    """PUTVAL lines: {identifier: [(time text, value texts)]}."""
    feed = {}
    for i in range(N):
        t = "%d.250" % (base + i)
        feed.setdefault((FED, "replay", "", "gauge", "a"), []).append(
            (t, ["%.2f" % (i * 0.25 - 3)]))
        feed.setdefault((FED, "replay", "eth0", "if_octets", ""), []).append(
            (t, ["%d" % (i * 1000003), "%d" % (2 ** 62 + i)]))
        feed.setdefault((FED, "replay", "", "load", ""), []).append(
            (t, ["%.2f" % (i / 100), "%.1f" % (i / 10), "%d" % i]))
        feed.setdefault((FED, "replay", "", "counter", "c"), []).append(
            (t, ["%d" % (2 ** 64 - 1 - i)]))
        feed.setdefault(("itest-other", "replay", "", "gauge", "a"),
                        []).append((t, ["1"]))
    return feed


def identifier(ident):
    h, p, pi, t, ti = ident
    return "%s/%s%s/%s%s" % (h, p, "-" + pi if pi else "", t,
                             "-" + ti if ti else "")


def store_feed(args, tmp, instances, store, base):
    """Collectd A stores the feed in `store`, then stops."""
    a = Collectd(os.path.join(tmp, "a"), args,
                 ["logfile", "write_tsstore", "unixsock"],
                 {"write_tsstore": "DataDir %s" % quote(store)},
                 hostname=HOSTNAME, options=("WriteThreads 1",))
    instances.append(a)
    a.start()
    a.wait_log("write_tsstore plugin: version", 15)  # the store exists
    a.wait_socket(15)
    feed = feed_commands(base)
    lines = ["PUTVAL %s interval=1 %s:%s" % (quote(identifier(k)), t,
                                             ":".join(v))
             for k, pts in feed.items() for t, v in pts]
    sock = a.connect()
    try:
        bad = [(ln, r) for ln, r in zip(lines, sock.pipeline(lines))
               if r[0] != 0]
        if bad:
            raise TestFailure("PUTVAL failed: %r" % bad[:3])
        n_points = sum(len(v) for pts in feed.values() for _, v in pts)

        def stored():
            sock.command("FLUSH plugin=write_tsstore")
            return len(dump(args, store)) == n_points
        wait_for(stored, 20, "all %d fed points in store1" % n_points,
                 interval=0.2, alive=a.alive)
    finally:
        sock.close()
    if a.stop(20) != 0:
        raise TestFailure("collectd A exited with status %s" % a.returncode)
    no_errors(a, "collectd A")
    return feed


def csv_points(csv_dir, ident):
    """{ms: {ds: value text}} of one identifier in B's csv files; raises on
    a time written twice or a malformed row."""
    h, p, pi, t, ti = ident
    rows, header = csv_rows(csv_dir, h, p + ("-" + pi if pi else ""),
                            t + ("-" + ti if ti else ""))
    out = {}
    for r in rows:
        if header is None or len(r) != len(header):
            raise TestFailure("%s: csv row %r under header %r"
                              % (identifier(ident), r, header))
        ms = ms_of(r[0])
        if ms in out:
            raise TestFailure("%s: time %s written twice to csv"
                              % (identifier(ident), r[0]))
        out[ms] = dict(zip(header[1:], r[1:]))
    return out


def same_value(kind, csv_text, dump_text):
    """csv prints gauges with %f (our gauges have <= 2 decimals: exact
    after parsing), integers exactly."""
    if kind == "gauge":
        return float(csv_text) == float(dump_text)
    return int(csv_text) == int(dump_text)


def run(args, tmp, instances):
    store1 = os.path.join(tmp, "store1")
    store2 = os.path.join(tmp, "store2")
    csv_dir = os.path.join(tmp, "csv", "data")
    base = int(time.time()) - 600
    feed = store_feed(args, tmp, instances, store1, base)

    # what the replay must reproduce: the stored points of the range
    frm, to = "%d" % (base + FROM_I), "%d.500" % (base + TO_I)
    want = {}
    for o in dump(args, store1, "--series", FED + "/*", "--from", frm,
                  "--to", to):
        key = (o["host"], o["plugin"], o["plugin_instance"], o["type"],
               o["type_instance"])
        want.setdefault(key, {}).setdefault(ms_of(o["time"]), []).append(
            (o["ds"], o["kind"], o["value"]))
    fed_keys = sorted(k for k in feed if k[0] == FED)
    if sorted(want) != fed_keys or any(
            sorted(want[k]) != [(base + i) * 1000 + 250
                                for i in range(FROM_I, TO_I + 1)]
            for k in want):
        raise TestFailure("store1 does not hold the fed range: %r"
                          % {k: sorted(v)[:3] for k, v in want.items()})
    n_lists = sum(len(v) for v in want.values())
    n_points = sum(len(x) for v in want.values() for x in v.values())

    b = Collectd(os.path.join(tmp, "b"), args,
                 ["logfile", "csv", "write_tsstore", "tsstore"],
                 {"csv": "DataDir %s\nStoreRates false" % quote(csv_dir),
                  "write_tsstore": "DataDir %s" % quote(store2),
                  "tsstore": "\n".join([
                      '<Store "main">',
                      "  DataDir %s" % quote(store1),
                      '  <Replay "backfill">',
                      "    Series %s" % quote(FED + "/*"),
                      "    From %s" % quote(frm),
                      "    To %s" % quote(to),
                      "    Rate %d" % RATE,
                      "  </Replay>",
                      "</Store>"])},
                 hostname=HOSTNAME, options=("WriteThreads 1",))
    instances.append(b)
    b.start()
    b.wait_log('replay "backfill" of store "main" running', 15)
    t_running = time.monotonic()
    b.wait_log('replay "backfill" of store "main" finished: %d values '
               'dispatched' % n_lists, 30)
    took = time.monotonic() - t_running
    # Rate 100 with at most 1 s of credit: 210 points need >= 2 s
    if took < (n_points - RATE * 0.1) / RATE - 0.5:
        raise TestFailure("the replay of %d points at Rate %d took %.2f s"
                          % (n_points, RATE, took))

    # it stops: three more read intervals (health rows in csv), no more
    def health_rows():
        return len(csv_rows(csv_dir, HOSTNAME, "tsstore-main",
                            "count-points")[0])
    after = health_rows() + 3
    wait_for(lambda: health_rows() >= after, 15, "3 more read intervals "
             "of collectd B", interval=0.1, alive=b.alive)

    problems = []
    for key in fed_keys:
        got = csv_points(csv_dir, key)
        if sorted(got) != sorted(want[key]):
            problems.append("%s: csv times %s, want %s" % (
                identifier(key), [t - base * 1000 for t in sorted(got)],
                [t - base * 1000 for t in sorted(want[key])]))
            continue
        for ms, vals in want[key].items():
            if sorted(got[ms]) != sorted(ds for ds, _, _ in vals):
                problems.append("%s at %d: csv data sources %s, stored %s"
                                % (identifier(key), ms, sorted(got[ms]),
                                   [ds for ds, _, _ in vals]))
                continue
            for ds, kind, text in vals:
                if not same_value(kind, got[ms][ds], text):
                    problems.append("%s %s at %d: csv %s, stored %s" % (
                        identifier(key), ds, ms, got[ms][ds], text))
    other = csv_rows(csv_dir, "itest-other", "replay", "gauge-a")[0]
    if other:
        problems.append("a series outside Series was replayed: %r"
                        % other[:3])
    if problems:
        raise TestFailure("the replay into csv differs from the store:\n  "
                          + "\n  ".join(problems[:20]))
    finished = [ln for ln in b.log_text().splitlines()
                if 'replay "backfill" of store "main" finished' in ln]
    if len(finished) != 1:
        raise TestFailure("%d \"finished\" lines" % len(finished))
    with open(os.path.join(store1, "replay", "main-backfill")) as f:
        pos = f.read()
    if "state done\n" not in pos or "dispatched %d\n" % n_lists not in pos:
        raise TestFailure("position file after the replay: %r" % pos)

    if b.stop(20) != 0:
        raise TestFailure("collectd B exited with status %s" % b.returncode)
    no_errors(b, "collectd B")
    # write_tsstore in B: its own values, none of the replayed ones
    listed = run_cli(args, "ls", "--format", "csv", store2).splitlines()[1:]
    if any(ln.startswith(FED + ",") for ln in listed):
        raise TestFailure("write_tsstore stored replayed values:\n  %s" % (
            "\n  ".join(ln for ln in listed if ln.startswith(FED + ","))))
    if not any(ln.startswith(HOSTNAME + ",tsstore,main,") for ln in listed):
        raise TestFailure("write_tsstore in B stored nothing of its own "
                          "(the check above proves nothing): %r" % listed)


if __name__ == "__main__":
    sys.exit(main(__doc__, run, "tss-rpreplay-"))
