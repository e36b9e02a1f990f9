/* Recipe reading and line-preserving rewriting for the calibration command (see recipe_text.h). */
#include "recipe_text.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

/* ---------- a growable string ---------- */

typedef struct sbuf { char *s; size_t n, cap; int oom; } sbuf;

static void sb_addn(sbuf *b, const char *t, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = (b->n + n + 1) * 2;
        char *p = realloc(b->s, nc);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = nc;
    }
    memcpy(b->s + b->n, t, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void sb_add(sbuf *b, const char *t) { sb_addn(b, t, strlen(t)); }

static void sb_fmt(sbuf *b, const char *f, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(sbuf *b, const char *f, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(tmp, sizeof tmp, f, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        sb_addn(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = 1;
        return;
    }
    va_start(ap, f);
    vsnprintf(big, (size_t)n + 1, f, ap);
    va_end(ap);
    sb_addn(b, big, (size_t)n);
    free(big);
}

/* YAML double-quoted text. */
static void sb_quoted(sbuf *b, const char *t)
{
    sb_add(b, "\"");
    for (; *t; t++) {
        if (*t == '"' || *t == '\\')
            sb_add(b, "\\");
        sb_addn(b, t, 1);
    }
    sb_add(b, "\"");
}

/* ---------- reading ---------- */

static const char *scalar(yaml_document_t *d, yaml_node_t *n)
{
    (void)d;
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static yaml_node_t *get(yaml_document_t *d, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const char *k = scalar(d, yaml_document_get_node(d, p->key));
        if (k && strcmp(k, key) == 0)
            return yaml_document_get_node(d, p->value);
    }
    return NULL;
}

static char *resolve(const char *dir, const char *p)
{
    if (!p)
        return NULL;
    char *out;
    if (p[0] == '/')
        return strdup(p);
    size_t n = strlen(dir) + strlen(p) + 2;
    out = malloc(n);
    if (out)
        snprintf(out, n, "%s/%s", dir, p);
    return out;
}

/* Canonical text of a node, for the cache key. */
static void canon(sbuf *b, yaml_document_t *d, yaml_node_t *n, int depth)
{
    if (!n || depth > 16)
        return;
    if (n->type == YAML_SCALAR_NODE) {
        sb_quoted(b, (const char *)n->data.scalar.value);
    } else if (n->type == YAML_SEQUENCE_NODE) {
        sb_add(b, "[");
        for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
            canon(b, d, yaml_document_get_node(d, *i), depth + 1);
            sb_add(b, ",");
        }
        sb_add(b, "]");
    } else if (n->type == YAML_MAPPING_NODE) {
        sb_add(b, "{");
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
            canon(b, d, yaml_document_get_node(d, p->key), depth + 1);
            sb_add(b, ":");
            canon(b, d, yaml_document_get_node(d, p->value), depth + 1);
            sb_add(b, ";");
        }
        sb_add(b, "}");
    }
}

static int fail(char *err, size_t cap, const char *f, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(err, cap, f, ap);
    va_end(ap);
    return -1;
}

static int has_alias_or_anchor(const char *text, size_t len)
{
    yaml_parser_t p;
    yaml_event_t e;
    int found = 0;
    if (!yaml_parser_initialize(&p))
        return 0;
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    for (;;) {
        if (!yaml_parser_parse(&p, &e))
            break;
        int type = e.type;
        if (type == YAML_ALIAS_EVENT ||
            (type == YAML_SCALAR_EVENT && e.data.scalar.anchor) ||
            (type == YAML_MAPPING_START_EVENT && e.data.mapping_start.anchor) ||
            (type == YAML_SEQUENCE_START_EVENT && e.data.sequence_start.anchor))
            found = 1;
        yaml_event_delete(&e);
        if (type == YAML_STREAM_END_EVENT)
            break;
    }
    yaml_parser_delete(&p);
    return found;
}

static int cmp_span(const void *a, const void *b)
{
    return ((const rt_span *)a)->line0 - ((const rt_span *)b)->line0;
}

static int blank_or_comment(const char *l)
{
    while (*l == ' ' || *l == '\t')
        l++;
    return !*l || *l == '#';
}

int rt_load(const char *path, rt_recipe *r, char *err, size_t cap)
{
    memset(r, 0, sizeof *r);
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, cap, "%s: cannot open the recipe: %s", path, strerror(errno));
    sbuf text = { 0 };
    char buf[65536];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0 && text.n < (1u << 20) + 1)
        sb_addn(&text, buf, got);
    fclose(f);
    if (text.oom || !text.s) {
        free(text.s);
        return fail(err, cap, "%s: empty or unreadable recipe", path);
    }
    r->path = strdup(path);
    const char *sl = strrchr(path, '/');
    r->dir = sl ? strndup(path, sl == path ? 1 : (size_t)(sl - path)) : strdup(".");
    /* lines */
    int lcap = 64;
    r->lines = malloc((size_t)lcap * sizeof *r->lines);
    const char *s = text.s;
    if ((unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB && (unsigned char)s[2] == 0xBF)
        s += 3;
    while (r->lines && *s) {
        size_t n = strcspn(s, "\n");
        size_t m = n && s[n - 1] == '\r' ? n - 1 : n;
        if (r->n_lines == lcap) {
            lcap *= 2;
            char **nl = realloc(r->lines, (size_t)lcap * sizeof *nl);
            if (!nl)
                break;
            r->lines = nl;
        }
        r->lines[r->n_lines++] = strndup(s, m);
        s += n + (s[n] == '\n');
    }
    if (has_alias_or_anchor(text.s, text.n)) {
        free(text.s);
        return fail(err, cap, "%s: uses YAML anchors or aliases; the calibration writer keeps "
                    "recipes line by line and cannot edit those: expand them and run again", path);
    }
    yaml_parser_t p;
    yaml_document_t d;
    if (!yaml_parser_initialize(&p)) {
        free(text.s);
        return fail(err, cap, "out of memory");
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text.s, text.n);
    if (!yaml_parser_load(&p, &d)) {
        int rc = fail(err, cap, "%s:%zu:%zu: YAML syntax error: %s", path, p.problem_mark.line + 1,
                      p.problem_mark.column + 1, p.problem ? p.problem : "?");
        yaml_parser_delete(&p);
        free(text.s);
        return rc;
    }
    yaml_parser_delete(&p);
    free(text.s);
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&d);
    if (!root || root->type != YAML_MAPPING_NODE || root->data.mapping.style == YAML_FLOW_MAPPING_STYLE) {
        rc = fail(err, cap, "%s: the top level is not a block mapping of recipe keys", path);
        goto out;
    }
    size_t col = (size_t)-1;
    sbuf cb = { 0 };
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(&d, pr->key), *v = yaml_document_get_node(&d, pr->value);
        const char *key = scalar(&d, k);
        if (!key)
            continue;
        if (col == (size_t)-1)
            col = k->start_mark.column;
        if (k->start_mark.column != col || r->n_spans == 16) {
            rc = fail(err, cap, "%s:%zu: top-level keys are not in one column; cannot edit this "
                      "recipe line by line", path, k->start_mark.line + 1);
            free(cb.s);
            goto out;
        }
        rt_span *sp = &r->spans[r->n_spans++];
        snprintf(sp->key, sizeof sp->key, "%s", key);
        sp->line0 = (int)k->start_mark.line;
        if (!strcmp(key, "thresholds") || !strcmp(key, "threads") || !strcmp(key, "model") ||
            !strcmp(key, "product") || !strcmp(key, "text_cache"))
            ;   /* not part of the cache key (text_cache: where features are kept, not which) */
        else if (!strcmp(key, "defects") && v && v->type == YAML_SEQUENCE_NODE) {
            sb_add(&cb, "defects:[");
            for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
                yaml_node_t *e = yaml_document_get_node(&d, *i);
                const char *name = scalar(&d, e) ? scalar(&d, e) : scalar(&d, get(&d, e, "name"));
                if (name)
                    sb_quoted(&cb, name);
                sb_add(&cb, ",");
            }
            sb_add(&cb, "];");
        } else {
            sb_fmt(&cb, "%s:", key);
            canon(&cb, &d, v, 0);
            sb_add(&cb, ";");
        }
        if (!strcmp(key, "product") && scalar(&d, v))
            r->product = strdup(scalar(&d, v));
        if (!strcmp(key, "model")) {
            const char *c = scalar(&d, get(&d, v, "clip")), *dp = scalar(&d, get(&d, v, "dapo"));
            const char *vo = scalar(&d, get(&d, v, "vocabulary"));
            r->clip = c ? strdup(c) : NULL;
            r->dapo = dp ? strdup(dp) : NULL;
            r->vocab = vo ? strdup(vo) : NULL;
        }
        if (!strcmp(key, "defects") && v && v->type == YAML_SEQUENCE_NODE)
            for (yaml_node_item_t *i = v->data.sequence.items.start;
                 i < v->data.sequence.items.top && r->n_defects < RT_MAX_DEFECTS; i++) {
                yaml_node_t *e = yaml_document_get_node(&d, *i);
                const char *name = scalar(&d, e) ? scalar(&d, e) : scalar(&d, get(&d, e, "name"));
                const char *thr = scalar(&d, get(&d, e, "pixel_threshold"));
                r->defects[r->n_defects] = strdup(name ? name : "");
                r->defect_thr[r->n_defects] = thr ? (float)strtod(thr, NULL) : -1.0f;
                r->n_defects++;
            }
        if (!strcmp(key, "thresholds")) {
            r->has_thresholds = 1;
            const char *im = scalar(&d, get(&d, v, "image")), *px = scalar(&d, get(&d, v, "pixel"));
            const char *ar = scalar(&d, get(&d, v, "min_region_area"));
            if (im)
                r->image_thr = (float)strtod(im, NULL);
            if (px)
                r->pixel_thr = (float)strtod(px, NULL);
            if (ar)
                r->min_area = (int)strtol(ar, NULL, 10);
        }
    }
    if (!r->has_thresholds || r->image_thr <= 0)
        r->image_thr = r->image_thr > 0 ? r->image_thr : 0.5f;
    if (r->pixel_thr <= 0)
        r->pixel_thr = 2.0f;
    r->canon = cb.s ? cb.s : strdup("");
    if (!r->product)
        r->product = strdup("");
    if (!r->clip || !r->dapo || r->n_defects == 0) {
        rc = fail(err, cap, "%s: no model.clip, model.dapo or defects; the plugin will say more "
                  "(run insp info)", path);
        goto out;
    }
    r->clip_path = resolve(r->dir, r->clip);
    r->dapo_path = resolve(r->dir, r->dapo);
    if (r->vocab) {
        r->vocab_path = resolve(r->dir, r->vocab);
    } else {
        /* the plugin's default: the BPE file next to the CLIP weights */
        const char *cs = strrchr(r->clip_path, '/');
        size_t dn = cs ? (size_t)(cs - r->clip_path) : 1;
        r->vocab_path = malloc(dn + 40);
        if (r->vocab_path)
            snprintf(r->vocab_path, dn + 40, "%.*s/bpe_simple_vocab_16e6.txt.gz", (int)dn,
                     cs ? r->clip_path : ".");
    }
    /* line spans: from a key to the line before the next key, less trailing comments/blanks */
    qsort(r->spans, (size_t)r->n_spans, sizeof r->spans[0], cmp_span);
    for (int i = 0; i < r->n_spans; i++) {
        int end = i + 1 < r->n_spans ? r->spans[i + 1].line0 - 1 : r->n_lines - 1;
        while (end > r->spans[i].line0 && blank_or_comment(r->lines[end]))
            end--;
        r->spans[i].line1 = end;
    }
out:
    yaml_document_delete(&d);
    if (rc)
        rt_free(r);
    return rc;
}

void rt_free(rt_recipe *r)
{
    for (int i = 0; i < r->n_lines; i++)
        free(r->lines[i]);
    free(r->lines);
    for (int i = 0; i < r->n_defects; i++)
        free(r->defects[i]);
    free(r->path), free(r->dir), free(r->product), free(r->clip), free(r->dapo), free(r->vocab);
    free(r->clip_path), free(r->dapo_path), free(r->vocab_path), free(r->canon);
    memset(r, 0, sizeof *r);
}

/* ---------- writing ---------- */

/* Shortest exact decimal of a float that reads back as the same float. */
static void float_text(float v, char out[32])
{
    for (int prec = 4; prec <= 9; prec++) {
        snprintf(out, 32, "%.*g", prec, (double)v);
        if ((float)strtod(out, NULL) == v)
            return;
    }
}

/* A model path for the new file: as written when the folder stays, else re-expressed. */
static void model_path(sbuf *b, const rt_recipe *r, const rt_changes *c, const char *written)
{
    if (written[0] == '/' || (!c->out_dir && !c->absolute_models)) {
        sb_quoted(b, written);
        return;
    }
    char *abs = resolve(r->dir, written), real_dir[PATH_MAX], real_file[PATH_MAX];
    const char *use = abs;
    char rel[PATH_MAX * 2];
    if (abs && realpath(abs, real_file)) {
        use = real_file;
        if (!c->absolute_models && c->out_dir && realpath(c->out_dir, real_dir)) {
            /* common folder prefix, then one ../ per remaining folder of out_dir */
            size_t i = 0, last = 0;
            while (real_dir[i] && real_dir[i] == real_file[i]) {
                if (real_dir[i] == '/')
                    last = i;
                i++;
            }
            if (!real_dir[i] && real_file[i] == '/')
                last = i;
            rel[0] = 0;
            const char *rest = real_dir + last;
            for (const char *q = rest; *q; q++)
                if (*q == '/')
                    strcat(rel, "../");
            if (strlen(rel) + strlen(real_file + last + 1) < sizeof rel) {
                strcat(rel, real_file + last + 1);
                use = rel;
            }
        }
    }
    sb_quoted(b, use ? use : written);
    free(abs);
}

static void render_model(sbuf *b, const rt_recipe *r, const rt_changes *c)
{
    sb_add(b, "model:\n  clip: ");
    model_path(b, r, c, r->clip);
    sb_add(b, "\n  dapo: ");
    model_path(b, r, c, r->dapo);
    sb_add(b, "\n");
    if (r->vocab || c->absolute_models) {
        sb_add(b, "  vocabulary: ");
        if (r->vocab)
            model_path(b, r, c, r->vocab);
        else
            sb_quoted(b, r->vocab_path);
        sb_add(b, "\n");
    }
}

static void render_defects(sbuf *b, const rt_recipe *r, const rt_changes *c)
{
    sb_add(b, "defects:\n");
    for (int i = 0; i < r->n_defects; i++) {
        if (c->defect_thr[i] > 0) {
            char t[32];
            float_text(c->defect_thr[i], t);
            sb_add(b, "  - name: ");
            sb_quoted(b, r->defects[i]);
            sb_fmt(b, "\n    pixel_threshold: %s\n", t);
        } else {
            sb_add(b, "  - ");
            sb_quoted(b, r->defects[i]);
            sb_add(b, "\n");
        }
    }
}

static void render_thresholds(sbuf *b, const rt_changes *c)
{
    char im[32], px[32];
    float_text(c->image_thr, im);
    float_text(c->pixel_thr, px);
    sb_fmt(b, "thresholds:\n  image: %s\n  pixel: %s\n  min_region_area: %d\n", im, px, c->min_area);
}

char *rt_render(const rt_recipe *r, const rt_changes *c)
{
    sbuf b = { 0 };
    if (c->comment) {
        const char *s = c->comment;
        while (*s) {
            size_t n = strcspn(s, "\n");
            sb_add(&b, n ? "# " : "#");
            sb_addn(&b, s, n);
            sb_add(&b, "\n");
            s += n + (s[n] == '\n');
        }
    }
    int wrote_thr = 0;
    for (int line = 0; line < r->n_lines;) {
        const rt_span *sp = NULL;
        for (int i = 0; i < r->n_spans; i++)
            if (r->spans[i].line0 == line)
                sp = &r->spans[i];
        if (sp && !strcmp(sp->key, "thresholds")) {
            render_thresholds(&b, c);
            wrote_thr = 1;
            line = sp->line1 + 1;
        } else if (sp && !strcmp(sp->key, "defects")) {
            render_defects(&b, r, c);
            line = sp->line1 + 1;
        } else if (sp && !strcmp(sp->key, "model") && (c->out_dir || c->absolute_models)) {
            render_model(&b, r, c);
            line = sp->line1 + 1;
        } else {
            sb_add(&b, r->lines[line]);
            sb_add(&b, "\n");
            line++;
        }
    }
    if (!wrote_thr)
        render_thresholds(&b, c);
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

int rt_write_new(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
        return -1;
    size_t n = strlen(text), off = 0;
    while (off < n) {
        ssize_t w = write(fd, text + off, n - off);
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(path);
            errno = e;
            return -1;
        }
        off += (size_t)w;
    }
    if (close(fd) != 0) {
        int e = errno;
        unlink(path);
        errno = e;
        return -1;
    }
    return 0;
}
