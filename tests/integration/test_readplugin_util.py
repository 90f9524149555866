"""Shared by the read plugin's integration tests (test_readplugin_*.py).

Not a test itself. Adds to collectd_harness: a Collectd that also loads
the built read plugin tsstore.so, the csv plugin's files as rows, the
tsstore CLI, and a main() that runs one test function with a temporary
directory, prints PASS or FAIL with every collectd log, and exits 0, 1 or
77 (collectd not installed). Python 3 standard library only.
"""

import argparse
import glob
import json
import os
import subprocess

import collectd_harness
from collectd_harness import TestFailure, require_collectd

CLI_TIMEOUT = 30
HOSTNAME = "itest"


class Collectd(collectd_harness.Collectd):
    """collectd_harness.Collectd, loading our tsstore.so as "tsstore".

    The harness copies write_tsstore from the built plugin and every other
    plugin from collectd's PluginDir; here the source directory is a
    private one of links to collectd's plugins plus our tsstore.so.
    """

    def __init__(self, root, args, load, blocks, **kw):
        src = root + ".plugin-src"
        os.makedirs(src)
        for name in load:
            if name == "write_tsstore":
                continue
            target = (args.read_plugin if name == "tsstore" else
                      os.path.join(collectd_harness.STOCK_PLUGIN_DIR,
                                   name + ".so"))
            os.symlink(target, os.path.join(src, name + ".so"))
        saved = collectd_harness.STOCK_PLUGIN_DIR
        collectd_harness.STOCK_PLUGIN_DIR = src
        try:
            super().__init__(root, args.plugin, load, blocks, **kw)
        finally:
            collectd_harness.STOCK_PLUGIN_DIR = saved


def run_cli(args, *argv):
    """Runs the tsstore CLI; returns stdout text, raises on failure."""
    p = subprocess.run([args.cli] + list(argv), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=CLI_TIMEOUT)
    if p.returncode != 0:
        raise TestFailure("tsstore %s exited %d: %s" % (
            " ".join(argv), p.returncode,
            p.stderr.decode("utf-8", "replace")))
    return p.stdout.decode("utf-8")


def stats(args, store):
    """`tsstore stats STORE --format jsonl` as a dict (floats as text)."""
    out = run_cli(args, "stats", "--format", "jsonl", store)
    return json.loads(out, parse_float=str, parse_int=str)


def dump(args, store, *filters):
    """[{host, ..., ds, kind, time, value}] of `tsstore dump --format jsonl`,
    times and values as the text printed."""
    out = run_cli(args, "dump", "--format", "jsonl", *filters, store)
    return [json.loads(ln, parse_float=str, parse_int=str)
            for ln in out.splitlines()]


def csv_rows(csv_dir, host, plugin_dir, type_file):
    """Rows [time text, value texts...] the csv plugin wrote for one
    identifier (every date file, in order), and the header.

    plugin_dir: "plugin[-plugin_instance]"; type_file:
    "type[-type_instance]". Files are named type_file-YYYY-MM-DD."""
    rows, header = [], None
    pattern = os.path.join(csv_dir, host, plugin_dir,
                           glob.escape(type_file) + "-????-??-??")
    for path in sorted(glob.glob(pattern)):
        with open(path, encoding="utf-8") as f:
            for line in f:
                fields = line.rstrip("\n").split(",")
                if fields[0] == "epoch":
                    header = fields
                else:
                    rows.append(fields)
    return rows, header


def ms_of(text):
    """Exact milliseconds of an epoch time printed with 3 decimals."""
    sec, _, frac = text.partition(".")
    if len(frac) != 3 or not sec.lstrip("-").isdigit() or not frac.isdigit():
        raise TestFailure("not an epoch time with 3 decimals: %r" % text)
    ms = abs(int(sec)) * 1000 + int(frac)
    return -ms if sec.startswith("-") else ms


def no_errors(cd, what):
    """Raises if the log has ERROR lines of the tsstore plugins."""
    bad = [ln for ln in cd.error_lines() if "tsstore" in ln]
    if bad:
        raise TestFailure("ERROR lines in %s's log:\n  %s"
                          % (what, "\n  ".join(bad)))


def main(doc, run, prefix):
    """Parses the arguments, runs run(args, tmp, instances) and reports.

    run appends every Collectd it makes to instances, so each is killed
    and its log printed on failure."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--plugin", required=True, help="write_tsstore.so")
    ap.add_argument("--read-plugin", required=True, help="tsstore.so")
    ap.add_argument("--cli", required=True, help="the tsstore CLI")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory")
    args = ap.parse_args()
    for name in ("plugin", "read_plugin", "cli"):
        setattr(args, name, os.path.abspath(getattr(args, name)))
    require_collectd(["logfile", "unixsock", "csv"])
    for p in (args.plugin, args.read_plugin, args.cli):
        if not os.path.exists(p):
            print("FAIL: %s does not exist (build first)" % p)
            return 1
    return collectd_harness.run_test(
        lambda a, tmp, report: run(a, tmp, report["instances"]), args,
        prefix)
