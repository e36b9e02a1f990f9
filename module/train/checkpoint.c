/* Checkpoints as safetensors: parameters under their own names, Adam's moments as
 * "adam.m.<name>" / "adam.v.<name>", step counts and the position as metadata. */
#include "checkpoint.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

#define META_MAX 256

dp_status dp_checkpoint_save(const char *path, const dp_train_params *p, dp_adam *a,
                             const dp_train_position *pos, const dp_st_out *extra, int n_extra,
                             dp_err *err)
{
    int cap = 3 * p->n + n_extra;
    dp_st_out *o = calloc((size_t)cap, sizeof *o);
    char **names = calloc((size_t)2 * p->n, sizeof *names);
    /* metadata: 4 position entries + one step count per parameter, as key/value strings */
    int n_meta_cap = 4 + p->n;
    char (*kv)[META_MAX] = calloc((size_t)2 * n_meta_cap, META_MAX);
    const char **meta = calloc((size_t)2 * n_meta_cap, sizeof *meta);
    dp_status st = DP_OK;
    if (!o || !names || !kv || !meta) {
        st = dp_fail(err, DP_E_NOMEM, "%s: out of memory for the checkpoint", path);
        goto done;
    }
    int n = 0, m = 0;
    snprintf(kv[2 * m], META_MAX, "epoch");
    snprintf(kv[2 * m + 1], META_MAX, "%" PRId64, pos->epoch);
    m++;
    snprintf(kv[2 * m], META_MAX, "step_in_epoch");
    snprintf(kv[2 * m + 1], META_MAX, "%" PRId64, pos->step_in_epoch);
    m++;
    snprintf(kv[2 * m], META_MAX, "global_step");
    snprintf(kv[2 * m + 1], META_MAX, "%" PRId64, pos->global_step);
    m++;
    snprintf(kv[2 * m], META_MAX, "fingerprint");
    snprintf(kv[2 * m + 1], META_MAX, "%s", pos->fingerprint);
    m++;
    for (int i = 0; i < p->n; i++) {
        const dp_train_tensor *t = &p->t[i];
        o[n].name = t->name;
        o[n].ndim = t->ndim;
        memcpy(o[n].shape, t->shape, sizeof o[n].shape);
        o[n++].data = t->value;
        int64_t step;
        float *mm, *vv;
        dp_adam_state(a, i, &step, &mm, &vv);
        if (step <= 0)
            continue;
        snprintf(kv[2 * m], META_MAX, "adam.step.%s", t->name);
        snprintf(kv[2 * m + 1], META_MAX, "%" PRId64, step);
        m++;
        size_t len = strlen(t->name) + 8;
        names[2 * i] = malloc(len);
        names[2 * i + 1] = malloc(len);
        if (names[2 * i])
            snprintf(names[2 * i], len, "adam.m.%s", t->name);
        if (names[2 * i + 1])
            snprintf(names[2 * i + 1], len, "adam.v.%s", t->name);
        if (!names[2 * i] || !names[2 * i + 1]) {
            st = dp_fail(err, DP_E_NOMEM, "%s: out of memory", path);
            goto done;
        }
        o[n] = o[n - 1];
        o[n].name = names[2 * i];
        o[n++].data = mm;
        o[n] = o[n - 2];
        o[n].name = names[2 * i + 1];
        o[n++].data = vv;
    }
    for (int i = 0; i < n_extra; i++)
        o[n++] = extra[i];
    for (int i = 0; i < 2 * m; i++)
        meta[i] = kv[i];
    st = dp_st_write_f32(path, o, n, meta, m, err);
done:
    for (int i = 0; names && i < 2 * p->n; i++)
        free(names[i]);
    free(names);
    free(o);
    free(kv);
    free(meta);
    return st;
}

static int meta_int(const dp_json *meta, const char *key, int64_t *out)
{
    const dp_json *v = dp_json_get(meta, key);
    if (!v || v->type != DP_JSON_STRING)
        return 0;
    char *end;
    long long x = strtoll(v->string, &end, 10);
    if (end == v->string || *end)
        return 0;
    *out = x;
    return 1;
}

static dp_status read_into(const dp_safetensors *sf, const char *name, size_t count, float *dst,
                           dp_err *err)
{
    const dp_st_tensor *s = dp_st_find(sf, name);
    if (!s || s->count != count)
        return dp_fail(err, DP_E_FORMAT, "%s: tensor '%s' %s; expected %zu elements",
                       dp_st_path(sf), name, s ? "has another size" : "is missing", count);
    return dp_st_to_f32(sf, s, dst, err);
}

dp_status dp_checkpoint_load(const char *path, dp_train_params *p, dp_adam *a,
                             dp_train_position *pos, dp_err *err)
{
    dp_safetensors *sf;
    dp_status st = dp_st_open(path, &sf, err);
    if (st)
        return st;
    const dp_json *meta = dp_st_metadata(sf);
    const dp_json *fp = dp_json_get(meta, "fingerprint");
    memset(pos, 0, sizeof *pos);
    if (!meta_int(meta, "epoch", &pos->epoch) ||
        !meta_int(meta, "step_in_epoch", &pos->step_in_epoch) ||
        !meta_int(meta, "global_step", &pos->global_step) || !fp || fp->type != DP_JSON_STRING) {
        dp_st_close(sf);
        return dp_fail(err, DP_E_FORMAT, "%s: not a training checkpoint (metadata epoch, "
                       "step_in_epoch, global_step, fingerprint expected)", path);
    }
    snprintf(pos->fingerprint, sizeof pos->fingerprint, "%s", fp->string);
    char key[512];
    for (int i = 0; i < p->n && !st; i++) {
        dp_train_tensor *t = &p->t[i];
        st = read_into(sf, t->name, t->count, t->value, err);
        int64_t step = 0;
        snprintf(key, sizeof key, "adam.step.%s", t->name);
        if (!st && meta_int(meta, key, &step) && step > 0) {
            int64_t s0;
            float *mm, *vv;
            dp_adam_state(a, i, &s0, &mm, &vv);
            snprintf(key, sizeof key, "adam.m.%s", t->name);
            st = read_into(sf, key, t->count, mm, err);
            snprintf(key, sizeof key, "adam.v.%s", t->name);
            if (!st)
                st = read_into(sf, key, t->count, vv, err);
        }
        if (!st)
            dp_adam_set_step(a, i, step);
    }
    dp_st_close(sf);
    return st;
}

dp_status dp_checkpoint_extra(const char *path, const char *name, float **data, int64_t shape[2],
                              dp_err *err)
{
    *data = NULL;
    shape[0] = shape[1] = 0;
    dp_safetensors *sf;
    dp_status st = dp_st_open(path, &sf, err);
    if (st)
        return st;
    const dp_st_tensor *s = dp_st_find(sf, name);
    if (s && s->ndim >= 1 && s->ndim <= 2) {
        *data = malloc((s->count ? s->count : 1) * sizeof(float));
        if (!*data)
            st = dp_fail(err, DP_E_NOMEM, "%s: out of memory for '%s'", path, name);
        else if ((st = dp_st_to_f32(sf, s, *data, err))) {
            free(*data);
            *data = NULL;
        } else {
            shape[0] = s->shape[0];
            shape[1] = s->ndim == 2 ? s->shape[1] : 1;
        }
    }
    dp_st_close(sf);
    return st;
}
