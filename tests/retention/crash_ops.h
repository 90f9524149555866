/*
 * A power-cut simulator for the retention and rollup tests, adapted from
 * tests/core/test_crash_sim.c (see its header for the durability model):
 * a file's content survives as of its last fsync, a directory's entries as
 * of its last fsync, and everything on disk at the baseline is durable.
 *
 * The wrapped fsync records the durable state instead of syncing. Crash
 * point N: fsyncs 1..N-1 (counted from co_arm) happen; fsync N fails with
 * EIO and so does every call after it (descriptors are still released),
 * which stops the operation in progress as a power cut would.
 */
#ifndef TSS_CRASH_OPS_H
#define TSS_CRASH_OPS_H

#include <stdbool.h>

#include "tsstore/io.h"

/** Forgets everything, then takes the tree at `dir` as durable. */
void co_baseline(const char *dir);

/** Counts fsyncs from now on; the nth fails and the power goes (0: the
 * power stays on). */
void co_arm(unsigned long n);

/** fsyncs since co_arm. */
unsigned long co_fsyncs(void);

/** True once the power is off. */
bool co_crashed(void);

/** The ops table that consults the model. */
const tss_io_ops *co_ops(void);

/** The power cut: `dir` becomes what the model says survives. */
void co_power_cut(const char *dir);

/** Frees the model. */
void co_free(void);

#endif
