#!/usr/bin/env python3
"""Integration test: write_tsstore inside the real collectd daemon.

Runs collectd 5.12 in the foreground with write_tsstore, the stock csv
plugin as a second writer, unixsock, and the real read plugins cpu, memory,
load, interface, disk and df. Feeds deterministic values through unixsock
(edge values of every kind, several data sources per type, out-of-order and
duplicate timestamps, sub-millisecond times, points for an already sealed
window, hostile identifiers), reads the store with `tsstore` while collectd
runs, flushes, stops collectd and compares `tsstore dump` with two oracles:

  - for the values this test sent: what it sent (exact: gauges bit for bit,
    integers exactly, times to the millisecond);
  - for the real read plugins: the csv plugin's files (gauges within the 6
    decimals csv prints, integers exactly, times to the millisecond).

Where the csv plugin can represent one of our identifiers as a path, its
file is cross-checked against what we sent too.

Usage: test_collectd.py --plugin write_tsstore.so --cli tsstore [--keep]
Exit status: 0 pass, 1 fail (with a diff and the collectd log), 77 skip
(collectd not installed). Python 3 standard library only.
"""

import argparse
import csv
import io
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import threading
import time
import traceback

from collectd_harness import (Collectd, TYPES_DB, TestFailure,
                              make_tempdir, quote, require_collectd,
                              wait_for)

READ_PLUGINS = ["cpu", "memory", "load", "interface", "disk", "df"]
STOCK = ["logfile", "csv", "unixsock"] + READ_PLUGINS
SPAN_S = 7200  # SegmentSpan set in the config below
GRACE_S = 2  # Grace set in the config below
HOSTNAME = "itest"
FED = "itest-fed"  # host of most fed series; never the real plugins' host
FIELD_MAX = 127  # collectd's DATA_MAX_NAME_LEN - 1
EXAMPLES = 8  # examples printed per kind of difference
CLI_TIMEOUT = 30
KINDS = {"GAUGE": "gauge", "DERIVE": "derive", "COUNTER": "counter",
         "ABSOLUTE": "absolute"}
DATE_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")
DS_FIELDS = ("host", "plugin", "plugin_instance", "type", "type_instance",
             "ds")


# ---- small helpers ------------------------------------------------------

def load_types_db(path):
    """{type: [(ds name, kind)]} from collectd's types.db."""
    types = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            # like collectd: fields split at blanks, a trailing ',' dropped
            name, *specs = [f.rstrip(",") for f in line.split()]
            dss = []
            for spec in specs:
                ds, kind, _, _ = spec.split(":")
                dss.append((ds, KINDS[kind.upper()]))
            types[name] = dss
    return types


def identifier(ident):
    """host/plugin[-plugin_instance]/type[-type_instance]"""
    h, p, pi, t, ti = ident
    return "%s/%s%s/%s%s" % (h, p, "-" + pi if pi else "", t,
                             "-" + ti if ti else "")


def series_name(key):
    return "%s ds=%s" % (identifier(key[:5]), key[5])


def collectd_ms(time_text):
    """The millisecond a PUTVAL time ends up at in the store.

    collectd parses it with strtod and truncates to cdtime_t (2^-30 s,
    DOUBLE_TO_CDTIME_T); write_tsstore rounds that to the nearest ms, ties
    to even.
    """
    cd = int(float(time_text) * 1073741824.0)
    q, r = divmod(cd * 1000, 1 << 30)
    if r > (1 << 29) or (r == (1 << 29) and q & 1):
        q += 1
    return q


def csv_plugin_time(time_text):
    """The time the csv plugin prints for a PUTVAL time ("%.3f")."""
    cd = int(float(time_text) * 1073741824.0)
    return "%.3f" % (cd / 1073741824.0)


def ms_of(text):
    """Exact milliseconds of a 3-decimal epoch time printed by a tool."""
    m = re.fullmatch(r"(-?)(\d+)\.(\d{3})", text)
    if not m:
        raise ValueError("not an epoch time with 3 decimals: %r" % text)
    ms = int(m.group(2)) * 1000 + int(m.group(3))
    return -ms if m.group(1) else ms


def ms_text(ms):
    return "%s%d.%03d" % ("-" if ms < 0 else "", abs(ms) // 1000,
                          abs(ms) % 1000)


def bits(x):
    return struct.pack("<d", x)


def parse_sent(kind, text):
    """A value as collectd parses it from PUTVAL."""
    if kind == "gauge":
        return math.nan if text == "U" else float(text)
    v = int(text, 10)
    lo, hi = ((-(1 << 63), (1 << 63) - 1) if kind == "derive"
              else (0, (1 << 64) - 1))
    if not lo <= v <= hi:
        raise ValueError("%s value %s out of range" % (kind, text))
    return v


def same_exact(kind, want, text):
    """Dump text equals a value we sent: bit for bit (NaN: sign only)."""
    if kind != "gauge":
        return re.fullmatch(r"-?\d+", text) is not None and int(text) == want
    got = float(text)
    if math.isnan(want):
        return (math.isnan(got)
                and math.copysign(1, got) == math.copysign(1, want))
    return bits(got) == bits(want)


def same_csv(kind, csv_text, text):
    """Dump text equals what the csv plugin printed for the same value.

    csv prints gauges with "%f": 6 decimals, so |a - b| <= 5e-7, plus one
    ulp-ish relative term for values whose decimal expansion of 6 decimals
    is longer than a double's 17 significant digits.
    """
    if kind != "gauge":
        return re.fullmatch(r"-?\d+", text) is not None and \
            int(text) == int(csv_text)
    want, got = float(csv_text), float(text)
    if math.isnan(want) or math.isnan(got):
        return math.isnan(want) and math.isnan(got)
    if math.isinf(want) or math.isinf(got):
        return want == got
    return abs(got - want) <= 5e-7 + 2.0 ** -52 * abs(want)


def run_cli(cli, *args):
    p = subprocess.run([cli] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=CLI_TIMEOUT)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


# ---- the values this test feeds -------------------------------------------

class Feed:
    """PUTVAL commands and the oracle of what they must store."""

    def __init__(self, types):
        self.types = types
        self.commands = []  # (phase, command line)
        # (host, plugin, pi, type, ti, ds) -> {"kind", "points": {ms: v}}
        self.oracle = {}
        self.idents = set()

    def put(self, phase, ident, time_text, *values):
        h, p, pi, t, ti = ident
        for name, field in zip(DS_FIELDS, ident):
            if len(field.encode("utf-8")) > FIELD_MAX:
                raise AssertionError("test bug: %s longer than %d bytes"
                                     % (name, FIELD_MAX))
            if "\n" in field or "\0" in field:
                raise AssertionError("test bug: newline or NUL in %r" % field)
        # what the identifier syntax can carry (collectd also turns a '/'
        # in the type instance into '_', so no field has a '/')
        if ("/" in "".join(ident) or "-" in p or "-" in t
                or t not in self.types):
            raise AssertionError("test bug: %r is not a PUTVAL identifier"
                                 % (ident,))
        dss = self.types[t]
        if len(values) != len(dss):
            raise AssertionError("test bug: %s has %d data sources"
                                 % (t, len(dss)))
        if collectd_ms(time_text) != ms_of(csv_plugin_time(time_text)):
            raise AssertionError("test bug: time %s is a rounding tie"
                                 % time_text)
        self.idents.add(ident)
        ms = collectd_ms(time_text)
        for (ds, kind), text in zip(dss, values):
            s = self.oracle.setdefault(ident + (ds,),
                                       {"kind": kind, "points": {}})
            v = parse_sent(kind, text)
            old = s["points"].get(ms)
            if old is not None and bits(float(old)) != bits(float(v)) \
                    and not (kind == "gauge" and math.isnan(old)
                             and math.isnan(v)):
                # five write threads: no defined winner between two values
                raise AssertionError("test bug: two values at one time")
            s["points"][ms] = v
        self.commands.append((phase, "PUTVAL %s interval=1 %s:%s" % (
            quote(identifier(ident)), time_text, ":".join(values))))


def build_feed(types, base, late):
    """All fed values. base: start of the recent times (now - ~60 s, all in
    one segment window); late: a time two windows back, long sealed."""
    f = Feed(types)

    def t(offset):
        return "%d" % (base + offset)

    # gauges: edge values in one series (XOR encoding across wild jumps)
    gauges = ["0", "1", "-1", "0.1", "-273.15", "3.141592653589793",
              "1e308", "-1e308", "1.7976931348623157e308", "5e-324",
              "2.2250738585072014e-308", "-2.2250738585072014e-308",
              "1e-9", "123456789.123456789", "-0", "U", "nan", "-nan",
              "inf", "-inf", "9007199254740993", "1000000000000000.3",
              "42", "42", "-1e-300"]
    for i, v in enumerate(gauges):
        f.put("main", (FED, "gauges", "", "gauge", "edge"), t(i), v)

    # COUNTER near 2^64 with a wrap, and the sign boundary of int64
    for i, v in enumerate(["18446744073709551613", "18446744073709551614",
                           "18446744073709551615", "0", "1",
                           "9223372036854775807", "9223372036854775808",
                           "18446744073709551615"]):
        f.put("main", (FED, "counter", "wrap", "counter", ""), t(i), v)
    f.put("main", (FED, "counter", "wrap", "counter", ""), t(3), "0")  # dup

    # DERIVE: negatives and INT64 extremes, alternating (zig-zag deltas)
    for i, v in enumerate(["-9223372036854775808", "9223372036854775807",
                           "-9223372036854775808", "-1", "0", "1",
                           "-4611686018427387904", "9223372036854775807",
                           "-123456789012345"]):
        f.put("main", (FED, "derive", "extremes", "derive", ""), t(i), v)

    # ABSOLUTE
    for i, v in enumerate(["0", "18446744073709551615", "1",
                           "18446744073709551615", "42"]):
        f.put("main", (FED, "absolute", "", "absolute", ""), t(i), v)

    # several data sources: if_octets (2 x DERIVE), mysql_qcache (4 x
    # COUNTER + GAUGE), load (3 x GAUGE)
    for i, (rx, tx) in enumerate([("0", "0"), ("1000", "2000"),
                                  ("9223372036854775807",
                                   "-9223372036854775808"),
                                  ("-1", "1"),
                                  ("123456789012", "987654321098")]):
        f.put("main", (FED, "interface", "eth0", "if_octets", ""), t(i),
              rx, tx)
    f.put("main", (FED, "mixed", "", "mysql_qcache", ""), t(0),
          "18446744073709551615", "0", "1", "2", "U")
    f.put("main", (FED, "mixed", "", "mysql_qcache", ""), t(1),
          "1", "2", "3", "4", "2.5")
    f.put("main", (FED, "mixed", "", "mysql_qcache", ""), t(2),
          "0", "0", "0", "0", "-0")
    f.put("main", (FED, "load", "", "load", ""), t(0), "0.5", "U", "1e-3")

    # out of order (t+3 before t+1) and duplicates (same time, same value)
    for off in [3, 1, 1, 0, 2, 3, 5, 4]:
        f.put("main", (FED, "order", "", "gauge", "ooo"), t(off),
              repr(1000 + off * 0.25))
    for off in [10, 8, 9, 8, 10]:
        f.put("main", (FED, "order", "", "derive", "ooo"), t(off),
              str(-(1 << 62) * (off - 9)))

    # sub-millisecond times: rounded to the nearest ms
    for frac, v in [("5.0004", "1"), ("6.0006", "2"), ("7.123", "3"),
                    ("8.9996", "4"), ("10.0001", "5"), ("10.5", "6"),
                    ("11.999", "7"), ("12.0015", "8")]:
        whole, dec = frac.split(".")
        f.put("main", (FED, "subms", "", "gauge", ""),
              "%d.%s" % (base + int(whole), dec), v)

    # hostile identifiers; each gets two points and one duplicate
    long_utf8 = "日" * 42 + "x"  # 127 bytes, no split character
    hostile = [
        ("..", "dotdot", "", "gauge", ""),
        (".", "dot", "..", "gauge", ".."),
        (FED, "space", " lead and trail ", "gauge", "two  spaces"),
        (FED, "quote", 'say "hi"', "gauge", '"'),
        (FED, "comma", "a,b,c", "gauge", ","),
        ("Zürich", "utf8", "日本", "gauge", "Ünïcödé ✓ 🚀"),
        (FED, "backslash", "C:\\temp\\", "gauge", "\\"),
        (FED, "ctrl", "tab\there", "gauge", "del\x7fsoh\x01"),
        (FED, "dash", "a-b-c", "gauge", "x-y-z"),
        (FED, "", "", "gauge", "empty plugin"),
        (FED, "inject", '{"json":[1,2]}', "gauge", "=1+1;'x'"),
        ("L" * FIELD_MAX, "longhost", "", "gauge", ""),
        ("H" * FIELD_MAX, "p" * FIELD_MAX, long_utf8, "if_octets",
         "t" * FIELD_MAX),
    ]
    for i, ident in enumerate(hostile):
        vals = ["7", "8"] if ident[3] == "if_octets" else ["0.5"]
        f.put("main", ident, t(20 + i), *vals)
        f.put("main", ident, t(21 + i), *[v + "1" for v in vals])
        f.put("main", ident, t(20 + i), *vals)

    # an old window: sealed by the maintenance thread (phase "late1"),
    # then late points and a duplicate for the sealed window ("late2")
    g = (FED, "late", "", "gauge", "")
    c = (FED, "late", "", "counter", "")
    f.put("late1", g, "%d" % late, "1.5")
    f.put("late1", c, "%d" % late, "18446744073709551615")
    f.put("late2", g, "%d" % (late + 1), "2.5")
    f.put("late2", g, "%d" % late, "1.5")
    f.put("late2", c, "%d" % (late + 1), "0")
    f.put("late2", c, "%d" % late, "18446744073709551615")
    return f


# ---- reading the store and the csv files ----------------------------------

def parse_dump_csv(data, problems):
    """{series key: {"kind", "points": {ms: text}}} from dump --format csv."""
    out = {}
    text = data.decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    want = list(DS_FIELDS) + ["kind", "time", "value"]
    if not rows or rows[0] != want:
        raise TestFailure("dump csv header is %r, want %r"
                          % (rows[:1], want))
    for row in rows[1:]:
        if len(row) != 9:
            problems.append("dump csv row with %d fields: %r"
                            % (len(row), row))
            continue
        key = tuple(row[:6])
        s = out.setdefault(key, {"kind": row[6], "points": {}})
        if s["kind"] != row[6]:
            problems.append("%s: kind %s and %s in one dump"
                            % (series_name(key), s["kind"], row[6]))
        ms = ms_of(row[7])
        if ms in s["points"]:
            problems.append("%s: time %s twice in the dump (duplicates "
                            "not collapsed)" % (series_name(key), row[7]))
        s["points"][ms] = row[8]
    return out


def parse_jsonl(data):
    """[(key, kind, time text, value text)] from --format jsonl."""
    rows = []
    for line in data.decode("utf-8").splitlines():
        o = json.loads(line, parse_float=str, parse_int=str)
        key = tuple(o[k] for k in DS_FIELDS)
        rows.append((key, o["kind"], o.get("time"), o.get("value"), o))
    return rows


def parse_ls_csv(data):
    """{key: (kind, points, first ms, last ms)} from ls --format csv.

    ls lists every resolution; this store has no rollups, so every row
    must be raw."""
    out = {}
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    want = list(DS_FIELDS) + ["kind", "points", "first", "last",
                              "resolution"]
    if not rows or rows[0] != want:
        raise TestFailure("ls csv header is %r, want %r" % (rows[:1], want))
    for row in rows[1:]:
        if row[10] != "raw":
            raise TestFailure("ls row %r: resolution is not raw" % row)
        out[tuple(row[:6])] = (row[6], int(row[7]), ms_of(row[8]),
                               ms_of(row[9]))
    return out


def csv_path(csv_dir, ident):
    """Where the csv plugin writes ident, without the date suffix."""
    h, p, pi, t, ti = ident
    return os.path.normpath(os.path.join(
        csv_dir, h, p + ("-" + pi if pi else ""),
        t + ("-" + ti if ti else "")))


def read_csv_file(path, types, type_name, problems):
    """[(ds, kind, time text, value text)] of one csv plugin file.

    Lines that are not "time,values" go to problems: the csv plugin has a
    stat/create race (two write threads creating one file truncate each
    other's first lines), so for fed series the caller passes a list of
    notes instead.
    """
    dss = types.get(type_name)
    if dss is None:
        problems.append("csv file %s: type %r not in types.db"
                        % (path, type_name))
        return []
    names = [d for d, _ in dss]
    out = []
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for n, line in enumerate(f, 1):
            fields = line.rstrip("\n").split(",")
            if fields[0] == "epoch":
                if fields[1:] != names:
                    problems.append("csv file %s:%d: header %r, types.db "
                                    "says %r" % (path, n, fields[1:], names))
                continue
            if len(fields) != len(names) + 1 or \
                    not re.fullmatch(r"\d+\.\d{3}", fields[0]):
                problems.append("csv file %s:%d: garbled line %r"
                                % (path, n, line))
                continue
            for (ds, kind), v in zip(dss, fields[1:]):
                out.append((ds, kind, fields[0], v))
    return out


def scan_csv(tmp, csv_dir, skip_dirs, feed, types, problems, notes):
    """Reads every csv plugin file under tmp.

    Returns (real oracle, fed csv points): the real plugins' points as
    {key: {"kind", "points": {ms: text}}}, and the points csv wrote for fed
    identifiers as {key: {ms: text}}.
    """
    fed_paths = {}
    for ident in feed.idents:
        fed_paths.setdefault(csv_path(csv_dir, ident), []).append(ident)
    real, fed = {}, {}
    real_root = os.path.join(csv_dir, HOSTNAME)
    for root, dirs, files in os.walk(tmp):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in skip_dirs]
        for name in files:
            path = os.path.join(root, name)
            if not DATE_SUFFIX.search(name):
                continue
            base = path[:-11]
            if base in fed_paths:
                idents = fed_paths[base]
                if len(idents) != 1:
                    notes.append("csv file %s is shared by %d fed "
                                 "identifiers: not compared"
                                 % (path, len(idents)))
                    continue
                ident = idents[0]
                for ds, kind, tt, v in read_csv_file(path, types, ident[3],
                                                     notes):
                    pts = fed.setdefault(ident + (ds,), {})
                    pts.setdefault(ms_of(tt), []).append(v)
                continue
            rel = os.path.relpath(base, real_root).split(os.sep)
            if rel[0] == ".." or len(rel) != 2:
                problems.append("csv file %s is neither a real plugin's "
                                "nor one of the fed identifiers" % path)
                continue
            plugin, _, pi = rel[0].partition("-")
            type_name, _, ti = rel[1].partition("-")
            ident = (HOSTNAME, plugin, pi, type_name, ti)
            for ds, kind, tt, v in read_csv_file(path, types, type_name,
                                                 problems):
                s = real.setdefault(ident + (ds,),
                                    {"kind": kind, "points": {}})
                ms = ms_of(tt)
                old = s["points"].get(ms)
                if old is not None and old != v:
                    problems.append("csv: %s has two values at %s: %s and "
                                    "%s" % (series_name(ident + (ds,)), tt,
                                            old, v))
                s["points"][ms] = v
    return real, fed


# ---- the concurrent reader -------------------------------------------------

class ConcurrentReader(threading.Thread):
    """Runs `tsstore ls` and `tsstore dump` against the live store."""

    def __init__(self, cli, store):
        super().__init__(daemon=True)
        self.cli, self.store = cli, store
        self.halt = threading.Event()
        self.runs = {"ls": 0, "dump": 0}
        self.failures = []
        self.seen = {}  # (key, time text) -> value text

    def run(self):
        i = 0
        while not self.halt.is_set():
            cmd = "ls" if i % 2 == 0 else "dump"
            i += 1
            try:
                if cmd == "ls":
                    rc, out, err = run_cli(self.cli, "ls", self.store)
                else:
                    rc, out, err = run_cli(self.cli, "dump", "--format",
                                           "jsonl", self.store)
            except subprocess.TimeoutExpired:
                self.failures.append("tsstore %s hung (> %d s) while "
                                     "collectd ran" % (cmd, CLI_TIMEOUT))
                continue
            except Exception as e:  # reported, never a silent dead thread
                self.failures.append("running tsstore %s: %s: %s"
                                     % (cmd, type(e).__name__, e))
                return
            self.runs[cmd] += 1
            if rc != 0 or err:
                self.failures.append("tsstore %s while collectd ran: exit "
                                     "%d, stderr %r" % (cmd, rc, err))
            elif cmd == "dump":
                seen_here = set()
                try:
                    rows = parse_jsonl(out)
                except ValueError as e:
                    self.failures.append("concurrent dump: unreadable "
                                         "jsonl: %s" % e)
                    rows = []
                for key, _, tt, v, _ in rows:
                    if (key, tt) in seen_here:
                        self.failures.append(
                            "concurrent dump: %s at %s twice"
                            % (series_name(key), tt))
                    seen_here.add((key, tt))
                    self.seen.setdefault((key, tt), v)
            self.halt.wait(0.1)  # pacing only


# ---- the test --------------------------------------------------------------

class Check:
    """Collects failures (each with examples) and notes."""

    def __init__(self):
        self.failures = []
        self.notes = []

    def fail(self, title, examples=()):
        examples = list(examples)
        text = title
        if examples:
            text += " (%d):\n" % len(examples) + "\n".join(
                "    " + e for e in examples[:EXAMPLES])
            if len(examples) > EXAMPLES:
                text += "\n    ... and %d more" % (len(examples) - EXAMPLES)
        self.failures.append(text)

    def need(self, cond, title):
        if not cond:
            self.fail(title)


def compare(chk, dump, oracle, exact, label):
    """Every oracle point in the dump with an equal value."""
    missing, wrong, kind = [], [], []
    for key, s in sorted(oracle.items()):
        d = dump.get(key)
        if d is None:
            missing.append("%s: whole series (%d points) missing"
                           % (series_name(key), len(s["points"])))
            continue
        if d["kind"] != s["kind"]:
            kind.append("%s: kind %s in the dump, %s in types.db"
                        % (series_name(key), d["kind"], s["kind"]))
        for ms, want in sorted(s["points"].items()):
            got = d["points"].get(ms)
            if got is None:
                near = [m for m in (ms - 1, ms + 1) if m in d["points"]]
                missing.append("%s @ %s: %s missing%s" % (
                    series_name(key), ms_text(ms), want,
                    "; the dump has a point 1 ms away at %s (value %s): "
                    "rounding of the time differs" % (
                        ms_text(near[0]), d["points"][near[0]])
                    if near else ""))
                continue
            ok = (same_exact(s["kind"], want, got) if exact
                  else same_csv(s["kind"], want, got))
            if not ok:
                wrong.append("%s @ %s: dump %s, %s %r" % (
                    series_name(key), ms_text(ms), got, label, want))
    if missing:
        chk.fail("%s points missing from the dump" % label, missing)
    if wrong:
        chk.fail("%s points with a different value in the dump" % label,
                 wrong)
    if kind:
        chk.fail("%s series with a different kind" % label, kind)


def verify(chk, args, tmp, store, csv_dir, skip_dirs, feed, types, reader):
    """Everything checked after collectd has stopped."""
    real, fed_csv = scan_csv(tmp, csv_dir, skip_dirs, feed, types,
                             chk.failures, chk.notes)
    chk.need(real, "the csv plugin wrote nothing for the real read plugins")
    plugins_seen = {k[1] for k in real}
    for p in ("cpu", "memory", "load"):
        chk.need(p in plugins_seen, "no csv data from the %s plugin" % p)

    rc, out, err = run_cli(args.cli, "dump", "--format", "csv", store)
    if rc != 0 or err:
        chk.fail("tsstore dump exited %d: %s" % (rc, err))
    problems = []
    dump = parse_dump_csv(out, problems)
    if problems:
        chk.fail("tsstore dump csv is inconsistent", problems)

    # 1. fed values: exact
    compare(chk, dump, feed.oracle, True, "sent")
    # 2. real plugins: the csv plugin's files
    compare(chk, dump, real, False, "csv")
    # 3. nothing else
    extra, off_by_1ms = [], []
    for key, d in sorted(dump.items()):
        o = feed.oracle.get(key) or real.get(key)
        for ms, v in sorted(d["points"].items()):
            if o is None or ms not in o["points"]:
                near = [m for m in (ms - 1, ms + 1)
                        if o and m in o["points"] and m not in d["points"]]
                extra.append("%s @ %s = %s%s" % (
                    series_name(key), ms_text(ms), v,
                    " (series unknown to the oracle)" if o is None else
                    " (the oracle has it 1 ms away)" if near else ""))
                if near and key in real:
                    off_by_1ms.append(
                        "%s: csv plugin %s = %s, tsstore %s = %s"
                        % (series_name(key), ms_text(near[0]),
                           o["points"][near[0]], ms_text(ms), v))
    if extra:
        chk.fail("points in the dump that nobody sent", extra)
    if off_by_1ms:
        chk.fail(
            "real plugin times that csv and tsstore round to different "
            "milliseconds. The csv plugin prints (double)cdtime/2^30 with "
            "%.3f; write_tsstore (to_units) rounds the exact cdtime_t. At "
            "~1.8e9 s a double is 2^-22 s coarse, so the two differ when "
            "the time lies within ~1.2e-7 s of a half millisecond (about "
            "6e-5 of real-plugin points; PUTVAL times cannot trigger it, "
            "they are exact doubles)", off_by_1ms)

    # 4. csv plugin vs what we sent, where csv could write the identifier
    csv_extra, csv_missing, compared = [], [], 0
    for key, pts in sorted(fed_csv.items()):
        o = feed.oracle[key]
        compared += 1
        for ms, texts in sorted(pts.items()):
            want = o["points"].get(ms)
            for text in texts:
                if want is None or not same_csv(
                        o["kind"], text,
                        repr(want) if o["kind"] == "gauge" else str(want)):
                    csv_extra.append("%s @ %s: csv %s, sent %r"
                                     % (series_name(key), ms_text(ms), text,
                                        want))
        for ms in o["points"]:
            if ms not in pts:
                csv_missing.append("%s @ %s" % (series_name(key),
                                                 ms_text(ms)))
    if csv_extra:
        chk.fail("the csv plugin stored fed points differently from what "
                 "was sent (the oracle is wrong?)", csv_extra)
    chk.notes.append("csv plugin cross-check: %d fed series compared, %d "
                     "fed series not writable by csv" % (
                         compared, len(feed.oracle) - compared))
    if csv_missing:
        chk.notes.append(
            "the csv plugin lost %d fed points (its stat/create race when "
            "several write threads create one file; not tsstore's): %s"
            % (len(csv_missing), ", ".join(csv_missing[:3])))

    # 5. ls agrees with dump
    rc, out, err = run_cli(args.cli, "ls", "--format", "csv", store)
    if rc != 0 or err:
        chk.fail("tsstore ls exited %d: %s" % (rc, err))
    ls = parse_ls_csv(out)
    bad = []
    for key in sorted(set(ls) | set(dump)):
        if key not in ls or key not in dump:
            bad.append("%s: only in %s" % (series_name(key),
                                           "ls" if key in ls else "dump"))
            continue
        kind, n, first, last = ls[key]
        pts = dump[key]["points"]
        want = (dump[key]["kind"], len(pts), min(pts), max(pts))
        if (kind, n, first, last) != want:
            bad.append("%s: ls says %s %d points %s..%s, dump has %s %d "
                       "points %s..%s" % (series_name(key), kind, n,
                                          ms_text(first), ms_text(last),
                                          want[0], want[1],
                                          ms_text(want[2]),
                                          ms_text(want[3])))
    if bad:
        chk.fail("tsstore ls disagrees with tsstore dump", bad)

    # 6. jsonl: identifiers byte for byte, and the same points as csv
    rc, out, err = run_cli(args.cli, "dump", "--format", "jsonl", store)
    if rc != 0 or err:
        chk.fail("tsstore dump --format jsonl exited %d: %s" % (rc, err))
    rows = parse_jsonl(out)
    jsonl_ids = {r[0] for r in rows}
    lost = ["%r" % (tuple(f.encode("utf-8") for f in key),)
            for key in sorted(feed.oracle) if key not in jsonl_ids]
    if lost:
        chk.fail("fed identifiers not returned byte for byte", lost)
    from_jsonl = {(r[0], r[1], r[2], r[3]) for r in rows}
    from_csv = {(k, d["kind"], ms_text(ms), v) for k, d in dump.items()
                for ms, v in d["points"].items()}
    if len(rows) != len(from_jsonl) or from_jsonl != from_csv:
        chk.fail("dump --format jsonl and --format csv disagree", [
            "only in jsonl: %r" % (x,) for x in sorted(
                from_jsonl - from_csv, key=repr)] + [
            "only in csv: %r" % (x,) for x in sorted(
                from_csv - from_jsonl, key=repr)])

    # 7. what readers saw while collectd ran is what is stored
    if reader is not None:
        if reader.failures:
            chk.fail("concurrent tsstore runs failed", reader.failures)
        chk.need(reader.runs["ls"] >= 3,
                 "only %d concurrent tsstore ls runs" % reader.runs["ls"])
        differ = []
        for (key, tt), v in sorted(reader.seen.items(), key=repr):
            d = dump.get(key)
            got = d["points"].get(ms_of(tt)) if d else None
            if got != v:
                differ.append("%s @ %s: %s while running, %s at the end"
                              % (series_name(key), tt, v, got))
        if differ:
            chk.fail("points seen by a concurrent dump changed or vanished",
                     differ)

    n_fed = sum(len(s["points"]) for s in feed.oracle.values())
    n_real = sum(len(s["points"]) for s in real.values())
    chk.notes.append("compared %d fed points in %d series and %d real "
                     "plugin points in %d series (plugins: %s); %d "
                     "concurrent ls and %d dump runs" % (
                         n_fed, len(feed.oracle), n_real, len(real),
                         ", ".join(sorted(plugins_seen)),
                         reader.runs["ls"] if reader else 0,
                         reader.runs["dump"] if reader else 0))


def pick_base(now):
    """now - 60 s, moved back if the fed times would cross a window."""
    base = now - 60
    if (base + 45) // SPAN_S != base // SPAN_S:
        base = (base + 45) // SPAN_S * SPAN_S - 46
    return base


def present(cli, store, feed):
    """True when `tsstore dump` holds every point fed so far."""
    rc, out, _ = run_cli(cli, "dump", "--format", "jsonl", store)
    if rc != 0:
        return False
    have = {(r[0], ms_of(r[2])) for r in parse_jsonl(out)}
    return all((k, ms) in have for k, s in feed.oracle.items()
               for ms in s["points"])


def flush(chk, sock):
    status, msg, _ = sock.command("FLUSH")
    if status != 0 or not re.search(r"\b0 errors", msg):
        chk.fail("FLUSH replied %d %s" % (status, msg))
    return status == 0


def run(args, chk, tmp):
    types = load_types_db(TYPES_DB)
    store = os.path.join(tmp, "store")
    # two levels deep: host ".." must stay inside tmp
    csv_dir = os.path.join(tmp, "csv", "data")
    cd = Collectd(os.path.join(tmp, "collectd"), args.plugin,
                  ["logfile", "write_tsstore", "csv", "unixsock"]
                  + READ_PLUGINS,
                  {"csv": "DataDir %s\nStoreRates false" % quote(csv_dir),
                   "write_tsstore": "\n".join([
                       "DataDir %s" % quote(store),
                       'Precision "ms"',
                       'SegmentSpan "%ds"' % SPAN_S,
                       # short, so the maintenance thread seals the old
                       # window on its own within the test
                       'Grace "%ds"' % GRACE_S,
                       "Shards 4"])},
                  hostname=HOSTNAME)
    skip_dirs = {store, cd.plugin_dir}
    reader = None
    sock = None
    try:
        cd.start()
        line = cd.wait_log("write_tsstore plugin: version", 15)
        cd.wait_socket(15)
        chk.need(os.path.exists(os.path.join(store, "STORE")),
                 "no STORE file after write_tsstore started: %s" % line)
        reader = ConcurrentReader(args.cli, store)
        reader.start()
        sock = cd.connect()

        now = int(time.time())
        base = pick_base(now)
        late = (now // SPAN_S - 2) * SPAN_S + 100
        feed = build_feed(types, base, late)
        bad = []
        for phase in ("late1", "main", "late2"):
            if phase == "main":
                # the old window's first points: sealed by the maintenance
                # thread GRACE_S after they arrived, without a FLUSH
                keys = [k for k in feed.oracle if k[1] == "late"]

                def sealed():
                    rc, out, _ = run_cli(args.cli, "ls", "--format", "csv",
                                         store)
                    return rc == 0 and all(k in parse_ls_csv(out)
                                           for k in keys)
                try:
                    wait_for(sealed, 10, "the maintenance thread to seal "
                             "an old window", interval=0.1, alive=cd.alive)
                except TestFailure as e:
                    chk.fail(str(e))
            for ph, cmd in feed.commands:
                if ph != phase:
                    continue
                status, msg, _ = sock.command(cmd)
                if status != 0:
                    bad.append("%s -> %d %s" % (cmd, status, msg))
        if bad:
            chk.fail("PUTVAL commands failed", bad)

        # PUTVAL only queues for the write threads: flush until the store
        # has everything (FLUSH itself is synchronous in the plugin)
        def complete():
            return flush(chk, sock) and present(args.cli, store, feed)
        try:
            wait_for(complete, 15, "every fed point in tsstore dump after "
                     "FLUSH", interval=0.2, alive=cd.alive)
        except TestFailure as e:
            chk.fail(str(e))

        # let the real read plugins produce a few values
        def real_values():
            """Values in the load and memory csv files (the fewer)."""
            counts = []
            for sub, prefix in (("load", "load-"), ("memory", "memory-used-")):
                d = os.path.join(csv_dir, HOSTNAME, sub)
                n = 0
                if os.path.isdir(d):
                    for name in os.listdir(d):
                        if name.startswith(prefix) and \
                                DATE_SUFFIX.fullmatch(name[len(prefix) - 1:]):
                            with open(os.path.join(d, name)) as f:
                                n += sum(1 for ln in f if ln[:1].isdigit())
                counts.append(n)
            return min(counts)
        try:
            wait_for(lambda: real_values() >= 3, 10, "3 values of load and "
                     "memory in the csv files", interval=0.2, alive=cd.alive)
        except TestFailure as e:
            chk.fail(str(e))
        flush(chk, sock)
        # two more intervals: values after the last FLUSH, which only the
        # shutdown seal writes
        after = real_values() + 2
        try:
            wait_for(lambda: real_values() >= after, 10, "2 more values of "
                     "load and memory after the last FLUSH", interval=0.2,
                     alive=cd.alive)
        except TestFailure as e:
            chk.fail(str(e))
        reader.halt.set()
        reader.join(CLI_TIMEOUT + 5)
        sock.close()
        sock = None
        rc = cd.stop(20)
        chk.need(rc == 0, "collectd exited with status %s" % rc)
    finally:
        if reader is not None:
            reader.halt.set()
        if sock is not None:
            sock.close()
        cd.kill()

    errors = cd.log_lines("error", "write_tsstore")
    if errors:
        chk.fail("ERROR lines from write_tsstore in the log", errors)
    warnings = cd.log_lines("warning", "write_tsstore")
    if warnings:
        chk.notes.append("write_tsstore warnings: %s" % warnings)
    other = [ln for ln in cd.log_lines("error") if "write_tsstore" not in ln]
    if other:
        chk.notes.append("%d ERROR lines from other parts of collectd, "
                         "e.g. %s" % (len(other), other[0]))
    verify(chk, args, tmp, store, csv_dir, skip_dirs, feed, types, reader)
    return cd


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--plugin", required=True, help="write_tsstore.so")
    ap.add_argument("--cli", required=True, help="the tsstore CLI")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory")
    args = ap.parse_args()
    args.plugin = os.path.abspath(args.plugin)
    args.cli = os.path.abspath(args.cli)
    require_collectd(STOCK)
    for p in (args.plugin, args.cli):
        if not os.path.exists(p):
            print("FAIL: %s does not exist (build first)" % p)
            return 1
    started = time.monotonic()
    tmp = make_tempdir("tss-itest-")
    chk = Check()
    cd = None
    try:
        cd = run(args, chk, tmp)
    except (TestFailure, OSError, subprocess.SubprocessError) as e:
        chk.fail("%s: %s" % (type(e).__name__, e))
    except Exception as e:  # a bug in the test itself: show it fully
        chk.fail("unexpected %s:\n%s" % (type(e).__name__,
                                          traceback.format_exc()))
    elapsed = time.monotonic() - started
    for n in chk.notes:
        print("note: %s" % n)
    if chk.failures:
        print("\nFAIL (%.1f s): %d problem(s)\n" % (elapsed,
                                                   len(chk.failures)))
        for i, f in enumerate(chk.failures, 1):
            print("%d. %s\n" % (i, f))
        log = os.path.join(tmp, "collectd", "collectd.log")
        print("---- collectd log (%s) ----" % log)
        if cd is not None:
            print(cd.log_text())
        else:
            for p in (log, os.path.join(tmp, "collectd", "collectd.out")):
                if os.path.exists(p):
                    with open(p, errors="replace") as f:
                        print(f.read())
        print("---- end of log; files kept in %s ----" % tmp)
        return 1
    print("PASS (%.1f s)" % elapsed)
    if args.keep:
        print("files kept in %s" % tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
