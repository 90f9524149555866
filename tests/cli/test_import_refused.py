#!/usr/bin/env python3
"""tsstore import --csv: files that must be refused whole, not misimported.

StoreRates: collectd's csv plugin with `StoreRates true` writes DERIVE,
COUNTER and ABSOLUTE columns as rates ("%lf": "nan" first, then
"1234.500000"), and its files do not say so. Such a file must be refused
with a message naming it and --rates-as-gauge, nothing of it stored, and
counted in the summary; with --rates-as-gauge its rate columns are stored
as gauge series while a file of raw counters next to it stays derive. A
fractional value in a file whose earlier lines hold counters is a bad line.

Header: values are mapped to types.db's data sources by position, so a
file whose header "epoch,<ds>..." names other data sources (other names,
order or count) is refused with the header, types.db's names and what
differs; a matching header and a file without one are imported.

Names: a file is taken only under <host>/<plugin>[-<inst>]/ with a name
<type>[-<inst>]-YYYY-MM-DD; an empty plugin or type name ("-inst") or a
name not ending in a date is reported as not a csv plugin file and
skipped, its neighbours imported.
"""

import argparse
import csv
import io
import os
import sys
import tempfile

from clitest import fail, run

TYPES_DB = """\
if_octets  rx:DERIVE:0:U, tx:DERIVE:0:U
if_packets rx:COUNTER:0:U, tx:COUNTER:0:U
load       shortterm:GAUGE:0:5000, midterm:GAUGE:0:5000, longterm:GAUGE:0:5000
"""

RATES = "h1/interface-eth0/if_octets-2023-11-15"
RAW = "h1/interface-eth0/if_octets-2023-11-14"
RATES_COUNTER = "h1/interface-eth1/if_packets-2023-11-15"
GAUGES = "h1/load/load-2023-11-15"

FILES = {
    RATES: ["epoch,rx,tx",
            "1700006400.000,nan,nan",
            "1700006410.000,1234.500000,10.000000"],
    RAW: ["epoch,rx,tx",
          "1700000000.000,5,6",
          "1700000010.000,7,8.5"],       # line 3: a rate among counters
    RATES_COUNTER: ["epoch,rx,tx",
                    "1700006400.000,3,4.250000"],
    GAUGES: ["epoch,shortterm,midterm,longterm",
             "1700006400.000,0.500000,0.250000,0.125000"],
}


HEADERS = {
    "h2/interface-eth0/if_octets-2023-11-15": (
        ["epoch,tx,rx", "1700006400.000,1,2"],
        'header "epoch,tx,rx" does not match type "if_octets" (rx,tx) in '
        '%s: data source 1 is "tx", not "rx"; file skipped'),
    "h2/interface-eth1/if_octets-2023-11-15": (
        ["epoch,rx,tx,drops", "1700006400.000,1,2,3"],
        'header "epoch,rx,tx,drops" does not match type "if_octets" (rx,tx) '
        'in %s: it names 3 data source(s), not 2; file skipped'),
    "h2/load/load-2023-11-15": (
        ["epoch,value", "1700006400.000,0.5"],
        'header "epoch,value" does not match type "load" '
        '(shortterm,midterm,longterm) in %s: data source 1 is "value", not '
        '"shortterm"; file skipped'),
    "h2/interface-eth2/if_octets-2023-11-15": (
        ["epoch,rx,tx", "1700006400.000,1,2"], None),
    "h2/interface-eth3/if_octets-2023-11-15": (
        ["1700006400.000,3,4"], None),  # no header: nothing to check
}


NAMES = {
    "h3/-eth0/if_octets-2023-11-15": False,       # no plugin name
    "h3/interface-eth0/-x-2023-11-15": False,     # no type name
    "h3/interface-eth0/if_octets-2023-1115x": False,  # not a date
    "h3/interface-eth0/if_octets-notadate1": False,
    "h3/interface-eth0/if_octets-2023-11-15": True,
    "h3/interface-/if_octets--2023-11-15": True,  # empty instances
}


def write_tree(src, files):
    for rel, lines in files.items():
        p = os.path.join(src, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write("\n".join(lines) + "\n")


def dump(cli, store):
    d = run([cli, "dump", store, "--format", "csv"])
    if d.returncode != 0:
        fail("dump exited %d" % d.returncode)
    return {tuple(x[:7] + [x[8]])
            for x in list(csv.reader(io.StringIO(d.stdout)))[1:]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tss-import-refused-") as tmp:
        src = os.path.join(tmp, "csv")
        write_tree(src, FILES)
        tdb = os.path.join(tmp, "types.db")
        with open(tdb, "w") as f:
            f.write(TYPES_DB)
        base = [a.cli, "import", "--csv", src, "--types-db", tdb]

        # without --rates-as-gauge: both rate files refused whole
        store = os.path.join(tmp, "refused")
        r = run(base + [store])
        if r.returncode != 1:
            fail("exit status %d, want 1 (files refused)" % r.returncode)
        for rel, ds, kind, val in ((RATES, "rx", "derive", "nan"),
                                   (RATES_COUNTER, "tx", "counter",
                                    "4.250000")):
            want = ('%s:2: data source "%s" is a %s in types.db but holds '
                    '"%s", a rate: the csv plugin wrote this file with '
                    'StoreRates true; file skipped (--rates-as-gauge'
                    % (os.path.join(src, rel), ds, kind, val))
            if want not in r.stderr:
                fail("no message %r" % want)
        want = ('%s:3: data source "tx": "8.5" is not a derive value'
                % os.path.join(src, RAW))
        if want not in r.stderr:
            fail("no message %r" % want)
        want = ("imported 5 points from 2 file(s); skipped 1 bad line(s) "
                "and 2 file(s) (see above), 2 of them StoreRates output "
                "(see --rates-as-gauge)")
        if want not in r.stdout:
            fail("summary: want %r" % want)
        got = dump(a.cli, store)
        if any(x[2] == "eth1" or x[7].startswith("1700006400") and
               x[3] == "if_octets" for x in got):
            fail("points of a refused file were stored: %r" % got)
        if len(got) != 5:
            fail("want 5 points, got %r" % sorted(got))

        # with it: rate columns become gauges, raw counters stay derive
        store = os.path.join(tmp, "gauges")
        r = run(base + ["--rates-as-gauge", store])
        if r.returncode != 1:  # the bad line in RAW is still a bad line
            fail("exit status %d, want 1 (one bad line)" % r.returncode)
        want = ("imported 11 points from 4 file(s) (2 of StoreRates rates, "
                "stored as gauges); skipped 1 bad line(s) and 0 file(s)")
        if want not in r.stdout:
            fail("summary: want %r" % want)
        got = dump(a.cli, store)
        want = {
            ("h1", "interface", "eth0", "if_octets", "", "rx", "gauge",
             "nan"),
            ("h1", "interface", "eth0", "if_octets", "", "tx", "gauge",
             "nan"),
            ("h1", "interface", "eth0", "if_octets", "", "rx", "gauge",
             "1234.5"),
            ("h1", "interface", "eth0", "if_octets", "", "tx", "gauge", "10"),
            ("h1", "interface", "eth0", "if_octets", "", "rx", "derive", "5"),
            ("h1", "interface", "eth0", "if_octets", "", "tx", "derive", "6"),
            ("h1", "interface", "eth1", "if_packets", "", "rx", "gauge", "3"),
            ("h1", "interface", "eth1", "if_packets", "", "tx", "gauge",
             "4.25"),
            ("h1", "load", "", "load", "", "shortterm", "gauge", "0.5"),
            ("h1", "load", "", "load", "", "midterm", "gauge", "0.25"),
            ("h1", "load", "", "load", "", "longterm", "gauge", "0.125"),
        }
        if got != want:
            fail("dump differs:\n  missing %r\n  extra %r"
                 % (sorted(want - got), sorted(got - want)))

        # headers that disagree with types.db
        src = os.path.join(tmp, "csv-headers")
        write_tree(src, {k: v[0] for k, v in HEADERS.items()})
        store = os.path.join(tmp, "headers")
        r = run([a.cli, "import", "--csv", src, "--types-db", tdb, store])
        if r.returncode != 1:
            fail("exit status %d, want 1 (files refused)" % r.returncode)
        for rel, (_, msg) in HEADERS.items():
            p = os.path.join(src, rel)
            if msg is None and p in r.stderr:
                fail("%s reported: %s" % (rel, r.stderr))
            if msg is not None and "%s: %s" % (p, msg % tdb) not in r.stderr:
                fail("no message %r" % ("%s: %s" % (p, msg % tdb)))
        want = ("imported 4 points from 2 file(s); skipped 0 bad line(s) "
                "and 3 file(s) (see above)\n")
        if want not in r.stdout:
            fail("summary: want %r" % want)
        got = dump(a.cli, store)
        if {x[0] + x[2] for x in got} != {"h2eth2", "h2eth3"}:
            fail("points of a refused file were stored: %r" % sorted(got))
        # file names
        src = os.path.join(tmp, "csv-names")
        write_tree(src, {k: ["epoch,rx,tx", "1700006400.000,1,2"]
                         for k in NAMES})
        store = os.path.join(tmp, "names")
        r = run([a.cli, "import", "--csv", src, "--types-db", tdb, store])
        if r.returncode != 1:
            fail("exit status %d, want 1 (files skipped)" % r.returncode)
        for rel, taken in NAMES.items():
            msg = "%s: not a csv plugin file name" % os.path.join(src, rel)
            if taken == (msg in r.stderr):
                fail("%s: %s" % (rel, "reported" if taken else
                                 "no message %r" % msg))
        want = ("imported 4 points from 2 file(s); skipped 0 bad line(s) "
                "and 4 file(s) (see above)\n")
        if want not in r.stdout:
            fail("summary: want %r" % want)
        got = dump(a.cli, store)
        if {x[:5] for x in got} != {("h3", "interface", "eth0", "if_octets",
                                     ""), ("h3", "interface", "",
                                           "if_octets", "")}:
            fail("names imported: %r" % sorted(got))
    print("ok: StoreRates files refused, or stored as gauges on request; "
          "headers that disagree with types.db refused; names that are no "
          "csv plugin file's skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
