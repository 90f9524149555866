/*
 * Allocation failure inside the libraries the decoders call (issue 9,
 * point 3): test_alloc fails the Nth allocation of the core's seam
 * (tss_malloc), which yajl's and CRoaring's own allocations do not use.
 * This test replaces the
 * process's malloc family itself (malloc, calloc, realloc, free,
 * posix_memalign, aligned_alloc, memalign, valloc, pvalloc: glibc's
 * "Replacing malloc" rules, forwarding to its __libc_* functions), so that
 * every allocation counts -- the core's, yajl's, CRoaring's and glibc's own
 * (qsort, opendir, fopen) -- and the Nth of a decoder's run fails.
 *
 * Decoders that reach a library: STORE (tss_meta_decode, yajl), a mutation
 * document (tss_mut_read, yajl), every sidecar (tss_sidecar_read,
 * CRoaring), the table coverage (tss_covtable_load, CRoaring), and end to
 * end a reader's coverage query (store open, table, sidecars, head).
 *
 * Each N runs in a child process (CRoaring may crash, and must not take
 * the other runs with it). The child must:
 * - succeed with everything (a whole reader may get over a failure), or
 *   return TSS_ENOMEM -- not "corrupt": a file is not blamed for memory;
 * - free everything it allocated (blocks live before = after);
 * - free every library object it was handed: the test wraps the
 *   constructors and destructors our code calls (roaring_bitmap_create,
 *   ..._portable_deserialize_safe and roaring_bitmap_free) and counts
 *   what is live;
 * - not crash in our code. A crash is classified by the innermost frame
 *   outside glibc (backtrace + dladdr in the signal handler): inside
 *   libroaring it is the library's (counted and printed: the limit
 *   documented in docs/hardening-faults.md, "Not covered"), anywhere
 *   else -- yajl included -- a failure of this test. A leak is CRoaring's
 *   when every block left was allocated from inside it and our code freed
 *   every object it was handed.
 *
 * yajl is not given that allowance: it allocates from a region the core
 * reserves before each parse (core/src/json.c), so a failed allocation
 * can only be the core's own, answered with TSS_ENOMEM, and yajl neither
 * crashes nor leaks whichever allocation fails.
 *
 * Not built in sanitizer builds (ASan and TSan bring their own malloc).
 */
#define _GNU_SOURCE
#include "hd_decoders.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <execinfo.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <roaring/roaring.h>

/* ---- the replaced allocator --------------------------------------------
 */

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t n);
extern void *__libc_valloc(size_t n);
extern void *__libc_pvalloc(size_t n);

/* The build hides every symbol (-fvisibility=hidden); these must be seen
 * by the shared libraries to replace glibc's. */
#define EXPORT __attribute__((visibility("default")))

static volatile bool armed;
static unsigned long fail_at, calls;
static volatile bool fired;
static long live;

/*
 * The blocks made while armed and not freed yet, with the address their
 * allocation returns to (whose code asked: ours, or a library's). Open
 * addressing; a run that outgrows it says so rather than guess.
 */
#define TRACK_SLOTS 65536
static struct {
    void *p;
    void *caller;
} track[TRACK_SLOTS];
static bool track_full;

static size_t slot_of(const void *p)
{
    return ((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15u >> 48;
}

static void track_add(void *p, void *caller)
{
    size_t i = slot_of(p);

    for (size_t k = 0; k < TRACK_SLOTS; k++, i = (i + 1) % TRACK_SLOTS)
        if (!track[i].p || track[i].p == (void *)1) {
            track[i].p = p;
            track[i].caller = caller;
            return;
        }
    track_full = true;
}

static void track_del(const void *p)
{
    size_t i = slot_of(p);

    for (size_t k = 0; k < TRACK_SLOTS && track[i].p;
         k++, i = (i + 1) % TRACK_SLOTS)
        if (track[i].p == p) {
            track[i].p = (void *)1; /* a tombstone: the chain goes on */
            return;
        }
}

/* Whether this allocation is the one to fail (counted while armed). */
static bool fail_now(void)
{
    if (!armed)
        return false;
    if (++calls == fail_at) {
        fired = true;
        errno = ENOMEM; /* as glibc's malloc does */
        return true;
    }
    return false;
}

static void *made(void *p, void *caller)
{
    if (p) {
        __atomic_add_fetch(&live, 1, __ATOMIC_RELAXED);
        if (armed)
            track_add(p, caller);
    }
    return p;
}

#define CALLER __builtin_return_address(0)

EXPORT void *malloc(size_t n)
{
    return fail_now() ? NULL : made(__libc_malloc(n), CALLER);
}

EXPORT void *calloc(size_t n, size_t size)
{
    return fail_now() ? NULL : made(__libc_calloc(n, size), CALLER);
}

EXPORT void free(void *p)
{
    if (p) {
        __atomic_sub_fetch(&live, 1, __ATOMIC_RELAXED);
        track_del(p);
        __libc_free(p);
    }
}

EXPORT void *realloc(void *p, size_t n)
{
    void *q;

    if (!p)
        return fail_now() ? NULL : made(__libc_malloc(n), CALLER);
    if (n == 0) {
        free(p);
        return NULL;
    }
    if (fail_now())
        return NULL;
    if ((q = __libc_realloc(p, n)) != NULL) {
        track_del(p);
        if (armed)
            track_add(q, CALLER);
    }
    return q;
}

EXPORT void *memalign(size_t align, size_t n)
{
    return fail_now() ? NULL : made(__libc_memalign(align, n), CALLER);
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
    return fail_now() ? NULL : made(__libc_memalign(align, n), CALLER);
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    void *p;

    if (align % sizeof(void *) != 0 || (align & (align - 1)) != 0)
        return EINVAL;
    if (fail_now())
        return ENOMEM;
    if (!(p = made(__libc_memalign(align, n), CALLER)))
        return ENOMEM;
    *out = p;
    return 0;
}

EXPORT void *valloc(size_t n)
{
    return fail_now() ? NULL : made(__libc_valloc(n), CALLER);
}

EXPORT void *pvalloc(size_t n)
{
    return fail_now() ? NULL : made(__libc_pvalloc(n), CALLER);
}

/* ---- the library objects our code is handed ----------------------------
 *
 * Defined here, these take the core's calls (it is linked into this
 * program). Each forwards to the library's function. They are exported
 * (CRoaring's headers give its functions default visibility), so they
 * may take the library's own calls too: only the outermost call counts.
 */

static long objects; /* handed to our code and not given back */
static int depth;    /* wrapped calls in progress */

static void *next_fn(const char *name)
{
    void *fn = dlsym(RTLD_NEXT, name);

    if (!fn)
        abort(); /* the test cannot run without the library */
    return fn;
}

roaring_bitmap_t *roaring_bitmap_create(void)
{
    static roaring_bitmap_t *(*fn)(void);
    roaring_bitmap_t *b;

    if (!fn)
        *(void **)&fn = next_fn("roaring_bitmap_create");
    depth++;
    b = fn();
    if (--depth == 0 && b)
        objects++;
    return b;
}

roaring_bitmap_t *roaring_bitmap_portable_deserialize_safe(const char *buf,
                                                           size_t maxbytes)
{
    static roaring_bitmap_t *(*fn)(const char *, size_t);
    roaring_bitmap_t *b;

    if (!fn)
        *(void **)&fn = next_fn("roaring_bitmap_portable_deserialize_safe");
    depth++;
    b = fn(buf, maxbytes);
    if (--depth == 0 && b)
        objects++;
    return b;
}

void roaring_bitmap_free(const roaring_bitmap_t *b)
{
    static void (*fn)(const roaring_bitmap_t *);

    if (!fn)
        *(void **)&fn = next_fn("roaring_bitmap_free");
    depth++;
    fn(b);
    if (--depth == 0 && b)
        objects--;
}

/* ---- crashes: whose? ---------------------------------------------------
 */

/* A child's verdict, its exit status EXIT_BASE + verdict: statuses no
 * ordinary exit gives (a child that exits otherwise is EXIT_STRAY). */
#define EXIT_BASE 64
enum {
    EXIT_DONE = 0,     /* allocation N was not reached: the run is over */
    EXIT_OK = 1,       /* succeeded with everything */
    EXIT_ENOMEM = 2,   /* TSS_ENOMEM */
    EXIT_WRONG = 3,    /* another error, or less data than there is */
    EXIT_LEAK = 4,     /* blocks or library objects not freed */
    EXIT_LIBCRASH = 5, /* crashed inside CRoaring */
    EXIT_OURCRASH = 6, /* crashed anywhere else */
    EXIT_LIBLEAK = 7,  /* blocks CRoaring made, not freed */
    EXIT_STRAY = 8,    /* the child ended some other way */
    EXIT_KINDS
};

static bool in_glibc(const char *obj)
{
    const char *b = strrchr(obj, '/');

    b = b ? b + 1 : obj;
    return strncmp(b, "libc.so", 7) == 0 || strncmp(b, "ld-linux", 8) == 0;
}

static bool in_library(const void *addr)
{
    Dl_info di;

    return dladdr(addr, &di) && di.dli_fname &&
           strstr(di.dli_fname, "libroaring");
}

/* Blocks made while armed and still there: *ours made by our code (or
 * glibc's on our behalf), *lib by the libraries; false when the table
 * cannot tell (it overflowed, or it misses blocks the count has). */
static bool leaks(long delta, long *ours, long *lib)
{
    *ours = *lib = 0;
    for (size_t i = 0; i < TRACK_SLOTS; i++)
        if (track[i].p && track[i].p != (void *)1)
            ++*(in_library(track[i].caller) ? lib : ours);
    return !track_full && *ours + *lib == delta;
}

static void on_crash(int sig)
{
    void *frames[64];
    int n = backtrace(frames, 64), code = EXIT_OURCRASH;

    (void)sig;
    /* frames[0] is this handler; past it, the signal trampoline and, for
     * an assertion, abort and __assert_fail (glibc) */
    for (int i = 1; i < n; i++) {
        Dl_info di;

        if (!dladdr(frames[i], &di) || !di.dli_fname)
            break;
        if (in_glibc(di.dli_fname))
            continue;
        if (strstr(di.dli_fname, "libroaring"))
            code = EXIT_LIBCRASH;
        break;
    }
    _exit(EXIT_BASE + code);
}

/* ---- the store and the decoders ------------------------------------------
 */

static int group_setup(void **state)
{
    char tpl[4096];
    void *frame;

    tt_group_setup(state);
    tt_setup(state);
    tt_join(tpl, sizeof(tpl), *state, "template");
    hd_dec_setup(tpl);
    /* backtrace loads libgcc_s on its first call: not in a child that
     * has just been refused memory */
    (void)backtrace(&frame, 1);
    return 0;
}

static int group_teardown(void **state)
{
    hd_dec_teardown();
    tt_teardown(state);
    return tt_group_teardown(state);
}

/* ---- the runs -------------------------------------------------------------
 */

typedef struct decoder {
    const char *name;
    int (*run)(void);
    bool may_succeed; /* a whole reader: may get over a failure */
} decoder;

/* One run in a child with allocation n failing (0: none); an EXIT_*. */
static int child_run(const decoder *d, unsigned long n, char *msg, size_t size)
{
    int pfd[2], status;
    pid_t pid;
    ssize_t got;

    assert_int_equal(pipe(pfd), 0);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        long before, objects_before, ours, lib;
        int rc, code, quiet;
        char m[512];

        close(pfd[0]);
        /* CRoaring prints its failures and assertions: the verdict is
         * ours to give, in the parent */
        if ((quiet = open("/dev/null", O_WRONLY)) >= 0)
            dup2(quiet, STDERR_FILENO);
        /* every signal cmocka catches too: its handler would go on with
         * the other tests in this child */
        signal(SIGSEGV, on_crash);
        signal(SIGBUS, on_crash);
        signal(SIGABRT, on_crash);
        signal(SIGFPE, on_crash);
        signal(SIGILL, on_crash);
        signal(SIGSYS, on_crash);
        signal(SIGTRAP, on_crash);
        tss_error_clear();
        before = live;
        objects_before = objects;
        fail_at = n;
        calls = 0;
        fired = false;
        armed = true;
        rc = d->run();
        armed = false;
        ours = lib = 0;
        if (n && !fired)
            code = EXIT_DONE;
        else if (rc == 0 ? n && !d->may_succeed : rc != TSS_ENOMEM)
            code = EXIT_WRONG;
        else if (objects != objects_before)
            code = EXIT_LEAK; /* ours: an object not given back */
        else if (live != before)
            code = leaks(live - before, &ours, &lib) && ours == 0 ? EXIT_LIBLEAK
                                                                  : EXIT_LEAK;
        else
            code = rc == 0 ? EXIT_OK : EXIT_ENOMEM;
        snprintf(m, sizeof(m),
                 "rc %d (%s) %s; blocks not freed: %ld, made by our code "
                 "%ld, by the libraries %ld; library objects not freed: %ld",
                 rc, tss_strerror(rc), rc ? tss_error_last() : "",
                 live - before, ours, lib, objects - objects_before);
        if (write(pfd[1], m, strlen(m)) < 0)
            _exit(EXIT_BASE + EXIT_WRONG);
        _exit(EXIT_BASE + code);
    }
    close(pfd[1]);
    got = read(pfd[0], msg, size - 1);
    msg[got > 0 ? got : 0] = '\0';
    close(pfd[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        return EXIT_OURCRASH; /* a signal the handler did not take */
    if (WEXITSTATUS(status) < EXIT_BASE ||
        WEXITSTATUS(status) >= EXIT_BASE + EXIT_KINDS)
        return EXIT_STRAY;
    return WEXITSTATUS(status) - EXIT_BASE;
}

/* Appends " n" to a list of allocation numbers (as many as fit). */
static void note(char *list, size_t size, unsigned long n)
{
    size_t used = strlen(list);

    if (used + 24 < size)
        snprintf(list + used, size - used, " %lu", n);
}

static void every_allocation(const decoder *d)
{
    unsigned long n, counts[EXIT_KINDS] = {0};
    char msg[768], crashed[256] = "", leaked[256] = "";
    int code;

    /* without a failure: everything, nothing left allocated */
    code = child_run(d, 0, msg, sizeof(msg));
    if (code != EXIT_OK)
        fail_msg("%s without a failure: exit %d, %s", d->name, code, msg);
    for (n = 1;; n++) {
        code = child_run(d, n, msg, sizeof(msg));
        if (code == EXIT_DONE)
            break;
        counts[code]++;
        switch (code) {
        case EXIT_WRONG:
            fail_msg("%s, allocation %lu fails: not out of memory, or "
                     "less data than there is: %s",
                     d->name, n, msg);
            break;
        case EXIT_LEAK:
            fail_msg("%s, allocation %lu fails: %s", d->name, n, msg);
            break;
        case EXIT_OURCRASH:
            fail_msg("%s, allocation %lu fails: crashed outside CRoaring",
                     d->name, n);
            break;
        case EXIT_STRAY:
            fail_msg("%s, allocation %lu fails: the child did not give a "
                     "verdict",
                     d->name, n);
            break;
        case EXIT_LIBCRASH:
            note(crashed, sizeof(crashed), n);
            break;
        case EXIT_LIBLEAK:
            note(leaked, sizeof(leaked), n);
            break;
        default:
            break;
        }
    }
    assert_true(n > 1);
    print_message("%-9s %4lu allocations failed in turn: %lu out of memory, "
                  "%lu got over, %lu crashed in the library%s%s%s, "
                  "%lu leaked in it%s%s%s\n",
                  d->name, n - 1, counts[EXIT_ENOMEM], counts[EXIT_OK],
                  counts[EXIT_LIBCRASH], *crashed ? " (allocations" : "",
                  crashed, *crashed ? ")" : "", counts[EXIT_LIBLEAK],
                  *leaked ? " (allocations" : "", leaked, *leaked ? ")" : "");
}

static const decoder DECODERS[] = {
    {"meta", hd_dec_meta, false},        {"wal", hd_dec_wal, false},
    {"sidecar", hd_dec_sidecars, false}, {"covtable", hd_dec_covtable, false},
    {"coverage", hd_dec_coverage, true},
};

#define DEC_TEST(i, fn)                                                        \
    static void fn(void **state)                                               \
    {                                                                          \
        (void)state;                                                           \
        every_allocation(&DECODERS[i]);                                        \
    }

DEC_TEST(0, test_meta)
DEC_TEST(1, test_wal)
DEC_TEST(2, test_sidecar)
DEC_TEST(3, test_covtable)
DEC_TEST(4, test_coverage)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meta),     cmocka_unit_test(test_wal),
        cmocka_unit_test(test_sidecar),  cmocka_unit_test(test_covtable),
        cmocka_unit_test(test_coverage),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
