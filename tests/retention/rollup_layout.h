/*
 * The store the rollup tests roll up, and what it must hold at each stage.
 *
 * Levels (ru_levels): after 1 d at 1 min, after 3 d at 5 min kept 10 d.
 * Two passes: A at RL_NOW_A = RU_NOW - 1 d, B at RU_NOW. One-hour windows,
 * named by their start before RU_NOW, and how each is kept after A and B
 * (age = time since the window's end at the pass):
 *
 *   R1   2 h           raw            raw
 *   R2   1 d           raw            raw     (23 h old at B)
 *   M3   1 d 1 h       raw (age 0)    1 min   (exactly 1 d old at B)
 *   M4   2 d 1 h       1 min          1 min   (two raw segments with an
 *                                              overwritten time before A;
 *                                              late points after A)
 *   F5   4 d 1 h       5 min          5 min   (exactly 3 d old at A)
 *   F6   3 d 1 h       1 min          5 min   (folded, exactly 3 d at B)
 *   K10  10 d          5 min          5 min   (10 d - 1 h old at B: kept)
 *   G7   10 d 1 h      5 min          gone    (exactly 10 d at B)
 *   G8   11 d          5 min          gone
 *   G9   12 d          gone           gone    (past Keep while raw)
 *
 * and the head: points of the window starting at RU_NOW (sealed with the
 * late points, then new ones in the head).
 * Stages: RL_RAW (built), RL_A (after pass A), RL_LATE (A, then the late
 * points sealed), RL_B (after pass B).
 */
#ifndef TSS_ROLLUP_LAYOUT_H
#define TSS_ROLLUP_LAYOUT_H

#include "ret_util.h"

#define RL_NOW_A (RU_NOW - RU_DAY)
#define RL_NOW_B RU_NOW

enum {
    RL_R1,
    RL_R2,
    RL_M3,
    RL_M4,
    RL_F5,
    RL_F6,
    RL_K10,
    RL_G7,
    RL_G8,
    RL_G9,
    RL_HEAD,
    RL_NWIN
};

enum { RL_RAW, RL_A, RL_LATE, RL_B, RL_NSTAGES };

/* gone */
#define RL_GONE (-1)

typedef struct rl_window {
    const char *name;
    int64_t start;
    int64_t res[RL_NSTAGES]; /* 0 raw, a resolution, or RL_GONE */
} rl_window;

extern const rl_window rl_windows[RL_NWIN];

typedef struct rl_layout {
    tt_model m;
    size_t n_raw;  /* arrivals before pass A */
    size_t n_late; /* arrivals after the late points */
} rl_layout;

/** Builds the RL_RAW store in `dir` (created) and closes the writer. */
void rl_build(const char *dir, rl_layout *L);

/** Appends the late points of M4 through writer `s` and seals them. */
void rl_late(tss_store *s, rl_layout *L);

/** Options with the rollup levels (io may be NULL). */
void rl_options(tss_store_options *o, const tss_io_ops *io, tt_log *log);

/** End of window w (exclusive); the head's is INT64_MAX. */
int64_t rl_end(int w);

/** The rows window w must hold at `stage` (computed from the model). */
void rl_expect_window(const rl_layout *L, int stage, int w, ru_rows *out);

/** The rows the whole store must hold at `stage`. */
void rl_expect(const rl_layout *L, int stage, ru_rows *out);

/** Points of `series` among arrivals [lo, hi) with t in [from, to),
 * sorted, one per time (the last arrival). Returns n; *out malloc()ed. */
size_t rl_points(const tt_model *m, size_t lo, size_t hi, unsigned series,
                 int64_t from, int64_t to, tss_point **out);

#endif
