/* The images of one `insp run`: files and folders from the command line expanded into a sorted
 * list, each with the name its results get under --out. */
#ifndef INSP_INPUTS_H
#define INSP_INPUTS_H

#include <stddef.h>

typedef struct insp_input {
    char *path;    /* owned: the file to read (as given, or joined below a given folder) */
    char *name;    /* owned: results name, the path relative to the deepest folder holding every
                      input, extension kept ("crack/000.png"); never empty, never "..". */
} insp_input;

typedef struct insp_inputs {
    insp_input *items;    /* owned, count entries, in command-line order; folders expanded in
                             sorted (byte-wise) order, recursively */
    int count;
    int duplicates;       /* inputs dropped because the same file was already listed */
    int skipped;          /* folder entries skipped: --exclude, no image extension, not a
                             regular file */
} insp_inputs;

/* Names of the run's own files under --out; no image's results may take them. */
#define INSP_SUMMARY_JSON "summary.json"
#define INSP_SUMMARY_CSV "summary.csv"

/* Suffixes of the per-image results (appended to insp_input.name). */
extern const char *const insp_result_suffixes[4];   /* .json .overlay.png .anomaly.tif .labels.tif */

/* Expands args (files or folders; borrowed) into *out (release with insp_inputs_free).
 * Folders are searched recursively for *.png *.tif *.tiff *.jpg *.jpeg *.bmp (any case); a
 * file inside a folder is skipped when an exclude glob (fnmatch, '*' also crosses '/')
 * matches its path relative to that folder or its file name. Symbolic links to files are
 * followed, to folders not. A path that is not a folder is taken as given (reading reports
 * what is wrong with it). Returns 0, or -1 with a message in err: a folder without images or
 * unreadable, or two inputs whose results would take the same name (only possible with names
 * that differ from a run file or a folder only by a results suffix). */
int insp_inputs_collect(const char *const *args, int n_args, const char *const *excludes,
                        int n_excludes, insp_inputs *out, char *err, size_t err_cap);
void insp_inputs_free(insp_inputs *in);

/* Whether path ends in one of the image extensions above (any case). */
int insp_is_image_name(const char *path);

#endif
