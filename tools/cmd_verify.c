/*
 * tsstore verify: check every file of a store; --repair applies the safe
 * repairs (needs the writer lock, so collectd must not be writing). The
 * store is opened with the LOCK but without the writer's recovery, so
 * nothing changes on disk but the repairs, each of which is printed.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "tsstore/error.h"
#include "tsstore/verify.h"

static void finding(void *ctx, int sev, const char *file, const char *what)
{
    bool *tty = ctx;

    if (*tty)
        fputs("\r\033[K", stderr);
    printf("%s: %s%s%s\n", sev == TSS_VERIFY_PROBLEM ? "PROBLEM" : "note", file,
           *file ? ": " : "", what);
}

static void progress(void *ctx, uint64_t done, uint64_t total)
{
    bool *tty = ctx;

    if (*tty && (done % 16 == 0 || done == total))
        fprintf(stderr, "\rverifying segments: %" PRIu64 "/%" PRIu64, done,
                total);
}

static void log_quiet(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level <= TSS_LEVEL_WARNING)
        fprintf(stderr, "tsstore: %s\n", msg);
}

int cmd_verify(const cli_opts *o)
{
    tss_store_options opts;
    tss_verify_report r;
    tss_store *s;
    bool tty = isatty(STDERR_FILENO);
    char msg[1024] = "";
    int rc;

    tss_store_options_init(&opts);
    opts.log = log_quiet;
    rc = tss_store_open(&s, o->dir,
                        o->repair ? TSS_OPEN_WRITER | TSS_OPEN_NO_RECOVERY : 0,
                        &opts);
    if (rc) {
        fprintf(stderr, "tsstore: %s%s\n", tss_error_last(),
                rc == TSS_ELOCKED ? "; --repair needs the writer to stop" : "");
        return EXIT_ERR;
    }
    rc = tss_verify(s, o->repair ? TSS_VERIFY_REPAIR : 0, finding, progress,
                    &tty, &r);
    if (tty)
        fputs("\r\033[K", stderr);
    if (rc)
        snprintf(msg, sizeof(msg), "%s", tss_error_last());
    if (o->repair) {
        tss_apply_result applied;

        /* a delete or request whose creator found the LOCK taken by this
         * verify waits for "the running writer": applied here, as any
         * writer command's close does (it would wait for the next writer
         * otherwise), and said, since verify says what it changes */
        if (cli_close_writer(s, &opts, &applied) == EXIT_OK &&
            (applied.made_visible || applied.removed_docs))
            printf("applied %" PRIu32 " delete(s) and completed %" PRIu32
                   " document(s) queued for the writer, after the repairs\n",
                   applied.made_visible, applied.removed_docs);
    } else {
        tss_store_close(s);
    }
    if (rc) {
        fprintf(stderr, "tsstore: %s\n", msg);
        return EXIT_ERR;
    }
    printf("%" PRIu64 " file(s), %" PRIu64 " segment(s), %" PRIu64
           " point(s) checked: %" PRIu64 " problem(s)%s",
           r.files, r.segments, r.points, r.problems, o->repair ? "" : "\n");
    if (o->repair)
        printf(", %" PRIu64 " repair(s)\n", r.repaired);
    return cli_finish_output(r.problems ? EXIT_ERR : EXIT_OK);
}
