/* Command line of the insp reference host: parsing into a plain struct (testable without
 * running anything), the help text, and the documented exit codes. */
#ifndef INSP_CLI_H
#define INSP_CLI_H

#include <stddef.h>
#include <stdio.h>

/* Version of the insp reference host (the plugin reports its own). */
#define INSP_HOST_VERSION "0.2.0"

/* Exit codes of insp; when several apply the highest-priority one wins: 2, 3, 4, 1, 0. */
enum {
    INSP_EXIT_OK = 0,      /* every image processed, all OK */
    INSP_EXIT_NG = 1,      /* every image processed, at least one NG (or UNSURE) */
    INSP_EXIT_USAGE = 2,   /* bad command line, or a --set/--threads value the plugin rejected */
    INSP_EXIT_SETUP = 3,   /* module, recipe, tool or output directory unusable: nothing ran */
    INSP_EXIT_IMAGE = 4    /* at least one image could not be read, processed or written */
};

typedef enum insp_command {
    INSP_CMD_HELP = 1,
    INSP_CMD_VERSION,
    INSP_CMD_INFO,
    INSP_CMD_RUN
} insp_command;

#define INSP_CLI_MAX_PARAMS 64
#define INSP_CLI_MAX_EXCLUDES 32
/* Longest parameter name accepted on the command line (bytes). */
#define INSP_CLI_MAX_KEY 64

/* One --set KEY=VALUE. The key is the plugin's runtime name: a recipe name given on the
 * command line (thresholds.image, thresholds.pixel, thresholds.min_region_area, threads) is
 * mapped to it here. */
typedef struct insp_param {
    char key[INSP_CLI_MAX_KEY + 1];
    const char *value;        /* borrowed from argv */
    const char *arg;          /* the argument as given, borrowed from argv */
    int standard;             /* a standard key of insp_tool.h, value already checked here */
} insp_param;

/* All strings are borrowed from argv unless noted. */
typedef struct insp_cli {
    insp_command command;
    const char *module;       /* NULL = libdapo_inspect.so next to the insp binary */
    const char *recipe;       /* NULL = none (required by run) */
    const char *out_dir;      /* NULL = write no files */
    const char *mask;         /* 8-bit mask image, NULL = none */
    const char *csv;          /* CSV summary path, "-" = stdout, NULL = none (--out writes one) */
    const char *font;         /* TrueType/OpenType font for overlays, NULL = search */
    int jsonl;                /* JSON Lines on stdout */
    int threads;              /* 0 = the recipe's value */
    int quiet, verbose;
    int has_roi;
    int roi[4];               /* x, y, w, h */
    int has_range;
    float range[2];           /* value_min, value_max */
    int has_heat_floor;
    float heat_floor;         /* anomaly-map value below which no heat is drawn */
    int n_params;
    insp_param params[INSP_CLI_MAX_PARAMS];
    int n_excludes;
    const char *excludes[INSP_CLI_MAX_EXCLUDES];  /* glob patterns for folder input */
    int n_images;
    const char **images;      /* owned array (malloc) of n_images argv pointers */
} insp_cli;

/* Parses argv[1..argc) into *out (release with insp_cli_free). Returns 0, or -1 with a one-line
 * message in err (caller-owned, NUL-terminated when err_cap > 0): a usage error. */
int insp_cli_parse(int argc, char *const argv[], insp_cli *out, char *err, size_t err_cap);
void insp_cli_free(insp_cli *cli);

/* The runtime parameter name for a name given on the command line: the name itself, or the
 * plugin's name for a recipe key (thresholds.image -> image_threshold, ...). Static string or
 * `name` itself. */
const char *insp_cli_param_name(const char *name);

/* The known parameter name nearest to `name` (edit distance <= 2), or NULL. */
const char *insp_cli_param_suggestion(const char *name);

/* The --help text, including the exit codes. */
void insp_cli_usage(FILE *f);

#endif
