#!/usr/bin/env python3
"""tsstore against the tools collectd users would pick instead.

Run through bench/compare/run (which builds the programs first); see
`run --help` and docs/benchmarks.md ("Comparison: ..."). Python 3,
standard library only. Sections (--only):

  compression  bytes per sample: tsstore import vs Prometheus blocks
               (promtool tsdb create-blocks-from openmetrics), on the real
               collectd data and on a synthetic csv tree
  ingest       collectd with a null writer, write_tsstore, csv, rrdtool:
               CPU, bytes written, disk, RSS, highest sustained rate
  longrun      bytes written per stored point over a long run at 10 s
  query        one series over 7 days, all series over 1 hour: tsstore
               dump vs rrdtool fetch vs promtool tsdb dump
  scale        head memory per series, 100,000 and 1,000,000 series

Prints a markdown report; --json FILE keeps every raw figure.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

COLLECTD = "/usr/sbin/collectd"
STOCK_PLUGIN_DIR = "/usr/lib/collectd"
TYPES_DB = "/usr/share/collectd/types.db"
CLK_TCK = os.sysconf("SC_CLK_TCK")
MARKER = "loadgen/loadgen/gauge-marker"


def log(*a):
    print("compare:", *a, file=sys.stderr, flush=True)


class Failure(Exception):
    pass


# ---- figures ---------------------------------------------------------------

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def spread(xs, fmt="%.3g"):
    """'median (min..max)' of a list of numbers."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return "–"
    if len(xs) == 1:
        return fmt % xs[0]
    return "%s (%s..%s)" % (fmt % med(xs), fmt % min(xs), fmt % max(xs))


def ratio(a, b, fmt="%.3g"):
    if a is None or b is None or b == 0:
        return "–"
    return fmt % (a / b)


def git_commit():
    """The checkout's commit (with -dirty), or "unknown"."""
    try:
        p = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(
            __file__)), "describe", "--always", "--dirty"],
            capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return "unknown"
    return p.stdout.strip() if p.returncode == 0 else "unknown"


def machine():
    mem = 0
    with open("/proc/meminfo") as f:
        for ln in f:
            if ln.startswith("MemTotal:"):
                mem = int(ln.split()[1]) * 1024
    model = ""
    with open("/proc/cpuinfo") as f:
        for ln in f:
            if ln.startswith("model name"):
                model = ln.split(":", 1)[1].strip()
                break
    return {"cores": os.cpu_count(), "memory_gib": round(mem / 2**30, 1),
            "cpu": model, "kernel": platform.release(),
            "date": datetime.datetime.now(datetime.timezone.utc)
            .strftime("%Y-%m-%d %H:%M UTC"),
            "load": os.getloadavg()}


def run_cmd(cmd, **kw):
    """Runs cmd, raises Failure with its stderr when it fails."""
    p = subprocess.run(cmd, stdout=kw.pop("stdout", subprocess.PIPE),
                       stderr=subprocess.PIPE, **kw)
    if p.returncode != 0:
        raise Failure("%s failed (%d): %s" % (" ".join(map(str, cmd)),
                      p.returncode, p.stderr.decode(errors="replace")[-2000:]))
    return p


def timed(cmd, stdout=subprocess.DEVNULL):
    """Wall-clock seconds of one run of cmd (output discarded)."""
    t = time.monotonic()
    p = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE)
    dt = time.monotonic() - t
    if p.returncode != 0:
        raise Failure("%s failed: %s" % (" ".join(cmd), p.stderr[-500:]))
    return dt


def file_bytes(path):
    """Sum of the file sizes under path (apparent sizes)."""
    n = 0
    for d, _, files in os.walk(path):
        for f in files:
            try:
                n += os.lstat(os.path.join(d, f)).st_size
            except FileNotFoundError:
                pass
    return n


def disk_bytes(path):
    """Bytes allocated on disk under path (st_blocks, what du counts)."""
    n = 0
    for d, dirs, files in os.walk(path):
        for f in files + dirs:
            try:
                n += os.lstat(os.path.join(d, f)).st_blocks * 512
            except FileNotFoundError:
                pass
    return n


# ---- /proc -------------------------------------------------------------------

def proc_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def proc_io(pid):
    out = {}
    with open("/proc/%d/io" % pid) as f:
        for ln in f:
            k, v = ln.split(":")
            out[k.strip()] = int(v)
    return out


def proc_rss(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith(("VmRSS:", "VmHWM:")):
                out[ln.split(":")[0]] = int(ln.split()[1]) * 1024
    return out


def sample(pid):
    io = proc_io(pid)
    return {"t": time.monotonic(), "cpu": proc_cpu(pid),
            "write_bytes": io["write_bytes"], "wchar": io["wchar"],
            **proc_rss(pid)}


# ---- collectd ------------------------------------------------------------------

def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Unixsock:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(120)
        self.sock.connect(path)
        self.rfile = self.sock.makefile("rb")

    def command(self, line):
        self.sock.sendall(line.encode() + b"\n")
        reply = self.rfile.readline().decode(errors="replace").rstrip("\n")
        if not reply:
            raise Failure("unixsock closed the connection after %r" % line)
        st, _, msg = reply.partition(" ")
        st = int(st)
        extra = [self.rfile.readline().decode().rstrip("\n")
                 for _ in range(st if st > 0 else 0)]
        return st, msg, extra

    def getval(self, ident):
        st, _, extra = self.command("GETVAL " + quote(ident))
        if st < 1 or not extra[0].startswith("value="):
            return None
        return float(extra[0][6:])

    def close(self):
        self.rfile.close()
        self.sock.close()


class Daemon:
    """One collectd -f with the loadgen and one writer, in its own dir."""

    def __init__(self, root, plugins, blocks, interval=1.0, options=(),
                 env=None):
        """plugins: [(name, path of the .so)] in LoadPlugin order; env:
        variables set for collectd on top of ours."""
        self.root = root
        self.env = dict(os.environ, **env) if env else None
        self.socket = os.path.join(root, "sock")
        self.log = os.path.join(root, "collectd.log")
        self.proc = None
        self.rusage = None
        pdir = os.path.join(root, "plugins")
        os.makedirs(pdir)
        names = ["logfile", "unixsock"] + [n for n, _ in plugins]
        sos = dict(plugins)
        for n in names:
            shutil.copyfile(sos.get(n, os.path.join(STOCK_PLUGIN_DIR,
                                                    n + ".so")),
                            os.path.join(pdir, n + ".so"))
        blocks = dict(blocks)
        blocks["logfile"] = ("LogLevel info\nFile %s\nTimestamp true"
                             % quote(self.log))
        blocks["unixsock"] = "SocketFile %s\nDeleteSocket true" % quote(
            self.socket)
        lines = ["Hostname \"bench\"", "FQDNLookup false",
                 "BaseDir %s" % quote(root),
                 "PIDFile %s" % quote(os.path.join(root, "pid")),
                 "PluginDir %s" % quote(pdir),
                 "TypesDB %s" % quote(TYPES_DB),
                 "Interval %g" % interval] + list(options)
        for n in names:
            lines.append("LoadPlugin %s" % n)
            if blocks.get(n):
                lines += ["<Plugin %s>" % n] + [
                    "  " + ln for ln in blocks[n].splitlines()] + [
                    "</Plugin>"]
        self.conf = os.path.join(root, "collectd.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.us = None

    def start(self):
        out = open(os.path.join(self.root, "collectd.out"), "wb")
        self.proc = subprocess.Popen([COLLECTD, "-f", "-C", self.conf],
                                     stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, cwd=self.root,
                                     env=self.env)
        out.close()
        end = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise Failure("collectd exited (%d): %s" % (
                    self.proc.returncode, self.tail()))
            if os.path.exists(self.socket):
                try:
                    self.us = Unixsock(self.socket)
                    break
                except OSError:
                    pass
            if time.monotonic() > end:
                raise Failure("collectd's socket did not appear")
            time.sleep(0.02)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def tail(self):
        text = ""
        for p in (self.log, os.path.join(self.root, "collectd.out")):
            try:
                with open(p, errors="replace") as f:
                    text += f.read()[-3000:]
            except FileNotFoundError:
                pass
        return text

    def marker(self):
        v = self.us.getval(MARKER)
        return int(v) if v is not None else 0

    def wait_marker(self, n, timeout, poll=0.02):
        end = time.monotonic() + timeout
        while True:
            if self.marker() >= n:
                return time.monotonic()
            if self.proc.poll() is not None:
                raise Failure("collectd exited: %s" % self.tail())
            if time.monotonic() > end:
                raise Failure("%s: marker %d not reached in %.0f s (at %d)"
                              % (self.root, n, timeout, self.marker()))
            time.sleep(poll)

    def wait_idle(self, timeout, window=0.5, busy=0.05):
        """Waits until collectd used < busy of a core over `window` s."""
        end = time.monotonic() + timeout
        last = proc_cpu(self.pid)
        while time.monotonic() < end:
            time.sleep(window)
            now = proc_cpu(self.pid)
            if now - last < busy * window:
                return time.monotonic() - window
            last = now
        raise Failure("%s: collectd still busy after %.0f s"
                      % (self.root, timeout))

    def flush(self):
        st, msg, _ = self.us.command("FLUSH")
        return st

    def stop(self, timeout=600):
        """SIGTERM, wait4: rusage of the whole run (all threads)."""
        if self.us:
            self.us.close()
            self.us = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        end = time.monotonic() + timeout
        while True:
            pid, status, ru = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                self.rusage = ru
                break
            if time.monotonic() > end:
                self.proc.kill()
                raise Failure("collectd did not stop in %d s" % timeout)
            time.sleep(0.05)
        return {"cpu": self.rusage.ru_utime + self.rusage.ru_stime,
                "write_bytes": self.rusage.ru_oublock * 512,
                "maxrss": self.rusage.ru_maxrss * 1024,
                "t": time.monotonic()}

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# ---- writers -----------------------------------------------------------------

def writers(b, names):
    """name -> (label, [(plugin, .so)], {plugin: block text}) """
    data = '"{data}"'
    all_ = {
        "null": ("null writer (baseline)", [("nullwriter", b.nullwriter)],
                 {}),
        "tsstore": ("write_tsstore", [("write_tsstore", b.write_tsstore)],
                    {"write_tsstore": "DataDir " + data}),
        "tsstore-span60": (
            "write_tsstore, SegmentSpan 60s, Grace 0 (seals in the run)",
            [("write_tsstore", b.write_tsstore)],
            {"write_tsstore": "DataDir %s\nSegmentSpan \"60s\"\nGrace \"0\""
             % data}),
        "tsstore-snap60": (
            "write_tsstore, SnapshotInterval 60s",
            [("write_tsstore", b.write_tsstore)],
            {"write_tsstore": "DataDir %s\nSnapshotInterval \"60s\"" % data}),
        "tsstore-sync600": (
            "write_tsstore, SnapshotSync 600s",
            [("write_tsstore", b.write_tsstore)],
            {"write_tsstore": "DataDir %s\nSnapshotSync \"600s\"" % data}),
        "csv": ("csv", [("csv", None)],
                {"csv": "DataDir %s\nStoreRates false" % data}),
        "rrdtool": ("rrdtool (defaults)", [("rrdtool", None)],
                    {"rrdtool": "DataDir " + data}),
        "rrdtool-cache": ("rrdtool, CacheTimeout 120", [("rrdtool", None)],
                          {"rrdtool": "DataDir %s\nCacheTimeout 120\n"
                           "CacheFlush 900" % data}),
    }
    return [(n,) + all_[n] for n in names]


def make_daemon(b, root, writer, loadgen_block, interval, options=(),
                loadgen_last=False, env=None):
    _, _, plugins, blocks = writer
    data = os.path.join(root, "data")
    os.makedirs(root)
    plugins = [(n, so or os.path.join(STOCK_PLUGIN_DIR, n + ".so"))
               for n, so in plugins]
    blk = {k: v.replace("{data}", data) for k, v in blocks.items()}
    blk["loadgen"] = loadgen_block
    lg = [("loadgen", b.loadgen)]
    return Daemon(root, plugins + lg if loadgen_last else lg + plugins, blk,
                  interval=interval, options=options, env=env)


# ---- ingest ----------------------------------------------------------------

def ingest_steady(b, tmp, writer, a, run):
    """Warm-up rounds, then `rounds` measured rounds at a.interval."""
    root = os.path.join(tmp, "steady-%s-%d" % (writer[0], run))
    go = os.path.join(root, "go")
    status = os.path.join(root, "status.json")
    S, W, R = a.series, a.warmup, a.rounds
    block = ("Series %d\nInterval %g\nRounds %d\nPauseAfter %d\n"
             "ResumeFile %s\nStatusFile %s"
             % (S, a.interval, W + R, W, quote(go), quote(status)))
    d = make_daemon(b, root, writer, block, a.interval)
    try:
        d.start()
        d.wait_marker(W, 60 + W * a.interval * 20)
        d.flush()
        d.wait_idle(120)
        s0 = sample(d.pid)
        open(go, "w").close()
        time.sleep(max(0, R * a.interval - 1))
        t_end = d.wait_marker(W + R, 60 + R * a.interval * 20, poll=0.05)
        s1 = sample(d.pid)
        d.wait_idle(300)
        s2 = sample(d.pid)
        fin = d.stop()
    except BaseException:
        d.kill()
        raise
    with open(status) as f:
        st = json.load(f)
    n = S * R
    data = os.path.join(root, "data")
    r = {
        "values": n,
        "cpu_us": (s1["cpu"] - s0["cpu"]) / n * 1e6,
        "cpu_us_total": (fin["cpu"] - s0["cpu"]) / n * 1e6,
        "write_bytes": (s1["write_bytes"] - s0["write_bytes"]) / n,
        "write_bytes_total": (fin["write_bytes"] - s0["write_bytes"]) / n,
        "wchar": (s2["wchar"] - s0["wchar"]) / n,
        "rss": s1["VmRSS"],
        "disk": disk_bytes(data) / (S * (W + R)),
        "lag": t_end - time.monotonic() + (time.time() - st["end_time"])
        if "end_time" in st else None,
    }
    errs = [ln for ln in open(d.log, errors="replace")
            if "[error]" in ln and "unixsock conn" not in ln]
    if errs:
        log("%s: %d ERROR lines, first: %s" % (writer[0], len(errs),
                                                errs[0].strip()))
    if not a.keep:
        shutil.rmtree(root, ignore_errors=True)
    return r


def read_queue(path):
    """QueueFile lines: (wall time, dispatched, taken, collectd's
    queue_length or -1)."""
    rows = []
    try:
        with open(path) as f:
            for ln in f:
                p = ln.split()
                if len(p) == 4:
                    rows.append((float(p[0]), int(p[1]), int(p[2]),
                                 float(p[3])))
    except FileNotFoundError:
        pass
    return rows


def thirds(xs, t0, t1):
    """Medians of the (t, x) in the first and the last third of [t0, t1]."""
    span = (t1 - t0) / 3
    first = [x for t, x in xs if t0 <= t < t0 + span]
    last = [x for t, x in xs if t1 - span <= t <= t1]
    return med(first), med(last)


def ingest_sustained(b, tmp, writer, a, rate, tag):
    """One trial: after a warm-up round, `rate` values/s for
    a.sustain_window s: S = rate * a.interval / c series reporting every
    a.interval s (c = a.sustain_compress: rounds every a.interval / c s of
    the wall clock, round k timed k * a.interval s after the first; 1: real
    time). Sustained if loadgen kept its schedule, our part of collectd's
    write queue did not grow, and collectd went idle soon after the last
    round (a writer's own queue, as rrdtool's, drained)."""
    window = a.sustain_window
    c = a.sustain_compress.get(writer[0], a.sustain_compress.get("", 1.0))
    S = max(1, int(round(rate * a.interval / c)))
    interval = a.interval / c
    R = max(3, int(round(window / interval)))
    if S > a.sustain_max_series:
        return {"target": rate, "series": S, "ok": False, "why": "cap",
                "compress": c}
    root = os.path.join(tmp, "sus-%s-%s" % (writer[0], tag))
    go = os.path.join(root, "go")
    status = os.path.join(root, "status.json")
    qfile = os.path.join(root, "queue.txt")
    block = ("Series %d\nInterval %.9g\nRounds %d\nPauseAfter 1\n"
             "ResumeFile %s\nStatusFile %s\nTimeStep %g\nQueueFile %s"
             % (S, interval, 1 + R, quote(go), quote(status), a.interval,
                quote(qfile)))
    # the writer first: its write callback runs before loadgen's counting
    # one, registered at loadgen's init
    d = make_daemon(b, root, writer, block, a.interval,
                    options=["CollectInternalStats true"], loadgen_last=True)
    r = {"target": rate, "series": S, "rounds": R, "interval": interval,
         "compress": c, "ok": False, "why": ""}
    try:
        d.start()
        d.wait_marker(1, 120)
        d.flush()
        d.wait_idle(120)
        s0 = sample(d.pid)
        open(go, "w").close()
        t_go = time.monotonic()
        deadline = t_go + R * interval * (1 + a.sustain_late) + 2
        while not os.path.exists(status) and time.monotonic() < deadline:
            if d.proc.poll() is not None:
                raise Failure("collectd exited: %s" % d.tail())
            time.sleep(0.05)
        t_rounds = time.monotonic()
        s1 = sample(d.pid)
        rows = read_queue(qfile)
        if not os.path.exists(status):
            r["why"] = "schedule"  # loadgen still dispatching: fell behind
            ph = [x for x in rows if x[0] >= time.time() - (
                time.monotonic() - t_go)]
            if len(ph) >= 2:
                r["achieved"] = (ph[-1][1] - ph[0][1]) / (ph[-1][0] - ph[0][0])
            return r
        with open(status) as f:
            st = json.load(f)
        t0, t1 = st["phase_start"], st["end_time"]
        r["seconds"] = t1 - t0
        r["achieved"] = S * R / (t1 - t0)
        r["cpu_us"] = (s1["cpu"] - s0["cpu"]) / (S * R) * 1e6
        r["rss"] = s1["VmRSS"]
        ph = [x for x in rows if t0 <= x[0] <= t1]
        q = [(t, dd - k) for t, dd, k, _ in ph]
        r["q_first"], r["q_last"] = thirds(q, t0, t1)
        r["q_max"] = max((x for _, x in q), default=None)
        cq = [(t, c) for t, _, _, c in ph if c >= 0]
        r["cq_first"], r["cq_last"] = thirds(cq, t0, t1)
        r["samples"] = len(q)
        if t1 - t0 > R * interval * (1 + a.sustain_late):
            r["why"] = "schedule"
            return r
        if r["q_first"] is None or r["q_last"] is None or \
                r["q_last"] > r["q_first"] + a.sustain_slack * S + 1:
            r["why"] = "queue"
            return r
        # what is still queued (the marker after the last round), and
        # until collectd's threads go quiet: the writer's own backlog
        limit = max(a.sustain_drain, 0.1 * window)
        try:
            d.wait_marker(1 + R, limit + 1)
            t_idle = d.wait_idle(limit + 1, window=0.25)
        except Failure:
            r["drain"] = time.monotonic() - t_rounds
            r["why"] = "drain"
            return r
        r["drain"] = max(0.0, t_idle - t_rounds)
        if r["drain"] > limit:
            r["why"] = "drain"
            return r
        r["ok"] = True
        return r
    finally:
        d.kill()
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)


def sustain_search(b, tmp, writer, a, run, start, factor):
    """The highest sustained rate: from `start`, × or ÷ `factor` until a
    pass and a failure bracket it, then bisection (geometric) until the
    bracket is within a.sustain_tol, at most a.sustain_trials trials."""
    trials, lo, hi, rate = [], None, None, float(start)
    while len(trials) < a.sustain_trials:
        t = ingest_sustained(b, tmp, writer, a, rate,
                             "%d-%d" % (run, len(trials)))
        trials.append(t)
        log("  %s %.0f values/s (%d series): %s%s (queue %s -> %s, collectd's %s -> %s, "
            "drain %s)" % (writer[0], rate, t["series"], "ok" if t["ok"] else "FAIL ",
                           t["why"], *[
                               "%.0f" % t[k] if t.get(k) is not None else "–"
                               for k in ("q_first", "q_last", "cq_first",
                                         "cq_last")],
                           "%.2f s" % t["drain"] if "drain" in t else "–"))
        if t["why"] == "cap":
            break
        if t["ok"]:
            lo = rate if lo is None else max(lo, rate)
        else:
            hi = rate if hi is None else min(hi, rate)
        if lo is not None and hi is not None:
            if hi / lo <= a.sustain_tol:
                break
            rate = (lo * hi) ** 0.5
        elif lo is not None:
            rate = lo * factor
        else:
            rate = hi / factor
    why = [t["why"] for t in trials if not t["ok"] and t["target"] == hi]
    return {"rate": lo, "failed_at": hi, "why": why[0] if why else None,
            "trials": trials,
            "cpu_us": next((t.get("cpu_us") for t in trials
                            if t["ok"] and t["target"] == lo), None),
            "drain": next((t.get("drain") for t in trials
                           if t["ok"] and t["target"] == lo), None)}


def section_ingest(b, tmp, a, out):
    ws = writers(b, a.writers)
    sws = writers(b, a.sustain_writers)
    res = {w[0]: {"steady": [], "sustained": []} for w in ws + sws}
    modes = a.ingest_modes
    for run in range(a.runs):
        if "steady" in modes:
            for w in ws:  # interleaved: every writer sees the same load
                log("ingest run %d/%d: %s (steady)" % (run + 1, a.runs,
                                                       w[0]))
                res[w[0]]["steady"].append(ingest_steady(b, tmp, w, a, run))
        if "sustained" in modes:
            for w in sws:
                prev = [x["rate"] for x in res[w[0]]["sustained"]
                        if x["rate"]]
                if prev:
                    start, factor = prev[-1], a.sustain_step
                elif w[0] in a.sustain_start:
                    start, factor = a.sustain_start[w[0]], a.sustain_step
                else:
                    start, factor = a.sustain_start.get("", 20000), 2.0
                log("ingest run %d/%d: %s (sustained, from %.0f values/s)"
                    % (run + 1, a.runs, w[0], start))
                res[w[0]]["sustained"].append(
                    sustain_search(b, tmp, w, a, run, start, factor))
    out["ingest"] = {"series": a.series, "interval": a.interval,
                     "warmup": a.warmup, "rounds": a.rounds, "runs": a.runs,
                     "modes": modes, "sustain_window": a.sustain_window,
                     "sustain_tol": a.sustain_tol,
                     "sustain_late": a.sustain_late,
                     "sustain_drain": a.sustain_drain,
                     "sustain_compress": a.sustain_compress,
                     "sustain_slack": a.sustain_slack,
                     "writers": {w[0]: w[1] for w in ws + sws},
                     "results": res}
    return ingest_markdown(out["ingest"])


def ingest_markdown(ing):
    res = ing["results"]

    def col(w, kind, key):
        return [r[key] for r in res[w][kind]]

    def own(w, key, i):
        """The writer's own share in run i: minus the same run's baseline."""
        if "null" not in res:
            return None
        return res[w]["steady"][i][key] - res["null"]["steady"][i][key]

    lines = []
    steady = [w for w in res if res[w]["steady"]]
    if steady:
        lines.append("Load: %d series (value lists of one value), Interval "
                     "%g s, %d warm-up rounds, %d measured rounds (%d values)"
                     " per run; %d runs per writer, interleaved."
                     % (ing["series"], ing["interval"], ing["warmup"],
                        ing["rounds"], ing["series"] * ing["rounds"],
                        ing["runs"]))
        lines.append("")
        lines.append("| writer | CPU µs/value (collectd total) "
                     "| incl. shutdown | own CPU µs/value (− baseline) "
                     "| write_bytes/value | incl. shutdown | wchar/value "
                     "| on disk bytes/value | RSS MiB |")
        lines.append("|---|---|---|---|---|---|---|---|---|")
    owns = {}
    for w in steady:
        n = len(res[w]["steady"])
        owns[w] = [own(w, "cpu_us", i) for i in range(n)] \
            if w != "null" and "null" in steady else []
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            ing["writers"][w],
            spread(col(w, "steady", "cpu_us")),
            spread(col(w, "steady", "cpu_us_total")),
            spread(owns[w]) if owns[w] else "–",
            spread(col(w, "steady", "write_bytes")),
            spread(col(w, "steady", "write_bytes_total")),
            spread(col(w, "steady", "wchar")),
            spread(col(w, "steady", "disk"), "%.4g"),
            spread([x / 2**20 for x in col(w, "steady", "rss")], "%.0f")))
    if steady and "tsstore" in steady:
        lines.append("")
        # ratios, run by run (same run = same conditions), then the median
        lines.append("| writer X (median of the per-run ratios) | X's own "
                     "CPU ÷ write_tsstore's | X's write_bytes ÷ "
                     "write_tsstore's (incl. shutdown) | X's bytes on disk "
                     "÷ write_tsstore's |")
        lines.append("|---|---|---|---|")
        for other in [w for w in steady if w.startswith(("csv", "rrdtool"))]:
            def rr(key):
                xs = []
                for i in range(min(len(res[other]["steady"]),
                                   len(res["tsstore"]["steady"]))):
                    t = res["tsstore"]["steady"][i][key]
                    o = res[other]["steady"][i][key]
                    if t and o:
                        xs.append(o / t)
                return spread(xs) + "×" if xs else "–"
            n = min(len(owns.get(other, [])), len(owns.get("tsstore", [])))
            cpu = [owns[other][i] / owns["tsstore"][i] for i in range(n)
                   if owns["tsstore"][i] and owns["tsstore"][i] > 0]
            lines.append("| %s | %s | %s | %s |" % (
                ing["writers"][other], spread(cpu) + "×" if cpu else "–",
                rr("write_bytes_total"), rr("disk")))
    sus = [w for w in res if res[w]["sustained"]]
    if sus:
        if lines:
            lines.append("")
        lines.append(
            "Sustained: the highest rate R at which, for %g s, with "
            "R × %g s ÷ C series reporting every %g s (rounds every %g s "
            "÷ C; C = %s), loadgen kept its "
            "schedule (within %.0f%%), collectd's write queue did not grow "
            "(the median of our values in it before a round, over the last "
            "third of the window, at most %.0f%% of a round above the first "
            "third's) and collectd was idle within %g s of the last round "
            "(a writer's own queue drained); searched per writer by "
            "doubling, then bisection to within %.0f%%; %d runs, "
            "interleaved (medians, min..max)."
            % (ing["sustain_window"], ing["interval"], ing["interval"],
               ing["interval"], ", ".join(
                   ("%s: %g" % (k, v)) if k else "%g" % v
                   for k, v in ing["sustain_compress"].items()),
               ing["sustain_late"] * 100, ing["sustain_slack"] * 100,
               max(ing["sustain_drain"], 0.1 * ing["sustain_window"]),
               (ing["sustain_tol"] - 1) * 100, ing["runs"]))
        lines.append("")
        lines.append("| writer | sustained values/s | write_tsstore's ÷ X's "
                     "| failed above it on | collectd CPU µs/value at it "
                     "| idle after the last round, s | trials |")
        lines.append("|---|---|---|---|---|---|---|")
        for w in sus:
            runs = res[w]["sustained"]
            rates = [x["rate"] for x in runs if x["rate"]]
            ratio = []
            if "tsstore" in sus:
                for x, t in zip(runs, res["tsstore"]["sustained"]):
                    if x["rate"] and t["rate"]:
                        ratio.append(t["rate"] / x["rate"])
            whys = sorted({x["why"] for x in runs if x["why"]})
            capped = any(t["why"] == "cap" for x in runs
                         for t in x["trials"])
            lines.append("| %s | %s | %s | %s | %s | %s | %d |" % (
                ing["writers"][w],
                ("≥ " if capped else "") + spread(rates, "%.0f")
                if rates else "below %.0f" % min(
                    x["failed_at"] for x in runs),
                spread(ratio) + "×" if ratio and w != "tsstore" else "–",
                ", ".join(whys) or "–",
                spread([x["cpu_us"] for x in runs if x["cpu_us"]]),
                spread([x["drain"] for x in runs if x["drain"] is not None],
                       "%.2f"),
                sum(len(x["trials"]) for x in runs)))
    return "\n".join(lines)


# ---- long run ---------------------------------------------------------------

def unpack_real(a, tmp):
    """The real collectd csv tree, unpacked once; None without a tarball."""
    if not a.tarball or not os.path.exists(a.tarball):
        return None
    real = os.path.join(tmp, "real-csv")
    if not os.path.isdir(real):
        os.makedirs(real)
        run_cmd(["tar", "-xJf", a.tarball, "-C", real])
    subdirs = [os.path.join(real, d) for d in os.listdir(real)
               if os.path.isdir(os.path.join(real, d))]
    return subdirs[0] if len(subdirs) == 1 else real


def section_longrun(b, tmp, a, out):
    """All writers at once, each in its own collectd, for a.minutes."""
    rounds = int(a.minutes * 60 / a.long_interval)
    loads = []  # (name, data, block without Rounds/Interval)
    for S in a.long_series:
        loads.append(("synthetic-%d" % S, "synthetic", S, "Series %d" % S))
    real = unpack_real(a, tmp) if a.long_replay else None
    if a.long_replay and not real and a.smoke:  # exercise the replay code
        real = os.path.join(tmp, "replay-csv")
        run_cmd([b.gen_csv, "--series", "10", "--points", "20", real])
    for c in a.long_replay if real else []:
        loads.append(("real-x%d" % c, "real", c,
                      "ReplayDir %s\nCopies %d" % (quote(real), c)))
    daemons = []
    # --long-copies N: N daemons of each writer and load side by side, the
    # same half hour: medians of N runs, every ratio within one run
    for lname, kind, size, lblock in loads:
        for w in writers(b, a.long_writers):
            for dec in ([-1, 2] if w[0] == "tsstore" and a.long_decimals
                        and kind == "synthetic" else [-1]):
                for copy in range(a.long_copies):
                    name = "%s-%s%s%s" % (
                        w[0], lname, "-dec2" if dec == 2 else "",
                        "-c%d" % copy if a.long_copies > 1 else "")
                    root = os.path.join(tmp, "long-" + name)
                    status = os.path.join(root, "status.json")
                    block = ("%s\nInterval %g\nRounds %d\nDecimals %d\n"
                             "StatusFile %s" % (lblock, a.long_interval,
                                                rounds, dec, quote(status)))
                    d = make_daemon(b, root, w, block, a.long_interval)
                    daemons.append((name, w, lname, dec, d))
    res = {}
    try:
        for *_, d in daemons:
            d.start()
        log("longrun: %d daemons, %d rounds of %g s (%.0f min)"
            % (len(daemons), rounds, a.long_interval,
               rounds * a.long_interval / 60))
        trace = {n: [] for n, *_ in daemons}
        t0 = time.monotonic()
        pending = list(daemons)
        while pending:
            time.sleep(min(10, a.long_interval))
            for item in list(pending):
                n, *_, d = item
                s = sample(d.pid)
                m = d.marker()
                trace[n].append((round(s["t"] - t0, 1), s["write_bytes"],
                                 s["wchar"], s["cpu"], m))
                if m >= rounds:
                    pending.remove(item)
                    res[n] = {"end": s}
            if time.monotonic() - t0 > rounds * a.long_interval * 3 + 300:
                raise Failure("longrun: daemons did not finish")
        for n, w, lname, dec, d in daemons:
            fin = d.stop()
            with open(os.path.join(d.root, "status.json")) as f:
                pts = json.load(f)["values"]
            data = os.path.join(d.root, "data")
            kinds = {}
            for sub in ("segments", "_coverage", "head"):
                p = os.path.join(data, sub)
                if os.path.isdir(p):
                    kinds[sub] = file_bytes(p)
            res[n].update({
                "writer": w[0], "label": w[1], "load": lname,
                "series": pts // rounds, "decimals": dec,
                "points": pts, "rounds": rounds,
                "write_bytes": fin["write_bytes"],
                "write_bytes_per_point": fin["write_bytes"] / pts,
                "wchar_per_point": res[n]["end"]["wchar"] / pts,
                "write_bytes_at_last_round": res[n]["end"]["write_bytes"],
                "cpu_s": fin["cpu"],
                "files": kinds, "file_bytes": file_bytes(data),
                "trace": trace[n]})
            res[n].pop("end")
            if not a.keep:
                shutil.rmtree(d.root, ignore_errors=True)
    except BaseException:
        for *_, d in daemons:
            d.kill()
        raise
    out["longrun"] = {"minutes": a.minutes, "interval": a.long_interval,
                      "rounds": rounds, "copies": a.long_copies,
                      "results": res}
    return longrun_markdown(out["longrun"])


def longrun_steady(r):
    """write_bytes per point after the first minute, or None."""
    tr = [x for x in r["trace"] if len(x) > 4]
    first = [x for x in tr if x[0] >= 60]
    if not first or tr[-1][4] <= first[0][4]:
        return None
    return ((r["write_bytes_at_last_round"] - first[0][1])
            / ((r["rounds"] - first[0][4]) * r["series"]))


def longrun_markdown(lr):
    copies = lr.get("copies", 1)
    lines = ["%d rounds at %g s (%.0f minutes); every writer in its own "
             "collectd, all at the same time%s; bytes from the process' "
             "write_bytes (wait4 ru_oublock × 512, start to exit)."
             % (lr["rounds"], lr["interval"], lr["rounds"] * lr["interval"]
                / 60, ", %d of each: median (min..max)" % copies
                if copies > 1 else ""), "",
             "| data | writer | series | points | write_bytes/point | "
             "– after the first minute | "
             "written by write() (wchar)/point | files at the end, bytes/point "
             "| vs write_tsstore (medians) |",
             "|---|---|---|---|---|---|---|---|---|"]
    groups = {}
    for r in lr["results"].values():
        k = (r.get("load", ""), r["series"], r["writer"], r["decimals"])
        groups.setdefault(k, []).append(r)

    def wbp(rs):
        return med([x["write_bytes_per_point"] for x in rs])
    for k in sorted(groups):
        rs = groups[k]
        r = rs[0]
        base = groups.get((k[0], k[1], "tsstore", -1))
        label = r["label"] + (" (gauges with 2 decimals)"
                              if r["decimals"] == 2 else "")
        files = ", ".join("%s %.2f" % (kind, med([x["files"].get(kind, 0)
                                                   / x["points"] for x in rs]))
                          for kind in r["files"])
        vs = ""
        if base and r["writer"] in ("csv", "rrdtool", "rrdtool-cache"):
            vs = ratio(wbp(rs), wbp(base), "%.0f×")
        lines.append("| %s | %s | %d | %d | **%s** | %s | %s | %s%s | %s |"
                     % (r.get("load", "synthetic").split("-")[0], label,
                        r["series"], r["points"],
                        spread([x["write_bytes_per_point"] for x in rs],
                               "%.2f"),
                        spread([longrun_steady(x) for x in rs], "%.2f"),
                        spread([x["wchar_per_point"] for x in rs], "%.2f"),
                        spread([x["file_bytes"] / x["points"] for x in rs],
                               "%.2f"),
                        " (" + files + ")" if files else "", vs))
    return "\n".join(lines)


# ---- compression -------------------------------------------------------------

def promtool_blocks(om_files, outdir):
    """promtool tsdb create-blocks-from openmetrics for each file."""
    for om in om_files:
        run_cmd(["promtool", "tsdb", "create-blocks-from", "openmetrics",
                 om, outdir], stdout=subprocess.DEVNULL)


def prom_sizes(outdir):
    r = {"chunks": 0, "index": 0, "other": 0, "samples": 0, "blocks": 0,
         "series": 0}
    for blk in os.listdir(outdir):
        p = os.path.join(outdir, blk)
        if not os.path.isfile(os.path.join(p, "meta.json")):
            continue
        r["blocks"] += 1
        r["chunks"] += file_bytes(os.path.join(p, "chunks"))
        r["index"] += os.path.getsize(os.path.join(p, "index"))
        for f in ("meta.json", "tombstones"):
            if os.path.exists(os.path.join(p, f)):
                r["other"] += os.path.getsize(os.path.join(p, f))
        with open(os.path.join(p, "meta.json")) as f:
            m = json.load(f)
        r["samples"] += m["stats"]["numSamples"]
        r["series"] += m["stats"]["numSeries"]
    r["total"] = r["chunks"] + r["index"] + r["other"]
    return r


def tsstore_stats(b, store):
    p = run_cmd([b.tsstore, "stats", store, "--format", "jsonl"])
    return json.loads(p.stdout)


def compress_one(b, tmp, name, csvdir, a, windows=None):
    """tsstore import of csvdir; Prometheus blocks of its openmetrics dump.

    windows: [(from, to)] to dump and convert piece by piece (keeps the
    openmetrics text small; the blocks are the same 2 h blocks promtool
    makes of the whole file)."""
    store = os.path.join(tmp, name + "-store")
    prom = os.path.join(tmp, name + "-prom")
    t = time.monotonic()
    run_cmd([b.tsstore, "import", store, "--csv", csvdir])
    t_import = time.monotonic() - t
    st = tsstore_stats(b, store)
    os.makedirs(prom)
    t = time.monotonic()
    for w in windows or [None]:
        om = os.path.join(tmp, name + ".om")
        cmd = [b.tsstore, "dump", store, "--format", "openmetrics"]
        if w:
            cmd += ["--from", "%.3f" % w[0], "--to", "%.3f" % w[1]]
        with open(om, "wb") as f:
            run_cmd(cmd, stdout=f)
        promtool_blocks([om], prom)
        os.unlink(om)
    t_prom = time.monotonic() - t
    ps = prom_sizes(prom)
    n = st["points"]
    if ps["samples"] != n:
        raise Failure("%s: Prometheus holds %d samples, tsstore %d"
                      % (name, ps["samples"], n))
    r = {"points": n, "series": st["series"],
         "tsstore": {k: st[k] for k in ("bytes_segments", "bytes_coverage",
                                        "bytes_head", "bytes_total")},
         "prometheus": ps, "import_seconds": t_import,
         "prometheus_seconds": t_prom, "store": store, "prom": prom}
    r["tsstore"]["bytes_other"] = (st["bytes_total"] - st["bytes_segments"]
                                   - st["bytes_coverage"])
    return r


def section_compression(b, tmp, a, out):
    res = {}
    # the real data
    csvdir = unpack_real(a, tmp)
    if csvdir:
        log("compression: real data")
        res["real"] = compress_one(b, tmp, "real", csvdir, a)
        log("compression: real data, checking every sample")
        res["real"]["check_csv"] = check_csv_vs_store(b, csvdir,
                                                      res["real"]["store"])
        res["real"]["check_prom"] = check_prom_vs_store(
            b, res["real"]["store"], res["real"]["prom"])
    else:
        log("compression: no tarball (%s); real data skipped" % a.tarball)
    # synthetic
    syn = os.path.join(tmp, "syn-csv")
    log("compression: generating %d series x %d points"
        % (a.syn_series, a.syn_points))
    g = run_cmd([b.gen_csv, "--series", str(a.syn_series), "--points",
                 str(a.syn_points), "--interval", "10", "--start",
                 str(a.syn_start), syn])
    # "N series, M points" (sparse series report one hour in four)
    generated = int(g.stdout.split(b",")[1].split()[0])
    span = a.syn_points * 10 + 10
    wins = [(t, t + 7199.999) for t in range(a.syn_start - a.syn_start % 7200,
                                             a.syn_start + span, 7200)]
    log("compression: synthetic: import, %d openmetrics windows" % len(wins))
    res["synthetic"] = compress_one(b, tmp, "syn", syn, a, wins)
    if generated != res["synthetic"]["points"]:
        raise Failure("synthetic: %d points generated, %d stored"
                      % (generated,
                         res["synthetic"]["points"]))
    log("compression: synthetic, checking a subset of every sample")
    res["synthetic"]["check_csv"] = check_csv_vs_store(
        b, syn, res["synthetic"]["store"], host="lg00000")
    res["synthetic"]["check_prom"] = check_prom_vs_store(
        b, res["synthetic"]["store"], res["synthetic"]["prom"],
        host="lg00000")
    for r in res.values():
        if not a.keep:
            shutil.rmtree(r["store"], ignore_errors=True)
            shutil.rmtree(r["prom"], ignore_errors=True)
        r.pop("store")
        r.pop("prom")
    shutil.rmtree(syn, ignore_errors=True)
    out["compression"] = {"syn_series": a.syn_series,
                          "syn_points": a.syn_points, "results": res}
    return compression_markdown(out["compression"])


def compression_markdown(c):
    res = c["results"]
    names = [n for n in ("real", "synthetic") if n in res]
    title = {"real": "collectd-1s (real)",
             "synthetic": "synthetic %d × %d at 10 s" % (c["syn_series"],
                                                         c["syn_points"])}
    lines = ["| bytes per sample | " + " | ".join(title[n] for n in names)
             + " |", "|---|" + "---|" * len(names)]

    def row(label, f, fmt="%.3f"):
        lines.append("| %s | %s |" % (label, " | ".join(
            fmt % f(res[n]) for n in names)))
    row("samples", lambda r: r["points"], "%d")
    row("series", lambda r: r["series"], "%d")
    row("**tsstore: segments**", lambda r: r["tsstore"]["bytes_segments"]
        / r["points"], "**%.3f**")
    row("tsstore: coverage sidecars (its index)",
        lambda r: r["tsstore"]["bytes_coverage"] / r["points"])
    row("tsstore: other (STORE, head snapshot, LOCK)",
        lambda r: r["tsstore"]["bytes_other"] / r["points"])
    row("tsstore: whole directory", lambda r: r["tsstore"]["bytes_total"]
        / r["points"])
    row("**Prometheus: chunks**", lambda r: r["prometheus"]["chunks"]
        / r["points"], "**%.3f**")
    row("Prometheus: index", lambda r: r["prometheus"]["index"]
        / r["points"])
    row("Prometheus: meta.json, tombstones", lambda r: r["prometheus"]["other"]
        / r["points"])
    row("Prometheus: whole directory", lambda r: r["prometheus"]["total"]
        / r["points"])
    row("Prometheus blocks", lambda r: r["prometheus"]["blocks"], "%d")
    row("**segments ÷ chunks**", lambda r: r["tsstore"]["bytes_segments"]
        / r["prometheus"]["chunks"], "**%.3f**")
    row("whole directory ÷ whole directory", lambda r: r["tsstore"]
        ["bytes_total"] / r["prometheus"]["total"])
    row("samples compared one by one (csv → tsstore)",
        lambda r: r["check_csv"], "%d")
    row("samples compared one by one (tsstore → Prometheus)",
        lambda r: r["check_prom"], "%d")
    return "\n".join(lines)


# ---- losslessness checks ------------------------------------------------------

def fbits(x):
    return struct.pack("<d", x)


def same_float(a, b):
    if a != a and b != b:
        return True
    return fbits(a) == fbits(b)


def store_points(b, store, series_glob=None):
    """{(host, plugin, pinst, type, tinst, ds): (kind, [(ms, text)])}"""
    cmd = [b.tsstore, "dump", store, "--format", "csv"]
    if series_glob:
        cmd += ["--series", series_glob]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = {}
    import csv as csvmod
    rd = csvmod.reader(p.stdout)
    next(rd)
    for row in rd:
        key = tuple(row[:6])
        ms = time_ms(row[7])
        ent = out.get(key)
        if ent is None:
            ent = out[key] = (row[6], [])
        ent[1].append((ms, row[8]))
    if p.wait() != 0:
        raise Failure("tsstore dump failed")
    return out


def time_ms(text):
    sec, _, frac = text.partition(".")
    return int(sec) * 1000 + int((frac + "000")[:3])


def value_of(kind, text):
    if kind == "gauge":
        return float(text)
    return int(text)


def check_csv_vs_store(b, csvdir, store, host=None):
    """Every csv line's value equals the store's; returns samples compared."""
    types = {}
    with open(TYPES_DB) as f:
        for ln in f:
            parts = ln.split()
            if parts and not parts[0].startswith("#"):
                types[parts[0]] = [d.split(":")[1] for d in parts[1:]]
    pts = store_points(b, store, host + "/*" if host else None)
    seen = 0
    for h in sorted(os.listdir(csvdir)):
        if (host and h != host) or not os.path.isdir(os.path.join(csvdir,
                                                                  h)):
            continue
        for pd in os.listdir(os.path.join(csvdir, h)):
            plugin, _, pinst = pd.partition("-")
            if not os.path.isdir(os.path.join(csvdir, h, pd)):
                continue
            for fn in os.listdir(os.path.join(csvdir, h, pd)):
                base = fn[:-11]
                typ, _, tinst = base.partition("-")
                with open(os.path.join(csvdir, h, pd, fn)) as f:
                    head = f.readline().strip().split(",")[1:]
                    rows = [ln.strip().split(",") for ln in f if ln.strip()]
                for i, ds in enumerate(head):
                    kind, got = pts.get((h, plugin, pinst, typ, tinst, ds),
                                        (None, []))
                    got = dict(got)
                    want_kind = types[typ][i].lower()
                    if kind != want_kind:
                        raise Failure("%s/%s/%s: kind %s, want %s"
                                      % (h, pd, fn, kind, want_kind))
                    for r in rows:
                        ms = time_ms(r[0])
                        if ms not in got:
                            raise Failure("%s/%s/%s: time %s missing"
                                          % (h, pd, fn, r[0]))
                        a_, b_ = value_of(kind, r[i + 1]), value_of(
                            kind, got[ms])
                        if (kind == "gauge" and not same_float(a_, b_)) or \
                                (kind != "gauge" and a_ != b_):
                            raise Failure("%s/%s/%s at %s: csv %s, tsstore %s"
                                          % (h, pd, fn, r[0], r[i + 1],
                                             got[ms]))
                        seen += 1
    if seen != sum(len(v[1]) for v in pts.values()):
        raise Failure("csv has %d samples, the store %d" % (
            seen, sum(len(v[1]) for v in pts.values())))
    return seen


_SAN = re.compile(r"[^a-zA-Z0-9_:]")


def om_name_labels(key, kind):
    """docs/openmetrics.md: the Prometheus series of a tsstore series."""
    host, plugin, pinst, typ, tinst, ds = key
    fam = "collectd_%s_%s" % (plugin, typ) + ("" if ds == "value"
                                                else "_" + ds)
    fam = _SAN.sub("_", fam)
    if kind == "counter":
        fam += "_total"
    labels = {"__name__": fam, "host": host}
    if pinst:
        labels["plugin_instance"] = pinst
    if tinst:
        labels["type_instance"] = tinst
    return frozenset(labels.items())


def go_unquote(s, i):
    """Parses a Go-quoted string starting at s[i] == '"'; returns (text, end)."""
    assert s[i] == '"'
    out = []
    i += 1
    while s[i] != '"':
        c = s[i]
        if c == "\\":
            n = s[i + 1]
            simple = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"',
                      "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
            if n in simple:
                out.append(simple[n])
                i += 2
            elif n == "x":
                out.append(chr(int(s[i + 2:i + 4], 16)))
                i += 4
            elif n == "u":
                out.append(chr(int(s[i + 2:i + 6], 16)))
                i += 6
            elif n == "U":
                out.append(chr(int(s[i + 2:i + 10], 16)))
                i += 10
            else:
                raise Failure("unknown escape in %r" % s)
        else:
            out.append(c)
            i += 1
    return "".join(out), i + 1


def parse_prom_line(line):
    """'{__name__="x", a="b"} value ts' -> (frozenset labels, value, ms)"""
    i = 1
    labels = {}
    while line[i] != "}":
        j = line.index("=", i)
        name = line[i:j]
        val, i = go_unquote(line, j + 1)
        labels[name] = val
        if line[i] == ",":
            i += 1
        while line[i] == " ":
            i += 1
    rest = line[i + 1:].split()
    return frozenset(labels.items()), float(rest[0]), int(rest[1])


def prom_points(prom, match=None, mint=None, maxt=None):
    os.makedirs(os.path.join(prom, "wal"), exist_ok=True)
    cmd = ["promtool", "tsdb", "dump", prom]
    if match:
        cmd.append("--match=" + match)
    if mint is not None:
        cmd.append("--min-time=%d" % mint)
    if maxt is not None:
        cmd.append("--max-time=%d" % maxt)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                         stderr=subprocess.PIPE)
    out = {}
    for line in p.stdout:
        labels, v, ms = parse_prom_line(line.rstrip("\n"))
        out.setdefault(labels, []).append((ms, v))
    err = p.stderr.read()
    if p.wait() != 0:
        raise Failure("promtool tsdb dump failed: %s" % err[-1000:])
    return out


def check_prom_vs_store(b, store, prom, host=None):
    """Every sample of the store is in Prometheus, and nothing else is;
    values compared as doubles (integers converted as Prometheus does)."""
    pts = store_points(b, store, host + "/*" if host else None)
    pp = prom_points(prom, '{host="%s"}' % host if host else None)
    n = 0
    seen = set()
    for key, (kind, samples) in pts.items():
        lab = om_name_labels(key, kind)
        if lab in seen:
            raise Failure("two tsstore series map to %s" % sorted(lab))
        seen.add(lab)
        got = pp.get(lab)
        if got is None:
            raise Failure("series %s not in Prometheus (as %s)"
                          % ("/".join(key), sorted(lab)))
        if len(got) != len(samples):
            raise Failure("%s: %d samples in Prometheus, %d in tsstore"
                          % ("/".join(key), len(got), len(samples)))
        for (ms, text), (pms, pv) in zip(samples, got):
            want = float(text) if kind == "gauge" else float(int(text))
            if ms != pms or not same_float(want, pv):
                raise Failure("%s: tsstore %d %s, Prometheus %d %r"
                              % ("/".join(key), ms, text, pms, pv))
            n += 1
    extra = set(pp) - seen
    if extra:
        raise Failure("Prometheus has %d series tsstore has not: %s"
                      % (len(extra), sorted(next(iter(extra)))))
    return n


# ---- query -----------------------------------------------------------------

def rrd_build(tmp, csvdir, rrddir, interval, points_first):
    """One RRD per series file with one full-resolution RRA, through one
    `rrdtool -` process (pipe mode)."""
    os.makedirs(rrddir)
    kinds = {"gauge": "GAUGE", "derive": "DERIVE", "counter": "COUNTER"}
    cmds = []
    files = []
    for h in sorted(os.listdir(csvdir)):
        for pd in sorted(os.listdir(os.path.join(csvdir, h))):
            byseries = {}
            for fn in sorted(os.listdir(os.path.join(csvdir, h, pd))):
                byseries.setdefault(fn[:-11], []).append(fn)
            for base, fns in byseries.items():
                typ = base.split("-", 1)[0]
                rrd = os.path.join(rrddir, "%s_%s_%s.rrd" % (h, pd, base))
                files.append((h, pd, base, rrd))
                rows = []
                for fn in fns:
                    with open(os.path.join(csvdir, h, pd, fn)) as f:
                        f.readline()
                        rows += [ln.strip() for ln in f if ln.strip()]
                t0 = int(float(rows[0].split(",")[0])) - interval
                cmds.append("create %s --step %d --start %d DS:value:%s:%d:U:U"
                            " RRA:AVERAGE:0.5:1:%d"
                            % (rrd, interval, t0, kinds[typ], 2 * interval,
                               len(rows) + 10))
                for i in range(0, len(rows), 200):
                    cmds.append("update %s %s" % (rrd, " ".join(
                        r.replace(",", ":") for r in rows[i:i + 200])))
    p = subprocess.Popen(["rrdtool", "-"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    outp, err = p.communicate("\n".join(cmds) + "\n")
    bad = [ln for ln in outp.splitlines() if ln.startswith("ERROR")]
    if p.returncode != 0 or bad:
        raise Failure("rrdtool: %s %s" % (bad[:3], err[-500:]))
    return files


def section_query(b, tmp, a, out):
    S, days, iv = a.query_series, a.query_days, a.query_interval
    npts = int(days * 86400 / iv)
    start = a.syn_start
    csvdir = os.path.join(tmp, "q-csv")
    log("query: generating %d series x %d points at %d s" % (S, npts, iv))
    g = run_cmd([b.gen_csv, "--series", str(S), "--points", str(npts),
                 "--interval", str(iv), "--start", str(start), csvdir])
    generated = int(g.stdout.split(b",")[1].split()[0])
    store = os.path.join(tmp, "q-store")
    t = time.monotonic()
    run_cmd([b.tsstore, "import", store, "--csv", csvdir])
    build = {"tsstore": time.monotonic() - t}
    # Prometheus: 18 h blocks (what a default server compacts to with the
    # default 15 d retention), built window by window
    prom = os.path.join(tmp, "q-prom")
    os.makedirs(prom)
    blk = 18 * 3600
    t = time.monotonic()
    end = start + npts * iv + iv
    for w0 in range(start - start % blk, end, blk):
        om = os.path.join(tmp, "q.om")
        with open(om, "wb") as f:
            run_cmd([b.tsstore, "dump", store, "--format", "openmetrics",
                     "--from", str(w0), "--to", "%.3f" % (w0 + blk - 0.001)],
                    stdout=f)
        run_cmd(["promtool", "tsdb", "create-blocks-from", "openmetrics",
                 "--max-block-duration=18h", om, prom],
                stdout=subprocess.DEVNULL)
        os.unlink(om)
    os.makedirs(os.path.join(prom, "wal"), exist_ok=True)
    build["prometheus"] = time.monotonic() - t
    log("query: building %d RRDs" % S)
    t = time.monotonic()
    rrds = rrd_build(tmp, csvdir, os.path.join(tmp, "q-rrd"), iv, npts)
    build["rrdtool"] = time.monotonic() - t
    shutil.rmtree(csvdir, ignore_errors=True)

    # the queries: one series (the first rate-derive) over everything;
    # every series over one hour in the middle of the data
    h, pd, base, rrd1 = ([f for f in rrds if f[1] == "loadgen-rate-derive"]
                         + rrds)[0]
    one_glob = "%s/%s/%s" % (h, pd, base)
    typ, _, tinst = base.partition("-")
    match = '{__name__="collectd_loadgen_%s",host="%s",plugin_instance="%s",' \
        'type_instance="%s"}' % (typ, h, pd.split("-", 1)[1], tinst)
    h0 = start + (npts * iv // 2) // 3600 * 3600
    h1 = h0 + 3600
    rrd_all = os.path.join(tmp, "q-rrd-all.txt")
    with open(rrd_all, "w") as f:
        for *_, r in rrds:
            f.write("fetch %s AVERAGE -s %d -e %d\n" % (r, h0, h1))
    rrd_one = os.path.join(tmp, "q-rrd-one.txt")
    with open(rrd_one, "w") as f:
        f.write("fetch %s AVERAGE -s %d -e %d\n" % (rrd1, start - iv,
                                                   start + npts * iv))
    queries = {
        "one": {
            "tsstore": [b.tsstore, "dump", store, "--series", one_glob],
            "rrdtool": ["rrdtool", "fetch", rrd1, "AVERAGE", "-s",
                        str(start - iv), "-e", str(start + npts * iv)],
            "prometheus": ["promtool", "tsdb", "dump", prom,
                           "--match=" + match],
        },
        "all": {
            "tsstore": [b.tsstore, "dump", store, "--from", str(h0), "--to",
                        "%.3f" % (h1 - 0.001)],
            "rrdtool": ["sh", "-c", "rrdtool - < " + rrd_all],
            "prometheus": ["promtool", "tsdb", "dump", prom,
                           "--min-time=%d" % (h0 * 1000),
                           "--max-time=%d" % (h1 * 1000 - 1)],
        },
    }
    # the answers must hold what was asked for
    counts = {}
    for q, tools in queries.items():
        for tool, cmd in tools.items():
            p = run_cmd(cmd)
            counts["%s/%s" % (q, tool)] = p.stdout.count(b"\n")
    # the builds above leave about a gigabyte of dirty pages (the RRDs, the
    # blocks, the store): their writeback would run under the timings and
    # slow every tool's file opens (a run at 64e8b6d measured 20 ms for
    # what takes 7 once it was done)
    os.sync()
    times = {q: {tool: [] for tool in tools} for q, tools in queries.items()}
    for _ in range(a.runs):
        for q, tools in queries.items():
            for tool, cmd in tools.items():
                times[q][tool].append(timed(cmd))
    sizes = {"tsstore": file_bytes(store), "prometheus": file_bytes(prom),
             "rrdtool": file_bytes(os.path.join(tmp, "q-rrd"))}
    if not a.keep:
        for p in (store, prom, os.path.join(tmp, "q-rrd")):
            shutil.rmtree(p, ignore_errors=True)
    out["query"] = {"series": S, "days": days, "interval": iv,
                    "points": generated, "build_seconds": build,
                    "lines": counts, "times": times, "sizes": sizes,
                    "runs": a.runs}
    return query_markdown(out["query"])


def query_markdown(q):
    t = q["times"]
    lines = ["Data: %d series × %g days at %d s (%d points); tsstore from "
             "`tsstore import`, Prometheus 18 h blocks from `promtool tsdb "
             "create-blocks-from openmetrics`, one RRD per series "
             "(one RRA, %d s step, all points). Page cache warm; %d runs."
             % (q["series"], q["days"], q["interval"], q["points"],
                q["interval"], q["runs"]), "",
             "| query | tsstore dump | rrdtool fetch | promtool tsdb dump | "
             "rrdtool ÷ tsstore | Prometheus ÷ tsstore |",
             "|---|---|---|---|---|---|"]
    label = {"one": "one series, %g days" % q["days"],
             "all": "all %d series, 1 hour" % q["series"]}
    for k in ("one", "all"):
        r = t[k]
        lines.append("| %s (output lines: %s) | %s | %s | %s | %s | %s |" % (
            label[k], "/".join(str(q["lines"]["%s/%s" % (k, x)]) for x in
                               ("tsstore", "rrdtool", "prometheus")),
            spread([x * 1e3 for x in r["tsstore"]], "%.1f ms"),
            spread([x * 1e3 for x in r["rrdtool"]], "%.1f ms"),
            spread([x * 1e3 for x in r["prometheus"]], "%.1f ms"),
            ratio(med(r["rrdtool"]), med(r["tsstore"]), "%.1f×"),
            ratio(med(r["prometheus"]), med(r["tsstore"]), "%.1f×")))
    lines.append("")
    lines.append("Sizes: tsstore %.1f MB, Prometheus %.1f MB, RRDs %.1f MB. "
                 "Build: tsstore import %.0f s, Prometheus %.0f s, "
                 "rrdtool %.0f s." % (
                     q["sizes"]["tsstore"] / 1e6,
                     q["sizes"]["prometheus"] / 1e6,
                     q["sizes"]["rrdtool"] / 1e6,
                     q["build_seconds"]["tsstore"],
                     q["build_seconds"]["prometheus"],
                     q["build_seconds"]["rrdtool"]))
    return "\n".join(lines)


# ---- scale -------------------------------------------------------------------

def section_scale(b, tmp, a, out):
    res = {"direct": {}, "collectd": {}}
    for S in a.scale_series:
        rs = []
        for run in range(a.runs):
            d = os.path.join(tmp, "scale-%d-%d" % (S, run))
            log("scale: %d series, run %d (tss_store_append)" % (S, run + 1))
            # --snapshot: the head persisted every round, as write_tsstore
            # does every SnapshotInterval (its encoders' state counts too)
            p = run_cmd([b.scale, "--series", str(S), "--points",
                         str(a.scale_points), "--snapshot", d])
            rs.append(json.loads(p.stdout))
            shutil.rmtree(d, ignore_errors=True)
        res["direct"][str(S)] = rs
    if a.scale_collectd:
        # each writer with glibc's default arenas (one per thread that
        # allocates: collectd's 5 write threads append to the head), and
        # with MALLOC_ARENA_MAX=1, which tells what the arenas cost
        ws = writers(b, ["null", "tsstore"])
        variants = [(w, env_name, env) for env_name, env in
                    (("", None), ("arena1", {"MALLOC_ARENA_MAX": "1"}))
                    for w in ws]
        for S in a.scale_series:
            res["collectd"][str(S)] = {}
            for run in range(a.runs):  # interleaved: each run tries all
                for w, env_name, env in variants:
                    name = w[0] + ("-" + env_name if env_name else "")
                    log("scale: %d series through collectd: %s, run %d"
                        % (S, name, run + 1))
                    root = os.path.join(tmp, "scale-cd-%s-%d" % (name, S))
                    block = "Series %d\nInterval %g\nRounds %d" % (
                        S, a.scale_interval, a.scale_points)
                    d = make_daemon(b, root, w, block, a.scale_interval,
                                    env=env)
                    try:
                        d.start()
                        d.wait_marker(a.scale_points, 600 + a.scale_points *
                                      a.scale_interval * 10, poll=0.5)
                        d.wait_idle(600)
                        s = sample(d.pid)
                        d.stop()
                    except BaseException:
                        d.kill()
                        raise
                    res["collectd"][str(S)].setdefault(name, []).append(
                        s["VmRSS"])
                    shutil.rmtree(root, ignore_errors=True)
    out["scale"] = {"points": a.scale_points, "results": res}
    return scale_markdown(out["scale"])


def scale_markdown(sc):
    res = sc["results"]
    lines = ["| series | RSS growth, bytes/series | head's own count "
             "(head_bytes)/series | compressed points (segment bytes after "
             "sealing)/series | RSS − compressed points | append ns/point |",
             "|---|---|---|---|---|---|"]
    for S, rs in res["direct"].items():
        lines.append("| %s | %s | %s | %s | %s | %s |" % (
            f"{int(S):,}",
            spread([r["rss_per_series"] for r in rs], "%.0f"),
            spread([r["head_bytes_per_series"] for r in rs], "%.0f"),
            spread([r["segment_bytes_per_series"] for r in rs], "%.1f"),
            spread([r["rss_per_series"] - r["segment_bytes_per_series"]
                    for r in rs], "%.0f"),
            spread([r["append_ns_per_point"] for r in rs], "%.0f")))
    if res.get("collectd"):
        lines += ["", "| series, through collectd | RSS with the null writer "
                  "| RSS with write_tsstore | difference, bytes/series | "
                  "the same with MALLOC_ARENA_MAX=1: null writer | "
                  "write_tsstore | difference, bytes/series |",
                  "|---|---|---|---|---|---|---|"]
        for S, r in res["collectd"].items():
            row = ["%s" % f"{int(S):,}"]
            for sfx in ("", "-arena1"):
                null, tss = r.get("null" + sfx), r.get("tsstore" + sfx)
                if not null or not tss:
                    row += ["–"] * 3
                    continue
                if not isinstance(null, list):  # a report from before runs
                    null, tss = [null], [tss]
                row += [spread([x / 2**20 for x in null], "%.0f MiB"),
                        spread([x / 2**20 for x in tss], "%.0f MiB"),
                        spread([(t - n) / int(S) for n, t in zip(null, tss)],
                               "%.0f")]
            lines.append("| " + " | ".join(row) + " |")
        lines += ["", "Differences are run by run (each run starts both "
                  "writers in turn). RSS is collectd's VmRSS once the "
                  "last round is written and collectd is idle."]
    return "\n".join(lines)


# ---- main ----------------------------------------------------------------------

class Bins:
    def __init__(self, build):
        self.tsstore = os.path.join(build, "tools", "tsstore")
        self.write_tsstore = os.path.join(build, "plugin", "write_tsstore.so")
        self.loadgen = os.path.join(build, "bench", "compare", "loadgen.so")
        self.nullwriter = os.path.join(build, "bench", "compare",
                                       "nullwriter.so")
        self.gen_csv = os.path.join(build, "bench", "compare", "gen_csv")
        self.scale = os.path.join(build, "bench", "compare", "scale")
        missing = [p for p in vars(self).values() if not os.path.exists(p)]
        if missing:
            raise Failure("not built: %s" % ", ".join(missing))


SECTIONS = ["compression", "ingest", "longrun", "query", "scale"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--only", default="compression,ingest,query,scale",
                    help="sections, comma separated: " + ",".join(SECTIONS)
                    + " (longrun takes --minutes; not in the default)")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny sizes, one run: checks that it all works")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tmpdir", default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--skip-missing", action="store_true",
                    help="exit 77 (ctest: skipped) when collectd, promtool "
                    "or rrdtool is missing")
    ap.add_argument("--json", default=None, help="write raw figures here")
    ap.add_argument("--doc", default=None,
                    help="also write the report into this markdown file "
                    "(docs/benchmarks.md), between markers of the sections "
                    "run, replacing an earlier run's")
    ap.add_argument("--tarball", default=None)
    # ingest
    ap.add_argument("--series", type=int, default=5000)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--writers", default="null,tsstore,tsstore-span60,csv,"
                    "rrdtool,rrdtool-cache")
    ap.add_argument("--ingest-modes", default="steady,sustained",
                    help="steady: CPU, bytes, RSS at --interval; sustained:"
                    " the highest rate without the write queue growing")
    ap.add_argument("--sustain-writers",
                    default="null,tsstore,csv,rrdtool,rrdtool-cache")
    ap.add_argument("--sustain-window", type=float, default=15,
                    help="seconds of load per trial")
    ap.add_argument("--sustain-start", default="20000",
                    help="first rate tried (values/s), doubled or halved "
                    "until bracketed; or WRITER=RATE,... (a guess: "
                    "bracketed by --sustain-step); later runs start at "
                    "the writer's previous result")
    ap.add_argument("--sustain-step", type=float, default=1.25,
                    help="later runs: the factor to bracket the result")
    ap.add_argument("--sustain-tol", type=float, default=1.12,
                    help="stop when failure ÷ pass is at most this")
    ap.add_argument("--sustain-trials", type=int, default=10,
                    help="at most this many trials per writer and run")
    ap.add_argument("--sustain-late", type=float, default=0.05,
                    help="loadgen may take this much longer than the "
                    "window (fraction)")
    ap.add_argument("--sustain-compress", default="1,rrdtool-cache=16",
                    help="C or WRITER=C,...: rounds C times faster than "
                    "--interval (values still timed --interval apart; C "
                    "times fewer series for the same rate; rrdtool then "
                    "batches a file's values): 1, real time, is the steady "
                    "state; rrdtool's CacheTimeout 120 needs a flush in "
                    "the window")
    ap.add_argument("--sustain-max-series", type=int, default=1000000,
                    help="no trial needing more series (disk: an RRD is "
                    "about 210 KB); the result is then a lower bound")
    ap.add_argument("--sustain-slack", type=float, default=0.25,
                    help="the queue may grow by this fraction of a round")
    ap.add_argument("--sustain-drain", type=float, default=2,
                    help="seconds collectd may stay busy after the last "
                    "round (or a tenth of the window)")
    # longrun
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--long-interval", type=float, default=10)
    ap.add_argument("--long-copies", type=int, default=1,
                    help="longrun: daemons of each writer and load side by "
                    "side, for medians (default 1)")
    ap.add_argument("--long-series", default="1000,5000")
    ap.add_argument("--long-writers",
                    default="null,tsstore,tsstore-snap60,csv,rrdtool")
    ap.add_argument("--long-decimals", type=int, default=1,
                    help="also run write_tsstore with 2-decimal gauges")
    ap.add_argument("--long-replay", default="2,10",
                    help="also replay the real data (--tarball) with these "
                    "numbers of copies (527 series each); '' for none")
    # compression
    ap.add_argument("--syn-series", type=int, default=10000)
    ap.add_argument("--syn-points", type=int, default=8640)
    ap.add_argument("--syn-start", type=int, default=1700006400)
    # query
    ap.add_argument("--query-series", type=int, default=1000)
    ap.add_argument("--query-days", type=float, default=7)
    ap.add_argument("--query-interval", type=int, default=60)
    # scale
    ap.add_argument("--scale-series", default="100000,1000000")
    ap.add_argument("--scale-points", type=int, default=6)
    ap.add_argument("--scale-interval", type=float, default=10)
    ap.add_argument("--scale-collectd", type=int, default=1)
    a = ap.parse_args()
    if a.smoke:
        a.runs = 1
        a.series, a.warmup, a.rounds = 30, 1, 3
        a.interval = 0.2
        a.writers = "null,tsstore,csv,rrdtool"
        a.sustain_writers = "null,tsstore,csv,rrdtool"
        a.sustain_window, a.sustain_start, a.sustain_trials = 1, "3000", 1
        a.minutes, a.long_interval, a.long_series = 0.05, 0.5, "20"
        a.long_replay = "1"
        a.long_writers = "tsstore,csv"
        a.long_copies = 2
        a.syn_series, a.syn_points = 40, 800
        a.query_series, a.query_days, a.query_interval = 5, 0.2, 60
        a.scale_series, a.scale_points, a.scale_interval = "2000", 3, 0.2
        a.tarball = None
    a.writers = a.writers.split(",")
    a.sustain_writers = [w for w in a.sustain_writers.split(",") if w]
    a.ingest_modes = a.ingest_modes.split(",")
    a.sustain_start = {k: float(v) for k, _, v in (
        x.rpartition("=") for x in a.sustain_start.split(",") if x)}
    a.sustain_compress = {k: float(v) for k, _, v in (
        x.rpartition("=") for x in a.sustain_compress.split(",") if x)}
    a.long_writers = a.long_writers.split(",")
    a.long_series = [int(x) for x in a.long_series.split(",") if x]
    a.long_replay = [int(x) for x in a.long_replay.split(",") if x]
    a.scale_series = [int(x) for x in a.scale_series.split(",")]
    only = a.only.split(",")
    for s in only:
        if s not in SECTIONS:
            ap.error("unknown section %s" % s)
    missing = [t for t in (["promtool"] if {"compression", "query"} &
                           set(only) else []) +
               (["rrdtool"] if "query" in only else []) if not shutil.which(t)]
    if {"ingest", "longrun"} & set(only):
        missing += [p for p in [COLLECTD] + [
            os.path.join(STOCK_PLUGIN_DIR, n + ".so") for n in
            ("csv", "rrdtool", "logfile", "unixsock")]
            if not os.path.exists(p)]
    if missing:
        msg = "not installed: %s (scripts/install-deps)" % ", ".join(missing)
        if a.skip_missing:
            print("SKIP: " + msg)
            sys.exit(77)
        raise Failure(msg)
    b = Bins(a.build)
    tmp = tempfile.mkdtemp(prefix="tss-compare.", dir=a.tmpdir)
    out = {"machine": machine(), "args": {k: v for k, v in vars(a).items()}}
    out["commit"] = git_commit()
    md = ["# bench/compare/run %s" % " ".join(sys.argv[1:]), "",
          "Commit %s. Machine: %%(cores)d cores (%%(cpu)s), %%(memory_gib)s "
          "GiB memory, Linux %%(kernel)s; %%(date)s; load average at the "
          "start %%(load)s." % out["commit"]
          % {**out["machine"], "load": "%.2f %.2f %.2f" % out["machine"]
             ["load"]}]
    try:
        for s in SECTIONS:
            if s in only:
                t = time.monotonic()
                text = globals()["section_" + s](b, tmp, a, out)
                md += ["", "## " + s, "", text, "",
                       "(%s: %.0f s)" % (s, time.monotonic() - t)]
                if a.json:
                    with open(a.json, "w") as f:
                        json.dump(out, f, indent=1)
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    out["machine_end_load"] = os.getloadavg()
    md.append("")
    md.append("Load average at the end: %.2f %.2f %.2f" % os.getloadavg())
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    print("\n".join(md))
    if a.doc:
        write_doc(a.doc, ",".join(s for s in SECTIONS if s in only),
                  "\n".join(md))


def write_doc(path, key, report):
    """Puts the report into the markdown file `path` between the markers
    of `key` (the sections run), replacing what an earlier run with the
    same sections put there, or at the end of the file; its headings go
    two levels down. Written to a temporary file, then renamed."""
    begin = ("<!-- bench/compare %s: begin (written by bench/compare/run "
             "--doc; edits here are overwritten) -->" % key)
    end = "<!-- bench/compare %s: end -->" % key
    text = "\n".join("##" + ln if ln.startswith("#") else ln
                     for ln in report.strip().splitlines())
    try:
        with open(path, encoding="utf-8") as f:
            doc = f.read()
    except FileNotFoundError:
        doc = ""
    block = "%s\n\n%s\n\n%s" % (begin, text, end)
    i, j = doc.find(begin), doc.find(end)
    if i >= 0 and j > i:
        doc = doc[:i] + block + doc[j + len(end):]
    else:
        doc = doc.rstrip("\n") + "\n\n" + block + "\n"
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(doc)
    os.replace(tmp, path)


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print("compare: FAILED: %s" % e, file=sys.stderr)
        sys.exit(1)
