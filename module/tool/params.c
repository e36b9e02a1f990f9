/* The runtime parameter table and everything derived from it. */
#include "params.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp_limits.h"
#include "insp_tool.h"
#include "model_config.h"
#include "number.h"

static const dp_param_def PARAMS[DP_PARAM_COUNT] = {
    [DP_PARAM_IMAGE_THRESHOLD] = {
        INSP_PARAM_IMAGE_THRESHOLD, "thresholds.image", DP_PARAM_FLOAT, 0, 1, 1, "",
        "image score at or above which a part is NG"},
    [DP_PARAM_PIXEL_THRESHOLD] = {
        INSP_PARAM_PIXEL_THRESHOLD, "thresholds.pixel", DP_PARAM_FLOAT, 0, DP_ANOMALY_MAP_MAX, 1,
        "map", "anomaly-map value above which a pixel is defective (map = sum over 4 layers of "
        "P(defect), 0..4); defect types with their own recipe threshold keep it"},
    [DP_PARAM_MIN_REGION_AREA] = {
        INSP_PARAM_MIN_REGION_AREA, "thresholds.min_region_area", DP_PARAM_INT, 0,
        DP_MAX_REGION_AREA, 0, "px", "defect regions smaller than this many input pixels are dropped"},
    [DP_PARAM_NUM_THREADS] = {
        INSP_PARAM_NUM_THREADS, "threads", DP_PARAM_INT, 1, DP_MAX_THREADS, 0, "",
        "worker threads per process call (changing it rebuilds the model's kernels from the "
        "model files, refused if they changed on disk since the tool was created)"},
    [DP_PARAM_TYPE_MAP] = {
        INSP_PARAM_TYPE_MAP, NULL, DP_PARAM_BOOL, 0, 1, 0, "",
        "results keep the per-pixel defect type before thresholds (result_type_map, ABI 1.1; "
        "2 bytes per pixel)"},
};

const dp_param_def *dp_param_def_of(dp_param_id id)
{
    return &PARAMS[id];
}

dp_param_id dp_param_find(const char *key)
{
    for (int i = 0; key && i < DP_PARAM_COUNT; i++)
        if (strcmp(key, PARAMS[i].name) == 0 ||
            (PARAMS[i].recipe_key && strcmp(key, PARAMS[i].recipe_key) == 0))
            return (dp_param_id)i;
    return DP_PARAM_COUNT;
}

const char *dp_param_expected(dp_param_id id, char *buf, size_t cap)
{
    const dp_param_def *d = &PARAMS[id];
    const char *unit = strcmp(d->unit, "map") == 0 ? " (anomaly-map units)"
                       : strcmp(d->unit, "px") == 0 ? " (pixels)" : "";
    if (d->type == DP_PARAM_BOOL)
        snprintf(buf, cap, "expected true or false");
    else if (d->type == DP_PARAM_FLOAT)
        snprintf(buf, cap, "expected a number %s %g and %g%s",
                 d->open ? "strictly between" : "between", d->min, d->max, unit);
    else
        snprintf(buf, cap, "expected an integer %.0f..%.0f%s", d->min, d->max, unit);
    return buf;
}

static int in_range(const dp_param_def *d, double x)
{
    return d->open ? x > d->min && x < d->max : x >= d->min && x <= d->max;
}

int dp_param_value(dp_param_id id, const char *text, size_t len, double *out, char *why,
                   size_t why_cap)
{
    const dp_param_def *d = &PARAMS[id];
    if (d->type == DP_PARAM_BOOL) {
        if (text && ((len == 4 && !memcmp(text, "true", 4)) || (len == 5 && !memcmp(text, "false", 5)))) {
            *out = text[0] == 't';
            return 0;
        }
        snprintf(why, why_cap, "not true or false");
        return -1;
    }
    dp_number v = text ? dp_scan_number(text, len) : (dp_number){0};
    if (!v.ok) {
        snprintf(why, why_cap, "not a decimal number");
        return -1;
    }
    if (d->type == DP_PARAM_INT) {
        if (!v.integral) {
            snprintf(why, why_cap, "not a whole number");
            return -1;
        }
        if (v.leading_zero) {
            snprintf(why, why_cap, "a leading zero, read as octal by some YAML tools");
            return -1;
        }
        if (v.big || !in_range(d, (double)v.i)) {
            snprintf(why, why_cap, "out of range");
            return -1;
        }
        *out = (double)v.i;
        return 0;
    }
    if (!in_range(d, v.d)) {
        snprintf(why, why_cap, "out of range");
        return -1;
    }
    /* the tool keeps thresholds as float: validate what it will compare with (in range
     * above, so the conversion is defined) */
    double stored = (double)(float)v.d;
    if (!in_range(d, stored)) {
        snprintf(why, why_cap, "rounds to %g as a 32-bit float, the precision of the "
                 "threshold", stored);
        return -1;
    }
    *out = stored;
    return 0;
}

int dp_param_parse(dp_param_id id, const char *value, double *out, char *msg, size_t msg_cap)
{
    const dp_param_def *d = &PARAMS[id];
    char why[96];
    if (!value || dp_param_value(id, value, strlen(value), out, why, sizeof why)) {
        char expected[128];
        snprintf(msg, msg_cap, "%s = \"%.64s\" (%s): %s", d->name, value ? value : "(null)",
                 value ? why : "NULL", dp_param_expected(id, expected, sizeof expected));
        return -1;
    }
    return 0;
}

const char *dp_param_names(void)
{
    return INSP_PARAM_IMAGE_THRESHOLD ", " INSP_PARAM_PIXEL_THRESHOLD ", "
           INSP_PARAM_MIN_REGION_AREA ", " INSP_PARAM_NUM_THREADS ", " INSP_PARAM_TYPE_MAP;
}

void dp_param_format(dp_param_id id, double value, char *buf, size_t cap)
{
    if (PARAMS[id].type == DP_PARAM_BOOL) {
        snprintf(buf, cap, "%s", value != 0 ? "true" : "false");
        return;
    }
    if (PARAMS[id].type != DP_PARAM_FLOAT) {
        snprintf(buf, cap, "%.0f", value);
        return;
    }
    /* the shortest %g that reads back as the same float, so get_param -> set_param round-trips
     * (0.99999988 is not "1", which set_param would refuse) */
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(buf, cap, "%.*g", digits, value);
        /* %g may use the locale's decimal point; the ABI promises C notation */
        for (char *p = buf; *p; p++)
            if (*p == ',')
                *p = '.';
        dp_number back = dp_scan_number(buf, strlen(buf));
        if (back.ok && (float)back.d == (float)value)
            break;
    }
}

int dp_param_schema(const double *values, char **out)
{
    char buf[4096];
    size_t n = (size_t)snprintf(buf, sizeof buf, "{\"params\": [");
    for (int i = 0; i < DP_PARAM_COUNT && n < sizeof buf; i++) {
        const dp_param_def *d = &PARAMS[i];
        char def[64];
        dp_param_format((dp_param_id)i, values[i], def, sizeof def);
        static const char *const types[] = { "float", "int", "bool" };
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s{\"name\": \"%s\", \"type\": \"%s\", "
                              "\"default\": \"%s\"", i ? ", " : "", d->name, types[d->type], def);
        if (n < sizeof buf && d->recipe_key)
            n += (size_t)snprintf(buf + n, sizeof buf - n, ", \"recipe_key\": \"%s\"", d->recipe_key);
        if (n < sizeof buf && d->type != DP_PARAM_BOOL)
            n += (size_t)snprintf(buf + n, sizeof buf - n, ", \"min\": %g, \"max\": %g, "
                                  "\"exclusive\": %s", d->min, d->max, d->open ? "true" : "false");
        if (n < sizeof buf && d->unit[0])
            n += (size_t)snprintf(buf + n, sizeof buf - n, ", \"unit\": \"%s\"", d->unit);
        if (n < sizeof buf)
            n += (size_t)snprintf(buf + n, sizeof buf - n, ", \"description\": \"%s\"}", d->doc);
    }
    if (n >= sizeof buf - 3)
        return -1;
    snprintf(buf + n, sizeof buf - n, "]}");
    *out = strdup(buf);
    return *out ? 0 : -1;
}
