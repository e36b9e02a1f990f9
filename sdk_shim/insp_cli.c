/* insp command-line parsing and help text. */
#include "insp_cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "insp_tool.h"

void insp_cli_usage(FILE *f)
{
    fprintf(f,
"usage: insp info [MODULE.so] [--module MODULE.so] [--recipe RECIPE.yaml]\n"
"       insp run [options] --recipe RECIPE.yaml IMAGE...\n"
"       insp --help | --version\n"
"\n"
"Reference host for inspection-tool plugins (ABI %d.%d).\n"
"\n"
"info   Loads the plugin and prints its id, version, ABI and capabilities; with --recipe also\n"
"       creates a tool and prints its classes, model facts and parameter schema.\n"
"run    Creates one tool from the recipe and inspects each IMAGE (PNG or TIFF; 8/16-bit or\n"
"       float; grey or RGB) in turn. Progress goes to stderr:\n"
"         [i/N] name: score=0.731 NG (123 ms)\n"
"\n"
"options:\n"
"  --module PATH    plugin shared object (default: $DAPO_INSPECT_PLUGIN, else\n"
"                   libdapo_inspect.so next to insp, else the installed plugin)\n"
"  --recipe PATH    product recipe (YAML)\n"
"  --out DIR        write per image: STEM_anomaly.tif (float anomaly map of the inspected\n"
"                   rectangle), STEM_labels.tif (16-bit defect type per pixel, 0 = none),\n"
"                   STEM_overlay.png (picture with heat map, defect boxes, legend, score) and\n"
"                   STEM.json; plus summary.json. STEM is the file name without extension;\n"
"                   a repeated stem gets _2, _3, ... appended. DIR is created if needed.\n"
"                   Without --out nothing is written.\n"
"  --threads N      worker threads inside the plugin (parameter num_threads)\n"
"  --set KEY=VALUE  set a tool parameter (repeatable), e.g. --set pixel_threshold=1.8;\n"
"                   'insp info --recipe R' lists the parameters\n"
"  --roi X,Y,W,H    inspect only this rectangle (pixels)\n"
"  --mask PATH      8-bit grey image of the same size; nonzero = inspect\n"
"  --range LO:HI    sample values shown as black and white (e.g. 0:4095 for 12-bit data in\n"
"                   16-bit files; default 0:255, 0:65535, 0:1 by sample type)\n"
"  -q, --quiet      no progress or summary on stderr (errors still appear)\n"
"  -v, --verbose    also show the plugin's debug log\n"
"  -h, --help       this text\n"
"\n"
"exit codes (the first that applies, in this order):\n"
"  2  usage error (also: a --set/--threads value the plugin rejected)\n"
"  3  module, recipe, tool or output directory unusable; no image was inspected\n"
"  4  at least one image could not be read, inspected or written (the others still ran)\n"
"  1  all images inspected, at least one NG\n"
"  0  all images inspected, all OK\n",
            INSP_ABI_MAJOR, INSP_ABI_MINOR);
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
static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

/* "X,Y,W,H" with X, Y >= 0 and W, H >= 1. */
static int parse_roi(const char *s, int roi[4])
{
    const char *p = s;
    for (int i = 0; i < 4; i++) {
        char *end;
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

/* "LO:HI", finite, HI > LO. */
static int parse_range(const char *s, float range[2])
{
    char *end;
    double lo = strtod(s, &end);
    if (end == s || *end != ':')
        return -1;
    const char *p = end + 1;
    double hi = strtod(p, &end);
    if (end == p || *end != '\0' || !isfinite(lo) || !isfinite(hi) || !(hi > lo))
        return -1;
    range[0] = (float)lo;
    range[1] = (float)hi;
    return 0;
}

enum { FOR_INFO = 1, FOR_RUN = 2 };
typedef enum opt_id {
    OPT_MODULE, OPT_RECIPE, OPT_OUT, OPT_THREADS, OPT_SET, OPT_ROI, OPT_MASK, OPT_RANGE,
    OPT_QUIET, OPT_VERBOSE, OPT_HELP
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
    {"quiet", 'q', 0, FOR_RUN, OPT_QUIET},
    {"verbose", 'v', 0, FOR_INFO | FOR_RUN, OPT_VERBOSE},
    {"help", 'h', 0, FOR_INFO | FOR_RUN, OPT_HELP},
};

/* Finds the option arg names ("--name", "--name=value" or "-c"); *value gets the inline value
 * or NULL. Returns its index or -1. */
static int find_option(const char *arg, const char **value)
{
    *value = NULL;
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
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
    switch (id) {
    case OPT_MODULE: c->module = v; break;
    case OPT_RECIPE: c->recipe = v; break;
    case OPT_OUT: c->out_dir = v; break;
    case OPT_MASK: c->mask = v; break;
    case OPT_THREADS:
        if (parse_int(v, 1, 4096, &c->threads))
            return usage_error(err, cap, "%s needs a whole number from 1 to 4096, got '%s'", opt, v);
        break;
    case OPT_SET:
        if (v[0] == '=' || !strchr(v, '='))
            return usage_error(err, cap, "%s needs KEY=VALUE, got '%s'", opt, v);
        if (c->n_params >= INSP_CLI_MAX_PARAMS)
            return usage_error(err, cap, "more than %d --set options", INSP_CLI_MAX_PARAMS);
        c->params[c->n_params++] = v;
        break;
    case OPT_ROI:
        if (parse_roi(v, c->roi))
            return usage_error(err, cap, "%s needs X,Y,W,H (X,Y >= 0; W,H >= 1), got '%s'", opt, v);
        c->has_roi = 1;
        break;
    case OPT_RANGE:
        if (parse_range(v, c->range))
            return usage_error(err, cap, "%s needs LO:HI with HI > LO, got '%s'", opt, v);
        c->has_range = 1;
        break;
    case OPT_QUIET: c->quiet = 1; break;
    case OPT_VERBOSE: c->verbose = 1; break;
    case OPT_HELP: c->command = INSP_CMD_HELP; break;
    }
    return 0;
}

int insp_cli_parse(int argc, char *const argv[], insp_cli *out, char *err, size_t err_cap)
{
    memset(out, 0, sizeof *out);
    if (err && err_cap > 0)
        err[0] = '\0';
    if (argc < 2)
        return usage_error(err, err_cap, "no command (expected info or run)");
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        out->command = INSP_CMD_HELP;
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
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
        return usage_error(err, err_cap, "unknown command '%s' (expected info or run)", cmd);
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
            return usage_error(err, err_cap, "%s: unknown option '%s'", cmd, a);
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
    if (out->command == INSP_CMD_HELP) {
        out->n_images = 0;
        return 0;
    }
    if (out->command == INSP_CMD_INFO) {
        /* `insp info MODULE.so`: the one positional is the module. */
        if (out->n_images > 1 || (out->n_images == 1 && out->module)) {
            usage_error(err, err_cap, "info: takes one module path, got extra '%s'",
                        out->images[out->n_images - 1]);
            insp_cli_free(out);
            return -1;
        }
        if (out->n_images == 1)
            out->module = out->images[0];
        out->n_images = 0;
        return 0;
    }
    if (!out->recipe) {
        insp_cli_free(out);
        return usage_error(err, err_cap, "run: --recipe is required");
    }
    if (out->n_images == 0) {
        insp_cli_free(out);
        return usage_error(err, err_cap, "run: no images given");
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
