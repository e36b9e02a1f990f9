/* A small streaming JSON writer for the CLI's result records: commas, nesting, indentation and
 * string escaping handled here, so callers only say what to write. Output is always valid
 * JSON in UTF-8, whatever bytes the caller passes and whatever the process locale is. */
#ifndef INSP_JSON_OUT_H
#define INSP_JSON_OUT_H

#include <stdio.h>

#define JSON_OUT_MAX_DEPTH 32

typedef struct json_out {
    FILE *f;                            /* borrowed; the caller opens and closes it */
    int depth;
    int count[JSON_OUT_MAX_DEPTH];      /* values written so far at each level */
    char kind[JSON_OUT_MAX_DEPTH];      /* '{' or '[' */
    int flat[JSON_OUT_MAX_DEPTH];    /* level written on one line even when pretty */
    int after_key;                      /* a key was written, its value comes next */
    int pretty;                         /* indent with two spaces per level */
    int failed;                         /* misuse (depth, keys/values out of place, mismatched ends) */
} json_out;

/* Starts a document on f (borrowed). pretty != 0 indents. */
void json_out_init(json_out *w, FILE *f, int pretty);

void json_out_begin_object(json_out *w);
void json_out_end_object(json_out *w);
void json_out_begin_array(json_out *w);
/* An array kept on one line in pretty mode, for short tuples such as [x, y, w, h]. */
void json_out_begin_array_inline(json_out *w);
/* An object kept on one line in pretty mode, for small records in a list. */
void json_out_begin_object_inline(json_out *w);
void json_out_end_array(json_out *w);
/* Writes an object key (escaped); the next call writes its value. */
void json_out_key(json_out *w, const char *key);

/* Values. A NULL string writes null. Invalid UTF-8 becomes U+FFFD. */
void json_out_string(json_out *w, const char *s);
/* Non-finite numbers write null (JSON has no NaN/Inf). float: 7 significant digits. */
void json_out_number(json_out *w, double v);
void json_out_float(json_out *w, float v);
void json_out_int(json_out *w, long long v);
void json_out_bool(json_out *w, int v);
void json_out_null(json_out *w);

/* Shorthands for "key": value inside an object. */
void json_out_kv_string(json_out *w, const char *key, const char *s);
void json_out_kv_float(json_out *w, const char *key, float v);
void json_out_kv_number(json_out *w, const char *key, double v);
void json_out_kv_int(json_out *w, const char *key, long long v);

/* Ends the document (newline) and reports: 0 if well-formed and written, -1 on misuse
 * or a write error of f. */
int json_out_finish(json_out *w);

/* Writes s as a quoted, escaped JSON string to f (borrowed). */
void json_out_escape(FILE *f, const char *s);

#endif
