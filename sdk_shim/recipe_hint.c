/* Hints and a caret for recipe messages with a line and column. */
#include "recipe_hint.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct { const char *problem, *hint; } hints[] = {
    {"mapping values are not allowed",
     "usually an unquoted value that contains ': ' (quote it: name: \"a: b\"), or a key "
     "indented deeper than the key above it"},
    {"did not find expected key",
     "usually a line indented differently from the keys beside it, or a list item '-' at the "
     "wrong indentation"},
    {"could not find expected ':'",
     "usually a key without ':' after it, or unquoted text continued on the next line"},
    {"found character that cannot start any token",
     "usually a tab used for indentation (YAML indents with spaces), or a value starting with "
     "'@' or '`' (quote it)"},
    {"block sequence entries are not allowed",
     "usually a list item '- x' on the same line as its key, or a list under a key that already "
     "has a value"},
    {"did not find expected '-' indicator",
     "usually a list item indented differently from the items before it"},
    {"found undefined alias", "a '*name' without an earlier '&name'; quote text that starts with '*'"},
    {"found unexpected end of stream", "usually an unclosed quote, '[' or '{'"},
    {"did not find expected ',' or ']'", "usually a missing ',' or ']' in a [a, b] list, or ': ' "
     "inside an unquoted list item"},
    {"did not find expected ',' or '}'", "usually a missing ',' or '}' in a { k: v } mapping"},
    {"found a tab character", "YAML indents with spaces only: replace the tab"},
    {"could not find expected", "usually an unclosed quote or bracket, or wrong indentation"},
};

const char *insp_yaml_problem_hint(const char *problem)
{
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++)
        if (strstr(problem, hints[i].problem))
            return hints[i].hint;
    return NULL;
}

/* Finds "PATH:LINE:COL:" at the start of msg for PATH == recipe_path. */
static int line_col(const char *recipe_path, const char *msg, long *line, long *col)
{
    size_t n = strlen(recipe_path);
    if (strncmp(msg, recipe_path, n) != 0 || msg[n] != ':')
        return -1;
    char *end;
    *line = strtol(msg + n + 1, &end, 10);
    if (end == msg + n + 1 || *end != ':')
        return -1;
    const char *p = end + 1;
    *col = strtol(p, &end, 10);
    if (end == p || *end != ':' || *line < 1 || *col < 1)
        return -1;
    return 0;
}

/* Line `line` (1-based) of the recipe into buf, or -1. */
static int read_line(const char *path, long line, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (1 << 20)) {
        close(fd);
        return -1;
    }
    char *text = malloc((size_t)st.st_size + 1);
    ssize_t got = text ? read(fd, text, (size_t)st.st_size) : -1;
    close(fd);
    if (got < 0) {
        free(text);
        return -1;
    }
    text[got] = '\0';
    const char *p = text;
    for (long l = 1; l < line && p; l++) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    int rc = -1;
    if (p && (*p || line == 1)) {
        size_t k = strcspn(p, "\r\n");
        if (k >= cap)
            k = cap - 1;
        memcpy(buf, p, k);
        buf[k] = '\0';
        rc = 0;
    }
    free(text);
    return rc;
}

int insp_recipe_hint(const char *recipe_path, const char *msg, char *out, size_t cap)
{
    if (cap)
        out[0] = '\0';
    long line, col;
    if (!recipe_path || !msg || line_col(recipe_path, msg, &line, &col) != 0)
        return -1;
    size_t used = 0;
    const char *syntax = strstr(msg, "YAML syntax error: ");
    const char *hint = syntax ? insp_yaml_problem_hint(syntax + 19) : NULL;
    if (hint)
        used += (size_t)snprintf(out + used, cap - used, "insp: hint: %s\n", hint);
    char text[4096];
    if (used < cap && read_line(recipe_path, line, text, sizeof text) == 0) {
        /* show control characters (tabs!) as a visible mark, one column each */
        char shown[4096 * 3 + 1];
        size_t k = 0;
        long chars = 0, caret = -1;
        for (const unsigned char *s = (const unsigned char *)text; *s && k + 4 < sizeof shown; s++) {
            if ((*s & 0xC0) != 0x80) {
                chars++;
                if (chars == col)
                    caret = chars - 1;
            }
            if (*s == '\t') {
                memcpy(shown + k, "\xe2\x86\x92", 3);   /* → */
                k += 3;
            } else if (*s < 0x20 || *s == 0x7F) {
                shown[k++] = '?';
            } else {
                shown[k++] = (char)*s;
            }
        }
        shown[k] = '\0';
        if (caret < 0)
            caret = chars;   /* the end of the line */
        int w = snprintf(out + used, cap - used, "  %5ld | %s\n        | %*s^\n", line, shown,
                         (int)(caret > 1000 ? 1000 : caret), "");
        if (w > 0)
            used += (size_t)w < cap - used ? (size_t)w : cap - used - 1;
    }
    return used ? 0 : -1;
}
