/* CLIP BPE tokenizer: loading the merges file, cleaning the text the way the reference Python
 * does (html.unescape twice, str.split() whitespace collapse, str.lower()), pre-tokenisation
 * with the CLIP pattern and byte-level BPE. */
#include "tokenizer.h"
#include "model_testing.h"
#include "dp_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "unicode_tables.h"

/* The reference keeps lines 1..48894 of the file: 49408 ids minus 256 bytes, 256 end-of-word
 * bytes and the two specials. */
#define N_MERGES (DP_TOK_VOCAB_SIZE - 512 - 2)
#define MAX_INFLATED (64u << 20) /* the real file inflates to 3.2 MB; refuse gzip bombs */
#define GZ_CHUNK (1u << 16)
#define TABLE_BITS 17 /* hash tables of 131072 slots, at most 38 % full */
#define TABLE_SIZE (1u << TABLE_BITS)
#define EMPTY_KEY UINT32_MAX
#define ENTITY_MAX 32 /* html.unescape reads at most 32 name characters */

typedef struct pair_slot {
    uint32_t key; /* left id << 16 | right id, EMPTY_KEY when free */
    uint32_t rank;
    int32_t merged; /* id of the concatenation */
} pair_slot;

struct dp_tokenizer {
    uint8_t byte_id[256];              /* byte value -> id 0..255 */
    char *arena;                       /* every entry's UTF-8 text back to back (owned) */
    uint32_t off[DP_TOK_VOCAB_SIZE];   /* id -> start of its text in arena */
    uint16_t len[DP_TOK_VOCAB_SIZE];   /* id -> text length in bytes */
    int32_t strings[TABLE_SIZE];       /* text -> id hash, -1 when free */
    pair_slot pairs[TABLE_SIZE];       /* merge rank hash */
};

/* ---------------------------------------------------------------------------------------- */
/* UTF-8 */

/* Strict decoder (Python's: no overlongs, no surrogates, nothing above U+10FFFF). Returns the
 * length of the sequence at s[0..n) and stores its code point, or 0 when it is invalid. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0F;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[k] & 0x3F);
    }
    *cp = v;
    return len;
}

/* Offset of the first invalid byte of s[0..n), or n when all of it is valid UTF-8. */
static size_t utf8_invalid_at(const unsigned char *s, size_t n)
{
    size_t i = 0;
    uint32_t cp;
    while (i < n) {
        size_t k = utf8_next(s + i, n - i, &cp);
        if (!k)
            return i;
        i += k;
    }
    return n;
}

/* Encodes cp into o (caller-owned, room for 4 bytes); returns the byte count. */
static size_t utf8_put(uint32_t cp, unsigned char *o)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---------------------------------------------------------------------------------------- */
/* Vocabulary hash tables */

static uint32_t str_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h & (TABLE_SIZE - 1);
}

static uint32_t pair_hash(uint32_t key)
{
    return (key * 2654435761u) >> (32 - TABLE_BITS);
}

/* Slot holding text s[0..n) (borrowed), or the free slot where it belongs. */
static uint32_t str_slot(const dp_tokenizer *tok, const char *s, size_t n)
{
    uint32_t h = str_hash(s, n);
    for (;;) {
        int32_t id = tok->strings[h];
        if (id < 0 || (tok->len[id] == n && memcmp(tok->arena + tok->off[id], s, n) == 0))
            return h;
        h = (h + 1) & (TABLE_SIZE - 1);
    }
}

static int32_t str_get(const dp_tokenizer *tok, const char *s, size_t n)
{
    return tok->strings[str_slot(tok, s, n)];
}

/* The merge (a, b): borrowed from tok, NULL when a and b do not merge. */
static const pair_slot *pair_get(const dp_tokenizer *tok, int32_t a, int32_t b)
{
    uint32_t key = (uint32_t)a << 16 | (uint32_t)b;
    for (uint32_t h = pair_hash(key);; h = (h + 1) & (TABLE_SIZE - 1)) {
        const pair_slot *p = &tok->pairs[h];
        if (p->key == key)
            return p;
        if (p->key == EMPTY_KEY)
            return NULL;
    }
}

/* Inserts or overwrites: like the reference's dicts, a later duplicate wins. */
static void pair_put(dp_tokenizer *tok, int32_t a, int32_t b, uint32_t rank, int32_t merged)
{
    uint32_t key = (uint32_t)a << 16 | (uint32_t)b;
    uint32_t h = pair_hash(key);
    while (tok->pairs[h].key != EMPTY_KEY && tok->pairs[h].key != key)
        h = (h + 1) & (TABLE_SIZE - 1);
    tok->pairs[h] = (pair_slot){key, rank, merged};
}

/* ---------------------------------------------------------------------------------------- */
/* Loading */

/* zlib's message without the "<fd:N>: " it prefixes for gzdopen'ed files. */
static const char *zlib_text(const char *m)
{
    if (!m || !*m)
        return "unknown zlib error";
    if (strncmp(m, "<fd:", 4) == 0) {
        const char *colon = strstr(m, ">: ");
        if (colon)
            return colon + 3;
    }
    return m;
}

/* Inflates the whole file (so a truncated or corrupt tail is noticed via the gzip CRC) into
 * *out (malloc'd, owned by the caller) of *out_len bytes. */
static dp_status read_gz(const char *path, char **out, size_t *out_len, dp_err *err)
{
    *out = NULL;
    *out_len = 0;
    int fd = dp_open_regular(path, "the CLIP merges file (vocabulary)", NULL, err);
    if (fd < 0)
        return DP_E_IO;
    gzFile gz = gzdopen(fd, "rb");
    if (!gz) {
        close(fd);
        return dp_fail(err, DP_E_NOMEM, "%s: cannot set up gzip decoding", path);
    }
    gzbuffer(gz, 1u << 17);
    dp_status st = DP_OK;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int errnum = Z_OK;
    const char *zmsg;
    int direct = gzdirect(gz);
    zmsg = gzerror(gz, &errnum); /* gzdirect() already read the first bytes */
    if (errnum != Z_OK) {
        st = dp_fail(err, errnum == Z_ERRNO ? DP_E_IO : DP_E_FORMAT, "%s: cannot read the CLIP "
                     "merges file: %s", path, zlib_text(zmsg));
        goto done;
    }
    if (direct) {
        st = dp_fail(err, DP_E_FORMAT,
                     "%s: empty or not gzip-compressed data; expected the gzip'd CLIP merges "
                     "list bpe_simple_vocab_16e6.txt.gz", path);
        goto done;
    }
    for (;;) {
        if (cap - len < GZ_CHUNK) {
            size_t ncap = cap ? cap * 2 : (size_t)2 << 20;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                st = dp_fail(err, DP_E_NOMEM, "%s: out of memory inflating %zu bytes", path, ncap);
                goto done;
            }
            buf = nb;
            cap = ncap;
        }
        int got = gzread(gz, buf + len, GZ_CHUNK);
        if (got < 0) {
            zmsg = gzerror(gz, &errnum);
            st = dp_fail(err, errnum == Z_ERRNO ? DP_E_IO : DP_E_FORMAT,
                         "%s: corrupt or unreadable gzip data after %zu inflated bytes: %s", path,
                         len, zlib_text(zmsg));
            goto done;
        }
        if (got == 0)
            break;
        len += (size_t)got;
        if (len > MAX_INFLATED) {
            st = dp_fail(err, DP_E_FORMAT,
                         "%s: inflates to more than %u bytes; expected the 3.2 MB CLIP merges list",
                         path, MAX_INFLATED);
            goto done;
        }
    }
    /* A stream cut short ends quietly with Z_BUF_ERROR ("unexpected end of file"). */
    zmsg = gzerror(gz, &errnum);
    if (errnum != Z_OK) {
        st = dp_fail(err, DP_E_FORMAT, "%s: truncated or corrupt gzip file after %zu inflated "
                     "bytes: %s", path, len, zlib_text(zmsg));
        goto done;
    }
done:
    if (gzclose_r(gz) != Z_OK && st == DP_OK)
        st = dp_fail(err, DP_E_FORMAT, "%s: truncated or corrupt gzip file (gzclose failed)",
                     path);
    if (st != DP_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    *out_len = len;
    return DP_OK;
}

/* Splits one merges line into its two symbols (the reference uses str.split()); *a and *b
 * point into line (borrowed). Returns 0 unless there are exactly two. */
static int split_merge(const char *line, size_t n, const char **a, size_t *alen, const char **b,
                       size_t *blen)
{
    const char *part[2];
    size_t plen[2];
    int parts = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' ||
                         line[i] == '\v' || line[i] == '\f'))
            i++;
        if (i == n)
            break;
        size_t s = i;
        while (i < n && !(line[i] == ' ' || line[i] == '\t' || line[i] == '\r' ||
                          line[i] == '\v' || line[i] == '\f'))
            i++;
        if (parts == 2)
            return 0;
        part[parts] = line + s;
        plen[parts++] = i - s;
    }
    if (parts != 2)
        return 0;
    *a = part[0];
    *alen = plen[0];
    *b = part[1];
    *blen = plen[1];
    return 1;
}

/* 1 when s[0..n) contains the string word. */
static int contains(const char *s, size_t n, const char *word)
{
    size_t w = strlen(word);
    for (size_t i = 0; i + w <= n; i++) {
        if (memcmp(s + i, word, w) == 0)
            return 1;
    }
    return 0;
}

/* Appends text s[0..n) (borrowed, copied into the arena) as entry id and indexes it. */
static void add_entry(dp_tokenizer *tok, size_t *arena_used, int32_t id, const char *s, size_t n)
{
    tok->off[id] = (uint32_t)*arena_used;
    tok->len[id] = (uint16_t)n;
    memcpy(tok->arena + *arena_used, s, n);
    *arena_used += n;
    /* Later duplicates overwrite earlier ones, as in the reference's encoder dict. */
    tok->strings[str_slot(tok, s, n)] = id;
}

/* Builds the vocabulary and merge ranks of tok (caller-owned, zeroed; its arena becomes owned
 * by tok) from the inflated file text buf[0..n) (borrowed). */
static dp_status build(dp_tokenizer *tok, const char *path, const char *buf, size_t n, dp_err *err)
{
    size_t bad = utf8_invalid_at((const unsigned char *)buf, n);
    if (bad < n)
        return dp_fail(err, DP_E_FORMAT, "%s: byte %zu (0x%02X) is not valid UTF-8; expected the "
                       "UTF-8 text of the CLIP merges list", path, bad, (unsigned char)buf[bad]);

    /* Line starts: line 0 is the version header, lines 1..N_MERGES the merges. */
    const char *nl = memchr(buf, '\n', n);
    if (!nl || !contains(buf, (size_t)(nl - buf), "#version"))
        return dp_fail(err, DP_E_FORMAT, "%s: first line is not the '#version' header of the CLIP "
                       "merges list", path);
    const char *merges = nl + 1, *end = buf + n;
    const char *p = merges;
    size_t text_bytes = 0;
    for (int r = 0; r < N_MERGES; r++) {
        const char *e = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
        if (!e)
            return dp_fail(err, DP_E_FORMAT, "%s: only %d merge lines; expected at least %d after "
                           "the header (file truncated?)", path, r, N_MERGES);
        const char *a, *b;
        size_t alen, blen;
        if (!split_merge(p, (size_t)(e - p), &a, &alen, &b, &blen))
            return dp_fail(err, DP_E_FORMAT, "%s: line %d is \"%.40s\"; expected two "
                           "space-separated symbols", path, r + 2, p);
        if (alen + blen > 4096)
            return dp_fail(err, DP_E_FORMAT, "%s: line %d: symbol of %zu bytes; expected short "
                           "symbols", path, r + 2, alen + blen);
        text_bytes += alen + blen;
        p = e + 1;
    }

    /* Byte alphabet: printable bytes stand for themselves, the other 68 for U+0100.. in order;
     * ids 0..255 list the printable ones first. */
    uint32_t cp_of[256];
    uint8_t order[256];
    int k = 0, extra = 0;
    for (int b = 0; b < 256; b++) {
        if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
            order[k++] = (uint8_t)b;
            cp_of[b] = (uint32_t)b;
        }
    }
    for (int b = 0; b < 256; b++) {
        if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))) {
            order[k++] = (uint8_t)b;
            cp_of[b] = 256u + (uint32_t)extra++;
        }
    }

    size_t arena_cap = 512 * 8 + text_bytes + 64, used = 0;
    tok->arena = malloc(arena_cap);
    if (!tok->arena)
        return dp_fail(err, DP_E_NOMEM, "%s: out of memory for %zu bytes of vocabulary", path,
                       arena_cap);
    memset(tok->strings, 0xFF, sizeof tok->strings);
    for (uint32_t h = 0; h < TABLE_SIZE; h++)
        tok->pairs[h].key = EMPTY_KEY;

    for (int i = 0; i < 256; i++) {
        unsigned char u[8];
        size_t ul = utf8_put(cp_of[order[i]], u);
        tok->byte_id[order[i]] = (uint8_t)i;
        add_entry(tok, &used, i, (const char *)u, ul);
    }
    for (int i = 0; i < 256; i++) {
        unsigned char u[8];
        size_t ul = utf8_put(cp_of[order[i]], u);
        memcpy(u + ul, "</w>", 4);
        add_entry(tok, &used, 256 + i, (const char *)u, ul + 4);
    }
    p = merges;
    for (int r = 0; r < N_MERGES; r++) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        const char *a, *b;
        size_t alen, blen;
        split_merge(p, (size_t)(e - p), &a, &alen, &b, &blen);
        char *dst = tok->arena + used;
        memcpy(dst, a, alen);
        memcpy(dst + alen, b, blen);
        used += alen + blen;
        tok->off[512 + r] = (uint32_t)(dst - tok->arena);
        tok->len[512 + r] = (uint16_t)(alen + blen);
        tok->strings[str_slot(tok, dst, alen + blen)] = 512 + r;
        p = e + 1;
    }
    add_entry(tok, &used, DP_TOK_SOT, "<start_of_text>", 15);
    add_entry(tok, &used, DP_TOK_EOT, "<end_of_text>", 13);

    /* Ranks need the final text -> id map, hence a second pass. A merge whose symbol is not in
     * the vocabulary can never apply, so it is left out. */
    p = merges;
    for (int r = 0; r < N_MERGES; r++) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        const char *a, *b;
        size_t alen, blen;
        split_merge(p, (size_t)(e - p), &a, &alen, &b, &blen);
        int32_t ia = str_get(tok, a, alen), ib = str_get(tok, b, blen);
        int32_t im = str_get(tok, tok->arena + tok->off[512 + r], tok->len[512 + r]);
        if (ia >= 0 && ib >= 0)
            pair_put(tok, ia, ib, (uint32_t)r, im);
        p = e + 1;
    }
    return DP_OK;
}

dp_status dp_tokenizer_load(const char *bpe_gz_path, dp_tokenizer **out, dp_err *err)
{
    if (!out)
        return dp_fail(err, DP_E_ARG, "dp_tokenizer_load: out is NULL; expected a pointer to "
                       "receive the tokenizer");
    *out = NULL;
    if (!bpe_gz_path)
        return dp_fail(err, DP_E_ARG, "dp_tokenizer_load: bpe_gz_path is NULL; expected the path "
                       "of bpe_simple_vocab_16e6.txt.gz");
    char *text;
    size_t n;
    dp_status st = read_gz(bpe_gz_path, &text, &n, err);
    if (st != DP_OK)
        return st;
    dp_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) {
        free(text);
        return dp_fail(err, DP_E_NOMEM, "%s: out of memory for the tokenizer (%zu bytes)",
                       bpe_gz_path, sizeof *tok);
    }
    st = build(tok, bpe_gz_path, text, n, err);
    free(text);
    if (st != DP_OK) {
        dp_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return DP_OK;
}

void dp_tokenizer_free(dp_tokenizer *tok)
{
    if (!tok)
        return;
    free(tok->arena);
    free(tok);
}

int dp_tokenizer_id(const dp_tokenizer *tok, const char *entry)
{
    if (!tok || !entry)
        return -1;
    size_t n = strlen(entry);
    return n > UINT16_MAX ? -1 : str_get(tok, entry, n);
}

/* ---------------------------------------------------------------------------------------- */
/* Cleaning, on arrays of code points. Every buffer is caller-owned; in and out never overlap. */

static int hex_digit(uint32_t c)
{
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* Characters of a named reference: [^\t\n\f <&#;] in html.unescape's pattern. */
static int entity_char(uint32_t c)
{
    return c != '\t' && c != '\n' && c != '\f' && c != ' ' && c != '<' && c != '&' && c != '#' &&
           c != ';';
}

/* What &#num; becomes (Python html._replace_charref): 0 or 1 code points into out. */
static size_t numeric_ref(uint32_t num, uint32_t *out)
{
    int32_t fix = dp_html_charref_fixup(num);
    if (fix >= 0) {
        out[0] = (uint32_t)fix;
        return 1;
    }
    if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) {
        out[0] = 0xFFFD;
        return 1;
    }
    if (dp_html_charref_dropped(num))
        return 0;
    out[0] = num;
    return 1;
}

/* Tries a character reference at p[0..m) (just after an '&'). Returns how many code points it
 * spans (0: no reference here, the '&' stays) and writes its replacement to out, *wrote code
 * points, never more than it spans plus one. */
static size_t char_ref(const uint32_t *p, size_t m, uint32_t *out, size_t *wrote)
{
    *wrote = 0;
    if (m >= 2 && p[0] == '#') {
        int base = 10;
        size_t k = 1;
        if ((p[1] == 'x' || p[1] == 'X') && m >= 3 && hex_digit(p[2]) >= 0) {
            base = 16;
            k = 2;
        } else if (!(p[1] >= '0' && p[1] <= '9')) {
            return 0;
        }
        uint32_t num = 0;
        for (; k < m; k++) {
            int d = base == 16 ? hex_digit(p[k]) : (p[k] >= '0' && p[k] <= '9' ? (int)(p[k] - '0')
                                                                               : -1);
            if (d < 0)
                break;
            /* Saturate: anything beyond U+10FFFF is handled alike. */
            num = num > 0x10FFFF ? num : num * (uint32_t)base + (uint32_t)d;
        }
        if (k < m && p[k] == ';')
            k++;
        *wrote = numeric_ref(num, out);
        return k;
    }
    size_t k = 0;
    while (k < m && k < ENTITY_MAX && entity_char(p[k]))
        k++;
    if (k == 0)
        return 0;
    size_t slen = k < m && p[k] == ';' ? k + 1 : k;
    char name[ENTITY_MAX + 1];
    size_t ascii = 0; /* entity names are ASCII: only such a prefix can match */
    while (ascii < slen && p[ascii] >= 1 && p[ascii] < 0x80) {
        name[ascii] = (char)p[ascii];
        ascii++;
    }
    uint32_t v[2];
    int vn;
    if (ascii == slen && (vn = dp_html_entity(name, slen, v)) > 0) {
        memcpy(out, v, (size_t)vn * sizeof *v);
        *wrote = (size_t)vn;
        return slen;
    }
    /* The longest known name that is a prefix (of at least 2 characters), the rest kept. */
    for (size_t x = slen - 1; x >= 2; x--) {
        if (x <= ascii && (vn = dp_html_entity(name, x, v)) > 0) {
            memcpy(out, v, (size_t)vn * sizeof *v);
            memcpy(out + vn, p + x, (slen - x) * sizeof *p);
            *wrote = (size_t)vn + slen - x;
            return slen;
        }
    }
    return 0;
}

/* One html.unescape() pass from in[0..n) to out (room for n code points: it never grows). */
static size_t html_unescape(const uint32_t *in, size_t n, uint32_t *out)
{
    size_t i = 0, o = 0;
    while (i < n) {
        if (in[i] != '&') {
            out[o++] = in[i++];
            continue;
        }
        size_t wrote, used = char_ref(in + i + 1, n - i - 1, out + o, &wrote);
        if (used == 0) {
            out[o++] = in[i++];
        } else {
            o += wrote;
            i += 1 + used;
        }
    }
    return o;
}

/* " ".join(text.split()): strip, and every whitespace run becomes one space. */
static size_t collapse_space(const uint32_t *in, size_t n, uint32_t *out)
{
    size_t i = 0, o = 0;
    for (;;) {
        while (i < n && dp_uc_is_space(in[i]))
            i++;
        if (i == n)
            return o;
        if (o > 0)
            out[o++] = ' ';
        while (i < n && !dp_uc_is_space(in[i]))
            out[o++] = in[i++];
    }
}

/* CPython's Final_Sigma test for the capital sigma at t[i]: preceded by a cased letter and not
 * followed by one (case-ignorable characters skipped both ways). */
static int final_sigma(const uint32_t *t, size_t n, size_t i)
{
    size_t j = i;
    while (j > 0 && dp_uc_is_case_ignorable(t[j - 1]))
        j--;
    if (j == 0 || !dp_uc_is_cased(t[j - 1]))
        return 0;
    j = i + 1;
    while (j < n && dp_uc_is_case_ignorable(t[j]))
        j++;
    return j == n || !dp_uc_is_cased(t[j]);
}

/* str.lower() from in[0..n) to out (room for DP_UC_LOWER_MAX * n code points). */
static size_t lower(const uint32_t *in, size_t n, uint32_t *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == 0x3A3)
            out[o++] = final_sigma(in, n, i) ? 0x3C2 : 0x3C3;
        else
            o += (size_t)dp_uc_lower(in[i], out + o);
    }
    return o;
}

/* ---------------------------------------------------------------------------------------- */
/* Byte-level BPE */

typedef struct sink {
    int32_t *ids; /* caller-owned destination */
    int cap, n;
} sink;

static void sink_put(sink *s, int32_t id)
{
    if (s->n < s->cap)
        s->ids[s->n++] = id;
}

/* Scratch space for one call, grown to the longest piece (owned by dp_tokenize). */
typedef struct bpe_work {
    size_t cap; /* symbols each array holds; heap holds 3 * cap */
    unsigned char *bytes;
    int32_t *sym, *prev, *next, *batch;
    uint64_t *heap; /* rank << 32 | position, min first */
    size_t heap_n;
} bpe_work;

static void work_free(bpe_work *w)
{
    free(w->bytes);
    free(w->sym);
    free(w->prev);
    free(w->next);
    free(w->batch);
    free(w->heap);
    memset(w, 0, sizeof *w);
}

static int work_reserve(bpe_work *w, size_t n)
{
    if (n <= w->cap)
        return 1;
    size_t cap = n < 2 * w->cap ? 2 * w->cap : n;
    if (cap < 256)
        cap = 256;
    work_free(w);
    w->bytes = malloc(cap);
    w->sym = malloc(cap * sizeof *w->sym);
    w->prev = malloc(cap * sizeof *w->prev);
    w->next = malloc(cap * sizeof *w->next);
    w->batch = malloc(3 * cap * sizeof *w->batch);
    w->heap = malloc(3 * cap * sizeof *w->heap);
    if (!w->bytes || !w->sym || !w->prev || !w->next || !w->batch || !w->heap) {
        work_free(w);
        return 0;
    }
    w->cap = cap;
    return 1;
}

static void heap_push(bpe_work *w, uint64_t v)
{
    size_t i = w->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (w->heap[parent] <= v)
            break;
        w->heap[i] = w->heap[parent];
        i = parent;
    }
    w->heap[i] = v;
}

static uint64_t heap_pop(bpe_work *w)
{
    uint64_t top = w->heap[0], last = w->heap[--w->heap_n];
    size_t i = 0, n = w->heap_n;
    if (n == 0)
        return top;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && w->heap[c + 1] < w->heap[c])
            c++;
        if (w->heap[c] >= last)
            break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    w->heap[i] = last;
    return top;
}

/* Queues the pair starting at symbol position pos, if it is a merge. */
static void push_pair(const dp_tokenizer *tok, bpe_work *w, int32_t pos)
{
    int32_t right = w->next[pos];
    if (right < 0)
        return;
    const pair_slot *ps = pair_get(tok, w->sym[pos], w->sym[right]);
    if (ps)
        heap_push(w, (uint64_t)ps->rank << 32 | (uint32_t)pos);
}

/* BPE of one piece, w->bytes[0..n), n >= 1. Same result as the reference loop: take the lowest
 * ranked adjacent pair, merge all its occurrences left to right, repeat. Positions are the
 * byte offsets where symbols start; a merged symbol keeps its left position. */
static void bpe_piece(const dp_tokenizer *tok, bpe_work *w, size_t n, sink *out)
{
    int32_t last = (int32_t)n - 1;
    for (int32_t i = 0; i <= last; i++) {
        w->sym[i] = tok->byte_id[w->bytes[i]];
        w->prev[i] = i - 1;
        w->next[i] = i < last ? i + 1 : -1;
    }
    w->sym[last] += 256; /* "</w>" variant */
    w->heap_n = 0;
    for (int32_t i = 0; i < last; i++)
        push_pair(tok, w, i);
    while (w->heap_n > 0) {
        /* All occurrences of this rank, by position; merging them creates no pair of the same
         * rank (its left part would have to be the longer merged symbol). */
        uint32_t rank = (uint32_t)(w->heap[0] >> 32);
        size_t nb = 0;
        while (w->heap_n > 0 && (uint32_t)(w->heap[0] >> 32) == rank)
            w->batch[nb++] = (int32_t)(uint32_t)heap_pop(w);
        for (size_t k = 0; k < nb; k++) {
            int32_t pos = w->batch[k], right;
            if (w->sym[pos] < 0 || (right = w->next[pos]) < 0)
                continue;
            const pair_slot *ps = pair_get(tok, w->sym[pos], w->sym[right]);
            if (!ps || ps->rank != rank) /* stale: a neighbour changed since it was queued */
                continue;
            w->sym[pos] = ps->merged;
            w->sym[right] = -1;
            w->next[pos] = w->next[right];
            if (w->next[pos] >= 0)
                w->prev[w->next[pos]] = pos;
            if (w->prev[pos] >= 0)
                push_pair(tok, w, w->prev[pos]);
            push_pair(tok, w, pos);
        }
    }
    for (int32_t i = 0; i >= 0; i = w->next[i])
        sink_put(out, w->sym[i]);
}

/* ---------------------------------------------------------------------------------------- */
/* Pre-tokenisation: <start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|
 * [^\s\p{L}\p{N}]+, first alternative that matches wins, whitespace skipped. */

/* The reference pattern is case-insensitive; after lower-casing that only matters for U+017F
 * (long s), which matches 's'. */
static int match_literal(const uint32_t *t, size_t n, size_t i, const char *lit)
{
    for (size_t k = 0; lit[k]; k++) {
        if (i + k >= n)
            return 0;
        uint32_t c = t[i + k];
        if (c != (unsigned char)lit[k] && !(lit[k] == 's' && c == 0x17F))
            return 0;
    }
    return 1;
}

static size_t contraction(const uint32_t *t, size_t n, size_t i)
{
    static const char *const forms[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    for (size_t k = 0; k < sizeof forms / sizeof forms[0]; k++) {
        if (match_literal(t, n, i, forms[k]))
            return strlen(forms[k]);
    }
    return 0;
}

/* Tokenizes the cleaned text t[0..n) into out until it is full. */
static dp_status encode(const dp_tokenizer *tok, const uint32_t *t, size_t n, sink *out,
                        dp_err *err)
{
    bpe_work w = {0};
    size_t i = 0;
    while (i < n && out->n < out->cap) {
        uint32_t c = t[i];
        size_t j;
        if (c == '<' && match_literal(t, n, i, "<start_of_text>")) {
            sink_put(out, DP_TOK_SOT);
            i += 15;
            continue;
        }
        if (c == '<' && match_literal(t, n, i, "<end_of_text>")) {
            sink_put(out, DP_TOK_EOT);
            i += 13;
            continue;
        }
        if (dp_uc_is_space(c)) {
            i++;
            continue;
        }
        if (c == '\'' && (j = contraction(t, n, i)) > 0) {
            j += i;
        } else if (dp_uc_is_letter(c)) {
            for (j = i + 1; j < n && dp_uc_is_letter(t[j]); j++) {}
        } else if (dp_uc_is_number(c)) {
            j = i + 1;
        } else {
            for (j = i + 1; j < n && !dp_uc_is_space(t[j]) && !dp_uc_is_letter(t[j]) &&
                            !dp_uc_is_number(t[j]); j++) {}
        }
        if (!work_reserve(&w, 4 * (j - i))) {
            work_free(&w);
            return dp_fail(err, DP_E_NOMEM, "dp_tokenize: out of memory for a %zu-character "
                           "word", j - i);
        }
        size_t nb = 0;
        for (size_t k = i; k < j; k++)
            nb += utf8_put(t[k], w.bytes + nb);
        bpe_piece(tok, &w, nb, out);
        i = j;
    }
    work_free(&w);
    return DP_OK;
}

/* CLIP's text cleaning of utf8[0..len): HTML-unescape twice, whitespace collapse and strip,
 * lower case. *mem (caller frees) holds the work buffers; *clean points into it, *n code
 * points. who: names the caller in messages. */
static dp_status clean_text(const char *who, const char *utf8, size_t len, uint32_t **mem,
                            uint32_t **clean, size_t *n_out, dp_err *err)
{
    *mem = NULL;
    const unsigned char *s = (const unsigned char *)utf8;
    size_t bad = utf8_invalid_at(s, len);
    if (bad < len)
        return dp_fail(err, DP_E_ARG, "%s: text is not valid UTF-8: byte 0x%02X at offset "
                       "%zu; expected UTF-8 encoded text", who, s[bad], bad);
    /* Work buffers: a and b of len code points, c of DP_UC_LOWER_MAX * len. */
    uint32_t *m = malloc((2 + DP_UC_LOWER_MAX) * (len + 1) * sizeof *m);
    if (!m)
        return dp_fail(err, DP_E_NOMEM, "%s: out of memory for a %zu-byte text", who, len);
    uint32_t *a = m, *b = a + len + 1, *c = b + len + 1;
    size_t n = 0;
    for (size_t i = 0; i < len;)
        i += utf8_next(s + i, len - i, &a[n++]);
    n = html_unescape(a, n, b);
    n = html_unescape(b, n, a);
    n = collapse_space(a, n, b);
    n = lower(b, n, c);
    *mem = m;
    *clean = c;
    *n_out = n;
    return DP_OK;
}

dp_status dp_tokenizer_normalize(const char *utf8, char **out, dp_err *err)
{
    *out = NULL;
    if (!utf8)
        return dp_fail(err, DP_E_ARG, "dp_tokenizer_normalize: text is NULL");
    size_t len = strnlen(utf8, (size_t)DP_TOK_MAX_TEXT + 1);
    if (len > (size_t)DP_TOK_MAX_TEXT)
        return dp_fail(err, DP_E_ARG, "dp_tokenizer_normalize: text longer than %d bytes",
                       DP_TOK_MAX_TEXT);
    uint32_t *mem, *c;
    size_t n;
    dp_status st = clean_text("dp_tokenizer_normalize", utf8, len, &mem, &c, &n, err);
    if (st != DP_OK)
        return st;
    char *text = malloc(4 * n + 1);
    if (!text) {
        free(mem);
        return dp_fail(err, DP_E_NOMEM, "dp_tokenizer_normalize: out of memory");
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        o += utf8_put(c[i], (unsigned char *)text + o);
    text[o] = '\0';
    free(mem);
    *out = text;
    return DP_OK;
}

dp_status dp_tokenize(const dp_tokenizer *tok, const char *utf8, int32_t *ids, int context_length,
                      int *n_tokens, dp_err *err)
{
    if (n_tokens)
        *n_tokens = 0;
    if (!tok || !utf8 || !ids)
        return dp_fail(err, DP_E_ARG, "dp_tokenize: %s is NULL; expected a valid pointer",
                       !tok ? "tok" : !utf8 ? "utf8" : "ids");
    if (context_length < 2)
        return dp_fail(err, DP_E_ARG, "dp_tokenize: context_length %d; expected at least 2 (room "
                       "for <start_of_text> and <end_of_text>)", context_length);
    size_t ctx = (size_t)context_length;
    memset(ids, 0, ctx * sizeof *ids);
    size_t len = strnlen(utf8, (size_t)DP_TOK_MAX_TEXT + 1);
    if (len > (size_t)DP_TOK_MAX_TEXT)
        return dp_fail(err, DP_E_ARG, "dp_tokenize: text longer than %d bytes; expected a short "
                       "description", DP_TOK_MAX_TEXT);
    uint32_t *mem, *c;
    size_t n;
    dp_status cst = clean_text("dp_tokenize", utf8, len, &mem, &c, &n, err);
    if (cst != DP_OK)
        return cst;

    sink out = {ids + 1, context_length - 1, 0};
    dp_status st = encode(tok, c, n, &out, err);
    free(mem);
    if (st != DP_OK) {
        memset(ids, 0, ctx * sizeof *ids);
        return st;
    }
    ids[0] = DP_TOK_SOT;
    int total;
    if (out.n <= context_length - 2) {
        ids[1 + out.n] = DP_TOK_EOT;
        total = out.n + 2;
    } else { /* too long: keep the first context_length ids, the last one becomes EOT */
        ids[ctx - 1] = DP_TOK_EOT;
        total = context_length;
    }
    if (n_tokens)
        *n_tokens = total;
    return DP_OK;
}
