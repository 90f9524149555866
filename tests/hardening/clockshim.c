/*
 * An LD_PRELOAD library that moves the wall clock of the process it is
 * loaded into, for test_clock_plugin.py: CLOCK_REALTIME (and its coarse
 * variant), gettimeofday and time() are offset by the signed 64-bit count
 * of nanoseconds (host byte order) in the file named by $TSS_CLOCK_SHIM,
 * read on every call, so a test steps the clock of a running collectd by
 * rewriting the file. The monotonic clocks are left alone, as a real step
 * of the wall clock (an NTP correction, a restored VM) leaves them.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_fn)(clockid_t, struct timespec *);

static int64_t offset_ns(void)
{
    const char *path = getenv("TSS_CLOCK_SHIM");
    int64_t v = 0;
    int fd;

    if (!path || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return 0;
    if (pread(fd, &v, sizeof(v), 0) != (ssize_t)sizeof(v))
        v = 0;
    close(fd);
    return v;
}

static void shift(struct timespec *ts, int64_t ns)
{
    int64_t t = (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec + ns;

    ts->tv_sec = (time_t)(t / 1000000000);
    ts->tv_nsec = (long)(t % 1000000000);
    if (ts->tv_nsec < 0) {
        ts->tv_nsec += 1000000000;
        ts->tv_sec--;
    }
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    static clock_fn real;
    int rc;

    if (!real)
        real = (clock_fn)dlsym(RTLD_NEXT, "clock_gettime");
    rc = real(id, ts);
    if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
        shift(ts, offset_ns());
    return rc;
}

int gettimeofday(struct timeval *tv, void *tz)
{
    struct timespec ts;

    (void)tz;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return -1;
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
    return 0;
}

time_t time(time_t *out)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    if (out)
        *out = ts.tv_sec;
    return ts.tv_sec;
}
