#!/usr/bin/env python3
"""tsstore import --csv: a csv plugin tree with good and bad lines.

Builds a small tree the way collectd's csv plugin lays it out
(host/plugin[-pinst]/type[-tinst]-YYYY-MM-DD, header epoch,<ds>...), with
a type instance holding a space, a line whose second value is bad (the
whole line must be skipped, not its first value stored), a bad time, a
line with too few fields and a file whose name is not a csv plugin name.
Checks the messages (file and line), the closing count, the exit status,
and that `tsstore dump` returns exactly the good lines' points.
"""

import argparse
import csv
import io
import os
import subprocess
import sys
import tempfile

TYPES_DB = """\
# test types.db
if_octets  rx:DERIVE:0:U, tx:DERIVE:0:U
df_complex value:GAUGE:0:U
"""

FILES = {
    "h1/interface-eth0/if_octets-2026-11-21": [
        "epoch,rx,tx",
        "1700000000.000,1,2",
        "1700000010.000,3,bad",      # line 3: bad value (second field)
        "notatime,5,6",              # line 4: bad time
        "1700000020.000,7",          # line 5: wrong number of fields
        "1700000030.000,9,-10",
    ],
    "h1/df-root/df_complex-my space-2026-11-21": [
        "epoch,value",
        "1700000000.500,1.25",
        "1700000001.500,nan",
    ],
    "h1/cpu-0/garbage": ["epoch,value", "1700000000,1"],
}

# (host, plugin, plugin_instance, type, type_instance, ds, kind, time, value)
WANT = {
    ("h1", "interface", "eth0", "if_octets", "", "rx", "derive",
     "1700000000.000", "1"),
    ("h1", "interface", "eth0", "if_octets", "", "tx", "derive",
     "1700000000.000", "2"),
    ("h1", "interface", "eth0", "if_octets", "", "rx", "derive",
     "1700000030.000", "9"),
    ("h1", "interface", "eth0", "if_octets", "", "tx", "derive",
     "1700000030.000", "-10"),
    ("h1", "df", "root", "df_complex", "my space", "value", "gauge",
     "1700000000.500", "1.25"),
    ("h1", "df", "root", "df_complex", "my space", "value", "gauge",
     "1700000001.500", "nan"),
}


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tss-import-") as tmp:
        src = os.path.join(tmp, "csv")
        for rel, lines in FILES.items():
            p = os.path.join(src, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write("\n".join(lines) + "\n")
        tdb = os.path.join(tmp, "types.db")
        with open(tdb, "w") as f:
            f.write(TYPES_DB)
        store = os.path.join(tmp, "store")
        r = subprocess.run([a.cli, "import", "--csv", src, "--types-db", tdb,
                            store], capture_output=True, text=True)
        print(r.stdout + r.stderr)
        if r.returncode != 1:
            fail("exit status %d, want 1 (lines were skipped)" % r.returncode)
        octets = os.path.join(src, "h1/interface-eth0/if_octets-2026-11-21")
        for line, why in ((3, 'data source "tx": "bad" is not a derive '
                           'value'), (4, "bad time"),
                          (5, "wrong number of fields")):
            want = "%s:%d: %s; line skipped" % (octets, line, why)
            if want not in r.stderr:
                fail("no message %r" % want)
        garbage = os.path.join(src, "h1/cpu-0/garbage")
        if garbage + ": not a csv plugin file name" not in r.stderr:
            fail("the misnamed file is not reported")
        if "my space" in r.stderr:
            fail("the file with a space in its type instance was refused")
        want = ("imported %d points from 2 file(s); skipped 3 bad line(s) "
                "and 1 file(s)" % len(WANT))
        if want not in r.stdout:
            fail("summary: want %r" % want)
        d = subprocess.run([a.cli, "dump", store, "--format", "csv"],
                           capture_output=True, text=True)
        if d.returncode != 0:
            fail("dump exited %d: %s" % (d.returncode, d.stderr))
        rows = list(csv.reader(io.StringIO(d.stdout)))
        if rows[0] != ["host", "plugin", "plugin_instance", "type",
                       "type_instance", "ds", "kind", "time", "value"]:
            fail("dump header %r" % rows[0])
        got = [tuple(x) for x in rows[1:]]
        if len(got) != len(set(got)):
            fail("duplicate rows: %r" % got)
        if set(got) != WANT:
            fail("dump differs:\n  missing %r\n  extra %r"
                 % (sorted(WANT - set(got)), sorted(set(got) - WANT)))
    print("ok: %d points imported, 3 bad lines and 1 file reported" % len(WANT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
