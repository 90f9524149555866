/*
 * JSON documents (STORE, WAL mutation documents, writer-stats.json):
 * yajl's parser, a tree of our own allocations, and an allocator for
 * yajl that cannot fail.
 *
 * Why not yajl_tree_parse: yajl 2.1 does not check most of its own
 * allocations. yajl_alloc does not check the lexer's and the buffers'
 * allocations, a buffer's growth is not checked, and yajl_tree_parse does
 * not check yajl_alloc: a failed malloc inside it dereferences NULL, and
 * one in between leaks the partial tree (docs/hardening-faults.md).
 * yajl_alloc takes an allocator (yajl_alloc_funcs), and a parse of a
 * whole document in one call needs a bounded amount of memory, so yajl
 * gets its memory from one region reserved before the parse starts
 * (through the core's allocation seam: that reservation is the one that
 * may fail, cleanly, with TSS_ENOMEM). The tree is built by our callbacks
 * with tss_malloc; a failure there cancels the parse (a callback
 * returning 0), which yajl handles.
 *
 * The bound on yajl's memory for a document of `len` bytes parsed with one
 * yajl_parse and yajl_complete_parse (yajl 2.1's yajl.c, yajl_lex.c,
 * yajl_buf.c, yajl_parser.c):
 * - at yajl_alloc: the handle, the lexer, two buffer structs and the
 *   state stack (128 bytes, YAJL_BS_INC), a few hundred bytes together;
 * - the decode buffer, used for strings with escapes, holds one decoded
 *   string (at most `len` bytes): it starts at 2048 bytes and grows to the
 *   power of two above what it holds, so at most 2 * (len + 1) or 2048;
 * - the lexer's buffer holds a token cut by the end of the input, which
 *   with the whole document in one call is only the last token: the same
 *   bound;
 * - the state stack grows past 128 bytes only when values nest deeper
 *   than that; the callbacks refuse to nest deeper than TSS_JSON_DEPTH
 *   (yajl calls them before it pushes);
 * - the error message, a few hundred bytes without the verbose quote.
 * A buffer grows while it is the region's last block (nothing is
 * allocated between its growths: the decode buffer grows during the
 * parse, the lexer's at its end), so it grows in place. The region is
 * 4 * len + 32 KiB. Should the bound be wrong, a request that does not fit
 * goes to libc's malloc (what yajl used before).
 */
#include "internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>

/* Values nested deeper than this are refused (TSS_ECORRUPT). The
 * documents tsstore writes nest 3 deep. */
#define TSS_JSON_DEPTH 64

/* ---- the region yajl allocates from ------------------------------------ */

/* Each block: a 16-byte header holding its size, then the block. */
#define BLK_HDR 16

/* Requests that did not fit the region (for the tests: the bound above
 * says there are none). */
static _Atomic unsigned long past_region;

unsigned long tss_json_past_region(void)
{
    return past_region;
}

typedef struct jarena {
    uint8_t *base;
    size_t cap, used;
    size_t last; /* header offset of the last block, or SIZE_MAX */
} jarena;

static size_t round16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

static bool in_arena(const jarena *a, const void *p)
{
    return (uintptr_t)p - (uintptr_t)a->base < a->cap;
}

/* p (a block of a) is the region's last block. */
static bool is_last(const jarena *a, const void *p)
{
    return a->last != SIZE_MAX &&
           (size_t)((const uint8_t *)p - a->base) == a->last + BLK_HDR;
}

static size_t *blk_size(void *p)
{
    return (size_t *)(void *)((uint8_t *)p - BLK_HDR);
}

static void *ja_malloc(void *ctx, size_t n)
{
    jarena *a = ctx;
    size_t need = BLK_HDR + round16(n);

    if (n > a->cap || need > a->cap - a->used) {
        past_region++;
        return malloc(n); /* past the bound (see above): libc's, as before */
    }
    a->last = a->used;
    a->used += need;
    *(size_t *)(void *)(a->base + a->last) = n;
    return a->base + a->last + BLK_HDR;
}

static void ja_free(void *ctx, void *p)
{
    jarena *a = ctx;

    if (!p)
        return;
    if (!in_arena(a, p)) {
        free(p);
        return;
    }
    if (is_last(a, p)) {
        a->used = a->last; /* the last block: its room is reused */
        a->last = SIZE_MAX;
    }
}

static void *ja_realloc(void *ctx, void *p, size_t n)
{
    jarena *a = ctx;
    size_t old;
    void *q;

    if (!p)
        return ja_malloc(ctx, n);
    if (!in_arena(a, p)) {
        past_region++;
        return realloc(p, n);
    }
    old = *blk_size(p);
    if (is_last(a, p) && n <= a->cap &&
        round16(n) <= a->cap - a->last - BLK_HDR) {
        *blk_size(p) = n; /* the last block grows (or shrinks) in place */
        a->used = a->last + BLK_HDR + round16(n);
        return p;
    }
    if (!(q = ja_malloc(ctx, n)))
        return NULL;
    memcpy(q, p, old < n ? old : n);
    ja_free(ctx, p);
    return q;
}

/* ---- the tree ---------------------------------------------------------- */

/* An open array or object: its node, the room of its arrays, and for an
 * object the key read but not yet given its value. */
typedef struct jframe {
    struct yajl_val_s *v;
    size_t cap;
    char *key;
} jframe;

typedef struct jbuild {
    jframe open[TSS_JSON_DEPTH];
    int depth;
    struct yajl_val_s *root;
    int err; /* why a callback cancelled: TSS_ENOMEM or TSS_ECORRUPT */
} jbuild;

void tss_json_free(struct yajl_val_s *v)
{
    if (!v)
        return;
    switch (v->type) {
    case yajl_t_string:
        tss_free(v->u.string);
        break;
    case yajl_t_number:
        tss_free(v->u.number.r);
        break;
    case yajl_t_object:
        for (size_t i = 0; i < v->u.object.len; i++) {
            tss_free((char *)(uintptr_t)v->u.object.keys[i]);
            tss_json_free(v->u.object.values[i]);
        }
        tss_free(v->u.object.keys);
        tss_free(v->u.object.values);
        break;
    case yajl_t_array:
        for (size_t i = 0; i < v->u.array.len; i++)
            tss_json_free(v->u.array.values[i]);
        tss_free(v->u.array.values);
        break;
    default:
        break;
    }
    tss_free(v);
}

static int cancel(jbuild *b, int err)
{
    b->err = err;
    return 0;
}

static char *dup_text(const char *s, size_t n)
{
    char *d = tss_malloc(n + 1);

    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Grows the arrays of the open container f to hold one more value. */
static bool frame_room(jframe *f)
{
    size_t len =
        f->v->type == yajl_t_object ? f->v->u.object.len : f->v->u.array.len;
    size_t cap = f->cap ? f->cap * 2 : 4;
    yajl_val *vals;

    if (len < f->cap)
        return true;
    if (cap > SIZE_MAX / sizeof(void *))
        return false;
    if (f->v->type == yajl_t_object) {
        const char **keys =
            tss_realloc(f->v->u.object.keys, cap * sizeof(*keys));

        if (!keys)
            return false;
        f->v->u.object.keys = keys;
        if (!(vals = tss_realloc(f->v->u.object.values, cap * sizeof(*vals))))
            return false;
        f->v->u.object.values = vals;
    } else {
        if (!(vals = tss_realloc(f->v->u.array.values, cap * sizeof(*vals))))
            return false;
        f->v->u.array.values = vals;
    }
    f->cap = cap;
    return true;
}

/* Gives v (a new node) to the open container, or makes it the root;
 * frees it when it cannot. */
static int attach(jbuild *b, struct yajl_val_s *v)
{
    jframe *f;

    if (!v)
        return cancel(b, TSS_ENOMEM);
    if (b->depth == 0) {
        b->root = v; /* yajl allows one value at the top */
        return 1;
    }
    f = &b->open[b->depth - 1];
    if (!frame_room(f)) {
        tss_json_free(v);
        return cancel(b, TSS_ENOMEM);
    }
    if (f->v->type == yajl_t_object) {
        f->v->u.object.keys[f->v->u.object.len] = f->key;
        f->v->u.object.values[f->v->u.object.len++] = v;
        f->key = NULL;
    } else {
        f->v->u.array.values[f->v->u.array.len++] = v;
    }
    return 1;
}

static struct yajl_val_s *node(yajl_type t)
{
    struct yajl_val_s *v = tss_calloc(1, sizeof(*v));

    if (v)
        v->type = t;
    return v;
}

static int on_null(void *ctx)
{
    return attach(ctx, node(yajl_t_null));
}

static int on_bool(void *ctx, int yes)
{
    return attach(ctx, node(yes ? yajl_t_true : yajl_t_false));
}

/*
 * A number as yajl_tree gives it: the text, the integer when the text is
 * one (no fraction, no exponent) whose magnitude is at most LLONG_MAX
 * (yajl_parse_integer's rule, so -2^63 is not one), the double when
 * strtod takes the whole text without a range error. Where a flag is not
 * set its field is 0 (yajl_tree leaves LLONG_MAX or LLONG_MIN in an
 * invalid integer): readers look at the flags (YAJL_IS_INTEGER) first.
 */
static int on_number(void *ctx, const char *s, size_t n)
{
    struct yajl_val_s *v = node(yajl_t_number);
    const char *p;
    unsigned long long mag = 0;
    bool integer = true;
    char *end;

    if (!v || !(v->u.number.r = dup_text(s, n))) {
        tss_free(v);
        return cancel(ctx, TSS_ENOMEM);
    }
    p = v->u.number.r + (*v->u.number.r == '-');
    for (; *p && integer; p++) {
        unsigned d = (unsigned)(*p - '0');

        integer = d <= 9 && mag <= ((unsigned long long)LLONG_MAX - d) / 10;
        mag = mag * 10 + d;
    }
    if (integer) {
        v->u.number.i =
            *v->u.number.r == '-' ? -(long long)mag : (long long)mag;
        v->u.number.flags |= YAJL_NUMBER_INT_VALID;
    }
    errno = 0;
    v->u.number.d = strtod(v->u.number.r, &end);
    if (errno == 0 && *end == '\0')
        v->u.number.flags |= YAJL_NUMBER_DOUBLE_VALID;
    return attach(ctx, v);
}

static int on_string(void *ctx, const unsigned char *s, size_t n)
{
    struct yajl_val_s *v = node(yajl_t_string);

    if (!v || !(v->u.string = dup_text((const char *)s, n))) {
        tss_free(v);
        return cancel(ctx, TSS_ENOMEM);
    }
    return attach(ctx, v);
}

static int open_container(jbuild *b, yajl_type t)
{
    struct yajl_val_s *v;

    if (b->depth == TSS_JSON_DEPTH)
        return cancel(b, TSS_ECORRUPT);
    if (!attach(b, v = node(t)))
        return 0;
    b->open[b->depth++] = (jframe){v, 0, NULL};
    return 1;
}

static int on_start_map(void *ctx)
{
    return open_container(ctx, yajl_t_object);
}

static int on_start_array(void *ctx)
{
    return open_container(ctx, yajl_t_array);
}

static int on_key(void *ctx, const unsigned char *s, size_t n)
{
    jbuild *b = ctx;
    jframe *f = &b->open[b->depth - 1];

    tss_free(f->key);
    if (!(f->key = dup_text((const char *)s, n)))
        return cancel(b, TSS_ENOMEM);
    return 1;
}

static int on_close(void *ctx)
{
    jbuild *b = ctx;

    b->depth--;
    return 1;
}

static const yajl_callbacks tree_callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_bool,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_key,
    .yajl_end_map = on_close,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_close,
};

/* ---- the parse --------------------------------------------------------- */

/* yajl's message for handle h, first line, into msg[cap]. */
static void parse_error(yajl_handle h, char *msg, size_t cap)
{
    unsigned char *e = yajl_get_error(h, 0, NULL, 0);
    size_t n;

    snprintf(msg, cap, "%s", e ? (const char *)e : "(no message)");
    if (e)
        yajl_free_error(h, e);
    msg[strcspn(msg, "\n")] = '\0';
    for (n = strlen(msg); n > 0 && msg[n - 1] == ' ';)
        msg[--n] = '\0';
}

int tss_json_parse(const uint8_t *buf, size_t len, const char *what,
                   struct yajl_val_s **out)
{
    const uint8_t *nul = memchr(buf, '\0', len);
    jbuild b = {.depth = 0};
    jarena a = {.last = SIZE_MAX};
    yajl_alloc_funcs funcs = {ja_malloc, ja_realloc, ja_free, &a};
    yajl_status st = yajl_status_error;
    char msg[256] = "";
    yajl_handle h;

    *out = NULL;
    if (nul)
        len = (size_t)(nul - buf); /* as yajl_tree_parse: up to a NUL */
    if (len > (SIZE_MAX - 32768) / 4)
        return tss_error_set(TSS_ENOMEM, "%s: out of memory", what);
    a.cap = 4 * len + 32768;
    if (!(a.base = tss_malloc(a.cap)))
        return tss_error_set(TSS_ENOMEM, "%s: out of memory", what);
    if ((h = yajl_alloc(&tree_callbacks, &funcs, &b)) != NULL) {
        yajl_config(h, yajl_allow_comments, 1); /* as yajl_tree_parse */
        st = yajl_parse(h, buf, len);
        if (st == yajl_status_ok)
            st = yajl_complete_parse(h);
        if (st != yajl_status_ok && !b.err)
            parse_error(h, msg, sizeof(msg));
        yajl_free(h);
    } else {
        b.err = TSS_ENOMEM; /* only when libc's malloc failed past the
                               region (see the bound above) */
    }
    tss_free(a.base);
    for (int i = 0; i < b.depth; i++)
        tss_free(b.open[i].key);
    if (st == yajl_status_ok) {
        *out = b.root;
        return 0;
    }
    tss_json_free(b.root);
    if (b.err == TSS_ENOMEM)
        return tss_error_set(TSS_ENOMEM, "%s: out of memory parsing JSON",
                             what);
    if (b.err == TSS_ECORRUPT)
        return tss_error_set(TSS_ECORRUPT,
                             "%s: not valid JSON: nested deeper than %d", what,
                             TSS_JSON_DEPTH);
    return tss_error_set(TSS_ECORRUPT, "%s: not valid JSON: %s", what, msg);
}
