/*
 * An LD_PRELOAD library for test_mutation_cli.py: a `tsstore` command
 * that holds the store's writer LOCK runs the shell command in
 * $TSS_LOCK_SHIM_CMD just before it releases the LOCK (closes the
 * descriptor it took the LOCK with), once: a command started in that
 * instant, after the holder's last pass over the documents, finds the
 * LOCK taken -- the race the gdb breakpoint on tss_store_close showed,
 * without a debugger or a sleep. The command runs without the variable,
 * so its own `tsstore` does nothing of the sort.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

typedef int (*flock_fn)(int, int);
typedef int (*close_fn)(int);

static int lock_fd = -1; /* the descriptor that holds LOCK */

/* True if fd is a file named LOCK (the core also flocks directories). */
static int is_lock(int fd)
{
    char link[64], path[PATH_MAX];
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, path, sizeof(path) - 1);
    if (n < 5)
        return 0;
    path[n] = '\0';
    return strcmp(path + n - 5, "/LOCK") == 0;
}

int flock(int fd, int op)
{
    static flock_fn real;
    int rc;

    if (!real)
        real = (flock_fn)dlsym(RTLD_NEXT, "flock");
    rc = real(fd, op);

    if (rc == 0 && (op & LOCK_EX) && is_lock(fd))
        lock_fd = fd;
    return rc;
}

int close(int fd)
{
    static close_fn real;

    if (!real)
        real = (close_fn)dlsym(RTLD_NEXT, "close");
    if (fd >= 0 && fd == lock_fd) {
        const char *cmd = getenv("TSS_LOCK_SHIM_CMD");

        lock_fd = -1;
        if (cmd) {
            char *copy = strdup(cmd);

            unsetenv("TSS_LOCK_SHIM_CMD");
            if (copy && system(copy) != 0)
                fprintf(stderr, "lockshim: \"%s\" failed\n", copy);
            free(copy);
        }
    }
    return real(fd);
}
