/* Recursive-descent JSON parser. Input sizes come from untrusted files: nesting depth and
 * element counts are bounded, and every failure reports the offset and what was expected. */
#include "json.h"
#include "dp_limits.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 64

typedef struct parser {
    const char *s;
    size_t len, pos;
    const char *what;
    dp_err *err;
    size_t budget;      /* bytes the document may still allocate (DP_JSON_MEMORY_*) */
} parser;

/* Charges `bytes` of allocation to the document's budget: DP_OK, or DP_E_FORMAT when the text
 * would need more memory than its size allows. */
static dp_status charge(parser *p, size_t bytes)
{
    if (bytes <= p->budget) {
        p->budget -= bytes;
        return DP_OK;
    }
    return dp_fail(p->err, DP_E_FORMAT, "%s: JSON of %zu bytes needs more than %d bytes of "
                   "memory per byte of text by byte %zu (a huge run of tiny elements); expected a "
                   "header of ordinary tensor entries", p->what, p->len, DP_JSON_MEMORY_PER_BYTE,
                   p->pos);
}

static dp_status perr(parser *p, const char *expected)
{
    return dp_fail(p->err, DP_E_FORMAT, "%s: invalid JSON at byte %zu: expected %s", p->what,
                   p->pos, expected);
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static void free_value(dp_json *v)
{
    free(v->string);
    for (size_t i = 0; i < v->count; i++) {
        if (v->keys)
            free(v->keys[i]);
        if (v->items)
            free_value(&v->items[i]);
    }
    free(v->keys);
    free(v->items);
}

static int hex4(parser *p, unsigned *out)
{
    if (p->len - p->pos < 4)
        return 0;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos + i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    p->pos += 4;
    *out = v;
    return 1;
}

static size_t put_utf8(char *dst, unsigned cp)
{
    if (cp < 0x80) { dst[0] = (char)cp; return 1; }
    if (cp < 0x800) { dst[0] = (char)(0xC0 | (cp >> 6)); dst[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        dst[0] = (char)(0xE0 | (cp >> 12)); dst[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        dst[2] = (char)(0x80 | (cp & 0x3F)); return 3;
    }
    dst[0] = (char)(0xF0 | (cp >> 18)); dst[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    dst[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); dst[3] = (char)(0x80 | (cp & 0x3F)); return 4;
}

/* Called with pos on the opening quote. The decoded text is never longer than the source. */
static dp_status parse_string(parser *p, char **out, size_t *out_len)
{
    p->pos++;
    size_t start = p->pos, end = start;
    while (end < p->len && p->s[end] != '"') {
        if (p->s[end] == '\\')
            end++;
        end++;
    }
    if (end >= p->len)
        return perr(p, "a closing '\"' of the string");
    dp_status cst = charge(p, end - start + 1 + 16);   /* + the allocator's overhead */
    if (cst)
        return cst;
    char *buf = malloc(end - start + 1);
    if (!buf)
        return dp_fail(p->err, DP_E_NOMEM, "%s: out of memory reading a JSON string", p->what);
    size_t n = 0;
    while (p->pos < end) {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c < 0x20) {
            free(buf);
            return perr(p, "no raw control character inside a string");
        }
        if (c != '\\') {
            buf[n++] = (char)c;
            p->pos++;
            continue;
        }
        p->pos++;
        char e = p->s[p->pos++];
        switch (e) {
        case '"': buf[n++] = '"'; break;
        case '\\': buf[n++] = '\\'; break;
        case '/': buf[n++] = '/'; break;
        case 'b': buf[n++] = '\b'; break;
        case 'f': buf[n++] = '\f'; break;
        case 'n': buf[n++] = '\n'; break;
        case 'r': buf[n++] = '\r'; break;
        case 't': buf[n++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (!hex4(p, &cp)) {
                free(buf);
                return perr(p, "four hex digits after \\u");
            }
            if (cp >= 0xD800 && cp < 0xDC00 && p->pos + 6 <= end && p->s[p->pos] == '\\' &&
                p->s[p->pos + 1] == 'u') {
                unsigned lo;
                p->pos += 2;
                if (!hex4(p, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                    free(buf);
                    return perr(p, "a low surrogate after a high surrogate");
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            n += put_utf8(buf + n, cp);
            break;
        }
        default:
            free(buf);
            return perr(p, "a valid escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u)");
        }
    }
    p->pos = end + 1;
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return DP_OK;
}

static dp_status parse_value(parser *p, dp_json *v, int depth);

static dp_status grow(parser *p, dp_json *v, size_t *cap, int with_keys)
{
    if (v->count < *cap)
        return DP_OK;
    size_t ncap = *cap ? *cap * 2 : 2;   /* most containers hold 1..4 values */
    if (ncap > (size_t)1 << 24)
        return dp_fail(p->err, DP_E_FORMAT, "%s: JSON container at byte %zu has too many elements",
                       p->what, p->pos);
    dp_status cst = charge(p, (ncap - *cap) * (sizeof(dp_json) + (with_keys ? sizeof(char *) : 0)));
    if (cst)
        return cst;
    dp_json *items = realloc(v->items, ncap * sizeof *items);
    if (!items)
        return dp_fail(p->err, DP_E_NOMEM, "%s: out of memory parsing JSON", p->what);
    v->items = items;
    if (with_keys) {
        char **keys = realloc(v->keys, ncap * sizeof *keys);
        if (!keys)
            return dp_fail(p->err, DP_E_NOMEM, "%s: out of memory parsing JSON", p->what);
        v->keys = keys;
    }
    *cap = ncap;
    return DP_OK;
}

static dp_status parse_container(parser *p, dp_json *v, int depth, int is_object)
{
    char close = is_object ? '}' : ']';
    v->type = is_object ? DP_JSON_OBJECT : DP_JSON_ARRAY;
    p->pos++;
    size_t cap = 0;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return DP_OK;
    }
    for (;;) {
        dp_status st = grow(p, v, &cap, is_object);
        if (st)
            return st;
        skip_ws(p);
        if (is_object) {
            if (p->pos >= p->len || p->s[p->pos] != '"')
                return perr(p, "a '\"' starting an object key");
            char *key;
            size_t klen;
            if ((st = parse_string(p, &key, &klen)))
                return st;
            v->keys[v->count] = key;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') {
                memset(&v->items[v->count], 0, sizeof v->items[0]);
                v->count++;
                return perr(p, "':' after an object key");
            }
            p->pos++;
        }
        memset(&v->items[v->count], 0, sizeof v->items[0]);
        v->count++;
        if ((st = parse_value(p, &v->items[v->count - 1], depth + 1)))
            return st;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == close) {
            p->pos++;
            return DP_OK;
        }
        return perr(p, is_object ? "',' or '}'" : "',' or ']'");
    }
}

static dp_status parse_number(parser *p, dp_json *v)
{
    size_t start = p->pos;
    int integer = 1;
    if (p->s[p->pos] == '-')
        p->pos++;
    size_t digits = p->pos;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
        p->pos++;
    if (p->pos == digits)
        return perr(p, "a digit");
    if (p->pos < p->len && p->s[p->pos] == '.') {
        integer = 0;
        p->pos++;
        size_t frac = p->pos;
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
        if (p->pos == frac)
            return perr(p, "a digit after '.'");
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        integer = 0;
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
            p->pos++;
        size_t ex = p->pos;
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
        if (p->pos == ex)
            return perr(p, "a digit in the exponent");
    }
    char tmp[64];
    size_t n = p->pos - start;
    if (n >= sizeof tmp)
        return perr(p, "a number of at most 63 characters");
    memcpy(tmp, p->s + start, n);
    tmp[n] = '\0';
    v->type = DP_JSON_NUMBER;
    v->number = strtod(tmp, NULL);
    if (integer) {
        errno = 0;
        long long ll = strtoll(tmp, NULL, 10);
        if (errno == 0) {
            v->number_is_integer = 1;
            v->integer = (int64_t)ll;
        }
    }
    return DP_OK;
}

static int literal(parser *p, const char *word)
{
    size_t n = strlen(word);
    if (p->len - p->pos >= n && memcmp(p->s + p->pos, word, n) == 0) {
        p->pos += n;
        return 1;
    }
    return 0;
}

static dp_status parse_value(parser *p, dp_json *v, int depth)
{
    if (depth >= JSON_MAX_DEPTH) {     /* the top-level value is level 1 */
        char what[48];
        snprintf(what, sizeof what, "nesting of at most %d levels", JSON_MAX_DEPTH);
        return perr(p, what);
    }
    skip_ws(p);
    if (p->pos >= p->len)
        return perr(p, "a value");
    char c = p->s[p->pos];
    if (c == '{' || c == '[')
        return parse_container(p, v, depth, c == '{');
    if (c == '"') {
        v->type = DP_JSON_STRING;
        return parse_string(p, &v->string, &v->string_len);
    }
    if (c == '-' || (c >= '0' && c <= '9'))
        return parse_number(p, v);
    if (literal(p, "true")) { v->type = DP_JSON_BOOL; v->boolean = 1; return DP_OK; }
    if (literal(p, "false")) { v->type = DP_JSON_BOOL; return DP_OK; }
    if (literal(p, "null")) { v->type = DP_JSON_NULL; return DP_OK; }
    return perr(p, "a value (object, array, string, number, true, false or null)");
}

dp_status dp_json_parse(const char *text, size_t len, const char *what, dp_json **out, dp_err *err)
{
    *out = NULL;
    dp_json *doc = calloc(1, sizeof *doc);
    if (!doc)
        return dp_fail(err, DP_E_NOMEM, "%s: out of memory parsing JSON", what);
    size_t budget = len > (SIZE_MAX - DP_JSON_MEMORY_BASE) / DP_JSON_MEMORY_PER_BYTE
                        ? SIZE_MAX : DP_JSON_MEMORY_BASE + len * DP_JSON_MEMORY_PER_BYTE;
    parser p = { text, len, 0, what, err, budget };
    dp_status st = parse_value(&p, doc, 0);
    if (!st) {
        skip_ws(&p);
        if (p.pos != p.len)
            st = perr(&p, "end of input after the top-level value");
    }
    if (st) {
        dp_json_free(doc);
        return st;
    }
    *out = doc;
    return DP_OK;
}

void dp_json_free(dp_json *doc)
{
    if (doc) {
        free_value(doc);
        free(doc);
    }
}

const dp_json *dp_json_get(const dp_json *obj, const char *key)
{
    if (!obj || obj->type != DP_JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < obj->count; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return &obj->items[i];
    return NULL;
}

const dp_json *dp_json_path(const dp_json *obj, const char *dotted)
{
    char part[128];
    while (obj && *dotted) {
        size_t n = strcspn(dotted, ".");
        if (n >= sizeof part)
            return NULL;
        memcpy(part, dotted, n);
        part[n] = '\0';
        obj = dp_json_get(obj, part);
        dotted += n;
        if (*dotted == '.')
            dotted++;
    }
    return obj;
}
