/* insp command-line parsing and help text. */
#include "insp_cli.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "insp_tool.h"

void insp_cli_usage(FILE *f)
{
    fprintf(f,
"usage: insp run [options] --recipe RECIPE.yaml IMAGE|FOLDER...\n"
"       insp info [MODULE.so] [--module MODULE.so] [--recipe RECIPE.yaml]\n"
"       insp --help | --version\n"
"\n"
"Reference host for inspection-tool plugins (insp %s, plugin ABI %d.%d).\n"
"\n"
"run    Creates one tool from the recipe and inspects each image in turn. An IMAGE is a PNG,\n"
"       TIFF, JPEG or BMP file (8/16-bit or float; grey or RGB); a FOLDER is searched\n"
"       recursively for *.png *.tif *.tiff *.jpg *.jpeg *.bmp (any case), in sorted order.\n"
"       Progress and messages go to stderr:\n"
"         [3/40] crack/000.png: NG  score 0.731 >= 0.700; 2 regions: 1 scratch, 1 hole (45 ms)\n"
"       then the load, inspection and writing times of the run.\n"
"info   Loads the plugin and prints its id, version, ABI and capabilities; with --recipe also\n"
"       creates a tool and prints its classes, model facts and parameters.\n"
"\n"
"options of run:\n"
"  --recipe PATH    product recipe (YAML)\n"
"  --out DIR        write results under DIR (created if needed). Per image, named after the\n"
"                   image's path relative to the deepest folder holding all inputs, extension\n"
"                   kept (parts/crack/000.png -> DIR/crack/000.png.*):\n"
"                     NAME.json         the result record (as in --jsonl, indented)\n"
"                     NAME.overlay.png  picture: heat map, numbered defect boxes, verdict\n"
"                     NAME.anomaly.tif  float anomaly map of the inspected rectangle\n"
"                     NAME.labels.tif   16-bit defect type per pixel, 0 = none\n"
"                   and for the run: DIR/summary.json and DIR/summary.csv.\n"
"  --jsonl          JSON Lines on stdout: one {\"type\": \"image\", ...} record per image in\n"
"                   input order, then one {\"type\": \"summary\", ...} record (README.md)\n"
"  --csv PATH       the CSV summary (one row per image) to PATH, '-' = stdout\n"
"  --set KEY=VALUE  set a tool parameter (repeatable), checked before the model loads:\n"
"                   image_threshold (or thresholds.image), pixel_threshold (thresholds.pixel),\n"
"                   min_region_area (thresholds.min_region_area), num_threads (threads);\n"
"                   'insp info --recipe R' lists the plugin's parameters\n"
"  --threads N      worker threads inside the plugin (same as --set num_threads=N)\n"
"  --roi X,Y,W,H    inspect only this rectangle (pixels)\n"
"  --mask PATH      8-bit grey image of the same size; nonzero = inspect\n"
"  --range LO:HI    sample values shown as black and white (e.g. 0:4095 for 12-bit data in\n"
"                   16-bit files; default 0:255, 0:65535, 0:1 by sample type)\n"
"  --exclude GLOB   skip files of a FOLDER whose relative path or name matches (repeatable),\n"
"                   e.g. --exclude '*_mask.png'\n"
"  --heat-floor V   overlay: anomaly-map value below which no heat is drawn (default 3/4 of\n"
"                   the pixel threshold)\n"
"  --font PATH      overlay font (TrueType/OpenType); default: $INSP_FONT, else DejaVu Sans\n"
"                   from fonts-dejavu-core, else a built-in bitmap font\n"
"  -q, --quiet      no progress or summary on stderr (errors and warnings still appear)\n"
"  -v, --verbose    also: tool facts, per-image read/inspect/write times and stage timings,\n"
"                   every region, files written, the plugin's debug log\n"
"common options:\n"
"  --module PATH    plugin shared object (default: $DAPO_INSPECT_PLUGIN, else\n"
"                   libdapo_inspect.so next to insp, else the installed plugin)\n"
"  -h, --help       this text\n"
"  --version        versions of insp, the ABI and the default plugin\n"
"\n"
"exit codes (the first that applies, in this order):\n"
"  2  usage error (also: a --set/--threads value the plugin rejected)\n"
"  3  module, recipe, tool or output directory unusable; no image was inspected\n"
"  4  at least one image could not be read, inspected or written (the others still ran)\n"
"  1  all images inspected, at least one NG\n"
"  0  all images inspected, all OK\n",
            INSP_HOST_VERSION, INSP_ABI_MAJOR, INSP_ABI_MINOR);
}

static int usage_error(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int usage_error(char *err, size_t cap, const char *fmt, ...)
{
    if (err && cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Whole decimal number in [lo, hi]. */
static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    if (!s[0] || !(s[0] == '-' || s[0] == '+' || (s[0] >= '0' && s[0] <= '9')))
        return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* A plain decimal number ("12", "-0.5", ".5", "5e-1"): no hex, inf, nan or spaces, whatever
 * strtod would also take. The value must be finite as a double. */
static int parse_decimal(const char *s, double *out)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    int digits = 0;
    while (*p >= '0' && *p <= '9')
        p++, digits++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++, digits++;
    }
    if (!digits)
        return -1;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p != '\0')
        return -1;
    char *end;
    double v = strtod(s, &end);
    if (*end != '\0' || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* A decimal that keeps its meaning as a 32-bit float: finite, and not a nonzero value that
 * underflows to 0 or a subnormal. */
static int parse_float32(const char *s, float *out)
{
    double d;
    if (parse_decimal(s, &d) || fabs(d) > FLT_MAX || (d != 0 && fabs(d) < FLT_MIN))
        return -1;
    *out = (float)d;
    return 0;
}

/* "X,Y,W,H" with X, Y >= 0 and W, H >= 1. */
static int parse_roi(const char *s, int roi[4])
{
    const char *p = s;
    for (int i = 0; i < 4; i++) {
        char *end;
        if (!(*p >= '0' && *p <= '9'))
            return -1;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno != 0 || v < (i < 2 ? 0 : 1) || v > INT_MAX / 2)
            return -1;
        if (*end != (i < 3 ? ',' : '\0'))
            return -1;
        roi[i] = (int)v;
        p = end + 1;
    }
    return 0;
}

/* "LO:HI": decimals that stay finite and distinct as 32-bit floats (what the image view
 * carries), HI > LO. Both 0 would mean "the default range" to a plugin, so a range that only
 * differs below float precision is refused rather than silently becoming the default. */
static int parse_range(const char *s, float range[2], char *why, size_t cap)
{
    const char *colon = strchr(s, ':');
    char lo_s[64];
    if (!colon || (size_t)(colon - s) >= sizeof lo_s) {
        snprintf(why, cap, "expected LO:HI");
        return -1;
    }
    memcpy(lo_s, s, (size_t)(colon - s));
    lo_s[colon - s] = '\0';
    float lo, hi;
    if (parse_float32(lo_s, &lo) || parse_float32(colon + 1, &hi)) {
        snprintf(why, cap, "LO and HI must be decimal numbers of magnitude 1.2e-38 .. 3.4e38 "
                 "(or 0), as 32-bit floats");
        return -1;
    }
    if (!(hi > lo)) {
        snprintf(why, cap, "HI must be greater than LO%s", (double)hi == strtod(colon + 1, NULL) &&
                 (double)lo == strtod(lo_s, NULL) ? "" : " (after rounding to 32-bit floats)");
        return -1;
    }
    if (!isfinite(hi - lo) || !isfinite(1.0f / (hi - lo))) {
        snprintf(why, cap, "HI - LO must be between 3e-38 and 3.4e38");
        return -1;
    }
    range[0] = lo;
    range[1] = hi;
    return 0;
}

/* ---- runtime parameters ---------------------------------------------------------------- */

static const struct { const char *recipe, *runtime; } param_aliases[] = {
    {"thresholds.image", INSP_PARAM_IMAGE_THRESHOLD},
    {"thresholds.pixel", INSP_PARAM_PIXEL_THRESHOLD},
    {"thresholds.min_region_area", INSP_PARAM_MIN_REGION_AREA},
    {"threads", INSP_PARAM_NUM_THREADS},
};
static const char *const standard_params[] = {
    INSP_PARAM_IMAGE_THRESHOLD, INSP_PARAM_PIXEL_THRESHOLD, INSP_PARAM_MIN_REGION_AREA,
    INSP_PARAM_NUM_THREADS,
};
#define COUNT(a) (sizeof (a) / sizeof (a)[0])

const char *insp_cli_param_name(const char *name)
{
    for (size_t i = 0; i < COUNT(param_aliases); i++)
        if (strcmp(name, param_aliases[i].recipe) == 0)
            return param_aliases[i].runtime;
    return name;
}

/* Levenshtein distance of two short strings, capped at 9. */
static int distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > 64 || m > 64)
        return 9;
    int row[65];
    for (size_t j = 0; j <= m; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= m; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[m] > 9 ? 9 : row[m];
}

const char *insp_cli_param_suggestion(const char *name)
{
    const char *best = NULL;
    int best_d = 3;
    for (size_t i = 0; i < COUNT(standard_params); i++) {
        int d = distance(name, standard_params[i]);
        if (d < best_d)
            best_d = d, best = standard_params[i];
    }
    for (size_t i = 0; i < COUNT(param_aliases); i++) {
        int d = distance(name, param_aliases[i].recipe);
        if (d < best_d)
            best_d = d, best = param_aliases[i].recipe;
    }
    return best;
}

/* Splits and checks one --set argument into *p: the name's syntax, the recipe alias, and for
 * the standard names the value. Nothing here needs the plugin. */
static int parse_param(const char *opt, const char *arg, insp_param *p, char *err, size_t cap)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return usage_error(err, cap, "%s needs KEY=VALUE, got '%.80s'", opt, arg);
    size_t n = (size_t)(eq - arg);
    if (n > INSP_CLI_MAX_KEY)
        return usage_error(err, cap, "%s: parameter name of %zu bytes is too long (at most %d): "
                           "'%.40s...'", opt, n, INSP_CLI_MAX_KEY, arg);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)arg[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return usage_error(err, cap, "%s: parameter name '%.*s' may only contain letters, "
                               "digits, '_', '.' and '-'", opt, (int)n, arg);
    }
    char given[INSP_CLI_MAX_KEY + 1];
    memcpy(given, arg, n);
    given[n] = '\0';
    snprintf(p->key, sizeof p->key, "%s", insp_cli_param_name(given));
    p->value = eq + 1;
    p->arg = arg;
    p->standard = 0;
    for (size_t i = 0; i < COUNT(standard_params); i++)
        if (strcmp(p->key, standard_params[i]) == 0)
            p->standard = 1;
    if (!p->standard) {
        const char *near = insp_cli_param_suggestion(given);
        if (near)
            return usage_error(err, cap, "%s: unknown parameter '%s'; did you mean %s?", opt,
                               given, near);
        return 0;   /* a plugin-specific name: checked against the tool before any image */
    }
    const char *v = p->value;
    float f;
    long l;
    if (strcmp(p->key, INSP_PARAM_IMAGE_THRESHOLD) == 0) {
        if (parse_float32(v, &f) || f < 0 || f > 1)
            return usage_error(err, cap, "%s %s: '%.40s' is not a decimal number from 0 to 1",
                               opt, given, v);
    } else if (strcmp(p->key, INSP_PARAM_PIXEL_THRESHOLD) == 0) {
        if (parse_float32(v, &f) || f < 0)
            return usage_error(err, cap, "%s %s: '%.40s' is not a decimal number >= 0 "
                               "(anomaly-map units)", opt, given, v);
    } else if (strcmp(p->key, INSP_PARAM_MIN_REGION_AREA) == 0) {
        if (parse_int(v, 0, INT32_MAX, &l))
            return usage_error(err, cap, "%s %s: '%.40s' is not a whole number of pixels >= 0",
                               opt, given, v);
    } else if (parse_int(v, 1, 4096, &l)) {
        return usage_error(err, cap, "%s %s: '%.40s' is not a whole number from 1 to 4096", opt,
                           given, v);
    }
    return 0;
}

/* ---- options --------------------------------------------------------------------------- */

enum { FOR_INFO = 1, FOR_RUN = 2 };
typedef enum opt_id {
    OPT_MODULE, OPT_RECIPE, OPT_OUT, OPT_THREADS, OPT_SET, OPT_ROI, OPT_MASK, OPT_RANGE,
    OPT_QUIET, OPT_VERBOSE, OPT_HELP, OPT_JSONL, OPT_CSV, OPT_EXCLUDE, OPT_HEAT_FLOOR, OPT_FONT,
    OPT_VERSION
} opt_id;
static const struct {
    const char *name;
    char short_name;
    int takes_value;
    int commands;
    opt_id id;
} options[] = {
    {"module", 0, 1, FOR_INFO | FOR_RUN, OPT_MODULE},
    {"recipe", 0, 1, FOR_INFO | FOR_RUN, OPT_RECIPE},
    {"out", 0, 1, FOR_RUN, OPT_OUT},
    {"threads", 0, 1, FOR_RUN, OPT_THREADS},
    {"set", 0, 1, FOR_RUN, OPT_SET},
    {"roi", 0, 1, FOR_RUN, OPT_ROI},
    {"mask", 0, 1, FOR_RUN, OPT_MASK},
    {"range", 0, 1, FOR_RUN, OPT_RANGE},
    {"jsonl", 0, 0, FOR_RUN, OPT_JSONL},
    {"csv", 0, 1, FOR_RUN, OPT_CSV},
    {"exclude", 0, 1, FOR_RUN, OPT_EXCLUDE},
    {"heat-floor", 0, 1, FOR_RUN, OPT_HEAT_FLOOR},
    {"font", 0, 1, FOR_RUN, OPT_FONT},
    {"quiet", 'q', 0, FOR_RUN, OPT_QUIET},
    {"verbose", 'v', 0, FOR_INFO | FOR_RUN, OPT_VERBOSE},
    {"help", 'h', 0, FOR_INFO | FOR_RUN, OPT_HELP},
    {"version", 0, 0, FOR_INFO | FOR_RUN, OPT_VERSION},
};

/* Finds the option arg names ("--name", "--name=value" or "-c"); *value gets the inline value
 * or NULL. Returns its index or -1. */
static int find_option(const char *arg, const char **value)
{
    *value = NULL;
    for (size_t i = 0; i < COUNT(options); i++) {
        if (arg[1] != '-') {
            if (options[i].short_name && arg[1] == options[i].short_name && arg[2] == '\0')
                return (int)i;
            continue;
        }
        size_t n = strlen(options[i].name);
        if (strncmp(arg + 2, options[i].name, n) != 0)
            continue;
        if (arg[2 + n] == '\0')
            return (int)i;
        if (arg[2 + n] == '=') {
            *value = arg + 3 + n;
            return (int)i;
        }
    }
    return -1;
}

/* Applies option `id` with its value to *c. */
static int apply_option(insp_cli *c, opt_id id, const char *opt, const char *v, char *err, size_t cap)
{
    long l;
    char why[160];
    switch (id) {
    case OPT_MODULE: c->module = v; break;
    case OPT_RECIPE: c->recipe = v; break;
    case OPT_OUT: c->out_dir = v; break;
    case OPT_MASK: c->mask = v; break;
    case OPT_CSV: c->csv = v; break;
    case OPT_FONT: c->font = v; break;
    case OPT_JSONL: c->jsonl = 1; break;
    case OPT_THREADS:
        if (parse_int(v, 1, 4096, &l))
            return usage_error(err, cap, "%s needs a whole number from 1 to 4096, got '%.40s'", opt, v);
        c->threads = (int)l;
        break;
    case OPT_SET:
        if (c->n_params >= INSP_CLI_MAX_PARAMS)
            return usage_error(err, cap, "more than %d --set options", INSP_CLI_MAX_PARAMS);
        if (parse_param(opt, v, &c->params[c->n_params], err, cap))
            return -1;
        c->n_params++;
        break;
    case OPT_EXCLUDE:
        if (c->n_excludes >= INSP_CLI_MAX_EXCLUDES)
            return usage_error(err, cap, "more than %d --exclude options", INSP_CLI_MAX_EXCLUDES);
        if (!v[0])
            return usage_error(err, cap, "%s needs a pattern", opt);
        c->excludes[c->n_excludes++] = v;
        break;
    case OPT_ROI:
        if (parse_roi(v, c->roi))
            return usage_error(err, cap, "%s needs X,Y,W,H (X,Y >= 0; W,H >= 1), got '%.60s'", opt, v);
        c->has_roi = 1;
        break;
    case OPT_RANGE:
        if (parse_range(v, c->range, why, sizeof why))
            return usage_error(err, cap, "%s needs LO:HI with HI > LO, got '%.60s': %s", opt, v, why);
        c->has_range = 1;
        break;
    case OPT_HEAT_FLOOR:
        if (parse_float32(v, &c->heat_floor) || c->heat_floor < 0)
            return usage_error(err, cap, "%s needs a decimal number >= 0 (anomaly-map units), "
                               "got '%.40s'", opt, v);
        c->has_heat_floor = 1;
        break;
    case OPT_QUIET: c->quiet = 1; break;
    case OPT_VERBOSE: c->verbose = 1; break;
    case OPT_HELP: c->command = INSP_CMD_HELP; break;
    case OPT_VERSION: c->command = INSP_CMD_VERSION; break;
    }
    return 0;
}

/* Whether a path names a recipe rather than an image or a plugin (by its extension). */
static int looks_like_recipe(const char *path)
{
    size_t n = strlen(path);
    return (n > 5 && strcmp(path + n - 5, ".yaml") == 0) || (n > 4 && strcmp(path + n - 4, ".yml") == 0);
}

int insp_cli_parse(int argc, char *const argv[], insp_cli *out, char *err, size_t err_cap)
{
    memset(out, 0, sizeof *out);
    if (err && err_cap > 0)
        err[0] = '\0';
    if (argc < 2)
        return usage_error(err, err_cap, "no command (expected run or info)");
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        out->command = INSP_CMD_HELP;
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        out->command = INSP_CMD_VERSION;
        return 0;
    }
    int mode;
    if (strcmp(cmd, "info") == 0) {
        out->command = INSP_CMD_INFO;
        mode = FOR_INFO;
    } else if (strcmp(cmd, "run") == 0) {
        out->command = INSP_CMD_RUN;
        mode = FOR_RUN;
    } else {
        return usage_error(err, err_cap, "unknown command '%.80s' (expected run or info)", cmd);
    }

    out->images = malloc(sizeof *out->images * (size_t)argc);   /* owned by *out */
    if (!out->images)
        return usage_error(err, err_cap, "out of memory");
    int positional_only = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (positional_only || a[0] != '-' || a[1] == '\0') {
            out->images[out->n_images++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            positional_only = 1;
            continue;
        }
        const char *v;
        int k = find_option(a, &v);
        if (k < 0 || !(options[k].commands & mode)) {
            insp_cli_free(out);
            return usage_error(err, err_cap, "%s: unknown option '%.80s'", cmd, a);
        }
        if (options[k].takes_value && !v) {
            if (i + 1 >= argc) {
                insp_cli_free(out);
                return usage_error(err, err_cap, "%s: %s needs a value", cmd, a);
            }
            v = argv[++i];
        } else if (!options[k].takes_value && v) {
            insp_cli_free(out);
            return usage_error(err, err_cap, "%s: %s takes no value", cmd, a);
        }
        if (apply_option(out, options[k].id, a, v, err, err_cap)) {
            insp_cli_free(out);
            return -1;
        }
    }
    if (out->command == INSP_CMD_HELP || out->command == INSP_CMD_VERSION) {
        out->n_images = 0;
        return 0;
    }
    if (out->command == INSP_CMD_INFO) {
        /* `insp info MODULE.so`: the one positional is the module. */
        if (out->n_images > 1 || (out->n_images == 1 && out->module)) {
            usage_error(err, err_cap, "info: takes one module path, got extra '%.80s'",
                        out->images[out->n_images - 1]);
            insp_cli_free(out);
            return -1;
        }
        if (out->n_images == 1 && looks_like_recipe(out->images[0])) {
            usage_error(err, err_cap, "info: %.200s is a recipe, not a plugin; type: insp info "
                        "--recipe %.200s", out->images[0], out->images[0]);
            insp_cli_free(out);
            return -1;
        }
        if (out->n_images == 1)
            out->module = out->images[0];
        out->n_images = 0;
        return 0;
    }
    if (!out->recipe) {
        for (int i = 0; i < out->n_images; i++)
            if (looks_like_recipe(out->images[i])) {
                usage_error(err, err_cap, "run: --recipe is required; did you mean --recipe "
                            "%.200s?", out->images[i]);
                insp_cli_free(out);
                return -1;
            }
        insp_cli_free(out);
        return usage_error(err, err_cap, "run: --recipe is required");
    }
    if (out->n_images == 0) {
        insp_cli_free(out);
        return usage_error(err, err_cap, "run: no images given");
    }
    if (out->jsonl && out->csv && strcmp(out->csv, "-") == 0) {
        insp_cli_free(out);
        return usage_error(err, err_cap, "run: --jsonl and --csv - both want stdout; give --csv a file");
    }
    return 0;
}

void insp_cli_free(insp_cli *cli)
{
    if (!cli)
        return;
    free(cli->images);
    cli->images = NULL;
    cli->n_images = 0;
}
