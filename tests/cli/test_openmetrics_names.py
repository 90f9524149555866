#!/usr/bin/env python3
"""tsstore dump --format openmetrics: family names never collide.

collectd_<plugin>_<type>[_<ds>] is not injective: plugin "a" type
"b_counter" (a gauge) and plugin "a_b" type "counter" (a counter) both map
to collectd_a_b_counter; a counter family F writes samples F_total, which a
gauge of type "y_total" next to a counter of type "y" also maps to;
sanitizing maps "m.n" and "m_n" to one name. Each family must have one
source (plugin, type, ds, kind): checks that the export is valid
OpenMetrics (one TYPE line per family, families not interleaved, sample
names as the type requires, no name claimed twice, no duplicate series),
that the later source in byte order gets the documented <family>_2 with a
warning naming both series, that the output is the same on every run, and,
when promtool is installed, that Prometheus gets one series per source.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

TYPES_DB = """\
b_counter value:GAUGE:U:U
counter   value:COUNTER:0:U
y         value:COUNTER:0:U
y_total   value:GAUGE:U:U
m.n       value:GAUGE:U:U
m_n       value:GAUGE:U:U
load      shortterm:GAUGE:0:5000, midterm:GAUGE:0:5000, longterm:GAUGE:0:5000
"""

DAY = "2023-11-15"
FILES = {
    "h/a/b_counter-" + DAY: "1.5",
    "h/a_b/counter-" + DAY: "7",
    "h/x/y-" + DAY: "8",
    "h/x/y_total-" + DAY: "2.5",
    "h/s/m.n-" + DAY: "3.5",
    "h/s/m_n-" + DAY: "4.5",
}

# sample name -> (family, type, value)
WANT = {
    "collectd_a_b_counter": ("collectd_a_b_counter", "gauge", "1.5"),
    "collectd_a_b_counter_2_total": ("collectd_a_b_counter_2", "counter",
                                     "7"),
    "collectd_x_y_total": ("collectd_x_y", "counter", "8"),
    "collectd_x_y_total_2": ("collectd_x_y_total_2", "gauge", "2.5"),
    "collectd_s_m_n": ("collectd_s_m_n", "gauge", "3.5"),
    "collectd_s_m_n_2": ("collectd_s_m_n_2", "gauge", "4.5"),
    "collectd_load_load_shortterm": ("collectd_load_load_shortterm",
                                     "gauge", "0.5"),
}

WARN = [
    ('plugin "a_b" type "counter" data source "value" (counter) maps to '
     'collectd_a_b_counter, which plugin "a" type "b_counter" data source '
     '"value" (gauge) already uses; written as collectd_a_b_counter_2'),
    ('plugin "x" type "y_total" data source "value" (gauge) maps to '
     'collectd_x_y_total, which plugin "x" type "y" data source "value" '
     '(counter) already uses; written as collectd_x_y_total_2'),
    ('plugin "s" type "m_n" data source "value" (gauge) maps to '
     'collectd_s_m_n, which plugin "s" type "m.n" data source "value" '
     '(gauge) already uses; written as collectd_s_m_n_2'),
]

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\}) (\S+) (\S+)$')


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def check_openmetrics(text):
    """Structural OpenMetrics checks; returns {sample name: (family, type,
    value)} for the first sample of each name."""
    lines = text.split("\n")
    if lines[-2:] != ["# EOF", ""]:
        fail("does not end in # EOF")
    types, done, got, series = {}, set(), {}, set()
    family = None
    for line in lines[:-2]:
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ")
            if name in types:
                fail("family %s declared twice" % name)
            if family:
                done.add(family)
            family, types[name] = name, typ
            continue
        m = SAMPLE.match(line)
        if not m or not family:
            fail("not a sample line of a family: %r" % line)
        name, labels, value = m.group(1), m.group(2), m.group(3)
        want = family + ("_total" if types[family] == "counter" else "")
        if name != want:
            fail("sample %s in %s family %s" % (name, types[family], family))
        if (name, labels) in series and name not in got:
            fail("series %s%s in two families" % (name, labels))
        series.add((name, labels))
        got.setdefault(name, (family, types[family], value))
    # no family's name is another family's sample or created name
    for f, t in types.items():
        if t == "counter":
            for suffix in ("_total", "_created"):
                if f + suffix in types:
                    fail("family %s collides with counter %s's samples"
                         % (f + suffix, f))
    return got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tss-om-names-") as tmp:
        src = os.path.join(tmp, "csv")
        for rel, value in FILES.items():
            p = os.path.join(src, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write("epoch,value\n1700006400.000,%s\n" % value)
        p = os.path.join(src, "h/load/load-" + DAY)
        os.makedirs(os.path.dirname(p))
        with open(p, "w") as f:
            f.write("epoch,shortterm,midterm,longterm\n"
                    "1700006400.000,0.5,0.25,0.125\n")
        tdb = os.path.join(tmp, "types.db")
        with open(tdb, "w") as f:
            f.write(TYPES_DB)
        store = os.path.join(tmp, "store")
        r = subprocess.run([a.cli, "import", "--csv", src, "--types-db", tdb,
                            store], capture_output=True, text=True)
        if r.returncode != 0:
            fail("import: %s%s" % (r.stdout, r.stderr))
        runs = [subprocess.run([a.cli, "dump", store, "--format",
                                "openmetrics"], capture_output=True,
                               text=True) for _ in range(2)]
        d = runs[0]
        print(d.stdout + d.stderr)
        if d.returncode != 0:
            fail("dump exited %d" % d.returncode)
        if runs[1].stdout != d.stdout or runs[1].stderr != d.stderr:
            fail("two dumps of the same store differ")
        for w in WARN:
            if "tsstore: openmetrics: " + w + "\n" not in d.stderr:
                fail("no warning %r" % w)
        if d.stderr.count("\n") != len(WARN):
            fail("unexpected warnings: %r" % d.stderr)
        # rollups have no OpenMetrics form here (an interval's aggregates
        # share its time: duplicate samples): any resolution but raw is a
        # usage error; raw, given, is the default's output
        for res in ("5m", "1h", "auto"):
            r = subprocess.run([a.cli, "dump", store, "--format",
                                "openmetrics", "--resolution", res],
                               capture_output=True, text=True)
            if r.returncode != 2 or "raw points only" not in r.stderr or \
                    r.stdout:
                fail("openmetrics at --resolution %s: exit %d, %r %r" %
                     (res, r.returncode, r.stdout, r.stderr))
        r = subprocess.run([a.cli, "dump", store, "--format", "openmetrics",
                            "--resolution", "raw"], capture_output=True,
                           text=True)
        if r.returncode != 0 or r.stdout != d.stdout:
            fail("openmetrics at --resolution raw differs from the default")
        got = check_openmetrics(d.stdout)
        got = {k: v for k, v in got.items()
               if not k.startswith("collectd_load_") or k in WANT}
        if got != WANT:
            fail("samples differ:\n  want %r\n  got %r" % (WANT, got))

        if not shutil.which("promtool"):
            print("ok (promtool not installed: Prometheus side not checked)")
            return 0
        om = os.path.join(tmp, "data.om")
        with open(om, "w") as f:
            f.write(d.stdout)
        prom = os.path.join(tmp, "prom")
        p = subprocess.run(["promtool", "tsdb", "create-blocks-from",
                            "openmetrics", om, prom],
                           capture_output=True, text=True)
        if p.returncode != 0:
            fail("promtool create-blocks-from: %s%s" % (p.stdout, p.stderr))
        os.makedirs(os.path.join(prom, "wal"), exist_ok=True)
        p = subprocess.run(["promtool", "tsdb", "dump", prom],
                           capture_output=True, text=True)
        if p.returncode != 0:
            fail("promtool tsdb dump: %s" % p.stderr)
        names = sorted(re.findall(r'__name__="([^"]*)"', p.stdout))
        want = sorted(list(WANT) + ["collectd_load_load_midterm",
                                    "collectd_load_load_longterm"])
        if names != want:
            fail("Prometheus series %r, want %r" % (names, want))
    print("ok: colliding names made unique, one Prometheus series each")
    return 0


if __name__ == "__main__":
    sys.exit(main())
