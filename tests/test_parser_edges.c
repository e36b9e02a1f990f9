/* Edge branches of the JSON reader and the safetensors validator that the format tests do not
 * reach (coverage, issue 10): \u escapes of every UTF-8 length and their errors, nesting and
 * trailing data, metadata rules, argument checks, conversion refusals. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "safetensors.h"

static dp_json *parse_ok(const char *text)
{
    dp_json *doc = NULL;
    dp_err e;
    dp_status st = dp_json_parse(text, strlen(text), "t.json", &doc, &e);
    ck_assert_msg(st == DP_OK, "%s: %s", text, e.msg);
    return doc;
}

static void parse_fails(const char *text, const char *phrase)
{
    dp_json *doc = (dp_json *)1;
    dp_err e;
    dp_status st = dp_json_parse(text, strlen(text), "t.json", &doc, &e);
    ck_assert_msg(st == DP_E_FORMAT, "%s: status %d", text, st);
    ck_assert(doc == NULL);
    ck_assert_msg(strstr(e.msg, phrase), "%s: message \"%s\" lacks \"%s\"", text, e.msg, phrase);
}

START_TEST(json_unicode_escapes)
{
    const struct { const char *in, *out; } ok[] = {
        { "\"\\u0041\"", "A" }, { "\"\\u00e9\"", "\xc3\xa9" }, { "\"\\u00E9\"", "\xc3\xa9" },
        { "\"\\u20ac\"", "\xe2\x82\xac" }, { "\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80" },
        { "\"a\\n\\t\\r\\b\\f\\/\\\\\\\"\"", "a\n\t\r\b\f/\\\"" },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        dp_json *d = parse_ok(ok[i].in);
        ck_assert_int_eq(d->type, DP_JSON_STRING);
        ck_assert_msg(strcmp(d->string, ok[i].out) == 0, "%s", ok[i].in);
        ck_assert_uint_eq(d->string_len, strlen(ok[i].out));
        dp_json_free(d);
    }
    parse_fails("\"\\u12\"", "four hex digits");
    parse_fails("\"\\u12G4\"", "four hex digits");
    parse_fails("\"\\ud800\\u0041\"", "low surrogate");
    parse_fails("\"\\ud800\\uZZZZ\"", "low surrogate");
    parse_fails("\"\\q\"", "");
    parse_fails("\"open", "closing");
}
END_TEST

START_TEST(json_structure)
{
    char deep[200];
    memset(deep, '[', 64);
    memset(deep + 64, ']', 64);
    deep[128] = '\0';
    dp_json *d = parse_ok(deep);          /* 64 levels: the limit */
    dp_json_free(d);
    /* 65 levels refused, with the limit the check uses */
    memset(deep, '[', 65);
    memset(deep + 65, ']', 65);
    deep[130] = '\0';
    parse_fails(deep, "nesting of at most 64 levels");
    parse_fails("1 2", "end of input");
    d = parse_ok("[1e+5, 1E-5, -0.5e2, 12345678901234]");
    ck_assert(d->count == 4 && d->items[0].number == 1e5 && d->items[1].number == 1e-5 &&
              d->items[2].number == -50 && d->items[3].number_is_integer &&
              d->items[3].integer == 12345678901234LL);
    dp_json_free(d);
    d = parse_ok("{\"a\": {\"b\": {\"c\": 7}}, \"s\": \"x\"}");
    ck_assert(dp_json_path(d, "a.b.c") && dp_json_path(d, "a.b.c")->integer == 7);
    ck_assert(dp_json_path(d, "a.x.c") == NULL);
    ck_assert(dp_json_path(d, "s.t") == NULL);      /* through a non-object */
    char long_part[300];
    memset(long_part, 'k', 200);
    long_part[200] = '\0';
    ck_assert(dp_json_path(d, long_part) == NULL);  /* a part longer than any key we read */
    ck_assert(dp_json_get(NULL, "a") == NULL);
    dp_json_free(d);
}
END_TEST

/* safetensors files written into a temp dir */
static char g_dir[64];

static void setup(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/dp_edges_XXXXXX");
    ck_assert(mkdtemp(g_dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    ck_assert(system(cmd) == 0);
}

static const char *write_st(const char *name, const char *header, const void *data, size_t n)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert(f);
    uint64_t hl = strlen(header);
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)(hl >> (8 * i));
    ck_assert(fwrite(le, 1, 8, f) == 8 && fwrite(header, 1, hl, f) == hl);
    if (n)
        ck_assert(fwrite(data, 1, n, f) == n);
    ck_assert(fclose(f) == 0);
    return path;
}

static void st_fails(const char *name, const char *header, size_t data_len, dp_status code,
                     const char *phrase)
{
    static const unsigned char zeros[64];
    const char *path = write_st(name, header, zeros, data_len);
    dp_safetensors *st = (dp_safetensors *)1;
    dp_err e;
    dp_status s = dp_st_open(path, &st, &e);
    ck_assert_msg(s == code, "%s: status %d: %s", name, s, e.msg);
    ck_assert(st == NULL);
    ck_assert_msg(strstr(e.msg, phrase) && strstr(e.msg, name), "%s: \"%s\" lacks \"%s\"", name,
                  e.msg, phrase);
}

START_TEST(safetensors_header_rules)
{
    st_fails("array.st", "[]", 0, DP_E_FORMAT, "not a JSON object");
    st_fails("two_meta.st", "{\"__metadata__\": {}, \"__metadata__\": {}}", 0, DP_E_FORMAT,
             "duplicate \"__metadata__\"");
    st_fails("meta_array.st", "{\"__metadata__\": []}", 0, DP_E_FORMAT, "object of strings");
    st_fails("meta_number.st", "{\"__metadata__\": {\"k\": 1}}", 0, DP_E_FORMAT, "");
    st_fails("begin_after_end.st", "{\"t\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 0]}}",
             8, DP_E_FORMAT, "begin > end");
    st_fails("huge_dim.st", "{\"t\": {\"dtype\": \"F32\", \"shape\": [1000], \"data_offsets\": [0, 4]}}",
             8, DP_E_FORMAT, "exceeds");
    st_fails("bad_dtype.st", "{\"t\": {\"dtype\": \"F31\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
             8, DP_E_UNSUPPORTED, "F31");
    st_fails("neg_dim.st", "{\"t\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}",
             8, DP_E_FORMAT, "shape[0]");
    st_fails("frac_offset.st", "{\"t\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0.5, 4]}}",
             8, DP_E_FORMAT, "data_offsets");
    st_fails("overlap.st", "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
             " \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8,
             DP_E_FORMAT, "overlapping");
    st_fails("dup.st", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
             " \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8,
             DP_E_FORMAT, "duplicate tensor name");
    dp_safetensors *st = (dp_safetensors *)1;
    dp_err e;
    ck_assert_int_eq(dp_st_open("", &st, &e), DP_E_ARG);
    ck_assert(st == NULL);
    ck_assert_int_eq(dp_st_open(NULL, &st, &e), DP_E_ARG);
    ck_assert_int_eq(dp_st_open("x", NULL, &e), DP_E_ARG);
    ck_assert_int_eq(dp_st_open(g_dir, &st, &e), DP_E_IO);     /* a directory */
    ck_assert_msg(strstr(e.msg, "not a regular file"), "%s", e.msg);
}
END_TEST

START_TEST(safetensors_conversion_refusals)
{
    /* F16 +Inf (0x7c00) at [1,0]; I64; F32 finite */
    unsigned char data[32] = { 0 };
    data[4] = 0x00; data[5] = 0x7c;
    const char *path = write_st("conv.st",
        "{\"h\": {\"dtype\": \"F16\", \"shape\": [2, 2], \"data_offsets\": [0, 8]},"
        " \"i\": {\"dtype\": \"I64\", \"shape\": [1], \"data_offsets\": [8, 16]},"
        " \"f\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [16, 24]},"
        " \"blocks.0.w\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [24, 28]},"
        " \"blocks.12.w\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [28, 28]}}",
        data, 28);
    dp_safetensors *st = NULL, *other = NULL;
    dp_err e;
    ck_assert_msg(dp_st_open(path, &st, &e) == DP_OK, "%s", e.msg);
    ck_assert_msg(dp_st_open(path, &other, &e) == DP_OK, "%s", e.msg);
    float dst[4];
    const dp_st_tensor *h = dp_st_find(st, "h"), *i = dp_st_find(st, "i");
    ck_assert(h && i && dp_st_find(st, "nope") == NULL && dp_st_at(st, 5) == NULL);
    ck_assert_int_eq(dp_st_to_f32(st, h, dst, &e), DP_E_MODEL);
    ck_assert_msg(strstr(e.msg, "'h'") && strstr(e.msg, "[1,0]") && strstr(e.msg, "Inf"), "%s", e.msg);
    ck_assert_int_eq(dp_st_to_f32(st, i, dst, &e), DP_E_UNSUPPORTED);
    ck_assert_msg(strstr(e.msg, "I64"), "%s", e.msg);
    ck_assert_int_eq(dp_st_to_f32(other, h, dst, &e), DP_E_ARG);   /* not that file's tensor */
    ck_assert_msg(strstr(e.msg, "does not belong"), "%s", e.msg);
    ck_assert_int_eq(dp_st_to_f32(NULL, h, dst, &e), DP_E_ARG);
    ck_assert_int_eq(dp_st_to_f32(st, dp_st_find(st, "f"), dst, &e), DP_OK);
    ck_assert_int_eq(dp_st_count_indexed(st, "blocks.", '.'), 13);
    int idx = -1;
    ck_assert_uint_eq(dp_st_parse_index("7", '\0', &idx), 1);
    ck_assert_int_eq(idx, 7);
    ck_assert_uint_eq(dp_st_parse_index("012.", '.', &idx), 0);     /* leading zero */
    ck_assert_uint_eq(dp_st_parse_index("123456.", '.', &idx), 0);  /* too many digits */
    ck_assert_uint_eq(dp_st_parse_index("12x", '.', &idx), 0);
    ck_assert(dp_st_path(NULL) == NULL && dp_st_count(NULL) == 0 && dp_st_at(NULL, 0) == NULL &&
              dp_st_find(NULL, "h") == NULL && dp_st_find(st, NULL) == NULL &&
              dp_st_metadata(NULL) == NULL && dp_st_count_indexed(NULL, "blocks.", '.') == 0);
    /* shapes in messages: truncated to the buffer, never overrun */
    int64_t shape[4] = { 123456, 7, 8, 9 };
    char small[8], big[64];
    ck_assert_str_eq(dp_st_format_shape(big, sizeof big, shape, 4), "[123456,7,8,9]");
    dp_st_format_shape(small, sizeof small, shape, 4);
    ck_assert_uint_eq(strlen(small), sizeof small - 1);
    ck_assert_str_eq(dp_st_format_shape(big, sizeof big, shape, 0), "[]");
    /* a tensor record that is no file's, unnamed; a NULL destination for a non-empty tensor */
    dp_st_tensor stray;
    memset(&stray, 0, sizeof stray);
    ck_assert_int_eq(dp_st_to_f32(st, &stray, dst, &e), DP_E_ARG);
    ck_assert_msg(strstr(e.msg, "'?'"), "%s", e.msg);
    ck_assert_int_eq(dp_st_to_f32(st, h, NULL, &e), DP_E_ARG);
    /* a file without tensors: nothing to find */
    dp_safetensors *empty = NULL;
    ck_assert_msg(dp_st_open(write_st("empty.st", "{}", NULL, 0), &empty, &e) == DP_OK, "%s", e.msg);
    ck_assert_uint_eq(dp_st_count(empty), 0);
    ck_assert_ptr_null(dp_st_find(empty, "h"));
    dp_st_close(empty);
    dp_st_close(other);
    dp_st_close(st);
    dp_st_close(NULL);
}
END_TEST

Suite *parser_edges_suite(void)
{
    Suite *s = suite_create("parser_edges");
    TCase *tc = tcase_create("json");
    tcase_add_test(tc, json_unicode_escapes);
    tcase_add_test(tc, json_structure);
    suite_add_tcase(s, tc);
    tc = tcase_create("safetensors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, safetensors_header_rules);
    tcase_add_test(tc, safetensors_conversion_refusals);
    suite_add_tcase(s, tc);
    return s;
}
