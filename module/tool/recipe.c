/* Recipe reader: YAML (libyaml document API) -> validated dp_recipe.
 * libyaml resolves no types, so scalars are typed here by their style: quoted = text, plain =
 * number/text/empty by their spelling (YAML 1.2 core schema, decimal only). Every message is
 * "<file>:<line>:<col>: <key path>: <found>; expected <what>", because its reader is a line
 * engineer fixing a recipe on a night shift. Parsing is locale-independent. */
#include "recipe.h"
#include "dp_file.h"

#include "model_config.h"
#include "number.h"
#include "tokenizer.h"
#include "params.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* Ownership: pointer parameters are borrowed for the call unless a comment says otherwise;
 * strings stored into a dp_recipe belong to it (dp_recipe_free); yaml nodes belong to the
 * document being read. */

#define MAX_PATH_BYTES 4095
#define MAX_PRODUCT_BYTES 256
#define MAX_NAME_BYTES 4096       /* a sanity cap; names are limited in characters (check_name) */
#define FOUND_BYTES 40            /* bytes of a value quoted back in a message */
#define KEYPATH_BYTES 96
#define MAX_NESTING 16            /* YAML collections inside each other; a recipe needs 3 */
#define MAX_ANCHORS 64            /* &anchors plus *aliases */
#define VOCAB_DEFAULT "bpe_simple_vocab_16e6.txt.gz"
#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))

#define FMT(a, b) __attribute__((format(printf, a, b)))

/* Each section's keys, addressed by name: the enum indexes the key table and the value array
 * that scan_map fills. */
enum { K_VERSION, K_PRODUCT, K_MODEL, K_PRECISION, K_INPUT, K_TILING, K_ROI, K_DEFECTS,
       K_THRESH, K_THREADS, K_TEXT_CACHE, K_TOP_COUNT };
static const char *const TOP_KEYS[K_TOP_COUNT] = {
    [K_VERSION] = "recipe_version", [K_PRODUCT] = "product", [K_MODEL] = "model",
    [K_PRECISION] = "precision", [K_INPUT] = "input_size", [K_TILING] = "tiling",
    [K_ROI] = "roi", [K_DEFECTS] = "defects", [K_THRESH] = "thresholds", [K_THREADS] = "threads",
    [K_TEXT_CACHE] = "text_cache"};
enum { M_CLIP, M_DAPO, M_VOCABULARY, M_COUNT };
static const char *const MODEL_KEYS[M_COUNT] = {
    [M_CLIP] = "clip", [M_DAPO] = "dapo", [M_VOCABULARY] = "vocabulary"};
enum { T_MODE, T_TILE, T_OVERLAP, T_BATCH, T_COUNT };
static const char *const TILING_KEYS[T_COUNT] = {
    [T_MODE] = "mode", [T_TILE] = "tile", [T_OVERLAP] = "overlap", [T_BATCH] = "batch"};
enum { R_X, R_Y, R_WIDTH, R_HEIGHT, R_COUNT };
static const char *const ROI_KEYS[R_COUNT] = {
    [R_X] = "x", [R_Y] = "y", [R_WIDTH] = "width", [R_HEIGHT] = "height"};
enum { TH_IMAGE, TH_PIXEL, TH_MIN_AREA, TH_COUNT };
static const char *const THRESH_KEYS[TH_COUNT] = {
    [TH_IMAGE] = "image", [TH_PIXEL] = "pixel", [TH_MIN_AREA] = "min_region_area"};
enum { D_NAME, D_PIXEL_THRESHOLD, D_COUNT };
static const char *const DEFECT_KEYS[D_COUNT] = {
    [D_NAME] = "name", [D_PIXEL_THRESHOLD] = "pixel_threshold"};

/* Where each key lives, to tell "right key, wrong place" (mostly indentation slips). */
static const struct home {
    const char *where;
    const char *const *keys;
    size_t n;
} HOMES[] = {
    {"at the top level", TOP_KEYS, NKEYS(TOP_KEYS)},
    {"under model:", MODEL_KEYS, NKEYS(MODEL_KEYS)},
    {"under tiling:", TILING_KEYS, NKEYS(TILING_KEYS)},
    {"under roi:", ROI_KEYS, NKEYS(ROI_KEYS)},
    {"under thresholds:", THRESH_KEYS, NKEYS(THRESH_KEYS)},
    {"in a defects entry", DEFECT_KEYS, NKEYS(DEFECT_KEYS)},
};

/* Names of the normal state, which DAPO supplies itself; as a defect they would fight it. */
static const char *const RESERVED_NAMES[] = {"good", "normal", "flawless", "ok"};

typedef struct ctx {
    yaml_document_t *doc;   /* borrowed */
    const char *file;       /* name for messages; borrowed */
    const char *base_dir;   /* borrowed; NULL or "" = keep relative paths */
    dp_err *err;            /* caller's; may be NULL */
} ctx;

/* ---- messages ------------------------------------------------------------------------- */

static dp_status vfail_at(const ctx *c, dp_status code, yaml_mark_t m, const char *path,
                          const char *fmt, va_list ap)
{
    char what[400];
    vsnprintf(what, sizeof what, fmt, ap);
    return dp_fail(c->err, code, "%s:%zu:%zu: %s: %s", c->file, (size_t)m.line + 1,
                   (size_t)m.column + 1, path[0] ? path : "(top level)", what);
}

static dp_status fail_at(const ctx *c, dp_status code, yaml_mark_t m, const char *path,
                         const char *fmt, ...) FMT(5, 6);
static dp_status fail_at(const ctx *c, dp_status code, yaml_mark_t m, const char *path,
                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dp_status s = vfail_at(c, code, m, path, fmt, ap);
    va_end(ap);
    return s;
}

/* DP_E_FORMAT at the start of node n. */
static dp_status fail_node(const ctx *c, const yaml_node_t *n, const char *path, const char *fmt,
                           ...) FMT(4, 5);
static dp_status fail_node(const ctx *c, const yaml_node_t *n, const char *path, const char *fmt,
                           ...)
{
    va_list ap;
    va_start(ap, fmt);
    dp_status s = vfail_at(c, DP_E_FORMAT, n->start_mark, path, fmt, ap);
    va_end(ap);
    return s;
}

static dp_status nomem(const ctx *c)
{
    return dp_fail(c->err, DP_E_NOMEM, "%s: out of memory while reading the recipe", c->file);
}

/* ---- scalars -------------------------------------------------------------------------- */

static const char *sval(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }
static size_t slen(const yaml_node_t *n) { return n->data.scalar.length; }

static int is_plain(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static int text_is(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static int is_null(const yaml_node_t *n)
{
    if (!is_plain(n))
        return 0;
    const char *s = sval(n);
    size_t len = slen(n);
    return len == 0 || text_is(s, len, "~") || text_is(s, len, "null") ||
           text_is(s, len, "Null") || text_is(s, len, "NULL");
}

static int lower_ascii(int ch) { return ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch; }

static int eq_nocase(const char *a, size_t na, const char *b)
{
    if (strlen(b) != na)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (lower_ascii((unsigned char)a[i]) != lower_ascii((unsigned char)b[i]))
            return 0;
    return 1;
}

/* Copies at most FOUND_BYTES of s for a message: controls become '?', UTF-8 is cut whole. */
static void clip_text(const char *s, size_t n, char *buf, size_t cap)
{
    size_t take = n, o = 0;
    if (take > FOUND_BYTES) {
        take = FOUND_BYTES;
        while (take > 0 && ((unsigned char)s[take] & 0xC0) == 0x80)
            take--;
    }
    for (size_t i = 0; i < take && o + 1 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf[o++] = (ch < 0x20 || ch == 0x7F) ? '?' : (char)ch;
    }
    if (take < n)
        for (int k = 0; k < 3 && o + 1 < cap; k++)
            buf[o++] = '.';
    buf[o] = '\0';
}

/* Describes a node for the "found" half of a message. */
static void describe(const yaml_node_t *n, char *buf, size_t cap)
{
    char t[FOUND_BYTES + 8];
    switch (n->type) {
    case YAML_MAPPING_NODE: snprintf(buf, cap, "a mapping"); return;
    case YAML_SEQUENCE_NODE: snprintf(buf, cap, "a list"); return;
    case YAML_SCALAR_NODE: break;
    default: snprintf(buf, cap, "nothing"); return;
    }
    if (is_null(n)) {
        snprintf(buf, cap, "an empty value");
        return;
    }
    clip_text(sval(n), slen(n), t, sizeof t);
    if (n->data.scalar.style == YAML_LITERAL_SCALAR_STYLE ||
        n->data.scalar.style == YAML_FOLDED_SCALAR_STYLE)
        snprintf(buf, cap, "a block of text \"%s\"", t);
    else if (!is_plain(n))
        snprintf(buf, cap, "quoted text \"%s\"", t);
    else if (dp_scan_number(sval(n), slen(n)).ok)
        snprintf(buf, cap, "%s", t);
    else
        snprintf(buf, cap, "\"%s\"", t);
}

static dp_status fail_type(const ctx *c, const yaml_node_t *n, const char *path,
                           const char *expected)
{
    char found[FOUND_BYTES + 32];
    describe(n, found, sizeof found);
    return fail_node(c, n, path, "%s; expected %s", found, expected);
}

static dp_status get_int(const ctx *c, const yaml_node_t *n, const char *path, int lo, int hi,
                         int *out)
{
    char expected[64], t[FOUND_BYTES + 8];
    if (lo == hi)
        snprintf(expected, sizeof expected, "%d", lo);
    else
        snprintf(expected, sizeof expected, "an integer %d..%d", lo, hi);
    if (!is_plain(n) || is_null(n))
        return fail_type(c, n, path, expected);
    dp_number v = dp_scan_number(sval(n), slen(n));
    if (!v.ok)
        return fail_type(c, n, path, expected);
    clip_text(sval(n), slen(n), t, sizeof t);
    if (!v.integral)
        return fail_node(c, n, path, "%s (not a whole number); expected %s", t, expected);
    if (v.leading_zero)
        return fail_node(c, n, path, "%s (a leading zero, read as octal by some YAML tools); "
                         "expected %s without leading zeros", t, expected);
    if (v.big || v.i < lo || v.i > hi)
        return fail_node(c, n, path, "%s (out of range); expected %s", t, expected);
    *out = (int)v.i;
    return DP_OK;
}

/* A threshold of the parameter table (every float key of the schema is an open interval),
 * read at `path` through the table's one parse-and-validate path (dp_param_value), so a recipe
 * and set_param accept exactly the same values, checked as the float the tool keeps. */
static dp_status get_float_param(const ctx *c, const yaml_node_t *n, const char *path,
                                 dp_param_id id, float *out)
{
    const dp_param_def *d = dp_param_def_of(id);
    char expected[80], t[FOUND_BYTES + 8], why[96];
    snprintf(expected, sizeof expected, "a number greater than %g and less than %g", d->min, d->max);
    if (!is_plain(n) || is_null(n))
        return fail_type(c, n, path, expected);
    if (!dp_scan_number(sval(n), slen(n)).ok)
        return fail_type(c, n, path, expected);
    double v;
    if (dp_param_value(id, sval(n), slen(n), &v, why, sizeof why)) {
        clip_text(sval(n), slen(n), t, sizeof t);
        return fail_node(c, n, path, "%s (%s); expected %s", t, why, expected);
    }
    *out = (float)v;   /* exact: v is the float value */
    return DP_OK;
}

static dp_status get_param(const ctx *c, const yaml_node_t *n, dp_param_id id, float *out)
{
    return get_float_param(c, n, dp_param_def_of(id)->recipe_key, id, out);
}

/* Offset of the first C0/C1 control character or DEL in s[0..n), or -1. */
static long first_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7F)
            return (long)i;
        if (ch == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
            (unsigned char)s[i + 1] <= 0x9F)
            return (long)i;
    }
    return -1;
}

/* One-line text of 1..max_bytes bytes. Plain numbers count as text ("product: 4711").
 * *out receives a NUL-terminated copy owned by the caller. */
static dp_status get_text(const ctx *c, const yaml_node_t *n, const char *path, size_t max_bytes,
                          const char *expected, char **out)
{
    if (n->type != YAML_SCALAR_NODE || is_null(n) || slen(n) == 0)
        return fail_type(c, n, path, expected);
    char t[FOUND_BYTES + 8];
    clip_text(sval(n), slen(n), t, sizeof t);
    long bad = first_control(sval(n), slen(n));
    if (bad >= 0)
        return fail_node(c, n, path, "\"%s\" (a tab, line break or other control character "
                         "at byte %ld); expected %s on one line", t, bad + 1, expected);
    if (slen(n) > max_bytes)
        return fail_node(c, n, path, "%zu bytes of text; expected %s of at most %zu bytes",
                         slen(n), expected, max_bytes);
    char *s = malloc(slen(n) + 1);
    if (!s)
        return nomem(c);
    memcpy(s, sval(n), slen(n));
    s[slen(n)] = '\0';
    *out = s;
    return DP_OK;
}

/* Case-insensitive choice among names[0..count). */
static dp_status get_choice(const ctx *c, const yaml_node_t *n, const char *path,
                            const char *const *names, int count, const char *expected, int *out)
{
    if (n->type == YAML_SCALAR_NODE && !is_null(n))
        for (int i = 0; i < count; i++)
            if (eq_nocase(sval(n), slen(n), names[i])) {
                *out = i;
                return DP_OK;
            }
    return fail_type(c, n, path, expected);
}

/* ---- mappings ------------------------------------------------------------------------- */

static yaml_node_t *node_at(const ctx *c, int index)
{
    return yaml_document_get_node(c->doc, index);
}

/* "path.key" (or "key" at the top level) into buf, truncated to cap. */
static void join_key(char *buf, size_t cap, const char *path, const char *key)
{
    size_t o = 0;
    for (const char *s = path; *s && o + 1 < cap; s++)
        buf[o++] = *s;
    if (path[0] && o + 1 < cap)
        buf[o++] = '.';
    for (const char *s = key; *s && o + 1 < cap; s++)
        buf[o++] = *s;
    buf[o] = '\0';
}

/* Edit distance of a and b (ASCII case folded); a large number when either is long. */
static int edit_distance(const char *a, size_t na, const char *b)
{
    size_t nb = strlen(b);
    if (na > 32 || nb > 32)
        return 99;
    int row[33];
    for (size_t j = 0; j <= nb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= nb; j++) {
            int up = row[j];
            int cost = lower_ascii((unsigned char)a[i - 1]) != lower_ascii((unsigned char)b[j - 1]);
            int best = diag + cost;
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

static int contains(const char *hay, size_t nh, const char *needle, size_t nn)
{
    for (size_t i = 0; nn && i + nn <= nh; i++)
        if (memcmp(hay + i, needle, nn) == 0)
            return 1;
    return 0;
}

/* "; did you mean X?" or "; X belongs under Y" for an unknown key, or "". */
static void key_hint(const char *key, size_t klen, const char *const *keys, size_t nkeys,
                     char *buf, size_t cap)
{
    buf[0] = '\0';
    for (size_t h = 0; h < NKEYS(HOMES); h++) {
        if (HOMES[h].keys == keys)
            continue;
        for (size_t i = 0; i < HOMES[h].n; i++)
            if (text_is(key, klen, HOMES[h].keys[i])) {
                snprintf(buf, cap, "; %s belongs %s (check the indentation)", HOMES[h].keys[i],
                         HOMES[h].where);
                return;
            }
    }
    int best = 99;
    const char *pick = NULL;
    for (size_t i = 0; i < nkeys; i++) {
        int d = edit_distance(key, klen, keys[i]);
        size_t nk = strlen(keys[i]);
        /* "version" for recipe_version, "tile_size" for tile */
        if (d > 2 && ((klen >= 4 && contains(keys[i], nk, key, klen)) ||
                      (nk >= 4 && contains(key, klen, keys[i], nk))))
            d = 2;
        if (d < best) {
            best = d;
            pick = keys[i];
        }
    }
    if (pick && best <= (klen >= 5 ? 2 : 1) && (size_t)best < klen)
        snprintf(buf, cap, "; did you mean %s?", pick);
}

/* Checks that every key of `map` is one of keys[0..nkeys), each at most once, and stores
 * the value node of keys[i] in vals[i] (NULL if absent). Nodes are borrowed from the doc. */
static dp_status scan_map(const ctx *c, const yaml_node_t *map, const char *path,
                          const char *const *keys, size_t nkeys, yaml_node_t **vals,
                          const char *extra_hint)
{
    yaml_node_t *knodes[NKEYS(TOP_KEYS)] = {0};   /* the largest mapping */
    char list[160] = "";
    for (size_t i = 0; i < nkeys; i++) {
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", keys[i]);
        vals[i] = NULL;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
        char sub[KEYPATH_BYTES], hint[96], t[FOUND_BYTES + 8];
        if (!k || !v)
            return dp_fail(c->err, DP_E_INTERNAL, "%s: libyaml returned a broken document",
                           c->file);
        if (k->type != YAML_SCALAR_NODE || is_null(k)) {
            char found[FOUND_BYTES + 32];
            describe(k, found, sizeof found);
            return fail_node(c, k, path, "%s used as a key; expected one of %s", found, list);
        }
        size_t idx = nkeys;
        for (size_t i = 0; i < nkeys; i++)
            if (text_is(sval(k), slen(k), keys[i]))
                idx = i;
        clip_text(sval(k), slen(k), t, sizeof t);
        join_key(sub, sizeof sub, path, t);
        if (idx == nkeys) {
            key_hint(sval(k), slen(k), keys, nkeys, hint, sizeof hint);
            return fail_node(c, k, sub, "unknown key; expected one of %s%s%s", list, hint,
                             hint[0] ? "" : extra_hint);
        }
        if (vals[idx])
            return fail_node(c, k, sub, "duplicate key (first at line %zu, column %zu); "
                             "expected each key once", (size_t)knodes[idx]->start_mark.line + 1,
                             (size_t)knodes[idx]->start_mark.column + 1);
        vals[idx] = v;
        knodes[idx] = k;
    }
    return DP_OK;
}

static dp_status missing(const ctx *c, const yaml_node_t *map, const char *path,
                         const char *key, const char *expected)
{
    char sub[KEYPATH_BYTES], owner[KEYPATH_BYTES + 16];
    join_key(sub, sizeof sub, path, key);
    if (path[0])
        snprintf(owner, sizeof owner, "mapping %s", path);
    else
        snprintf(owner, sizeof owner, "the top-level mapping");
    return fail_node(c, map, sub, "required key missing from %s; expected %s", owner, expected);
}

/* ---- paths ---------------------------------------------------------------------------- */

/* dir + "/" + rel unless rel is absolute or dir is empty. Caller owns the result. */
static char *join_path(const char *dir, const char *rel)
{
    size_t nd = (dir && rel[0] != '/') ? strlen(dir) : 0;
    size_t nr = strlen(rel);
    int slash = nd > 0 && dir[nd - 1] != '/';
    char *s = malloc(nd + (size_t)slash + nr + 1);
    if (!s)
        return NULL;
    if (nd)
        memcpy(s, dir, nd);
    if (slash)
        s[nd] = '/';
    memcpy(s + nd + (size_t)slash, rel, nr + 1);
    return s;
}

/* Directory part of a path ("a/b.yaml" -> "a", "/b.yaml" -> "/"), or NULL for a bare name.
 * *out is owned by the caller. */
static int dir_of(const char *path, char **out)
{
    *out = NULL;
    const char *slash = strrchr(path, '/');
    if (!slash)
        return 1;
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (!d)
        return 0;
    memcpy(d, path, n);
    d[n] = '\0';
    *out = d;
    return 1;
}

static dp_status get_path(const ctx *c, const yaml_node_t *n, const char *path,
                          const char *base, const char *expected, char **out)
{
    char *rel = NULL;
    dp_status s = get_text(c, n, path, MAX_PATH_BYTES, expected, &rel);
    if (s != DP_OK)
        return s;
    char *full = join_path(base && base[0] ? base : NULL, rel);
    free(rel);
    if (!full)
        return nomem(c);
    if (strlen(full) > MAX_PATH_BYTES) {
        free(full);
        return fail_node(c, n, path, "a path longer than %d bytes once joined to the recipe's "
                         "directory; expected a shorter path", MAX_PATH_BYTES);
    }
    *out = full;
    return DP_OK;
}

/* ---- sections ------------------------------------------------------------------------- */

static dp_status parse_model(const ctx *c, const yaml_node_t *n, dp_recipe *r)
{
    if (n->type != YAML_MAPPING_NODE)
        return fail_type(c, n, "model", "a mapping with clip: and dapo: file paths");
    yaml_node_t *v[NKEYS(MODEL_KEYS)];
    dp_status s = scan_map(c, n, "model", MODEL_KEYS, NKEYS(MODEL_KEYS), v, "");
    if (s != DP_OK)
        return s;
    if (!v[M_CLIP])
        return missing(c, n, "model", "clip", "the CLIP weights file (.safetensors)");
    if (!v[M_DAPO])
        return missing(c, n, "model", "dapo", "the DAPO prompt weights file (.safetensors)");
    s = get_path(c, v[M_CLIP], "model.clip", c->base_dir, "a file path", &r->clip_path);
    if (s == DP_OK)
        s = get_path(c, v[M_DAPO], "model.dapo", c->base_dir, "a file path", &r->dapo_path);
    if (s != DP_OK)
        return s;
    if (v[M_VOCABULARY])
        return get_path(c, v[M_VOCABULARY], "model.vocabulary", c->base_dir, "a file path",
                        &r->vocab_path);
    /* Default: the tokenizer vocabulary shipped next to the CLIP weights. */
    r->vocab_default = 1;
    char *dir = NULL;
    if (!dir_of(r->clip_path, &dir))
        return nomem(c);
    r->vocab_path = join_path(dir, VOCAB_DEFAULT);
    free(dir);
    return r->vocab_path ? DP_OK : nomem(c);
}

static dp_status parse_tiling(const ctx *c, const yaml_node_t *n, dp_recipe *r)
{
    static const char *const modes[] = {"none", "grid"};
    if (n->type != YAML_MAPPING_NODE)
        return fail_type(c, n, "tiling", "a mapping such as { mode: none }");
    yaml_node_t *v[NKEYS(TILING_KEYS)];
    dp_status s = scan_map(c, n, "tiling", TILING_KEYS, NKEYS(TILING_KEYS), v, "");
    if (s != DP_OK)
        return s;
    if (!v[T_MODE])
        return missing(c, n, "tiling", "mode", "none or grid");
    int mode = 0;
    s = get_choice(c, v[T_MODE], "tiling.mode", modes, 2, "none or grid", &mode);
    if (s != DP_OK)
        return s;
    r->tiling = mode ? DP_TILING_GRID : DP_TILING_NONE;
    if (r->tiling == DP_TILING_NONE) {
        /* Silently ignoring tile sizes would squash the image the engineer meant to tile. */
        for (size_t i = T_MODE + 1; i < T_COUNT; i++)
            if (v[i]) {
                char sub[KEYPATH_BYTES];
                join_key(sub, sizeof sub, "tiling", TILING_KEYS[i]);
                return fail_node(c, v[i], sub, "set while tiling.mode is none; expected "
                                 "mode: grid to use it, or no %s", TILING_KEYS[i]);
            }
        return DP_OK;
    }
    if (v[T_TILE] && (s = get_int(c, v[T_TILE], "tiling.tile", 28, 16384, &r->tile)) != DP_OK)
        return s;
    r->overlap = r->tile / 8;
    if (v[T_OVERLAP]) {
        int max = (r->tile - 1) / 2;
        int ov = -1;
        if (is_plain(v[T_OVERLAP]) && !is_null(v[T_OVERLAP])) {
            dp_number num = dp_scan_number(sval(v[T_OVERLAP]), slen(v[T_OVERLAP]));
            if (num.ok && num.integral && !num.leading_zero && !num.big && num.i > max)
                return fail_node(c, v[T_OVERLAP], "tiling.overlap", "%lld (not less than half the "
                                 "tile, %d/2%s); expected an integer 0..%d", num.i, r->tile,
                                 v[T_TILE] ? "" : " as tile defaults to input_size", max);
        }
        if ((s = get_int(c, v[T_OVERLAP], "tiling.overlap", 0, max, &ov)) != DP_OK)
            return s;
        r->overlap = ov;
    }
    if (v[T_BATCH] && (s = get_int(c, v[T_BATCH], "tiling.batch", 1, 16, &r->batch)) != DP_OK)
        return s;
    return DP_OK;
}

static dp_status parse_roi(const ctx *c, const yaml_node_t *n, dp_recipe *r)
{
    if (n->type != YAML_MAPPING_NODE)
        return fail_type(c, n, "roi", "a mapping such as { x: 0, y: 0, width: 0, height: 0 }");
    yaml_node_t *v[NKEYS(ROI_KEYS)];
    dp_status s = scan_map(c, n, "roi", ROI_KEYS, NKEYS(ROI_KEYS), v, "");
    int *dst[R_COUNT] = {[R_X] = &r->roi_x, [R_Y] = &r->roi_y, [R_WIDTH] = &r->roi_w,
                         [R_HEIGHT] = &r->roi_h};
    for (size_t i = 0; s == DP_OK && i < NKEYS(ROI_KEYS); i++)
        if (v[i]) {
            char sub[KEYPATH_BYTES];
            join_key(sub, sizeof sub, "roi", ROI_KEYS[i]);
            s = get_int(c, v[i], sub, 0, 1 << 20, dst[i]);
        }
    return s;
}

static dp_status parse_thresholds(const ctx *c, const yaml_node_t *n, dp_recipe *r)
{
    if (n->type != YAML_MAPPING_NODE)
        return fail_type(c, n, "thresholds", "a mapping with image:, pixel:, min_region_area:");
    yaml_node_t *v[NKEYS(THRESH_KEYS)];
    dp_status s = scan_map(c, n, "thresholds", THRESH_KEYS, NKEYS(THRESH_KEYS), v, "");
    if (s == DP_OK && v[TH_IMAGE])
        s = get_param(c, v[TH_IMAGE], DP_PARAM_IMAGE_THRESHOLD, &r->image_threshold);
    if (s == DP_OK && v[TH_PIXEL])
        s = get_param(c, v[TH_PIXEL], DP_PARAM_PIXEL_THRESHOLD, &r->pixel_threshold);
    if (s == DP_OK && v[TH_MIN_AREA])
        s = get_int(c, v[TH_MIN_AREA], "thresholds.min_region_area", 0, DP_MAX_REGION_AREA,
                    &r->min_region_area);
    return s;
}

static dp_status check_name(const ctx *c, const yaml_node_t *n, const char *path,
                            const char *name)
{
    size_t len = strlen(name), chars = 0;
    for (size_t i = 0; i < len; i++)
        chars += ((unsigned char)name[i] & 0xC0) != 0x80;
    char t[FOUND_BYTES + 8];
    clip_text(name, len, t, sizeof t);
    if (chars > DP_RECIPE_MAX_NAME_CHARS)
        return fail_node(c, n, path, "a name of %zu characters; expected 1..%d characters",
                         chars, DP_RECIPE_MAX_NAME_CHARS);
    if (name[0] == ' ' || name[len - 1] == ' ')
        return fail_node(c, n, path, "\"%s\" (leading or trailing space); expected a name "
                         "without surrounding spaces", t);
    /* the model sees the name as the tokenizer cleans it: check that form */
    char *seen = NULL;
    dp_err e;
    if (dp_tokenizer_normalize(name, &seen, &e) != DP_OK)
        return e.code == DP_E_NOMEM ? nomem(c) : fail_node(c, n, path, "\"%s\" (%s); expected "
                                                           "UTF-8 text", t, e.msg);
    dp_status s = DP_OK;
    if (!seen[0])
        s = fail_node(c, n, path, "\"%s\" (reads as empty text once HTML entities and spaces "
                      "are cleaned, as the model's tokenizer does); expected a visible name", t);
    for (size_t i = 0; s == DP_OK && i < NKEYS(RESERVED_NAMES); i++)
        if (strcmp(seen, RESERVED_NAMES[i]) == 0)
            s = fail_node(c, n, path, "\"%s\" (the normal state, which DAPO adds by "
                          "itself); expected defect types only", t);
    free(seen);
    return s;
}

static dp_status parse_defect(const ctx *c, const yaml_node_t *n, const char *path,
                              dp_recipe_defect *d)
{
    const yaml_node_t *name_node = n;
    char sub[KEYPATH_BYTES];
    dp_status s;
    d->pixel_threshold = -1.0f;
    if (n->type == YAML_MAPPING_NODE) {
        yaml_node_t *v[NKEYS(DEFECT_KEYS)];
        s = scan_map(c, n, path, DEFECT_KEYS, NKEYS(DEFECT_KEYS), v,
                     " (a defect with options is written as - name: scratch, then "
                     "pixel_threshold: 2.5 below it)");
        if (s != DP_OK)
            return s;
        if (!v[D_NAME])
            return missing(c, n, path, "name", "the defect name, e.g. name: scratch");
        if (v[D_PIXEL_THRESHOLD]) {
            join_key(sub, sizeof sub, path, "pixel_threshold");
            s = get_float_param(c, v[D_PIXEL_THRESHOLD], sub, DP_PARAM_PIXEL_THRESHOLD, &d->pixel_threshold);
            if (s != DP_OK)
                return s;
        }
        name_node = v[D_NAME];
        join_key(sub, sizeof sub, path, "name");
        path = sub;
    } else if (n->type != YAML_SCALAR_NODE) {
        return fail_type(c, n, path, "a defect name or a mapping with name: and "
                         "pixel_threshold:");
    }
    s = get_text(c, name_node, path, MAX_NAME_BYTES, "a defect name such as scratch",
                 &d->name);
    if (s == DP_OK)
        s = check_name(c, name_node, path, d->name);
    return s;
}

static dp_status parse_defects(const ctx *c, const yaml_node_t *n, dp_recipe *r)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return fail_type(c, n, "defects", "a list of defect names, one per line as - scratch");
    yaml_node_item_t *items = n->data.sequence.items.start;
    size_t count = (size_t)(n->data.sequence.items.top - items);
    if (count == 0)
        return fail_node(c, n, "defects", "an empty list; expected 1..%d defect names",
                         DP_MAX_DEFECTS);
    if (count > DP_MAX_DEFECTS) {
        char sub[KEYPATH_BYTES];
        snprintf(sub, sizeof sub, "defects[%d]", DP_MAX_DEFECTS + 1);
        return fail_node(c, node_at(c, items[DP_MAX_DEFECTS]), sub,
                         "a list of %zu defects; expected at most %d", count,
                         DP_MAX_DEFECTS);
    }
    r->defects = calloc(count, sizeof *r->defects);
    if (!r->defects)
        return nomem(c);
    const yaml_node_t *where[DP_MAX_DEFECTS];
    /* names as the tokenizer reads them (HTML unescape, whitespace collapse, Unicode lower
     * case): two names with the same form would be two identical classes, the second never
     * labelling a pixel */
    char *seen[DP_MAX_DEFECTS] = { 0 };
    dp_status s = DP_OK;
    for (size_t i = 0; s == DP_OK && i < count; i++) {
        char sub[KEYPATH_BYTES];
        snprintf(sub, sizeof sub, "defects[%zu]", i + 1);
        const yaml_node_t *item = node_at(c, items[i]);
        if (!item)
            return dp_fail(c->err, DP_E_INTERNAL, "%s: libyaml returned a broken document",
                           c->file);
        s = parse_defect(c, item, sub, &r->defects[i]);
        r->n_defects = (int)i + 1;   /* so dp_recipe_free releases this entry too */
        if (s != DP_OK)
            break;
        where[i] = item;
        dp_err e;
        if (dp_tokenizer_normalize(r->defects[i].name, &seen[i], &e) != DP_OK) {
            s = nomem(c);   /* the name was checked as UTF-8 by check_name */
            break;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(seen[j], seen[i]) == 0) {
                char t[FOUND_BYTES + 8], tj[FOUND_BYTES + 8], ts[FOUND_BYTES + 8];
                clip_text(r->defects[i].name, strlen(r->defects[i].name), t, sizeof t);
                clip_text(r->defects[j].name, strlen(r->defects[j].name), tj, sizeof tj);
                clip_text(seen[i], strlen(seen[i]), ts, sizeof ts);
                s = fail_node(c, item, sub, "\"%s\" repeats defects[%zu] \"%s\" at line %zu "
                              "(the model's tokenizer reads both as \"%s\": names compare "
                              "after HTML unescape, whitespace folding and lower case); "
                              "expected each defect once", t, j + 1, tj,
                              (size_t)where[j]->start_mark.line + 1, ts);
                break;
            }
    }
    for (size_t i = 0; i < count; i++)
        free(seen[i]);
    return s;
}

/* text_cache: a directory (relative to the recipe's) or none. */
static dp_status parse_text_cache(const ctx *c, const yaml_node_t *n, dp_recipe *r)
{
    const char *expected = "a directory for the text-feature cache, or none";
    if (n->type == YAML_SCALAR_NODE && !is_null(n) && eq_nocase(sval(n), slen(n), "none")) {
        r->text_cache_off = 1;
        return DP_OK;
    }
    return get_path(c, n, "text_cache", c->base_dir, expected, &r->text_cache_dir);
}

static dp_status parse_root(const ctx *c, const yaml_node_t *root, dp_recipe *r)
{
    static const char *const precisions[] = {"f32", "bf16", "int8"};   /* dp_precision order */
    if (root->type != YAML_MAPPING_NODE)
        return fail_type(c, root, "", "a mapping of recipe keys, starting with "
                         "recipe_version: 1");
    /* The version first: a newer recipe's new keys must not be reported as typos. */
    const yaml_node_t *ver = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
         !ver && p < root->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = node_at(c, p->key);
        if (k && k->type == YAML_SCALAR_NODE && text_is(sval(k), slen(k), "recipe_version"))
            ver = node_at(c, p->value);
    }
    if (!ver)
        return missing(c, root, "", "recipe_version", "recipe_version: 1");
    if (is_plain(ver)) {
        dp_number v = dp_scan_number(sval(ver), slen(ver));
        if (v.ok && v.integral && !v.leading_zero && (v.big ? v.d > 0 : v.i > DP_RECIPE_VERSION)) {
            char t[FOUND_BYTES + 8];   /* as written: a huge number must not be echoed wrongly */
            clip_text(sval(ver), slen(ver), t, sizeof t);
            return fail_at(c, DP_E_UNSUPPORTED, ver->start_mark, "recipe_version",
                           "%s (written for a newer plugin); expected %d", t,
                           DP_RECIPE_VERSION);
        }
    }
    dp_status s = get_int(c, ver, "recipe_version", DP_RECIPE_VERSION, DP_RECIPE_VERSION,
                          &r->version);
    if (s != DP_OK)
        return s;

    yaml_node_t *v[NKEYS(TOP_KEYS)];
    if ((s = scan_map(c, root, "", TOP_KEYS, NKEYS(TOP_KEYS), v, "")) != DP_OK)
        return s;
    if (!v[K_PRODUCT])
        return missing(c, root, "", "product", "the product name, e.g. product: Bracket 7");
    s = get_text(c, v[K_PRODUCT], "product", MAX_PRODUCT_BYTES, "a product name",
                 &r->product);
    if (s != DP_OK)
        return s;
    if (!v[K_MODEL])
        return missing(c, root, "", "model", "a mapping with clip: and dapo: file paths");
    if ((s = parse_model(c, v[K_MODEL], r)) != DP_OK)
        return s;
    if (v[K_PRECISION]) {
        int p = 0;
        s = get_choice(c, v[K_PRECISION], "precision", precisions, 3, "f32, bf16 or int8", &p);
        if (s != DP_OK)
            return s;
        r->precision = (dp_precision)p;
    }
    if (v[K_INPUT] &&
        (s = get_int(c, v[K_INPUT], "input_size", DP_MIN_INPUT_SIZE, DP_MAX_INPUT_SIZE,
                     &r->input_size)) != DP_OK)
        return s;
    if (v[K_INPUT]) {
        r->input_size_line = (int)v[K_INPUT]->start_mark.line + 1;
        r->input_size_col = (int)v[K_INPUT]->start_mark.column + 1;
    }
    r->tile = r->input_size;
    if (v[K_TILING] && (s = parse_tiling(c, v[K_TILING], r)) != DP_OK)
        return s;
    if (v[K_ROI] && (s = parse_roi(c, v[K_ROI], r)) != DP_OK)
        return s;
    if (!v[K_DEFECTS])
        return missing(c, root, "", "defects", "a list of defect names such as - scratch");
    if ((s = parse_defects(c, v[K_DEFECTS], r)) != DP_OK)
        return s;
    if (v[K_THRESH] && (s = parse_thresholds(c, v[K_THRESH], r)) != DP_OK)
        return s;
    if (v[K_THREADS] &&
        (s = get_int(c, v[K_THREADS], "threads", 0, DP_MAX_THREADS, &r->threads)) != DP_OK)
        return s;
    if (v[K_TEXT_CACHE])
        return parse_text_cache(c, v[K_TEXT_CACHE], r);
    return DP_OK;
}

/* ---- entry points --------------------------------------------------------------------- */

/* Line and column (1-based) of byte offset `off`, for reader errors that carry no mark. */
static void offset_to_mark(const char *text, size_t len, size_t off, yaml_mark_t *m)
{
    m->line = 0;
    m->column = 0;
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') {
            m->line++;
            m->column = 0;
        } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
            m->column++;
        }
    }
}

static dp_status syntax_error(const ctx *c, const yaml_parser_t *p, const char *text, size_t len)
{
    if (p->error == YAML_MEMORY_ERROR)
        return nomem(c);
    yaml_mark_t m = p->problem_mark;
    if (p->error == YAML_READER_ERROR)
        offset_to_mark(text, len, p->problem_offset, &m);
    const char *problem = p->problem ? p->problem : "unreadable YAML";
    if (p->context)
        return dp_fail(c->err, DP_E_FORMAT, "%s:%zu:%zu: YAML syntax error: %s (%s at line "
                       "%zu, column %zu)", c->file, (size_t)m.line + 1, (size_t)m.column + 1,
                       problem, p->context, (size_t)p->context_mark.line + 1,
                       (size_t)p->context_mark.column + 1);
    return dp_fail(c->err, DP_E_FORMAT, "%s:%zu:%zu: YAML syntax error: %s", c->file,
                   (size_t)m.line + 1, (size_t)m.column + 1, problem);
}

/* libyaml's scanner spends O(flow depth) per token and its loader looks anchors up linearly,
 * so a 1 MiB file of "[[[[" or of anchors takes minutes. A streaming pass bounds both before
 * the document is built; it stops within about a kilobyte of the offending spot. */
/* UTF-8 only, and no line breaks other than LF/CRLF: libyaml reads UTF-16 (and would accept a
 * recipe saved that way), and YAML 1.1 treats NEL (U+0085), LS and PS (U+2028/9) as line breaks
 * that it folds into spaces inside quoted text, so a name would change without a word. */
static dp_status check_encoding(const ctx *c, const char *text, size_t len)
{
    const unsigned char *u = (const unsigned char *)text;
    if (len >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF)))
        return dp_fail(c->err, DP_E_FORMAT, "%s:1:1: (top level): the file is UTF-%s (byte order "
                       "mark %02X %02X); expected UTF-8 only: save the recipe as UTF-8", c->file,
                       len >= 4 && u[2] == 0 && u[3] == 0 ? "32" : "16", u[0], u[1]);
    if (len >= 4 && u[0] == 0 && u[1] == 0 && u[2] == 0xFE && u[3] == 0xFF)
        return dp_fail(c->err, DP_E_FORMAT, "%s:1:1: (top level): the file is UTF-32 (byte order "
                       "mark 00 00 FE FF); expected UTF-8 only: save the recipe as UTF-8", c->file);
    size_t line = 1, col = 1;
    for (size_t i = 0; i < len; i++) {
        const char *what = NULL;
        if (u[i] == 0)
            what = "a NUL byte (UTF-16 text or a binary file)";
        else if (u[i] == 0xC2 && i + 1 < len && u[i + 1] == 0x85)
            what = "U+0085 (NEL)";
        else if (u[i] == 0xE2 && i + 2 < len && u[i + 1] == 0x80 && (u[i + 2] == 0xA8 || u[i + 2] == 0xA9))
            what = u[i + 2] == 0xA8 ? "U+2028 (line separator)" : "U+2029 (paragraph separator)";
        if (what && u[i] == 0)
            return dp_fail(c->err, DP_E_FORMAT, "%s:%zu:%zu: (text): %s; expected UTF-8 only: "
                           "save the recipe as UTF-8", c->file, line, col, what);
        if (what)
            return dp_fail(c->err, DP_E_FORMAT, "%s:%zu:%zu: (text): %s, which YAML reads as a "
                           "line break and folds into a space inside quotes; expected UTF-8 text "
                           "with LF or CRLF line ends only", c->file, line, col, what);
        if (u[i] == '\n') {
            line++;
            col = 1;
        } else if ((u[i] & 0xC0) != 0x80) {
            col++;
        }
    }
    return DP_OK;
}

static dp_status prescan(const ctx *c, const char *text, size_t len)
{
    dp_status enc = check_encoding(c, text, len);
    if (enc != DP_OK)
        return enc;
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return nomem(c);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int depth = 0, anchors = 0;
    dp_status s = DP_OK;
    for (int done = 0; !done && s == DP_OK;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            s = syntax_error(c, &p, text, len);
            break;
        }
        yaml_mark_t m = ev.start_mark;
        int anchored = 0;
        const yaml_char_t *tag = NULL;
        switch (ev.type) {
        case YAML_SEQUENCE_START_EVENT:
            depth++;
            anchored = ev.data.sequence_start.anchor != NULL;
            tag = ev.data.sequence_start.tag;
            break;
        case YAML_MAPPING_START_EVENT:
            depth++;
            anchored = ev.data.mapping_start.anchor != NULL;
            tag = ev.data.mapping_start.tag;
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: depth--; break;
        case YAML_SCALAR_EVENT:
            anchored = ev.data.scalar.anchor != NULL;
            tag = ev.data.scalar.tag;
            break;
        case YAML_ALIAS_EVENT: anchored = 1; break;
        case YAML_STREAM_END_EVENT: done = 1; break;
        default: break;
        }
        if (tag) {
            /* Values are typed by how they are written; a tag would be silently ignored. */
            char t[FOUND_BYTES + 8];
            clip_text((const char *)tag, strlen((const char *)tag), t, sizeof t);
            s = dp_fail(c->err, DP_E_FORMAT, "%s:%zu:%zu: YAML tag %s; expected values without "
                        "tags (quote text, leave numbers bare)", c->file, (size_t)m.line + 1,
                        (size_t)m.column + 1, t);
        }
        yaml_event_delete(&ev);
        if (s != DP_OK)
            break;
        if (depth > MAX_NESTING)
            s = dp_fail(c->err, DP_E_FORMAT, "%s:%zu:%zu: YAML nested more than %d levels deep; "
                        "expected a recipe, which nests 3 levels at most", c->file,
                        (size_t)m.line + 1, (size_t)m.column + 1, MAX_NESTING);
        else if (anchored && ++anchors > MAX_ANCHORS)
            s = dp_fail(c->err, DP_E_FORMAT, "%s:%zu:%zu: more than %d YAML anchors and "
                        "aliases (&name, *name); expected a recipe with few or none", c->file,
                        (size_t)m.line + 1, (size_t)m.column + 1, MAX_ANCHORS);
    }
    yaml_parser_delete(&p);
    return s;
}

void dp_recipe_free(dp_recipe *r)
{
    if (!r)
        return;
    free(r->path);
    free(r->product);
    free(r->clip_path);
    free(r->dapo_path);
    free(r->vocab_path);
    free(r->text_cache_dir);
    for (int i = 0; r->defects && i < r->n_defects; i++)
        free(r->defects[i].name);
    free(r->defects);
    memset(r, 0, sizeof *r);
}

static void set_defaults(dp_recipe *r)
{
    r->version = DP_RECIPE_VERSION;
    r->precision = DP_PRECISION_BF16;
    r->input_size = 518;
    r->tiling = DP_TILING_NONE;
    r->tile = 518;
    r->overlap = 0;
    r->batch = 1;
    r->image_threshold = 0.5f;
    r->pixel_threshold = 2.0f;
    r->min_region_area = 0;
    r->threads = 0;
}

dp_status dp_recipe_parse(const char *text, size_t len, const char *name_for_messages,
                          const char *base_dir, dp_recipe *out, dp_err *err)
{
    if (out)
        memset(out, 0, sizeof *out);
    const char *file = name_for_messages ? name_for_messages : "recipe";
    if (!text || !out)
        return dp_fail(err, DP_E_ARG, "dp_recipe_parse: %s is NULL", text ? "out" : "text");
    if (len > DP_RECIPE_MAX_BYTES)
        return dp_fail(err, DP_E_FORMAT, "%s: %zu bytes; expected a recipe of at most %d bytes "
                       "(1 MiB); is this the right file?", file, len, DP_RECIPE_MAX_BYTES);
    ctx c = {NULL, file, base_dir, err};
    dp_recipe r = {0};
    set_defaults(&r);
    r.path = malloc(strlen(file) + 1);
    if (!r.path)
        return nomem(&c);
    memcpy(r.path, file, strlen(file) + 1);

    yaml_parser_t parser;
    yaml_document_t doc, extra;
    dp_status s = prescan(&c, text, len);
    if (s != DP_OK) {
        dp_recipe_free(&r);
        return s;
    }
    if (!yaml_parser_initialize(&parser)) {
        dp_recipe_free(&r);
        return nomem(&c);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        s = syntax_error(&c, &parser, text, len);
        yaml_parser_delete(&parser);
        dp_recipe_free(&r);
        return s;
    }
    c.doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        s = dp_fail(err, DP_E_FORMAT, "%s:1:1: (top level): an empty recipe; expected a "
                    "mapping of recipe keys, starting with recipe_version: 1", file);
    } else if ((s = parse_root(&c, root, &r)) == DP_OK) {
        /* A second document ("---") would be silently ignored otherwise. */
        if (!yaml_parser_load(&parser, &extra)) {
            s = syntax_error(&c, &parser, text, len);
        } else {
            yaml_node_t *more = yaml_document_get_root_node(&extra);
            if (more)
                s = fail_at(&c, DP_E_FORMAT, extra.start_mark, "(top level)",
                            "a second YAML document; expected one recipe per file");
            yaml_document_delete(&extra);
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (s != DP_OK) {
        dp_recipe_free(&r);
        return s;
    }
    *out = r;
    return DP_OK;
}

/* Reads the whole file, refusing more than DP_RECIPE_MAX_BYTES. *text is caller-owned. */
static dp_status read_file(const char *path, char **text, size_t *len, dp_err *err)
{
    char why[128];
    struct stat st;
    int fd = dp_open_regular(path, "the recipe", &st, err);
    if (fd < 0)
        return DP_E_IO;
    if (st.st_size > DP_RECIPE_MAX_BYTES) {
        close(fd);
        return dp_fail(err, DP_E_FORMAT, "%s: %lld bytes; expected a recipe of at most %d "
                       "bytes (1 MiB); is this the right file?", path, (long long)st.st_size,
                       DP_RECIPE_MAX_BYTES);
    }
    char *buf = malloc((size_t)DP_RECIPE_MAX_BYTES + 1);
    if (!buf) {
        close(fd);
        return dp_fail(err, DP_E_NOMEM, "%s: out of memory while reading the recipe", path);
    }
    size_t n = 0;
    while (n <= (size_t)DP_RECIPE_MAX_BYTES) {
        ssize_t got = read(fd, buf + n, (size_t)DP_RECIPE_MAX_BYTES + 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int e = errno;
            if (strerror_r(e, why, sizeof why) != 0)
                snprintf(why, sizeof why, "error %d", e);
            close(fd);
            free(buf);
            return dp_fail(err, DP_E_IO, "%s: cannot read the recipe: %s", path, why);
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    if (n > (size_t)DP_RECIPE_MAX_BYTES) {
        free(buf);
        return dp_fail(err, DP_E_FORMAT, "%s: more than %d bytes; expected a recipe of at "
                       "most 1 MiB; is this the right file?", path, DP_RECIPE_MAX_BYTES);
    }
    *text = buf;
    *len = n;
    return DP_OK;
}

dp_status dp_recipe_load(const char *path, dp_recipe *out, dp_err *err)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!path || !out)
        return dp_fail(err, DP_E_ARG, "dp_recipe_load: %s is NULL", path ? "out" : "path");
    if (!path[0])
        return dp_fail(err, DP_E_ARG, "dp_recipe_load: the recipe path is empty");
    char *text = NULL, *dir = NULL;
    size_t len = 0;
    dp_status s = read_file(path, &text, &len, err);
    if (s != DP_OK)
        return s;
    if (!dir_of(path, &dir)) {
        free(text);
        return dp_fail(err, DP_E_NOMEM, "%s: out of memory while reading the recipe", path);
    }
    s = dp_recipe_parse(text, len, path, dir, out, err);
    free(dir);
    free(text);
    return s;
}
