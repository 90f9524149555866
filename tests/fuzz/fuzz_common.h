/*
 * Helpers shared by the fuzz targets: one temp store directory per process
 * (on /dev/shm when there is one: the storage layer's fsyncs cost nothing
 * there), plain file writes into it, exact-size copies of the input, and
 * the checksum fix-ups that let a mutated file get past its frame check.
 *
 * Every target defines LLVMFuzzerTestOneInput. Built with clang
 * -fsanitize=fuzzer it is a libFuzzer binary; otherwise driver.c supplies
 * main(), which runs every file of the corpus directories named on the
 * command line through it (the ctest replay, label "fuzz").
 *
 * A target must never abort on bad input: the core returns TSS_ECORRUPT
 * and the harness goes on. FZ_CHECK traps only when a property the core
 * promises is broken (a decoded file that does not round-trip).
 */
#ifndef TSS_FUZZ_COMMON_H
#define TSS_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "storage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/** A broken promise: print where and trap (a crash for the fuzzer). */
#define FZ_CHECK(cond)                                                         \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__,          \
                    __LINE__, #cond);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

/** The process's temp store directory (created on first use, removed at
 * exit). */
const char *fz_dir(void);

/** A storage handle on fz_dir() (opened on first use). */
tss_storage *fz_storage(void);

/** Creates or replaces file `rel` under fz_dir() (parents made), with
 * plain POSIX calls and no fsync. */
void fz_write(const char *rel, const void *buf, size_t len);

/** Removes every file of directory `rel` under fz_dir() (not recursive). */
void fz_clear(const char *rel);

/** A NUL-terminated heap copy of data[size] (free()). */
char *fz_strndup(const uint8_t *data, size_t size);

/** An exact-size heap copy of data[size] (free()): a read past its end is
 * a heap overflow the sanitizers see. */
uint8_t *fz_dup(const uint8_t *data, size_t size);

/**
 * Fixes the frame of a file that begins with an 8-byte magic, u16 version,
 * u16 flags, u32 header length and ends with an XXH3-64 of everything
 * before it: sets magic, version 1, header length, and the checksum. No-op
 * when `len` is shorter than a header plus checksum. Returns true if it
 * changed a byte.
 */
bool fz_fix_frame(uint8_t *buf, size_t len, const uint8_t magic[8],
                  uint32_t header_len);

/** Sets the trailing XXH3-64 of buf[0..len-8). True if it changed. */
bool fz_fix_checksum(uint8_t *buf, size_t len);

/** A log sink that drops everything (the core logs every corrupt file). */
void fz_log(void *ctx, int level, const char *msg);

#endif
