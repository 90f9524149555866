#!/usr/bin/env python3
"""Install test of the distro packages (ctest label "packaging").

Builds the .deb (packaging/build-deb --lint: lintian must pass) and
installs it with dpkg; runs collectd with a temporary config that Includes
the installed /etc/collectd/collectd.conf.d/tsstore.conf (own BaseDir,
PIDFile and unixsock socket; PluginDir is collectd's, /usr/lib/collectd);
feeds values through unixsock PUTVAL, FLUSHes, and finds them with the
installed /usr/bin/tsstore in /var/lib/collectd/tsstore; stops collectd;
then checks dpkg -r (files gone, conffile and its local change kept, data
kept), a reinstall (the changed conffile is not replaced), dpkg -P (conffile
gone; a store with data is kept, an empty one removed). Builds the RPM
(packaging/build-rpm --lint: rpmlint must pass) and checks its file list,
modes, config flags and requirements with rpm -qp.

Run as root on Debian with scripts/install-deps done; exits 77 (skipped)
when not root, without dpkg-buildpackage or collectd, or when the machine
already has collectd-tsstore or a /var/lib/collectd/tsstore (its data is
not ours to touch). Leaves the machine as it found it: the package purged,
the store it wrote removed. Builds in a temporary directory.

Usage: test_packages.py --source SOURCE_DIR
"""

import argparse
import ctypes
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from collectd_harness import (  # noqa: E402
    TestFailure, Unixsock, conf_quote, make_tempdir, quote, require_collectd,
    wait_for)

SKIP = 77
PKG = "collectd-tsstore"
DATA = "/var/lib/collectd/tsstore"
CONFFILE = "/etc/collectd/collectd.conf.d/tsstore.conf"
PLUGINS = ["/usr/lib/collectd/write_tsstore.so",
           "/usr/lib/collectd/tsstore.so"]
CLI = "/usr/bin/tsstore"
MANPAGES = ["/usr/share/man/man1/tsstore.1.gz",
            "/usr/share/man/man5/collectd-tsstore.5.gz"]
HOST = "pkgtest"


def log(msg):
    print("test_packages: " + msg, flush=True)


def run(cmd, check=True, **kw):
    """Runs cmd; returns its CompletedProcess (text), raising on failure."""
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, **kw)
    if check and p.returncode != 0:
        raise TestFailure("%s exited %d:\n%s" % (" ".join(cmd), p.returncode,
                                                 p.stdout))
    return p


def expect(cond, what):
    if not cond:
        raise TestFailure(what)


def dpkg_status():
    """The package's dpkg status ("install ok installed", ...) or ""."""
    p = run(["dpkg-query", "-W", "-f=${Status}", PKG], check=False)
    return p.stdout.strip() if p.returncode == 0 else ""


def skip(msg):
    print("SKIP: " + msg, flush=True)
    sys.exit(SKIP)


def preconditions():
    if os.geteuid() != 0:
        skip("needs root (dpkg -i of the package)")
    if not shutil.which("dpkg-buildpackage"):
        skip("dpkg-buildpackage is not installed (scripts/install-deps)")
    require_collectd(["logfile", "unixsock"])
    st = dpkg_status()
    if st and not st.endswith("not-installed"):
        skip("%s is already on this machine (%s): not replacing it"
             % (PKG, st))
    if os.path.lexists(DATA):
        skip("%s exists: its data is not this test's to touch" % DATA)


def cmake_version(source):
    return run([os.path.join(source, "packaging", "version")]).stdout.strip()


# --- the .deb ---------------------------------------------------------------

def build_deb(source, out):
    t = time.monotonic()
    lint = ["--lint"] if shutil.which("lintian") else []
    if not lint:
        log("lintian is not installed: the .deb is not linted")
    p = run([os.path.join(source, "packaging", "build-deb")] + lint + [out])
    log("build-deb%s: %.0f s" % (" --lint" if lint else "",
                                 time.monotonic() - t))
    if lint:
        print(p.stdout.rstrip(), flush=True)
    debs = [f for f in os.listdir(out)
            if f.startswith(PKG + "_") and f.endswith(".deb")]
    expect(len(debs) == 1, "build-deb made %r, not one %s_*.deb"
           % (debs, PKG))
    return os.path.join(out, debs[0])


def check_deb_contents(deb, version):
    p = run(["dpkg-deb", "-f", deb, "Package", "Version", "Depends"])
    fields = dict(ln.split(": ", 1) for ln in p.stdout.splitlines())
    expect(fields["Package"] == PKG, "package name %r" % fields["Package"])
    expect(fields["Version"].split("-")[0] == version,
           "package version %s, CMakeLists.txt %s"
           % (fields["Version"], version))
    deps = [d.strip() for d in fields["Depends"].split(",")]
    expect("collectd-core (>= 5.12)" in deps,
           "Depends lacks collectd-core (>= 5.12): %s" % fields["Depends"])
    expect(any(d.startswith("libc6") for d in deps),
           "Depends has no shlibs dependencies: %s" % fields["Depends"])


def write_config(root):
    lines = [
        "# generated by %s" % os.path.basename(sys.argv[0]),
        "Hostname %s" % conf_quote(HOST),
        "FQDNLookup false",
        "BaseDir %s" % conf_quote(root),
        "PIDFile %s" % conf_quote(os.path.join(root, "collectd.pid")),
        "TypesDB \"/usr/share/collectd/types.db\"",
        "Interval 1",
        "WriteThreads 1",
        "LoadPlugin logfile",
        "<Plugin logfile>",
        "  LogLevel info",
        "  File %s" % conf_quote(os.path.join(root, "collectd.log")),
        "  PrintSeverity true",
        "</Plugin>",
        "LoadPlugin unixsock",
        "<Plugin unixsock>",
        "  SocketFile %s" % conf_quote(os.path.join(root, "collectd.sock")),
        "  DeleteSocket true",
        "</Plugin>",
        "Include %s" % conf_quote(CONFFILE),
    ]
    conf = os.path.join(root, "collectd.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return conf


def pdeathsig():
    # in the child: SIGTERM when the test dies, so no daemon outlives it
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)


def logtext(root):
    text = ""
    for name in ("collectd.out", "collectd.log"):
        try:
            with open(os.path.join(root, name), encoding="utf-8",
                      errors="replace") as f:
                text += f.read()
        except FileNotFoundError:
            pass
    return text


def dump():
    """The installed CLI's csv rows of our host, as {(ident, ds): [..]}."""
    p = run([CLI, "dump", DATA, "--series", HOST + "/*"], check=False)
    if p.returncode != 0:
        return None
    rows = {}
    for ln in p.stdout.splitlines()[1:]:
        f = ln.split(",")
        rows.setdefault("%s/%s/%s-%s" % (f[0], f[1], f[3], f[4]), []).append(
            (f[6], float(f[7]), float(f[8])))
    return rows


def run_collectd(version):
    """collectd with the installed snippet: values in, found by tsstore."""
    root = make_tempdir("tsstore-pkgtest-")
    proc = None
    try:
        conf = write_config(root)
        with open(os.path.join(root, "collectd.out"), "ab") as out:
            proc = subprocess.Popen(["/usr/sbin/collectd", "-f", "-C", conf],
                                    stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, cwd=root,
                                    preexec_fn=pdeathsig)

        def alive():
            if proc.poll() is not None:
                raise TestFailure("collectd exited with %d:\n%s"
                                  % (proc.returncode, logtext(root)))
        sock = os.path.join(root, "collectd.sock")
        wait_for(lambda: os.path.exists(sock), 30, "the unixsock socket",
                 alive=alive)
        banner = "write_tsstore plugin: version %s storing in %s" % (
            version, DATA)
        wait_for(lambda: banner in logtext(root), 30, repr(banner),
                 alive=alive)
        text = logtext(root)
        for plugin in ("write_tsstore", "tsstore"):
            expect('plugin "%s" successfully loaded' % plugin in text,
                   "collectd did not load %s from /usr/lib/collectd:\n%s"
                   % (plugin, text))
        expect(stat.S_IMODE(os.stat(DATA).st_mode) == 0o750,
               "%s is not mode 0750 after collectd opened it" % DATA)

        now = int(time.time()) - 60
        sent = {
            HOST + "/pkgcheck/gauge-a": ("gauge", [1.5, -2.25, 42.0, 0.0]),
            HOST + "/pkgcheck/derive-b": ("derive", [10, 20, 35, 2**40]),
        }
        us = Unixsock(sock)
        try:
            for ident, (_, values) in sent.items():
                for i, v in enumerate(values):
                    st, msg, _ = us.command("PUTVAL %s interval=1 %d:%s" % (
                        quote(ident), now + i, repr(v) if isinstance(
                            v, float) else str(v)))
                    expect(st == 0, "PUTVAL %s: %d %s" % (ident, st, msg))

            want = {ident: [(kind, float(now + i), float(v))
                            for i, v in enumerate(values)]
                    for ident, (kind, values) in sent.items()}

            last = [None]

            def stored():
                st, msg, _ = us.command("FLUSH plugin=write_tsstore")
                expect(st == 0, "FLUSH: %d %s" % (st, msg))
                last[0] = dump()
                return last[0] == want
            t = time.monotonic()
            try:
                wait_for(stored, 30, "tsstore dump %s to show the values"
                         " sent" % DATA, interval=0.2, alive=alive)
            except TestFailure as e:
                raise TestFailure("%s: it shows %r, want %r"
                                  % (e, last[0], want)) from None
            log("PUTVAL, FLUSH: tsstore dump finds all %d values after"
                " %.1f s" % (sum(len(v) for v in want.values()),
                             time.monotonic() - t))
        finally:
            us.close()

        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(30)
        expect(rc == 0, "collectd exited with %d after SIGTERM:\n%s"
               % (rc, logtext(root)))
        errors = [ln for ln in logtext(root).splitlines()
                  if "[error]" in ln]
        expect(not errors, "collectd logged errors:\n" + "\n".join(errors))
        expect(dump() == want, "the values are gone after collectd"
               " stopped")
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)


def check_deb(source, out):
    version = cmake_version(source)
    deb = build_deb(source, out)
    check_deb_contents(deb, version)

    run(["dpkg", "-i", deb])
    log("dpkg -i %s" % os.path.basename(deb))
    for f in PLUGINS + [CLI, CONFFILE] + MANPAGES:
        expect(os.path.isfile(f), "%s is not installed" % f)
    st = os.stat(DATA)
    expect(stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o750
           and st.st_uid == 0 and st.st_gid == 0,
           "%s is not a 0750 root:root directory" % DATA)
    conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", PKG]).stdout
    expect(CONFFILE in conffiles, "%s is not a conffile: %r"
           % (CONFFILE, conffiles))
    got = run([CLI, "--version"]).stdout.strip()
    expect(got == "tsstore " + version, "tsstore --version says %r" % got)

    run_collectd(version)

    # remove: program files go, the (locally changed) conffile and the
    # stored data stay
    with open(CONFFILE, "a", encoding="utf-8") as f:
        f.write("# changed by test_packages.py\n")
    run(["dpkg", "-r", PKG])
    log("dpkg -r")
    for f in PLUGINS + [CLI] + MANPAGES:
        expect(not os.path.exists(f), "%s is still there after dpkg -r" % f)
    expect(dpkg_status() == "deinstall ok config-files",
           "status after dpkg -r: %r" % dpkg_status())
    with open(CONFFILE, encoding="utf-8") as f:
        expect(f.read().endswith("# changed by test_packages.py\n"),
               "dpkg -r did not keep the changed conffile")
    expect(os.path.isfile(os.path.join(DATA, "STORE")),
           "dpkg -r removed the stored data")

    # reinstall: the admin's conffile is kept, not replaced or asked about
    run(["dpkg", "-i", deb])
    with open(CONFFILE, encoding="utf-8") as f:
        expect(f.read().endswith("# changed by test_packages.py\n"),
               "reinstalling replaced the changed conffile")
    log("dpkg -i again: the changed conffile is kept")

    # purge: the conffile goes; a store with data stays (with a note)
    p = run(["dpkg", "-P", PKG])
    log("dpkg -P")
    expect(not os.path.exists(CONFFILE), "%s is still there after dpkg -P"
           % CONFFILE)
    expect(dpkg_status() in ("", "unknown ok not-installed"),
           "status after dpkg -P: %r" % dpkg_status())
    expect(os.path.isfile(os.path.join(DATA, "STORE")),
           "dpkg -P removed a store holding data")
    expect("kept the stored metrics in " + DATA in p.stdout,
           "dpkg -P did not say where the data was kept:\n" + p.stdout)
    shutil.rmtree(DATA)

    # an empty store directory goes with the purge
    run(["dpkg", "-i", deb])
    run(["dpkg", "-P", PKG])
    expect(not os.path.lexists(DATA), "dpkg -P left the empty %s" % DATA)
    log("dpkg -i, dpkg -P: the empty store directory is removed")


# --- the RPM ----------------------------------------------------------------

def rpmq(rpm, *args):
    return run(["rpm", "-qp"] + list(args) + [rpm]).stdout


def check_rpm(source, out):
    if not shutil.which("rpmbuild"):
        log("SKIP the RPM part: rpmbuild is not installed")
        return
    version = cmake_version(source)
    t = time.monotonic()
    lint = ["--lint"] if shutil.which("rpmlint") else []
    if not lint:
        log("rpmlint is not installed: the RPM is not linted")
    p = run([os.path.join(source, "packaging", "build-rpm")] + lint + [out])
    log("build-rpm%s: %.0f s" % (" --lint" if lint else "",
                                 time.monotonic() - t))
    if lint:
        print(p.stdout.rstrip(), flush=True)
    arch = run(["rpm", "--eval", "%{_arch}"]).stdout.strip()
    rpm = os.path.join(out, "%s-%s-1.%s.rpm" % (PKG, version, arch))
    expect(os.path.isfile(rpm), "build-rpm made no %s" % rpm)

    expect(rpmq(rpm, "--qf", "%{NAME} %{VERSION}") == "%s %s"
           % (PKG, version), "RPM name/version: %r"
           % rpmq(rpm, "--qf", "%{NAME} %{VERSION}"))
    libdir = run(["rpm", "--eval", "%{_libdir}"]).stdout.strip()
    files = {}
    for ln in rpmq(rpm, "--qf", "[%{FILENAMES}\t%{FILEMODES:perms}\t"
                   "%{FILEUSERNAME}:%{FILEGROUPNAME}\t%{FILEFLAGS:fflags}\n]"
                   ).splitlines():
        name, perms, owner, flags = ln.split("\t")
        files[name] = (perms, owner, flags)
    want = {
        "/etc/collectd.d/tsstore.conf": ("-rw-r--r--", "root:root", "cn"),
        "/usr/bin/tsstore": ("-rwxr-xr-x", "root:root", ""),
        libdir + "/collectd/write_tsstore.so": (None, "root:root", ""),
        libdir + "/collectd/tsstore.so": (None, "root:root", ""),
        # rpm marks man pages as documentation (d)
        "/usr/share/man/man1/tsstore.1.gz": ("-rw-r--r--", "root:root", "d"),
        "/usr/share/man/man5/collectd-tsstore.5.gz":
            ("-rw-r--r--", "root:root", "d"),
        DATA: ("drwxr-x---", "root:root", ""),
    }
    for name, (perms, owner, flags) in want.items():
        expect(name in files, "the RPM lacks %s; it has:\n%s"
               % (name, "\n".join(sorted(files))))
        got = files[name]
        expect((perms is None or got[0] == perms) and got[1] == owner
               and got[2] == flags, "%s in the RPM: %r, want %r"
               % (name, got, (perms, owner, flags)))
    # the rest: docs, licence, build-id links, nothing else
    extra = [f for f in files if f not in want and not f.startswith((
        "/usr/share/doc/", "/usr/share/licenses/", "/usr/lib/.build-id"))]
    expect(not extra, "unexpected files in the RPM: %r" % extra)
    expect(any(f.endswith("/README.md") for f in files),
           "the RPM has no README.md")

    requires = rpmq(rpm, "--requires").splitlines()
    expect("collectd >= 5.12" in requires,
           "RPM requires no collectd >= 5.12: %r" % requires)
    for lib in ("libyajl.so.2", "libuuid.so.1", "libxxhash.so.0",
                "libroaring.so", "libc.so.6"):
        expect(any(r.startswith(lib) for r in requires),
               "RPM requires nothing of %s: %r" % (lib, requires))
    expect(not [r for r in requires if "collectd" in r
                and r != "collectd >= 5.12" and not r.startswith("config(")],
           "RPM requires other collectd parts: %r" % requires)
    log("RPM %s: file list, modes, config flags and requirements as"
        " expected" % os.path.basename(rpm))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    source = os.path.abspath(args.source)
    # dpkg wants ldconfig and start-stop-daemon, which live in sbin
    path = os.environ.get("PATH", "").split(":")
    os.environ["PATH"] = ":".join(path + [d for d in (
        "/usr/local/sbin", "/usr/sbin", "/sbin") if d not in path])
    preconditions()

    t0 = time.monotonic()
    out = tempfile.mkdtemp(prefix="tsstore-packages-")
    try:
        check_deb(source, out)
        check_rpm(source, out)
    except TestFailure as e:
        print("FAIL: %s" % e, flush=True)
        return 1
    finally:
        # whatever happened: no package, no store of ours left behind
        if dpkg_status() not in ("", "unknown ok not-installed"):
            run(["dpkg", "-P", PKG], check=False)
        if os.path.lexists(DATA):
            shutil.rmtree(DATA, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
    log("passed in %.0f s" % (time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
