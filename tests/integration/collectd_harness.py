"""Runs the real collectd daemon for the integration tests.

Python 3 standard library only. Each Collectd instance lives in its own
directory (config, copies of the plugins, log, pid file, unixsock socket)
and is started in the foreground (collectd -f) as a child process that gets
SIGTERM if the test process dies (prctl PR_SET_PDEATHSIG), so no daemon
outlives an interrupted test. An instance can be killed (kill9) and
started again on the same files.
"""

import atexit
import ctypes
import grp
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

COLLECTD = "/usr/sbin/collectd"
STOCK_PLUGIN_DIR = "/usr/lib/collectd"
TYPES_DB = "/usr/share/collectd/types.db"
SKIP = 77  # ctest's SKIP_RETURN_CODE for these tests

# ERROR lines collectd itself logs that say nothing about the test: the
# unixsock plugin names each connection's thread after creating it, and
# when the client has already closed the connection (wait_socket's probe)
# the thread may be gone: pthread_setname_np fails with ENOENT or ESRCH.
COLLECTD_NOISE = re.compile(r'set_thread_name\("unixsock conn"\): '
                            r'(No such file or directory|No such process)')

# What ASan, UBSan, LeakSanitizer and TSan print when they find something
# (a test fails when collectd printed one: Collectd.stop).
SANITIZER_REPORT = re.compile(r"ERROR: AddressSanitizer|WARNING: "
                              r"ThreadSanitizer|runtime error: |ERROR: "
                              r"LeakSanitizer")

# sun_path is 108 bytes; leave room for the NUL.
MAX_SOCKET_PATH = 100


class TestFailure(Exception):
    """A check failed; the message says what and how."""


def require_collectd(plugins):
    """Exits with SKIP when collectd or a stock plugin is not installed."""
    missing = [p for p in [COLLECTD, TYPES_DB] if not os.path.exists(p)]
    missing += [os.path.join(STOCK_PLUGIN_DIR, p + ".so") for p in plugins
                if not os.path.exists(
                    os.path.join(STOCK_PLUGIN_DIR, p + ".so"))]
    if missing:
        print("SKIP: collectd-core is not installed (missing: %s)"
              % ", ".join(missing))
        sys.exit(SKIP)


# stage directories of the daemons this process started (in /dev/shm):
# removed when it exits
_STAGE_ROOTS = []
atexit.register(lambda: [shutil.rmtree(d, ignore_errors=True)
                         for d in _STAGE_ROOTS])


def make_tempdir(prefix):
    """A fresh directory whose socket paths fit in sun_path."""
    d = os.path.realpath(tempfile.mkdtemp(prefix=prefix))
    if len(os.path.join(d, "b", "collectd.sock")) > MAX_SOCKET_PATH:
        shutil.rmtree(d)
        d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    return d


def wait_for(pred, timeout, what, interval=0.02, alive=None):
    """Polls pred() until it returns a true value, which it returns.

    alive, if given, is called between polls and raises if the thing we
    wait on has died. Raises TestFailure after timeout seconds.
    """
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if alive:
            alive()
        if time.monotonic() > end:
            raise TestFailure("timed out after %.0f s waiting for %s"
                              % (timeout, what))
        time.sleep(interval)


def quote(s):
    """A string in the unixsock protocol's double quotes."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def conf_quote(s):
    """A string in collectd.conf double quotes."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pdeathsig():
    # Runs in the child between fork and exec: SIGTERM when we die.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Unixsock:
    """A connection to collectd's unixsock plugin."""

    def __init__(self, path, timeout=30.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.rfile = self.sock.makefile("rb")

    def command(self, line, multiline=False):
        """Sends one command line; returns (status, message, extra lines).

        A status >= 0 is success (for GETVAL/LISTVAL, the number of lines
        that follow, read when multiline is true); < 0 is an error.
        """
        data = line.encode("utf-8") + b"\n"
        if len(data) > 1023:
            raise TestFailure("command longer than unixsock's 1024-byte "
                              "line buffer: %r" % line[:80])
        self.sock.sendall(data)
        reply = self.rfile.readline()
        if not reply:
            raise TestFailure("unixsock closed the connection after %r"
                              % line[:200])
        reply = reply.decode("utf-8", "replace").rstrip("\n")
        head, _, msg = reply.partition(" ")
        try:
            status = int(head)
        except ValueError:
            raise TestFailure("unixsock reply without a status to %r: %r"
                              % (line[:200], reply)) from None
        extra = []
        if multiline and status > 0:
            for _ in range(status):
                extra.append(self.rfile.readline().decode(
                    "utf-8", "replace").rstrip("\n"))
        return status, msg, extra

    def pipeline(self, lines):
        """Sends several command lines at once, then reads their replies.

        Returns [(status, message)] in order. Only for commands with a
        one-line reply (PUTVAL, FLUSH); keep a batch within the socket
        buffers (a few hundred lines), or both sides block on writes.
        """
        data = []
        for line in lines:
            b = line.encode("utf-8") + b"\n"
            if len(b) > 1023:
                raise TestFailure("command longer than unixsock's 1024-byte "
                                  "line buffer: %r" % line[:80])
            data.append(b)
        self.sock.sendall(b"".join(data))
        replies = []
        for line in lines:
            reply = self.rfile.readline()
            if not reply:
                raise TestFailure("unixsock closed the connection after %r"
                                  % line[:200])
            reply = reply.decode("utf-8", "replace").rstrip("\n")
            head, _, msg = reply.partition(" ")
            try:
                replies.append((int(head), msg))
            except ValueError:
                raise TestFailure("unixsock reply without a status to %r: "
                                  "%r" % (line[:200], reply)) from None
        return replies

    def barrier(self, identifier, n, time_text, timeout=20.0):
        """Waits until collectd's write threads have handed every value
        sent before it to the write plugins.

        PUTVALs n (a gauge) to identifier at time_text (later than any
        earlier barrier of that identifier), then polls GETVAL until the
        value cache shows it. A write thread updates the cache just before
        it calls the write plugins with a value, so with one write thread
        (global option "WriteThreads 1"), which takes values in order, the
        values queued before the barrier have all been written by then. A
        FLUSH after the barrier covers them; one without may run before
        write_tsstore has them (FLUSH does not wait for the write queue).
        """
        st, msg, _ = self.command("PUTVAL %s interval=3600 %s:%d"
                                  % (quote(identifier), time_text, n))
        if st != 0:
            raise TestFailure("barrier PUTVAL %s: %d %s"
                              % (identifier, st, msg))

        def passed():
            st, _, extra = self.command("GETVAL %s" % quote(identifier),
                                        multiline=True)
            if st < 1 or not extra[0].startswith("value="):
                return False
            try:
                return float(extra[0][6:]) == n
            except ValueError:
                return False
        wait_for(passed, timeout, "the barrier value %d of %s in GETVAL"
                 % (n, identifier), interval=0.001)

    def close(self):
        self.rfile.close()
        self.sock.close()


class Collectd:
    """One collectd daemon: its directory, config, process and log."""

    def __init__(self, root, plugin_so, load, blocks, hostname="itest",
                 interval=1, options=()):
        """root: the instance's own directory (created).

        load: plugin names in LoadPlugin order; "write_tsstore" is taken
        from plugin_so, every other one copied from collectd's PluginDir.
        blocks: {plugin name: text inside its <Plugin> block}.
        options: further global config lines ("WriteThreads 1", ...).
        """
        self.root = root
        self.plugin_dir = os.path.join(root, "plugins")
        self.conf = os.path.join(root, "collectd.conf")
        self.log = os.path.join(root, "collectd.log")
        self.output = os.path.join(root, "collectd.out")
        self.pidfile = os.path.join(root, "collectd.pid")
        self.socket = os.path.join(root, "collectd.sock")
        self.proc = None
        self.returncode = None
        self._marks = {}  # log file -> its size when the last start began
        os.makedirs(self.plugin_dir)
        for name in load:
            src = (plugin_so if name == "write_tsstore" else
                   os.path.join(STOCK_PLUGIN_DIR, name + ".so"))
            # copies, not symlinks: what we test is what we loaded
            shutil.copyfile(src, os.path.join(self.plugin_dir, name + ".so"))
        lines = [
            "# generated by %s" % os.path.basename(sys.argv[0]),
            "Hostname %s" % conf_quote(hostname),
            "FQDNLookup false",
            "BaseDir %s" % conf_quote(root),
            "PIDFile %s" % conf_quote(self.pidfile),
            "PluginDir %s" % conf_quote(self.plugin_dir),
            "TypesDB %s" % conf_quote(TYPES_DB),
            "Interval %d" % interval,
        ] + list(options) + [
            "",
        ]
        blocks = dict(blocks)
        # the head log's staged records in a directory of this daemon's
        # own on /dev/shm (removed by run_test), unless the test says
        self.stage_root = None
        wt = blocks.get("write_tsstore")
        if (wt is not None and "SnapshotStage" not in wt
                and os.path.isdir("/dev/shm")):
            self.stage_root = tempfile.mkdtemp(prefix="tss-itest-",
                                               dir="/dev/shm")
            _STAGE_ROOTS.append(self.stage_root)
            blocks["write_tsstore"] = wt + "\nSnapshotStage %s" % conf_quote(
                self.stage_root)
        blocks.setdefault("logfile", "\n".join([
            "LogLevel info",
            "File %s" % conf_quote(self.log),
            "Timestamp true",
            "PrintSeverity true",
        ]))
        if "unixsock" in load:
            try:
                group = "SocketGroup %s\n" % conf_quote(
                    grp.getgrgid(os.getgid()).gr_name)
            except KeyError:
                group = ""
            blocks.setdefault("unixsock", "SocketFile %s\n%s"
                              "SocketPerms \"0770\"\nDeleteSocket true"
                              % (conf_quote(self.socket), group))
        for name in load:
            lines.append("LoadPlugin %s" % name)
            if name in blocks:
                lines.append("<Plugin %s>" % name)
                lines += ["  " + b for b in blocks[name].splitlines()]
                lines.append("</Plugin>")
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        """Starts collectd; again after it exited (same config and files).

        The log and output files are appended to; log_text(since_start=True)
        returns what the latest start wrote.
        """
        if self.proc is not None and self.proc.poll() is None:
            raise TestFailure("collectd (pid %d) is still running"
                              % self.proc.pid)
        self._marks = {}
        for path in (self.output, self.log):
            try:
                self._marks[path] = os.path.getsize(path)
            except FileNotFoundError:
                self._marks[path] = 0
        self.returncode = None
        env = None
        if os.environ.get("TSS_COLLECTD_PRELOAD"):
            # a sanitizer runtime for the daemon alone (scripts/
            # test-sanitizers): preloaded into Python it would not run
            env = dict(os.environ,
                       LD_PRELOAD=os.environ["TSS_COLLECTD_PRELOAD"])
        with open(self.output, "ab") as out:
            self.proc = subprocess.Popen(
                [COLLECTD, "-f", "-C", self.conf], stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, cwd=self.root,
                preexec_fn=_pdeathsig, env=env)
        return self

    def sanitizer_reports(self):
        """Sanitizer reports collectd printed since the latest start."""
        with open(self.output, "rb") as f:
            f.seek(self._marks.get(self.output, 0))
            text = f.read().decode("utf-8", "replace")
        return [ln for ln in text.splitlines()
                if SANITIZER_REPORT.search(ln)]

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        """Raises TestFailure if collectd has exited."""
        rc = self.proc.poll()
        if rc is not None:
            self.returncode = rc
            raise TestFailure("collectd (%s) exited early with status %d"
                              % (self.root, rc))

    def log_text(self, since_start=False):
        """Output and log file; only the latest start's part if asked."""
        text = ""
        for path in (self.output, self.log):
            try:
                with open(path, "rb") as f:
                    if since_start:
                        f.seek(self._marks.get(path, 0))
                    text += f.read().decode("utf-8", "replace")
            except FileNotFoundError:
                pass
        return text

    def log_lines(self, severity, plugin=None, since_start=False):
        """Log lines of one severity ("error", "warning", ...)."""
        tag = "[%s]" % severity
        return [ln for ln in self.log_text(since_start).splitlines()
                if tag in ln and (plugin is None or plugin in ln)]

    def error_lines(self, since_start=False):
        """ERROR lines, without collectd's own COLLECTD_NOISE."""
        return [ln for ln in self.log_lines("error", since_start=since_start)
                if not COLLECTD_NOISE.search(ln)]

    def wait_log(self, needle, timeout, since_start=False):
        """Waits until the log holds a line containing needle; returns it."""
        def find():
            for ln in self.log_text(since_start).splitlines():
                if needle in ln:
                    return ln
            return None
        return wait_for(find, timeout, "%r in %s" % (needle, self.log),
                        interval=0.05, alive=self.alive)

    def wait_writer_started(self, timeout=30):
        """Waits for write_tsstore's start line of the latest start;
        raises TestFailure with the line if it logged an error first."""
        started = "write_tsstore plugin: version"
        line = wait_for(lambda: next(
            (ln for ln in self.log_text(since_start=True).splitlines()
             if started in ln or ("[error]" in ln and "write_tsstore" in ln)),
            None), timeout, "write_tsstore to start", interval=0.01,
            alive=self.alive)
        if started not in line:
            raise TestFailure("write_tsstore did not start: %s" % line)
        return line

    def wait_socket(self, timeout):
        """Waits until the unixsock socket accepts connections."""
        def ready():
            if not os.path.exists(self.socket):
                return False
            try:
                Unixsock(self.socket, timeout=2).close()
            except OSError:
                return False
            return True
        wait_for(ready, timeout, "the unixsock socket %s" % self.socket,
                 alive=self.alive)

    def connect(self):
        return Unixsock(self.socket)

    def stop(self, timeout=20):
        """SIGTERM, then waits; kills and raises if collectd hangs."""
        if self.proc is None or self.returncode is not None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.returncode = self.proc.wait()
            raise TestFailure("collectd (pid %d) did not exit within %d s "
                              "of SIGTERM; killed" % (self.pid, timeout))
        found = self.sanitizer_reports()
        if found:
            raise TestFailure("collectd (pid %d) printed sanitizer reports "
                              "(%s): %s" % (self.pid, self.output,
                                            "; ".join(found[:5])))
        return self.returncode

    def kill9(self):
        """SIGKILL (a crash), then waits; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.returncode = self.proc.wait()
        return self.returncode

    def kill(self):
        """Last-resort cleanup: never leaves a daemon behind."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def run_test(run, args, prefix, summary=None, kept_note=""):
    """The body of a test's main(): runs run(args, tmp, report) in a fresh
    temporary directory (make_tempdir(prefix)); the daemons the test put in
    report["cd"] or in the list report["instances"] are killed if still
    running. Prints PASS (after summary(report), if given) and removes the
    directory (unless args.keep), or FAIL with the error, the daemons' logs
    and the directory kept (kept_note says more about it). Returns the exit
    status: 0 or 1.
    """
    started = time.monotonic()
    tmp = make_tempdir(prefix)
    report = {"instances": []}
    failure = None
    try:
        run(args, tmp, report)
    except (TestFailure, OSError, subprocess.SubprocessError) as e:
        failure = "%s: %s" % (type(e).__name__, e)
    except Exception:  # a bug in the test itself: show it fully
        failure = "unexpected error:\n%s" % traceback.format_exc()
    finally:
        daemons = report["instances"] + ([report["cd"]] if report.get("cd")
                                         is not None else [])
        for cd in daemons:
            cd.kill()
    elapsed = time.monotonic() - started
    if failure:
        print("\nFAIL (%.1f s): %s\n" % (elapsed, failure))
        for cd in daemons:
            print("---- collectd log (%s) ----" % cd.log)
            print(cd.log_text())
        print("---- files kept in %s%s ----" % (tmp, kept_note))
        return 1
    if summary:
        print(summary(report))
    print("PASS (%.1f s)" % elapsed)
    if args.keep:
        print("files kept in %s" % tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0

