#!/usr/bin/env python3
"""Integration test: a series that stops reporting raises exactly one
missing-data notification, and exactly one okay when it comes back.

One collectd runs write_tsstore (BucketWidth 1s, SnapshotInterval 1s), the
read plugin with Missing 4, the stock logfile plugin (which logs
notifications), csv (whose health rows count the read plugin's
intervals) and unixsock. A feeder thread PUTVALs two series once a second,
at whole seconds, values counting up: x and y. After x has reported for a
while the feeder leaves it out; the log must get one WARNING notification
for x, and still only one after four more read intervals. Then x reports
again: one OKAY notification, still one four intervals later. y, fed
throughout, raises none; nothing else raises any.

Usage: test_readplugin_missing.py --plugin write_tsstore.so
       --read-plugin tsstore.so --cli tsstore [--keep]
Exit status: 0 pass, 1 fail, 77 skip (collectd not installed).
"""

import os
import sys
import threading
import time

from collectd_harness import TestFailure, quote, wait_for
from test_readplugin_util import (HOSTNAME, Collectd, csv_rows, dump, main,
                                  no_errors)

FED = "itest-fed"
MISSING = 4
WARN_X = ("series itest-fed/miss/gauge-x (data source value) has had no "
          "value since")
OKAY_X = "series itest-fed/miss/gauge-x (data source value) reports again"


class Feeder(threading.Thread):
    """PUTVALs x (while self.x_on) and y at each whole second."""

    def __init__(self, cd):
        super().__init__(daemon=True)
        self.cd = cd
        self.x_on = threading.Event()
        self.x_on.set()
        self.halt = threading.Event()
        self.error = None
        self.n = 0

    def run(self):
        try:
            sock = self.cd.connect()
            try:
                t = int(time.time()) + 1
                while not self.halt.is_set():
                    # pacing of the data (one point per second), not a
                    # wait for anything
                    if self.halt.wait(max(0.0, t - time.time())):
                        break
                    names = ["y"] + (["x"] if self.x_on.is_set() else [])
                    for name in names:
                        st, msg, _ = sock.command(
                            "PUTVAL %s interval=1 %d:%d"
                            % (quote("%s/miss/gauge-%s" % (FED, name)), t,
                               self.n))
                        if st != 0:
                            raise TestFailure("PUTVAL: %d %s" % (st, msg))
                    self.n += 1
                    t = max(t + 1, int(time.time()))
            finally:
                sock.close()
        except Exception as e:  # reported by the main thread
            self.error = e

    def check(self):
        if self.error:
            raise TestFailure("feeder: %s" % self.error)
        if not self.is_alive():
            raise TestFailure("feeder stopped")


def notifications(cd):
    """The log's notification lines of the read plugin's series."""
    return [ln for ln in cd.log_text().splitlines()
            if "Notification:" in ln and FED in ln]


def run(args, tmp, instances):
    store = os.path.join(tmp, "store")
    csv_dir = os.path.join(tmp, "csv", "data")
    cd = Collectd(os.path.join(tmp, "c"), args,
                  ["logfile", "unixsock", "write_tsstore", "csv", "tsstore"],
                  {"write_tsstore": "\n".join([
                      "DataDir %s" % quote(store),
                      'BucketWidth "1s"',
                      'SnapshotInterval "1s"']),
                   "csv": "DataDir %s\nStoreRates false" % quote(csv_dir),
                   "tsstore": "\n".join([
                       '<Store "main">',
                       "  DataDir %s" % quote(store),
                       "  Missing %d" % MISSING,
                       "</Store>"])},
                  hostname=HOSTNAME, options=("WriteThreads 1",))
    instances.append(cd)
    cd.start()
    cd.wait_log("write_tsstore plugin: version", 15)  # the store exists
    cd.wait_socket(15)
    feeder = Feeder(cd)
    feeder.start()

    def alive():
        cd.alive()
        feeder.check()

    def intervals():
        return len(csv_rows(csv_dir, HOSTNAME, "tsstore-main",
                            "count-series")[0])

    def wait_intervals(n, what):
        want = intervals() + n
        wait_for(lambda: intervals() >= want, 15, "%d read intervals %s"
                 % (n, what), interval=0.1, alive=alive)

    def counts():
        lines = notifications(cd)
        return (sum(WARN_X in ln and "severity = WARNING" in ln
                    for ln in lines),
                sum(OKAY_X in ln and "severity = OKAY" in ln
                    for ln in lines),
                len(lines))

    try:
        # x reports long enough for the plugin to have seen it reporting
        def x_points():
            return sum(o["type_instance"] == "x"
                       for o in dump(args, store, "--series", FED + "/*"))
        wait_for(lambda: x_points() >= 5, 20, "5 points of x in the store",
                 interval=0.2, alive=alive)
        if notifications(cd):
            raise TestFailure("notifications while both series report: %s"
                              % notifications(cd))
        feeder.x_on.clear()
        cd.wait_log(WARN_X, 20)
        wait_intervals(MISSING, "after the missing notification")
        if counts() != (1, 0, 1):
            raise TestFailure("while x is silent, notifications are %s, "
                              "want one WARNING for x:\n  %s"
                              % (counts(), "\n  ".join(notifications(cd))))
        feeder.x_on.set()
        cd.wait_log(OKAY_X, 20)
        wait_intervals(MISSING, "after the okay notification")
        if counts() != (1, 1, 2):
            raise TestFailure("after x came back, notifications are %s, "
                              "want one WARNING and one OKAY for x:\n  %s"
                              % (counts(), "\n  ".join(notifications(cd))))
    finally:
        feeder.halt.set()
        feeder.join(10)
    if cd.stop(20) != 0:
        raise TestFailure("collectd exited with status %s" % cd.returncode)
    no_errors(cd, "collectd")
    warn = [ln for ln in notifications(cd) if WARN_X in ln][0]
    for field in ("host = itest-fed", "plugin = miss", "type = gauge",
                  "type_instance = x"):
        if field not in warn:
            raise TestFailure("the notification lacks %r: %s" % (field, warn))


if __name__ == "__main__":
    sys.exit(main(__doc__, run, "tss-rpmissing-"))
