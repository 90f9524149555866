/*
 * Series shapes shared by loadgen.c (collectd read plugin) and gen_csv.c
 * (collectd csv tree), the same mix as bench/bench_data.c's synthetic set.
 * By series index modulo 20:
 *   const-gauge    15%  gauge that never changes (df totals, limits)
 *   flat-derive    15%  derive that never moves (error/drop counters)
 *   rate-derive    25%  derive at a steady rate, log-uniform in [0.1, 1e6]
 *                       per second, ±10% noise per interval
 *   wrap-counter    5%  32-bit counter at 1e4..1e7 per second, wrapping
 *   noisy-gauge    20%  level + slow sine + gaussian noise (load, ratios,
 *                       temperatures), rounded to `decimals` (-1: full)
 *   integral-gauge 10%  bytes in 4 KiB pages, random walk (memory)
 *   sparse-gauge   10%  small integer that changes with p = 0.05
 *                       (processes, users, connections); gen_csv also
 *                       makes them sparse in time (one hour in four)
 * Header-only (static functions): each program has its own generator.
 */
#ifndef TSS_COMPARE_SHAPES_H
#define TSS_COMPARE_SHAPES_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

enum { SHAPE_GAUGE, SHAPE_DERIVE, SHAPE_COUNTER };

typedef struct lg_series {
    double rate, g, level, amp, period;
    uint64_t u;
    int64_t x;
    uint8_t shape;
} lg_series;

typedef struct lg_value {
    int kind; /* SHAPE_GAUGE, SHAPE_DERIVE, SHAPE_COUNTER */
    double g;
    int64_t d;
    uint64_t c;
} lg_value;

static const struct {
    const char *name, *type;
    int kind, weight;
} SHAPES[] = {
    {"const-gauge", "gauge", SHAPE_GAUGE, 3},
    {"flat-derive", "derive", SHAPE_DERIVE, 3},
    {"rate-derive", "derive", SHAPE_DERIVE, 5},
    {"wrap-counter", "counter", SHAPE_COUNTER, 1},
    {"noisy-gauge", "gauge", SHAPE_GAUGE, 4},
    {"integral-gauge", "gauge", SHAPE_GAUGE, 2},
    {"sparse-gauge", "gauge", SHAPE_GAUGE, 2},
};

static uint64_t rng;

static uint64_t rnd(void) /* splitmix64 */
{
    uint64_t z = (rng += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static double unif(void) /* [0, 1) */
{
    return (double)(rnd() >> 11) * 0x1.0p-53;
}

static double gauss(void) /* Box-Muller */
{
    double u = unif(), v = unif();

    return sqrt(-2.0 * log(1.0 - u)) * cos(2.0 * M_PI * v);
}

static void series_init(lg_series *s, uint64_t i)
{
    int slot = (int)(i % 20), shape = 0;

    while (slot >= SHAPES[shape].weight)
        slot -= SHAPES[shape++].weight;
    memset(s, 0, sizeof(*s));
    s->shape = (uint8_t)shape;
    s->rate = pow(10.0, -1.0 + 7.0 * unif());
    s->level = 100.0 * unif();
    s->amp = s->level * 0.2 * unif();
    s->period = 60.0 + 300.0 * unif(); /* in points */
    s->u = rnd() & 0xffffffff;
    s->x = (int64_t)(rnd() % 1000000);
    if (shape == 0)
        s->g = (rnd() & 1) ? (double)(rnd() % (UINT64_C(1) << 40)) : s->level;
    if (shape == 3)
        s->rate = pow(10.0, 4.0 + 3.0 * unif());
    if (shape == 5)
        s->x = (int64_t)(rnd() % 1000000) * 4096;
    if (shape == 6)
        s->x = (int64_t)(rnd() % 300);
}

static double round_to(double v, int decimals)
{
    double m;

    if (decimals < 0)
        return v;
    m = pow(10.0, decimals);
    return round(v * m) / m;
}

/* The series' k-th value, `secs` seconds after the previous one. */
static lg_value next_value(lg_series *s, uint64_t k, double secs, int decimals)
{
    lg_value v = {SHAPES[s->shape].kind, 0, 0, 0};

    switch (s->shape) {
    case 0:
        v.g = s->g;
        break;
    case 1:
        v.d = s->x;
        break;
    case 2:
        s->x += llround(s->rate * secs * (1.0 + 0.1 * gauss()));
        v.d = s->x;
        break;
    case 3:
        s->u = (s->u +
                (uint64_t)llround(s->rate * secs * fabs(1.0 + 0.1 * gauss()))) &
               0xffffffff;
        v.c = s->u;
        break;
    case 4:
        v.g = round_to(s->level +
                           s->amp * sin(2.0 * M_PI * (double)k / s->period) +
                           0.05 * s->level * gauss(),
                       decimals);
        break;
    case 5:
        s->x += 4096 * llround(50.0 * gauss());
        if (s->x < 0)
            s->x = 0;
        v.g = (double)s->x;
        break;
    default:
        if (unif() < 0.05)
            s->x += (int64_t)(rnd() % 7) - 3;
        if (s->x < 0)
            s->x = 0;
        v.g = (double)s->x;
        break;
    }
    return v;
}

#endif
