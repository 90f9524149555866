#!/usr/bin/env python3
"""Round trip tsstore -> Prometheus through promtool (ctest label compare).

Builds a small store with `tsstore import --csv` of a generated collectd csv
tree (bench/compare/gen_csv: gauges, derives, wrapping counters) plus
hand-written files with the edge cases (NaN, ±Inf, -0, extreme doubles,
counters above 2^53, negative derives, several data sources per type,
quotes and backslashes in label values, '-' in a type instance); then

  tsstore dump --format openmetrics
  promtool tsdb create-blocks-from openmetrics
  promtool tsdb dump           (needs a wal/ directory in the data dir)

and compares every sample with `tsstore dump`: series names and labels as
docs/openmetrics.md maps them, timestamps in milliseconds, values as
doubles (Prometheus turns integer counters into float64: compared with the
integer converted to the nearest double). Exits 77 (skipped) when promtool
is not installed.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench", "compare"))
import compare  # noqa: E402  (bench/compare/compare.py: the checks)

SKIP = 77
DAY = "2023-11-15"
T0 = 1700006400  # 2023-11-15T00:00:00Z


class Bins:
    def __init__(self, cli):
        self.tsstore = cli


def write(path, header, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(header + "\n")
        for r in rows:
            f.write(",".join(r) + "\n")


def edge_cases(root):
    """Hand-written csv files in the csv plugin's layout."""
    host = os.path.join(root, 'edge"host\\1')

    def t(i, ms=0):
        return "%d.%03d" % (T0 + 10 * i, ms)
    specials = ["nan", "inf", "-inf", "-0.000000", "0.000000", "1e300",
                "-1e-300", "2.2250738585072014e-308",
                "1.7976931348623157e+308", "0.1", "123456789.123456",
                "-42.500000"]
    write(os.path.join(host, "special", "gauge-values-" + DAY),
          "epoch,value", [(t(i, i % 7), v) for i, v in enumerate(specials)])
    big = [str(x) for x in (0, 1, 2**53 - 1, 2**53, 2**53 + 1, 2**63 + 12345,
                            2**64 - 1, 12345678901234567890, 7)]
    write(os.path.join(host, "bigcounter", "counter-" + DAY),
          "epoch,value", [(t(i), v) for i, v in enumerate(big)])
    neg = [str(x) for x in (-5, -2**62, 0, 2**62, -1, 3)]
    write(os.path.join(host, "interface-eth 0", "if_octets-" + DAY),
          "epoch,rx,tx", [(t(i, 1), v, str(-int(v)))
                          for i, v in enumerate(neg)])
    write(os.path.join(host, "load", "load-" + DAY),
          "epoch,shortterm,midterm,longterm",
          [(t(i, 999), "0.%02d0000" % i, "1.500000", "%d.250000" % i)
           for i in range(20)])
    # (the plugin instance above has a space; type instances with one
    # import as well, as the real data's `temperature-Core 0` does)
    for tinst in ('q"uote', "back\\slash", "dash-in-name", "utf8-\u00e9"):
        write(os.path.join(host, "misc-inst", "gauge-%s-%s" % (tinst, DAY)),
              "epoch,value", [(t(i, 3), "%d.000000" % (i * i))
                              for i in range(30)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--gen-csv", required=True)
    a = ap.parse_args()
    if not shutil.which("promtool"):
        print("SKIP: promtool is not installed (Debian: prometheus)")
        return SKIP
    tmp = tempfile.mkdtemp(prefix="tss-promtool.")
    try:
        csvdir = os.path.join(tmp, "csv")
        g = subprocess.run([a.gen_csv, "--series", "60", "--points", "400",
                            "--per-host", "20", "--start", str(T0), csvdir],
                           check=True, capture_output=True, text=True)
        # "N series, M points": sparse series skip hours, so M < 60 * 400
        generated = int(g.stdout.split(",")[1].split()[0])
        edge_cases(csvdir)
        store = os.path.join(tmp, "store")
        p = subprocess.run([a.cli, "import", store, "--csv", csvdir],
                           capture_output=True, text=True)
        if p.returncode != 0:
            print("tsstore import failed:", p.stdout, p.stderr)
            return 1
        om = os.path.join(tmp, "data.om")
        with open(om, "w") as f:
            subprocess.run([a.cli, "dump", store, "--format", "openmetrics"],
                           check=True, stdout=f)
        prom = os.path.join(tmp, "prom")
        p = subprocess.run(["promtool", "tsdb", "create-blocks-from",
                            "openmetrics", om, prom],
                           capture_output=True, text=True)
        if p.returncode != 0:
            print("promtool create-blocks-from failed:", p.stdout, p.stderr)
            return 1
        b = Bins(a.cli)
        n = compare.check_prom_vs_store(b, store, prom)
        m = compare.check_csv_vs_store(b, csvdir, store)
        want = generated + 12 + 9 + 2 * 6 + 3 * 20 + 4 * 30
        if n != want or m != want:
            print("FAIL: compared %d (Prometheus) and %d (csv) samples, "
                  "want %d" % (n, m, want))
            return 1
        print("ok: %d samples identical in tsstore, the csv files and "
              "Prometheus" % n)
        return 0
    except compare.Failure as e:
        print("FAIL:", e)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
