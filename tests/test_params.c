/* The runtime parameter table: lookup by name and recipe key, the one parse-and-validate path
 * (numbers, whole numbers, booleans, ranges, float rounding), formatting and the schema. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "insp_tool.h"
#include "params.h"

static int parses(dp_param_id id, const char *text, double *v)
{
    char msg[256];
    return dp_param_parse(id, text, v, msg, sizeof msg) == 0;
}

static void refused(dp_param_id id, const char *text, const char *why)
{
    char msg[256];
    double v = -7;
    ck_assert_msg(dp_param_parse(id, text, &v, msg, sizeof msg) != 0, "%s accepted", text ? text : "NULL");
    ck_assert_msg(strstr(msg, why) != NULL, "%s: \"%s\" lacks \"%s\"", text ? text : "NULL", msg, why);
    ck_assert(v == -7);
}

START_TEST(lookup)
{
    ck_assert_int_eq(dp_param_find(INSP_PARAM_IMAGE_THRESHOLD), DP_PARAM_IMAGE_THRESHOLD);
    ck_assert_int_eq(dp_param_find("thresholds.image"), DP_PARAM_IMAGE_THRESHOLD);
    ck_assert_int_eq(dp_param_find("thresholds.pixel"), DP_PARAM_PIXEL_THRESHOLD);
    ck_assert_int_eq(dp_param_find("thresholds.min_region_area"), DP_PARAM_MIN_REGION_AREA);
    ck_assert_int_eq(dp_param_find("threads"), DP_PARAM_NUM_THREADS);
    ck_assert_int_eq(dp_param_find(INSP_PARAM_TYPE_MAP), DP_PARAM_TYPE_MAP);   /* no recipe key */
    ck_assert_int_eq(dp_param_find("type_maps"), DP_PARAM_COUNT);
    ck_assert_int_eq(dp_param_find(NULL), DP_PARAM_COUNT);
    ck_assert_ptr_null(dp_param_def_of(DP_PARAM_TYPE_MAP)->recipe_key);
    ck_assert_ptr_nonnull(strstr(dp_param_names(), "type_map"));
}
END_TEST

START_TEST(values)
{
    double v;
    ck_assert(parses(DP_PARAM_IMAGE_THRESHOLD, "0.25", &v) && v == 0.25);
    ck_assert(parses(DP_PARAM_IMAGE_THRESHOLD, "5e-1", &v) && v == 0.5);
    refused(DP_PARAM_IMAGE_THRESHOLD, "1", "out of range");          /* open range */
    refused(DP_PARAM_IMAGE_THRESHOLD, "0", "out of range");
    refused(DP_PARAM_IMAGE_THRESHOLD, "0.99999999999", "rounds to 1");
    refused(DP_PARAM_IMAGE_THRESHOLD, "1e-50", "rounds to 0");
    refused(DP_PARAM_IMAGE_THRESHOLD, "half", "not a decimal number");
    refused(DP_PARAM_IMAGE_THRESHOLD, NULL, "NULL");
    ck_assert(parses(DP_PARAM_PIXEL_THRESHOLD, "3.5", &v) && v == 3.5);
    refused(DP_PARAM_PIXEL_THRESHOLD, "4", "strictly between 0 and 4 (anomaly-map units)");
    ck_assert(parses(DP_PARAM_MIN_REGION_AREA, "0", &v) && v == 0);
    ck_assert(parses(DP_PARAM_MIN_REGION_AREA, "150", &v) && v == 150);
    refused(DP_PARAM_MIN_REGION_AREA, "1.5", "not a whole number");
    refused(DP_PARAM_MIN_REGION_AREA, "015", "leading zero");
    refused(DP_PARAM_MIN_REGION_AREA, "-1", "out of range");
    refused(DP_PARAM_MIN_REGION_AREA, "99999999999999999999999", "out of range");
    refused(DP_PARAM_MIN_REGION_AREA, "x", "expected an integer 0..100000000 (pixels)");
    ck_assert(parses(DP_PARAM_NUM_THREADS, "256", &v) && v == 256);
    refused(DP_PARAM_NUM_THREADS, "0", "expected an integer 1..256");
    ck_assert(parses(DP_PARAM_TYPE_MAP, "true", &v) && v == 1);
    ck_assert(parses(DP_PARAM_TYPE_MAP, "false", &v) && v == 0);
    refused(DP_PARAM_TYPE_MAP, "yes", "expected true or false");
    refused(DP_PARAM_TYPE_MAP, "1", "not true or false");
    /* the recipe's entry point: text with a length, the reason without the key */
    char why[96];
    ck_assert_int_eq(dp_param_value(DP_PARAM_IMAGE_THRESHOLD, "0.5junk", 3, &v, why, sizeof why), 0);
    ck_assert(v == 0.5);
    ck_assert_int_ne(dp_param_value(DP_PARAM_TYPE_MAP, "truex", 5, &v, why, sizeof why), 0);
    ck_assert_int_ne(dp_param_value(DP_PARAM_TYPE_MAP, "TRUE", 4, &v, why, sizeof why), 0);
    ck_assert_int_ne(dp_param_value(DP_PARAM_TYPE_MAP, "FALSE", 5, &v, why, sizeof why), 0);
    ck_assert_int_ne(dp_param_value(DP_PARAM_TYPE_MAP, NULL, 0, &v, why, sizeof why), 0);
    ck_assert_int_ne(dp_param_value(DP_PARAM_IMAGE_THRESHOLD, NULL, 0, &v, why, sizeof why), 0);
    ck_assert_str_eq(why, "not a decimal number");
}
END_TEST

START_TEST(format_and_schema)
{
    char buf[64];
    dp_param_format(DP_PARAM_IMAGE_THRESHOLD, (double)0.99999988f, buf, sizeof buf);
    double back;
    ck_assert_msg(parses(DP_PARAM_IMAGE_THRESHOLD, buf, &back) && (float)back == 0.99999988f, "%s", buf);
    dp_param_format(DP_PARAM_PIXEL_THRESHOLD, 2.95, buf, sizeof buf);
    ck_assert_str_eq(buf, "2.95");
    dp_param_format(DP_PARAM_MIN_REGION_AREA, 150, buf, sizeof buf);
    ck_assert_str_eq(buf, "150");
    dp_param_format(DP_PARAM_TYPE_MAP, 1, buf, sizeof buf);
    ck_assert_str_eq(buf, "true");
    dp_param_format(DP_PARAM_TYPE_MAP, 0, buf, sizeof buf);
    ck_assert_str_eq(buf, "false");
    char expected[128];
    ck_assert_str_eq(dp_param_expected(DP_PARAM_TYPE_MAP, expected, sizeof expected), "expected true or false");
    double current[DP_PARAM_COUNT] = { 0.5, 2, 10, 2, 0 };
    char *schema = NULL;
    ck_assert_int_eq(dp_param_schema(current, &schema), 0);
    ck_assert_ptr_nonnull(strstr(schema, "\"name\": \"type_map\", \"type\": \"bool\", \"default\": \"false\""));
    ck_assert_ptr_nonnull(strstr(schema, "\"recipe_key\": \"thresholds.image\""));
    ck_assert_ptr_nonnull(strstr(schema, "\"unit\": \"px\""));
    ck_assert_ptr_null(strstr(schema, "\"recipe_key\": \"(null)\""));
    free(schema);
}
END_TEST

Suite *params_suite(void)
{
    Suite *s = suite_create("params");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, lookup);
    tcase_add_test(tc, values);
    tcase_add_test(tc, format_and_schema);
    suite_add_tcase(s, tc);
    return s;
}
