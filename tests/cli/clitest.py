"""What the CLI tests of this directory share: a failure that ends the
test, and a command run with its output echoed (so that ctest's log
shows what each step printed)."""

import subprocess
import sys


def fail(msg):
    """Prints FAIL: msg and exits 1."""
    print("FAIL:", msg)
    sys.exit(1)


def run(cmd):
    """Runs cmd (a list), echoes it and its stdout and stderr, and returns
    the CompletedProcess (text mode); the exit status is the caller's to
    check."""
    r = subprocess.run(cmd, capture_output=True, text=True)
    print("$", " ".join(cmd))
    print(r.stdout + r.stderr)
    return r
