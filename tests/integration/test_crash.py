#!/usr/bin/env python3
"""Integration test: kill -9 collectd while write_tsstore writes.

Runs the real collectd 5.12 with write_tsstore (SegmentSpan 60 s, Grace
1 s, SnapshotInterval 1 s, SnapshotSync 0) and unixsock, feeds 200 series
through PUTVAL at a high rate, and kills collectd with SIGKILL at random
moments (seeded RNG), round after round, restarting it on the same DataDir.

The feed: every series has a point every 100 ms of its timeline, with a
value computed from (series, time) alone, so the test knows the value any
stored point must have. Half the series (group A) trail the wall clock by
75 s or more: every point lands in a window that has already ended, so the
maintenance thread seals a segment about every second while the feed runs.
The other half (group B) trail it by 1 s: their points stay in the head
(and its snapshot) until their window ends. Both groups start a few
minutes in the past and catch up at full speed, then follow the clock.

Kill moments, one per round (the first rounds take each kind in turn):
  after_flush  right after a FLUSH reply (or up to 1.5 s later);
  feeding      while a feeder thread sends a batch;
  seal         as soon as a new file shows up in segments/ or
               _coverage/segments/ (a seal is being written);
  snapshot     as soon as head/ changes: a temp file (a base being
               written), a new base, or the log growing;
  startup      FLUSH, kill, start again and kill within 80 ms, while
               collectd loads write_tsstore and recovers the head;
  window_end   (from round 6 on) when the wall clock passes a window's
               end plus the grace: either as group B's segment of the
               window that just ended shows up in segments/, or at a
               random moment in the first 1.5 s after the window's end
               plus grace (sealing and the base after it).
The kill comes a few random milliseconds after the moment is observed.

A point is acknowledged when it was sent before a FLUSH whose reply
arrived. PUTVAL only queues values for collectd's write threads, and FLUSH
does not wait for that queue, so before each FLUSH the test runs one write
thread (WriteThreads 1) and waits for a barrier: it PUTVALs a value to a
barrier series and polls GETVAL until collectd's value cache shows it. The
cache is updated by the write thread just before it hands that value to
the write plugins, and the one write thread takes values in order, so by
then write_tsstore has every value sent before the barrier
(collectd_harness.Unixsock.barrier).

After each kill, with no writer running, the test checks the store:
  - `tsstore dump`: every acknowledged point is present; every point was
    sent (series, time on the series' grid, within what was sent) with
    exactly the value computed for it; times strictly increase within each
    series (no duplicates); a point seen by an earlier check is still
    there (nothing visible is lost later);
  - `tsstore ls` counts, first and last times equal the dump's;
  - `tsstore verify` reports no PROBLEM (notes are listed). A coverage
    sidecar without a segment, which a kill between the writes of a sidecar
    and its segment leaves (docs/format.md allows it), is a note; such
    sidecars are counted and printed, and the restart must remove them.
Then collectd is restarted on the same DataDir and must start normally: the
log says "recovered the head from snapshot" when a base was on disk (a
clean start otherwise), and holds no ERROR line and no "corrupt". A
corrupt snapshot base after a kill is a bug. At the end collectd is
stopped with SIGTERM and everything sent must be stored.

Environment: TSSTORE_CRASH_ROUNDS=N (default 5), TSSTORE_CRASH_SEED=S.
Prints rounds, kill moments and points checked.
Usage: test_crash.py --plugin write_tsstore.so --cli tsstore [--keep]
Exit status: 0 pass, 1 fail (temp dir kept, path printed), 77 skip.
"""

import argparse
import bisect
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
import traceback

from collectd_harness import (COLLECTD_NOISE, Collectd, TestFailure,
                              make_tempdir, require_collectd, wait_for)

STOCK = ["logfile", "unixsock"]
SPAN_S = 60
N_SERIES = 200
SLOT_MS = 100  # spacing of one series' points
TICK_SLOTS = 10  # one tick: 1 s of timeline for every series of a group
PER_LINE = 10  # values per PUTVAL line
GROUPS = (  # (name, lag behind the wall clock in s, start in s before now)
    ("A", 75, 180),
    ("B", 1, 120),
)
HOST = "crash"
BARRIER = "crash-barrier/barrier/gauge"
KINDS = ("after_flush", "feeding", "seal", "snapshot", "startup")
# also drawn after the first rounds: waits for the wall clock's next
# window end (up to SPAN_S), so not in the first len(KINDS) rounds
SLOW_KINDS = ("window_end",)
CLI_TIMEOUT = 120
ORPHAN = re.compile(r"note: (_coverage/segments/([0-9a-f]{8}-[0-9a-f-]{27})"
                    r"\.roar): coverage sidecar without a segment")
RECOVERED = "recovered the head from snapshot generation"
M64 = (1 << 64) - 1
# (collectd type, tsstore kind) per value flavour, see value_of()
FLAVOURS = (("gauge", "gauge"), ("gauge", "gauge"), ("gauge", "gauge"),
            ("derive", "derive"), ("derive", "derive"),
            ("counter", "counter"), ("counter", "counter"),
            ("absolute", "absolute"))


# ---- the feed: series, times and values -------------------------------------

def group_of(i):
    return i % len(GROUPS)


def flavour_of(i):
    return (i // len(GROUPS)) % len(FLAVOURS)


def offset_of(i):
    """Each series' points sit at slot * SLOT_MS + this many ms."""
    return (i * 37) % SLOT_MS


def ident_of(i):
    return "%s/crash-%03d/%s" % (HOST, i, FLAVOURS[flavour_of(i)][0])


def mix(x):
    """splitmix64's finalizer: a deterministic 64-bit hash."""
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def value_of(i, t_ms):
    """The value of series i at t_ms (float for gauges, else int)."""
    f = flavour_of(i)
    if f == 2:
        return (t_ms // SLOT_MS % 2000) * 0.25 + i
    if f == 4:
        return (t_ms // SLOT_MS) * (i + 1)
    if f == 6:
        return t_ms * 3 + i
    h = mix((i << 48) ^ t_ms)
    if f == 0:
        return (h % 20000001 - 10000000) / 1000.0
    if f == 1:
        return (h >> 11) * 2.0 ** -53 * 2e6 - 1e6
    if f == 3:
        return h - (1 << 63)
    if f == 5:
        return h
    return h % 100000  # 7: absolute


def value_text(v):
    return repr(v) if isinstance(v, float) else str(v)


def time_text(t_ms):
    return "%d.%03d" % divmod(t_ms, 1000)


def collectd_ms(text):
    """The ms a PUTVAL time ends up at in the store (as test_collectd.py):
    strtod, truncated to cdtime_t (2^-30 s), rounded to the nearest ms."""
    cd = int(float(text) * 1073741824.0)
    q, r = divmod(cd * 1000, 1 << 30)
    if r > (1 << 29) or (r == (1 << 29) and q & 1):
        q += 1
    return q


class Ranges:
    """A set of slots as sorted, disjoint [a, b) ranges."""

    def __init__(self):
        self.r = []

    def add(self, a, b):
        if a >= b:
            return
        if self.r and self.r[-1][1] >= a:
            self.r[-1][1] = max(self.r[-1][1], b)
        else:
            self.r.append([a, b])

    def total(self):
        return sum(b - a for a, b in self.r)


class Ledger:
    """What was sent and acknowledged, per group, in slots (shared between
    the feeder and the checks; the feeder moves `sent` before a tick is
    sent and `acked` after a FLUSH reply)."""

    def __init__(self, now_ms):
        self.start = []
        self.next = []  # next slot to send, per group
        self.acked = [Ranges() for _ in GROUPS]
        self.acked_upto = []  # slot up to which the ranges were extended
        for _, _, back in GROUPS:
            s = (now_ms - back * 1000) // 1000 * 1000 // SLOT_MS
            self.start.append(s)
            self.next.append(s)
            self.acked_upto.append(s)
        self.barriers = {}  # barrier time in ms -> value
        self.barrier_n = 0
        self.barrier_ms = 0
        self.lock = threading.Lock()

    def lines_for_tick(self, g):
        """PUTVAL lines for the next tick of group g; moves `next`."""
        a = self.next[g]
        b = a + TICK_SLOTS
        lines = []
        for i in range(g, N_SERIES, len(GROUPS)):
            off = offset_of(i)
            vals = []
            for s in range(a, b):
                t = s * SLOT_MS + off
                tt = time_text(t)
                if collectd_ms(tt) != t:
                    raise AssertionError("test bug: %s is not stored as %d "
                                         "ms" % (tt, t))
                vals.append("%s:%s" % (tt, value_text(value_of(i, t))))
            for k in range(0, len(vals), PER_LINE):
                lines.append("PUTVAL %s interval=1 %s" % (
                    ident_of(i), " ".join(vals[k:k + PER_LINE])))
        with self.lock:
            self.next[g] = b
        return lines

    def due(self, g, now_ms):
        """True when group g's next tick lies lag seconds in the past."""
        return (self.next[g] + TICK_SLOTS) * SLOT_MS <= now_ms \
            - GROUPS[g][1] * 1000

    def mark_acked(self, upto):
        with self.lock:
            for g, u in enumerate(upto):
                self.acked[g].add(self.acked_upto[g], u)
                self.acked_upto[g] = u

    def restarted(self):
        """After a kill: unacknowledged points need not be stored, so the
        next acknowledgement starts where the feed goes on."""
        with self.lock:
            self.acked_upto = list(self.next)


# ---- talking to collectd ----------------------------------------------------

class Feeder:
    """Sends ticks and acknowledges them over one unixsock connection."""

    def __init__(self, cd, ledger, rng):
        self.cd = cd
        self.ledger = ledger
        self.rng = rng
        self.sock = cd.connect()
        self.ticks = 0
        self.acks = 0
        self.points = 0
        self.send_s = 0.0  # time spent sending ticks (and their replies)
        self.next_ack = rng.randint(1, 8)
        self.halt = threading.Event()
        self.sending = threading.Event()  # set while a tick is being sent
        self.killed = False  # set by the killer before SIGKILL
        self.error = None  # an unexpected failure, with its traceback
        self.thread = None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def tick(self):
        """One tick of every group that is due; False if none was."""
        now_ms = int(time.time() * 1000)
        did = False
        for g in range(len(GROUPS)):
            if not self.ledger.due(g, now_ms):
                continue
            lines = self.ledger.lines_for_tick(g)
            t0 = time.monotonic()
            self.sending.set()
            replies = self.sock.pipeline(lines)
            self.sending.clear()
            self.send_s += time.monotonic() - t0
            bad = [(ln, r) for ln, r in zip(lines, replies) if r[0] != 0]
            if bad:
                raise TestFailure("PUTVAL failed: %r -> %r"
                                  % (bad[0][0][:120], bad[0][1]))
            self.points += len(lines) * PER_LINE
            self.ticks += 1
            did = True
        return did

    def ack(self):
        """Barrier, then FLUSH: everything sent so far is acknowledged."""
        led = self.ledger
        with led.lock:
            upto = list(led.next)
            led.barrier_n += 1
            n = led.barrier_n
            ms = max(led.barrier_ms + 1, int(time.time() * 1000))
            led.barrier_ms = ms
            led.barriers[ms] = float(n)
        self.sock.barrier(BARRIER, n, time_text(ms))
        st, msg, _ = self.sock.command("FLUSH")
        if st != 0 or not re.search(r"\b0 errors", msg):
            raise TestFailure("FLUSH replied %d %s" % (st, msg))
        led.mark_acked(upto)
        self.acks += 1

    def run(self):
        """Feeds and acknowledges until halted or killed."""
        try:
            while not self.halt.is_set():
                did = self.tick()
                if self.ticks >= self.next_ack:
                    self.ack()
                    self.next_ack = self.ticks + self.rng.randint(2, 12)
                if not did:
                    time.sleep(0.01)
        except Exception:  # after the kill: expected; before: a failure
            if not self.killed:
                self.error = traceback.format_exc()
        finally:
            self.sending.clear()

    def start_thread(self):
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def join(self):
        if self.thread is not None:
            self.thread.join(60)
            if self.thread.is_alive():
                raise TestFailure("the feeder thread did not stop")


def listing(path):
    try:
        return set(os.listdir(path))
    except FileNotFoundError:
        return set()


def head_state(store):
    """(names, size of each log) in head/: what changes when it writes."""
    d = os.path.join(store, "head")
    out = []
    for name in sorted(listing(d)):
        if name.startswith("log-"):
            try:
                out.append((name, os.path.getsize(os.path.join(d, name))))
            except FileNotFoundError:
                pass
        else:
            out.append((name, 0))
    return tuple(out)


def seal_state(store):
    return (listing(os.path.join(store, "segments")),
            listing(os.path.join(store, "_coverage", "segments")))


def wait_change(state, deadline, alive):
    """Polls state() until it differs from its first value; True if so."""
    first = state()
    return wait_true(lambda: state() != first, deadline, alive)


def wait_true(pred, deadline, alive):
    """Polls pred() every 0.5 ms until it is true; False at the deadline."""
    while time.monotonic() < deadline:
        if pred():
            return True
        alive()
        time.sleep(0.0005)
    return False


# ---- the checks -------------------------------------------------------------

def run_cli(cli, *args):
    p = subprocess.run([cli] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=CLI_TIMEOUT)
    return p.returncode, p.stdout.decode("utf-8", "replace"), \
        p.stderr.decode("utf-8", "replace")


def series_of(key):
    """The series index of a dump line's first 7 fields, -1 for the
    barrier, None for a series never fed."""
    if key == "crash-barrier,barrier,,gauge,,value,gauge":
        return -1
    m = re.fullmatch(r"crash,crash,(\d{3}),(\w+),,value,(\w+)", key)
    if m is None or not 0 <= int(m.group(1)) < N_SERIES:
        return None
    i = int(m.group(1))
    return i if (m.group(2), m.group(3)) == FLAVOURS[flavour_of(i)] \
        else None


def number(text, kind):
    """float(text) or int(text); None if it is not one."""
    try:
        return kind(text)
    except ValueError:
        return None


def ms_of(text):
    m = re.fullmatch(r"(\d+)\.(\d{3})", text)
    if not m:
        raise ValueError("not an epoch time with 3 decimals: %r" % text)
    return int(m.group(1)) * 1000 + int(m.group(2))


class Checker:
    """Checks the store after a kill; remembers what it saw."""

    def __init__(self, cli, store, ledger):
        self.cli = cli
        self.store = store
        self.ledger = ledger
        self.seen = {}  # series -> Ranges of slots seen by the last check
        self.points_checked = 0
        self.notes = {}  # verify note (numbers blanked) -> count
        # orphaned sidecars verify reported after a kill (see check())
        self.orphans = []
        self.orphans_total = 0

    def check(self, label):
        problems = []
        led = self.ledger
        with led.lock:
            nxt = list(led.next)
            acked = [[tuple(r) for r in led.acked[g].r]
                     for g in range(len(GROUPS))]
            barriers = dict(led.barriers)
        start = led.start

        rc, out, err = run_cli(self.cli, "dump", "--format", "csv",
                               self.store)
        if rc != 0:
            raise TestFailure("%s: tsstore dump exited %d: %s"
                              % (label, rc, err.strip()))
        lines = out.splitlines()
        if not lines or not lines[0].startswith("host,"):
            raise TestFailure("%s: tsstore dump printed no csv header"
                              % label)
        slots = {}  # series index -> sorted slots
        counts = {}  # the 7 identifying fields -> [n, first, last]
        prev_key, prev_ms = None, None
        done = set()
        info = None  # of the current series: index (-1: barrier) or None
        for ln in lines[1:]:
            try:
                head, ttext, vtext = ln.rsplit(",", 2)
                if ttext[-4:-3] != ".":
                    raise ValueError(ttext)
                t = int(ttext[:-4]) * 1000 + int(ttext[-3:])
            except ValueError:
                problems.append("unparsable dump line %r" % ln)
                continue
            if head != prev_key:
                if head in done:
                    problems.append("series %r appears twice in the dump"
                                    % head)
                done.add(head)
                prev_key, prev_ms = head, None
                counts[tuple(head.split(","))] = c = [0, t, t]
                info = series_of(head)
                if info is None:
                    problems.append("a series never fed: %s" % ln)
                elif info >= 0:
                    i = info
                    g = group_of(i)
                    off = offset_of(i)
                    lo, hi = start[g], nxt[g]
                    have = slots.setdefault(i, [])
            elif t <= prev_ms:
                problems.append("%s: time %s after %s (duplicate or "
                                "unordered)" % (head, ttext,
                                                time_text(prev_ms)))
            prev_ms = t
            c[0] += 1
            c[2] = t
            if info is None:
                continue
            if info < 0:
                if barriers.get(t) != number(vtext, float):
                    problems.append("barrier point never sent: %s" % ln)
                continue
            sl, r = divmod(t - off, SLOT_MS)
            if r or not lo <= sl < hi:
                problems.append("point at a time never sent: %s" % ln)
                continue
            want = value_of(i, t)
            got = number(vtext, float if isinstance(want, float) else int)
            if got != want:
                problems.append("%s at %s: value %s, sent %s"
                                % (ident_of(i), ttext, vtext,
                                   value_text(want)))
                continue
            have.append(sl)
        points = len(lines) - 1

        # acknowledged points are all there
        missing = []
        for i in range(N_SERIES):
            have = slots.get(i, [])
            for a, b in acked[group_of(i)]:
                n = bisect.bisect_left(have, b) - bisect.bisect_left(have, a)
                if n != b - a:
                    missing.append("%s: %d of %d acknowledged points in "
                                   "[%s, %s) missing" % (
                                       ident_of(i), b - a - n, b - a,
                                       time_text(a * SLOT_MS + offset_of(i)),
                                       time_text(b * SLOT_MS + offset_of(i))))
        # what an earlier check saw is still there
        lost = []
        for i, old in self.seen.items():
            have = slots.get(i, [])
            for a, b in old.r:
                n = bisect.bisect_left(have, b) - bisect.bisect_left(have, a)
                if n != b - a:
                    lost.append("%s: %d point(s) in [%s, %s) seen by the "
                                "previous check are gone" % (
                                    ident_of(i), b - a - n,
                                    time_text(a * SLOT_MS + offset_of(i)),
                                    time_text(b * SLOT_MS + offset_of(i))))
        problems += missing[:10] + lost[:10]
        if len(missing) > 10 or len(lost) > 10:
            problems.append("(%d series with missing acknowledged points, "
                            "%d with lost points in all)"
                            % (len(missing), len(lost)))

        # ls agrees with the dump
        rc, lsout, err = run_cli(self.cli, "ls", "--format", "csv",
                                 self.store)
        if rc != 0:
            problems.append("tsstore ls exited %d: %s" % (rc, err.strip()))
        else:
            ls = {}
            for ln in lsout.splitlines()[1:]:
                f = ln.split(",")
                ls[tuple(f[:7])] = (int(f[7]), ms_of(f[8]), ms_of(f[9]))
            for key, c in counts.items():
                if ls.get(key) != tuple(c):
                    problems.append("ls says %r for %s, the dump has %d "
                                    "points from %s to %s" % (
                                        ls.get(key), "/".join(key), c[0],
                                        time_text(c[1]), time_text(c[2])))
            for key in set(ls) - set(counts):
                problems.append("ls lists %s, the dump does not"
                                % "/".join(key))

        # verify
        rc, vout, err = run_cli(self.cli, "verify", self.store)
        segs = [n for n in listing(os.path.join(self.store, "segments"))
                if n.endswith(".seg") and not n.startswith(".")]
        self.orphans = []
        for ln in vout.splitlines():
            m = ORPHAN.fullmatch(ln)
            if m and not any(m.group(2) in n for n in segs):
                # A kill between the sidecar's write and its segment's
                # leaves this (docs/format.md: "a crash leaves at worst a
                # sidecar without a segment, which the writer removes at
                # its next start"): a note. Counted and reported; the
                # restart must remove it.
                self.orphans.append(m.group(1))
            elif ln.startswith("PROBLEM"):
                problems.append("tsstore verify: %s" % ln)
            elif ln.startswith("note"):
                k = re.sub(r"\d+", "N", re.sub(
                    r"[0-9a-f]{8}-[0-9a-f-]{27}", "UUID", ln))
                self.notes[k] = self.notes.get(k, 0) + 1
        self.orphans_total += len(self.orphans)
        m = re.search(r"(\d+) problem\(s\)", vout)
        if m is None or int(m.group(1)) != 0 or rc != 0:
            if not any(p.startswith("tsstore verify") for p in problems):
                problems.append("tsstore verify exited %d: %s%s"
                                % (rc, vout.strip(), err.strip()))

        if problems:
            raise TestFailure("%s: %d problem(s):\n  %s" % (
                label, len(problems), "\n  ".join(problems[:40])))
        for i, have in slots.items():
            r = Ranges()
            a = None
            for k, s in enumerate(have):
                if a is None:
                    a = prev = s
                elif s != prev + 1:
                    r.add(a, prev + 1)
                    a = s
                prev = s
            if a is not None:
                r.add(a, prev + 1)
            self.seen[i] = r
        self.points_checked += points
        per_group = N_SERIES // len(GROUPS)
        return points, sum(b - a for rs in acked for a, b in rs) * per_group


# ---- the rounds -------------------------------------------------------------

class LogWatch:
    """Reads the collectd log piece by piece."""

    def __init__(self, cd):
        self.cd = cd
        self.pos = 0

    def new_lines(self):
        try:
            with open(self.cd.log, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except FileNotFoundError:
            return []
        # only whole lines
        end = data.rfind(b"\n") + 1
        self.pos += end
        return data[:end].decode("utf-8", "replace").splitlines()


def log_problems(lines, warnings):
    out = []
    for ln in lines:
        if COLLECTD_NOISE.search(ln):  # see collectd_harness
            k = "[error] %s (collectd, ignored)" % COLLECTD_NOISE.pattern
            warnings[k] = warnings.get(k, 0) + 1
            continue
        if "[error]" in ln or "corrupt" in ln.lower():
            out.append(ln)
        elif "[warning]" in ln and "write_tsstore" in ln:
            k = re.sub(r"\d+", "N", ln.split("] ", 2)[-1])
            warnings[k] = warnings.get(k, 0) + 1
    return out


def start_collectd(cd, watch, had_base, warnings):
    """Starts collectd; checks that write_tsstore came up normally."""
    t0 = time.monotonic()
    cd.start()
    cd.wait_writer_started(30)
    cd.wait_socket(30)
    took = time.monotonic() - t0
    lines = watch.new_lines()
    bad = log_problems(lines, warnings)
    if bad:
        raise TestFailure("collectd logged after the restart:\n  %s"
                          % "\n  ".join(bad))
    rec = [ln for ln in lines if RECOVERED in ln]
    if had_base and not rec:
        raise TestFailure("a head snapshot base was on disk but collectd "
                          "did not log %r" % RECOVERED)
    if not had_base and rec:
        raise TestFailure("no head snapshot base was on disk, yet: %s"
                          % rec[0])
    return (rec[0].split("] ", 2)[-1] if rec else "clean start"), took


def has_base(store):
    return any(n.startswith("base-") and n.endswith(".snap")
               for n in listing(os.path.join(store, "head")))


def run_round(r, kind, cd, ledger, rng, store):
    """Feeds, picks the moment, kills. Returns (what, the feeder)."""
    feeder = Feeder(cd, ledger, random.Random(rng.random()))
    try:
        if kind == "startup":
            for _ in range(rng.randint(1, 4)):
                feeder.tick()
            feeder.ack()
            feeder.killed = True
            if cd.kill9() != -9:
                raise TestFailure("collectd had exited before the kill")
            feeder.close()
            cd.start()
            delay = rng.uniform(0, 0.08)
            time.sleep(delay)
            what = ("%.3f s after a start (after a FLUSH and a kill)"
                    % delay)
        elif kind == "after_flush":
            for _ in range(rng.randint(1, 6)):
                feeder.tick()
            feeder.ack()
            delay = rng.choice([0.0, rng.uniform(0, 0.01),
                                rng.uniform(0, 1.5)])
            time.sleep(delay)
            what = "%.3f s after a FLUSH" % delay
        else:
            feeder.start_thread()
            deadline = time.monotonic() + 70

            def alive():
                cd.alive()
                if feeder.error:
                    raise TestFailure("feeder failed:\n%s" % feeder.error)
            if kind == "feeding":
                time.sleep(rng.uniform(0.05, 1.5))
                wait_for(feeder.sending.is_set, 30, "the feeder to send",
                         interval=0.0005, alive=alive)
                delay = rng.uniform(0, 0.02)
                what = "%.4f s into sending a batch" % delay
            elif kind == "seal":
                time.sleep(rng.uniform(0, 0.5))
                seen = wait_change(lambda: seal_state(store), deadline, alive)
                delay = rng.uniform(0, 0.003)
                what = ("%.4f s after a new segment file appeared" % delay
                        if seen else "no seal within 70 s; killed anyway")
            elif kind == "window_end":
                # the wall clock's next window end; the grace is 1 s
                end = (int(time.time()) // SPAN_S + 1) * SPAN_S
                time.sleep(max(0.0, end + 1 - 0.3 - time.time()))
                prefix = "%d_" % ((end - SPAN_S) * 1000)
                if rng.random() < 0.5:
                    def sealing():
                        return any(n.startswith(prefix) or
                                   n.startswith(".tmp-" + prefix)
                                   for n in listing(os.path.join(
                                       store, "segments")))
                    seen = wait_true(sealing, time.monotonic() + 10, alive)
                    delay = rng.uniform(0, 0.003)
                    what = ("%.4f s after the segment of window %d showed "
                            "up" % (delay, end - SPAN_S) if seen else
                            "no segment of window %d within 10 s of its "
                            "end; killed anyway" % (end - SPAN_S))
                else:
                    delay = max(0.0, end + 1 + rng.uniform(0, 1.5)
                                - time.time())
                    what = "%.3f s after window %d ended" % (
                        time.time() + delay - end, end - SPAN_S)
            else:
                time.sleep(rng.uniform(0, 0.5))
                before = head_state(store)
                seen = wait_change(lambda: head_state(store), deadline, alive)
                after = head_state(store)
                delay = rng.uniform(0, 0.003)
                change = sorted(set(after) - set(before))
                what = ("%.4f s after head/ changed (%s)" % (
                    delay, ", ".join(n for n, _ in change[:3]))
                    if seen else "head/ unchanged for 70 s; killed anyway")
            time.sleep(delay)
        if feeder.error:
            raise TestFailure("feeder failed:\n%s" % feeder.error)
        feeder.killed = True
        rc = cd.kill9()
        if rc != -9:
            raise TestFailure("collectd had exited with %s before the kill"
                              % rc)
        feeder.join()
        if feeder.error:
            raise TestFailure("feeder failed:\n%s" % feeder.error)
    finally:
        feeder.killed = True
        feeder.halt.set()
        cd.kill()
        feeder.close()
    ledger.restarted()
    return what, feeder


def run(args, tmp, report):
    rounds = int(os.environ.get("TSSTORE_CRASH_ROUNDS", "5"))
    seed = int(os.environ.get("TSSTORE_CRASH_SEED", "20240601"))
    rng = random.Random(seed)
    print("seed %d, %d rounds (TSSTORE_CRASH_SEED, TSSTORE_CRASH_ROUNDS)"
          % (seed, rounds))
    store = os.path.join(tmp, "store")
    cd = Collectd(os.path.join(tmp, "collectd"), args.plugin,
                  ["logfile", "write_tsstore", "unixsock"],
                  {"write_tsstore": "\n".join([
                      'DataDir "%s"' % store,
                      'SegmentSpan "%ds"' % SPAN_S,
                      'Grace "1s"',
                      'SnapshotInterval "1s"',
                      'SnapshotSync "0"',
                      "Shards 8"])},
                  hostname="crash-itest", options=["WriteThreads 1"])
    report["cd"] = cd
    watch = LogWatch(cd)
    warnings = {}
    ledger = Ledger(int(time.time() * 1000))
    checker = Checker(args.cli, store, ledger)
    kinds_done = {}
    sent = 0
    send_s = 0.0
    recovered = 0
    try:
        how, took = start_collectd(cd, watch, False, warnings)
        for r in range(1, rounds + 1):
            kind = KINDS[r - 1] if r <= len(KINDS) \
                else rng.choice(KINDS + SLOW_KINDS)
            t0 = time.monotonic()
            what, feeder = run_round(r, kind, cd, ledger, rng, store)
            sent += feeder.points
            send_s += feeder.send_s
            kinds_done[kind] = kinds_done.get(kind, 0) + 1
            bad = log_problems(watch.new_lines(), warnings)
            if bad:
                raise TestFailure("round %d: collectd logged before the "
                                  "kill:\n  %s" % (r, "\n  ".join(bad)))
            points, acked = checker.check("round %d (%s)" % (r, kind))
            base = has_base(store)
            how, took = start_collectd(cd, watch, base, warnings)
            left = [o for o in checker.orphans
                    if os.path.exists(os.path.join(store, o))]
            if left:
                raise TestFailure("round %d: the restarted writer left the "
                                  "orphaned sidecar(s) %s" % (r, left))
            if checker.orphans:
                how += "; removed %d orphaned sidecar(s)" % len(
                    checker.orphans)
            recovered += how != "clean start"
            print("round %2d: %-11s killed %s; %d ticks, %d acks; store: "
                  "%d points, %d acknowledged, all checked; restart "
                  "%.2f s: %s (round %.1f s)" % (
                      r, kind, what, feeder.ticks, feeder.acks, points,
                      acked, took, how, time.monotonic() - t0))
            sys.stdout.flush()
        # the end: feed a little, barrier, SIGTERM: everything is stored
        feeder = Feeder(cd, ledger, random.Random(rng.random()))
        try:
            for _ in range(3):
                feeder.tick()
            sent += feeder.points
            send_s += feeder.send_s
            feeder.ack()
        finally:
            feeder.close()
        rc = cd.stop(60)
        if rc != 0:
            raise TestFailure("collectd exited with status %s at SIGTERM"
                              % rc)
        bad = log_problems(watch.new_lines(), warnings)
        if bad:
            raise TestFailure("collectd logged before the final stop:\n  %s"
                              % "\n  ".join(bad))
        # the last ack covers everything sent since the last restart
        points, acked = checker.check("after the final SIGTERM")
        print("final: fed %d ticks, FLUSH, SIGTERM; store: %d points, %d "
              "acknowledged, all checked" % (feeder.ticks, points, acked))
    finally:
        cd.kill()
    report.update(rounds=rounds, kinds=kinds_done, sent=sent,
                  rate=sent / send_s if send_s else 0,
                  checked=checker.points_checked, final=points,
                  recovered=recovered, notes=checker.notes,
                  orphans=checker.orphans_total,
                  warnings=warnings)


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
    tmp = make_tempdir("tss-crash-")
    report = {}
    failure = None
    try:
        run(args, tmp, report)
    except (TestFailure, OSError, subprocess.SubprocessError) as e:
        failure = "%s: %s" % (type(e).__name__, e)
    except Exception:  # a bug in the test itself: show it fully
        failure = "unexpected error:\n%s" % traceback.format_exc()
    elapsed = time.monotonic() - started
    if "rounds" in report:
        print("%d rounds (kills: %s), %d points sent (%.0f/s while sending), "
              "%d restarts recovered a head snapshot; %d points checked in "
              "all, %d in the final store" % (
                  report["rounds"], ", ".join(
                      "%s %d" % kv for kv in sorted(report["kinds"].items())),
                  report["sent"], report["rate"], report["recovered"],
                  report["checked"], report["final"]))
        if report["orphans"]:
            print("%d coverage sidecar(s) left by a kill between a "
                  "sidecar and its segment (a crash state docs/format.md "
                  "allows); the restarted writer removed each"
                  % report["orphans"])
        for k, n in sorted(report["notes"].items()):
            print("verify %s  (x%d)" % (k, n))
        for k, n in sorted(report["warnings"].items()):
            print("log: %s  (x%d)" % (k, n))
    if failure:
        print("\nFAIL (%.1f s): %s\n" % (elapsed, failure))
        cd = report.get("cd")
        if cd is not None:
            lines = cd.log_text().splitlines()
            print("---- last lines of the collectd log (%s) ----" % cd.log)
            print("\n".join(lines[-60:]))
        print("---- files kept in %s ----" % tmp)
        return 1
    print("PASS (%.1f s)" % elapsed)
    if args.keep:
        print("files kept in %s" % tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
