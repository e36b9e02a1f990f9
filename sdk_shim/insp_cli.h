/* Command line of the insp reference host: parsing into a plain struct (testable without
 * running anything), the help text, and the documented exit codes. */
#ifndef INSP_CLI_H
#define INSP_CLI_H

#include <stddef.h>
#include <stdio.h>

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

/* All strings are borrowed from argv. */
typedef struct insp_cli {
    insp_command command;
    const char *module;       /* NULL = libdapo_inspect.so next to the insp binary */
    const char *recipe;       /* NULL = none (required by run) */
    const char *out_dir;      /* NULL = write no files */
    const char *mask;         /* 8-bit mask image, NULL = none */
    int threads;              /* 0 = the recipe's value */
    int quiet, verbose;
    int has_roi;
    int roi[4];               /* x, y, w, h */
    int has_range;
    float range[2];           /* value_min, value_max */
    int n_params;
    const char *params[INSP_CLI_MAX_PARAMS];   /* "key=value" */
    int n_images;
    const char **images;      /* owned array (malloc) of n_images argv pointers */
} insp_cli;

/* Parses argv[1..argc) into *out (release with insp_cli_free). Returns 0, or -1 with a one-line
 * message in err (caller-owned, NUL-terminated when err_cap > 0): a usage error. */
int insp_cli_parse(int argc, char *const argv[], insp_cli *out, char *err, size_t err_cap);
void insp_cli_free(insp_cli *cli);

/* The --help text, including the exit codes. */
void insp_cli_usage(FILE *f);

#endif
