/* Opening input files (recipes, vocabularies, weights) without ever blocking on them. */
#ifndef DP_FILE_H
#define DP_FILE_H

#include <sys/stat.h>

#include "dp_error.h"

/* Opens path read-only with O_NONBLOCK (a FIFO or a device must not block tool creation),
 * checks with fstat that it is a regular file, and returns the descriptor (caller-owned,
 * close it) with *st filled (borrowed, may be NULL). On failure returns -1 and fails err with
 * DP_E_IO naming path, `what` (e.g. "the recipe") and the kind of file found ("a FIFO",
 * "a directory", ...). path, what: borrowed. */
int dp_open_regular(const char *path, const char *what, struct stat *st, dp_err *err);

/* "a FIFO", "a directory", "a character device", ... for a st_mode (static storage). */
const char *dp_file_kind(unsigned mode);

/* What identifies one version of a file on disk: device, inode, size and modification time
 * (nanoseconds). Replacing a file (new inode) or rewriting it (new mtime, usually a new size)
 * changes it. */
typedef struct dp_file_id {
    unsigned long long dev, ino;
    long long size, mtime_sec, mtime_nsec;
} dp_file_id;

/* Fills *id for path (following symbolic links). 0, or -1 with err failed (DP_E_IO) when the
 * file cannot be stat'ed. path: borrowed. */
int dp_file_identity(const char *path, dp_file_id *id, dp_err *err);

/* 1 when a and b are the same version of a file. */
int dp_file_id_same(const dp_file_id *a, const dp_file_id *b);

#endif
