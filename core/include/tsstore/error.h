/*
 * tsstore — error codes and the per-thread error slot.
 *
 * Every fallible function of libtsstore returns an int: 0 on success, or one
 * of the negative TSS_E* codes below. At the point of failure the library
 * records one line of context (operation, path, strerror) in a per-thread
 * slot, read with tss_error_last(); callers propagate the code unchanged.
 */
#ifndef TSSTORE_ERROR_H
#define TSSTORE_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define TSS_WUR __attribute__((warn_unused_result))
#define TSS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TSS_WUR
#define TSS_PRINTF(f, a)
#endif

/** Error codes. 0 is success; every error is negative. */
typedef enum tss_error_code {
    TSS_OK = 0,
    TSS_ENOTFOUND = -1, /**< file, series or store does not exist */
    TSS_EEXISTS = -2,   /**< create-new target already exists */
    TSS_ECAS = -3,      /**< compare-and-swap lost: the etag is stale */
    TSS_ECORRUPT = -4,  /**< bad magic, version, checksum or structure */
    TSS_EIO = -5,       /**< an I/O call failed (errno in the message) */
    TSS_ENOSPC = -6,    /**< no space left on the device (ENOSPC, EDQUOT) */
    TSS_EINVAL = -7,    /**< invalid argument or option */
    TSS_ENOMEM = -8,    /**< allocation failed */
    TSS_ELOCKED = -9,   /**< the store's writer LOCK is held by another */
    TSS_EFAILED = -10,  /**< handle is in the sticky failed state after a
                             failed fsync; reopen it */
} tss_error_code;

/** Log levels passed to log callbacks (the syslog values, so a collectd
 * plugin hands them to plugin_log unchanged). */
enum {
    TSS_LEVEL_ERR = 3,
    TSS_LEVEL_WARNING = 4,
    TSS_LEVEL_NOTICE = 5,
    TSS_LEVEL_INFO = 6,
    TSS_LEVEL_DEBUG = 7,
};

/**
 * Returns the last error message recorded on the calling thread, or "" if
 * none. The string is owned by the library and valid until the next call
 * into libtsstore on the same thread. Thread safe (per-thread storage).
 */
const char *tss_error_last(void);

/** Returns the code recorded with the last message on this thread. */
int tss_error_last_code(void);

/**
 * Returns a static, human-readable name for a code ("not found", "already
 * exists", ...). Never NULL; unknown codes give "unknown error".
 */
const char *tss_strerror(int code);

/** Clears the calling thread's error slot. */
void tss_error_clear(void);

#ifdef __cplusplus
}
#endif
#endif /* TSSTORE_ERROR_H */
