/*
 * Per-thread error slot (like libgit2's git_error_set): one line of context
 * recorded where a failure happens, read by the caller that reports it.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_msg[1024];
static _Thread_local int last_code;

int tss_error_set(int code, const char *fmt, ...)
{
    char msg[sizeof(last_msg)];
    va_list ap;

    /* format aside: callers add context with tss_error_last() itself as an
     * argument, which must not be overwritten while it is read */
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    memcpy(last_msg, msg, sizeof(msg));
    last_code = code;
    return code;
}

int tss_error_set_errno(int err, const char *op, const char *path)
{
    int code;

    switch (err) {
    case ENOENT:
        code = TSS_ENOTFOUND;
        break;
    case EEXIST:
        code = TSS_EEXISTS;
        break;
    case ENOSPC:
    case EDQUOT:
        code = TSS_ENOSPC;
        break;
    case ENOMEM:
        code = TSS_ENOMEM;
        break;
    default:
        code = TSS_EIO;
        break;
    }
    return tss_error_set(code, "%s %s: %s", op, path ? path : "(none)",
                         strerror(err));
}

const char *tss_error_last(void)
{
    return last_msg;
}

int tss_error_last_code(void)
{
    return last_code;
}

void tss_error_clear(void)
{
    last_msg[0] = '\0';
    last_code = 0;
}

const char *tss_strerror(int code)
{
    switch (code) {
    case TSS_OK:
        return "success";
    case TSS_ENOTFOUND:
        return "not found";
    case TSS_EEXISTS:
        return "already exists";
    case TSS_ECAS:
        return "compare-and-swap failed";
    case TSS_ECORRUPT:
        return "corrupt";
    case TSS_EIO:
        return "I/O error";
    case TSS_ENOSPC:
        return "no space left";
    case TSS_EINVAL:
        return "invalid argument";
    case TSS_ENOMEM:
        return "out of memory";
    case TSS_ELOCKED:
        return "locked";
    case TSS_EFAILED:
        return "failed state";
    default:
        return "unknown error";
    }
}
