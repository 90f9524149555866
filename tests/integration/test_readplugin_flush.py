#!/usr/bin/env python3
"""Integration test: a Trigger "flush" replay waits for a flush, resumes
after a restart where it stopped, and a later flush replays again.

Collectd A stores the same feed as test_readplugin_replay.py. Collectd B
runs the read plugin with a Trigger "flush" <Replay> (Target "csv", Rate
40: about five seconds for the range) and csv:

  - before any flush, nothing is replayed (three read intervals);
  - `FLUSH plugin=tsstore` starts it; B is stopped (SIGTERM) part way;
  - started again, with no flush, it resumes from its recorded position
    and finishes: the csv files then hold every point of the range exactly
    once (Target "csv" writes synchronously, so a stop loses nothing);
  - one more flush replays the whole range again: each point exactly
    twice.

Usage: test_readplugin_flush.py --plugin write_tsstore.so
       --read-plugin tsstore.so --cli tsstore [--keep]
Exit status: 0 pass, 1 fail, 77 skip (collectd not installed).
"""

import os
import sys
import time

from collectd_harness import TestFailure, quote, wait_for
from test_readplugin_replay import FED, FROM_I, TO_I, identifier, store_feed
from test_readplugin_util import HOSTNAME, Collectd, csv_rows, main, no_errors

RATE = 40
STARTED = 'replay "backfill" of store "main" started by a flush'
RESUMED = 'replay "backfill" of store "main" resumes where it stopped'
FINISHED = 'replay "backfill" of store "main" finished'


def times_written(csv_dir, keys):
    """{identifier: [ms of each csv row]}, rows in file order."""
    out = {}
    for h, p, pi, t, ti in keys:
        rows, _ = csv_rows(csv_dir, h, p + ("-" + pi if pi else ""),
                           t + ("-" + ti if ti else ""))
        out[(h, p, pi, t, ti)] = [round(float(r[0]) * 1000) for r in rows]
    return out


def run(args, tmp, instances):
    store1 = os.path.join(tmp, "store1")
    csv_dir = os.path.join(tmp, "csv", "data")
    base = int(time.time()) - 600
    feed = store_feed(args, tmp, instances, store1, base)
    keys = sorted(k for k in feed if k[0] == FED)
    want = [(base + i) * 1000 + 250 for i in range(FROM_I, TO_I + 1)]

    def collectd_b(name):
        b = Collectd(os.path.join(tmp, name), args,
                     ["logfile", "unixsock", "csv", "tsstore"],
                     {"csv": "DataDir %s\nStoreRates false" % quote(csv_dir),
                      "tsstore": "\n".join([
                          '<Store "main">',
                          "  DataDir %s" % quote(store1),
                          '  <Replay "backfill">',
                          "    Series %s" % quote(FED + "/*"),
                          '    From "%d"' % (base + FROM_I),
                          '    To "%d.500"' % (base + TO_I),
                          "    Rate %d" % RATE,
                          '    Target "csv"',
                          '    Trigger "flush"',
                          "  </Replay>",
                          "</Store>"])},
                     hostname=HOSTNAME)
        instances.append(b)
        b.start()
        b.wait_socket(15)
        return b

    def intervals():
        return len(csv_rows(csv_dir, HOSTNAME, "tsstore-main",
                            "count-series")[0])

    def written():
        return sum(len(v) for v in times_written(csv_dir, keys).values())

    def flush(cd):
        sock = cd.connect()
        try:
            st, msg, _ = sock.command("FLUSH plugin=tsstore")
        finally:
            sock.close()
        if st != 0:
            raise TestFailure("FLUSH plugin=tsstore: %d %s" % (st, msg))

    b1 = collectd_b("b1")
    wait_for(lambda: intervals() >= 3, 15, "3 read intervals of B",
             interval=0.1, alive=b1.alive)
    if written():
        raise TestFailure("a Trigger \"flush\" replay ran without a flush")
    flush(b1)
    b1.wait_log(STARTED, 10)
    wait_for(lambda: written() >= 40, 15, "40 replayed values in csv",
             interval=0.05, alive=b1.alive)
    if b1.stop(20) != 0:
        raise TestFailure("collectd B exited with status %s" % b1.returncode)
    stopped_at = written()
    if FINISHED in b1.log_text():
        raise TestFailure("the replay finished before the stop (%d values): "
                          "the test proves nothing" % stopped_at)
    no_errors(b1, "collectd B (first run)")

    b2 = collectd_b("b2")
    b2.wait_log(RESUMED, 15)
    b2.wait_log(FINISHED, 30)
    got = times_written(csv_dir, keys)
    bad = {identifier(k): v for k, v in got.items() if v != want}
    if bad:
        raise TestFailure("after the resumed replay (stopped after %d "
                          "values) the csv times are not the range once: %r"
                          % (stopped_at, bad))
    flush(b2)
    b2.wait_log(STARTED, 10)

    def twice():
        return b2.log_text().count(FINISHED) >= 2
    wait_for(twice, 30, "the second replay to finish", interval=0.1,
             alive=b2.alive)
    got = times_written(csv_dir, keys)
    bad = {identifier(k): v for k, v in got.items() if v != want + want}
    if bad:
        raise TestFailure("after a second flush the csv times are not the "
                          "range twice: %r" % bad)
    if b2.stop(20) != 0:
        raise TestFailure("collectd B exited with status %s" % b2.returncode)
    no_errors(b2, "collectd B (second run)")


if __name__ == "__main__":
    sys.exit(main(__doc__, run, "tss-rpflush-"))
