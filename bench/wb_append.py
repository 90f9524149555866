#!/usr/bin/env python3
"""What the kernel counts as written for a small append every 10 s.

Appends RECORD bytes to a file every INTERVAL seconds for MINUTES, with
an fsync every SYNC seconds (0: after every append; -1: never), and
prints the bytes appended, /proc/self/io write_bytes over the run, and
their ratio. The head log of write_tsstore is such a file (a record of a
few KB every SnapshotInterval); write_bytes counts 4 KiB each time a
clean page becomes dirty, so a tail page written back (by the kernel's
flusher after dirty_expire_centisecs, or by an fsync) and appended to
again counts once more. Run several at once to compare syncs in the same
wall-clock period:

  for s in 0 60 300 -1; do bench/wb_append.py /var/tmp/wb-$s 1800 $s 10 & done; wait
"""
import os
import sys
import time


def write_bytes():
    with open("/proc/self/io") as f:
        for line in f:
            if line.startswith("write_bytes"):
                return int(line.split()[1])
    raise SystemExit("no write_bytes in /proc/self/io")


def main():
    if len(sys.argv) != 5:
        raise SystemExit("usage: wb_append.py FILE RECORD_BYTES SYNC_S MINUTES")
    path, size = sys.argv[1], int(sys.argv[2])
    sync, minutes, interval = float(sys.argv[3]), float(sys.argv[4]), 10.0
    rec = os.urandom(size)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC,
                 0o644)
    w0 = write_bytes()
    t0 = last_sync = time.monotonic()
    n = 0
    while time.monotonic() - t0 < minutes * 60:
        os.write(fd, rec)
        n += 1
        now = time.monotonic()
        if sync >= 0 and now - last_sync >= sync:
            os.fsync(fd)
            last_sync = now
        time.sleep(interval - ((time.monotonic() - t0) % interval))
    os.close(fd)
    wb = write_bytes() - w0
    print("%s: sync %g s, %d appends of %d bytes = %d bytes, write_bytes %d, "
          "ratio %.2f" % (path, sync, n, size, n * size, wb, wb / (n * size)))
    os.unlink(path)


if __name__ == "__main__":
    main()
