/* The HALCON runtime stand-in (see halcon_shim.h). Written from the public documentation of the
 * Extension Package Interface only. */
#include "halcon_shim.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------
 * Messages
 */

static _Thread_local char tl_errtext[1024];
static _Thread_local int tl_errtext_set;

Herror HSetErrText(const char *text)
{
    snprintf(tl_errtext, sizeof tl_errtext, "%s", text ? text : "");
    tl_errtext_set = 1;
    return H_MSG_OK;
}

static void put_msg(char *msg, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put_msg(char *msg, size_t cap, const char *fmt, ...)
{
    if (!msg || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------------------------
 * Handles: a registry of every live handle object, so that a handle value is checked before it
 * is followed (a forged or stale value is refused, never dereferenced).
 */

struct HhandleT {
    const HHandleInfo *info;
    void *data;               /* NULL once cleared (or never set) */
    long refs;                /* tuple references; guarded by reg_mu */
    int cleared;
    int fresh;                /* created by the running operator, data not yet counted */
    struct HhandleT *prev, *next;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct HhandleT *reg_head;
static atomic_long live_data;

static int registered_locked(const struct HhandleT *h)
{
    for (const struct HhandleT *p = reg_head; p; p = p->next)
        if (p == h)
            return 1;
    return 0;
}

static struct HhandleT *handle_create(const HHandleInfo *info)
{
    struct HhandleT *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->info = info;
    h->refs = 1;
    pthread_mutex_lock(&reg_mu);
    h->next = reg_head;
    if (reg_head)
        reg_head->prev = h;
    reg_head = h;
    pthread_mutex_unlock(&reg_mu);
    return h;
}

/* Runs the destructor on data taken out of a handle (outside the registry lock). */
static Herror destroy_data(const HHandleInfo *info, void *data)
{
    if (!data)
        return H_MSG_OK;
    atomic_fetch_sub(&live_data, 1);
    struct hs_proc *none = NULL;
    return info && info->cb_clear ? info->cb_clear(none, data) : H_MSG_OK;
}

static void handle_ref(struct HhandleT *h)
{
    pthread_mutex_lock(&reg_mu);
    h->refs++;
    pthread_mutex_unlock(&reg_mu);
}

static void handle_unref(struct HhandleT *h)
{
    pthread_mutex_lock(&reg_mu);
    int last = --h->refs == 0;
    void *data = NULL;
    if (last) {
        if (h->prev)
            h->prev->next = h->next;
        else
            reg_head = h->next;
        if (h->next)
            h->next->prev = h->prev;
        data = h->data;
        h->data = NULL;
    }
    pthread_mutex_unlock(&reg_mu);
    if (last) {
        destroy_data(h->info, data);
        free(h);
    }
}

/* Validates a handle value. Returns H_MSG_OK, H_ERR_HANDLE_NULL, H_ERR_WHDL,
 * H_ERR_HANDLE_CLEARED or (info != NULL and another type) H_ERR_WRONG_HANDLE_TYPE; on success
 * *data = the handle's data. */
static Herror handle_check(Hphandle h, const HHandleInfo *info, void **data, const char **type)
{
    if (!h)
        return H_ERR_HANDLE_NULL;
    pthread_mutex_lock(&reg_mu);
    Herror e = H_MSG_OK;
    if (!registered_locked(h))
        e = H_ERR_WHDL;
    else if (h->cleared)
        e = H_ERR_HANDLE_CLEARED;
    else if (info && h->info != info &&
             !(h->info && h->info->type_id && info->type_id &&
               strcmp(h->info->type_id, info->type_id) == 0 && h->info->sem_type &&
               info->sem_type && strcmp(h->info->sem_type, info->sem_type) == 0))
        e = H_ERR_WRONG_HANDLE_TYPE;
    if (type)
        *type = e == H_ERR_WRONG_HANDLE_TYPE && h->info && h->info->sem_type ? h->info->sem_type
                                                                             : "";
    if (e == H_MSG_OK && data)
        *data = h->data;
    pthread_mutex_unlock(&reg_mu);
    return e;
}

/* Marks a checked handle cleared and destroys its data. */
static Herror handle_clear(Hphandle h)
{
    pthread_mutex_lock(&reg_mu);
    void *data = NULL;
    const HHandleInfo *info = NULL;
    if (registered_locked(h) && !h->cleared) {
        h->cleared = 1;
        data = h->data;
        info = h->info;
        h->data = NULL;
    }
    pthread_mutex_unlock(&reg_mu);
    return destroy_data(info, data);
}

int hs_handle_valid(Hphandle h)
{
    return handle_check(h, NULL, NULL, NULL) == H_MSG_OK;
}

long hs_live_handles(void)
{
    return atomic_load(&live_data);
}

Hphandle hs_handle_new(const HHandleInfo *info, void *data)
{
    struct HhandleT *h = handle_create(info);
    if (h && data) {
        h->data = data;
        atomic_fetch_add(&live_data, 1);
    }
    return h;
}

void hs_handle_release(Hphandle h)
{
    if (h)
        handle_unref(h);
}

/* ------------------------------------------------------------------------------------------
 * Control tuples
 */

struct hs_tuple {
    Hcpar *v;
    unsigned char *counted;   /* 1: v[i].par.h holds a reference */
    INT4_8 n, cap;
};

hs_tuple *hs_tuple_new(void)
{
    return calloc(1, sizeof(hs_tuple));
}

static void tuple_clear(hs_tuple *t)
{
    for (INT4_8 i = 0; i < t->n; i++) {
        if (t->v[i].type == STRING_PAR)
            free(t->v[i].par.s);
        else if (t->v[i].type == HANDLE_PAR && t->counted[i])
            handle_unref(t->v[i].par.h);
    }
    t->n = 0;
}

void hs_tuple_free(hs_tuple *t)
{
    if (!t)
        return;
    tuple_clear(t);
    free(t->v);
    free(t->counted);
    free(t);
}

static Hcpar *tuple_slot(hs_tuple *t, int counted)
{
    if (!t)
        return NULL;
    if (t->n == t->cap) {
        INT4_8 cap = t->cap ? 2 * t->cap : 4;
        Hcpar *v = realloc(t->v, (size_t)cap * sizeof *v);
        if (!v)
            return NULL;
        t->v = v;
        unsigned char *c = realloc(t->counted, (size_t)cap);
        if (!c)
            return NULL;
        t->counted = c;
        t->cap = cap;
    }
    t->counted[t->n] = (unsigned char)counted;
    return &t->v[t->n++];
}

int hs_tuple_append_l(hs_tuple *t, INT4_8 v)
{
    Hcpar *p = tuple_slot(t, 0);
    if (!p)
        return -1;
    p->type = LONG_PAR;
    p->par.l = v;
    return 0;
}

int hs_tuple_append_d(hs_tuple *t, double v)
{
    Hcpar *p = tuple_slot(t, 0);
    if (!p)
        return -1;
    p->type = DOUBLE_PAR;
    p->par.d = v;
    return 0;
}

int hs_tuple_append_s(hs_tuple *t, const char *v)
{
    char *s = strdup(v ? v : "");
    Hcpar *p = s ? tuple_slot(t, 0) : NULL;
    if (!p) {
        free(s);
        return -1;
    }
    p->type = STRING_PAR;
    p->par.s = s;
    return 0;
}

int hs_tuple_append_h(hs_tuple *t, Hphandle h)
{
    if (h && !hs_handle_valid(h) && handle_check(h, NULL, NULL, NULL) != H_ERR_HANDLE_CLEARED)
        return -1;            /* not a handle object: use hs_tuple_append_raw_handle */
    Hcpar *p = tuple_slot(t, h != NULL);
    if (!p)
        return -1;
    if (h)
        handle_ref(h);
    p->type = HANDLE_PAR;
    p->par.h = h;
    return 0;
}

int hs_tuple_append_raw_handle(hs_tuple *t, uintptr_t raw)
{
    Hcpar *p = tuple_slot(t, 0);
    if (!p)
        return -1;
    p->type = HANDLE_PAR;
    p->par.h = (Hphandle)raw;
    return 0;
}

INT4_8 hs_tuple_length(const hs_tuple *t)
{
    return t ? t->n : 0;
}

const Hcpar *hs_tuple_get(const hs_tuple *t, INT4_8 i)
{
    return t && i >= 0 && i < t->n ? &t->v[i] : NULL;
}

/* ------------------------------------------------------------------------------------------
 * The object database: objects (a domain and channels) and their components, each reference
 * counted so that objects can share components.
 */

enum { TAG_OBJ = 0x4f424a31, TAG_REGION = 0x52454731, TAG_IMAGE = 0x494d4731 };

struct hs_entry {
    int tag;
    atomic_long refs;
};

typedef struct comp_region {
    struct hs_entry e;
    Hrlregion r;              /* r.rl owned */
} comp_region;

typedef struct comp_image {
    struct hs_entry e;
    Himage img;               /* pixel memory owned */
} comp_image;

#define MAX_CHANNELS 16

struct hs_obj {
    struct hs_entry e;
    comp_region *domain;      /* reference owned; never NULL for a complete object */
    int n_ch;
    comp_image *ch[MAX_CHANNELS];
    HIMGCOOR width, height;   /* of the channels (0 for a region object) */
};

static void *pixel_ptr(const Himage *im)
{
    switch (im->kind) {
    case BYTE_IMAGE: return im->pixel.b;
    case INT1_IMAGE: return im->pixel.i;
    case INT2_IMAGE: return im->pixel.s.p;
    case UINT2_IMAGE: return im->pixel.u.p;
    case INT4_IMAGE: return im->pixel.l;
    case FLOAT_IMAGE: return im->pixel.f;
    case COMPLEX_IMAGE: return im->pixel.z;
    default: return NULL;
    }
}

static void set_pixel_ptr(Himage *im, void *p)
{
    switch (im->kind) {
    case BYTE_IMAGE: im->pixel.b = p; break;
    case INT1_IMAGE: im->pixel.i = p; break;
    case INT2_IMAGE: im->pixel.s.p = p; break;
    case UINT2_IMAGE: im->pixel.u.p = p; break;
    case INT4_IMAGE: im->pixel.l = p; break;
    case FLOAT_IMAGE: im->pixel.f = p; break;
    case COMPLEX_IMAGE: im->pixel.z = p; break;
    default: break;
    }
}

static size_t kind_bytes(int kind)
{
    switch (kind) {
    case BYTE_IMAGE: case INT1_IMAGE: return 1;
    case INT2_IMAGE: case UINT2_IMAGE: return 2;
    case INT4_IMAGE: case FLOAT_IMAGE: return 4;
    case COMPLEX_IMAGE: return 8;
    default: return 0;
    }
}

static const char *kind_name(int kind)
{
    switch (kind) {
    case BYTE_IMAGE: return "byte";
    case INT1_IMAGE: return "int1";
    case INT2_IMAGE: return "int2";
    case UINT2_IMAGE: return "uint2";
    case INT4_IMAGE: return "int4";
    case FLOAT_IMAGE: return "real";
    case COMPLEX_IMAGE: return "complex";
    default: return "unknown";
    }
}

static void entry_ref(struct hs_entry *e)
{
    atomic_fetch_add(&e->refs, 1);
}

static void comp_unref(struct hs_entry *e)
{
    if (!e || atomic_fetch_sub(&e->refs, 1) != 1)
        return;
    if (e->tag == TAG_REGION) {
        free(((comp_region *)e)->r.rl);
    } else if (e->tag == TAG_IMAGE) {
        free(pixel_ptr(&((comp_image *)e)->img));
    }
    e->tag = 0;
    free(e);
}

void hs_obj_unref(hs_obj *o)
{
    if (!o || atomic_fetch_sub(&o->e.refs, 1) != 1)
        return;
    comp_unref(o->domain ? &o->domain->e : NULL);
    for (int c = 0; c < o->n_ch; c++)
        comp_unref(&o->ch[c]->e);
    o->e.tag = 0;
    free(o);
}

static hs_obj *obj_new(void)
{
    hs_obj *o = calloc(1, sizeof *o);
    if (o) {
        o->e.tag = TAG_OBJ;
        atomic_init(&o->e.refs, 1);
    }
    return o;
}

static int run_cmp(const void *a, const void *b)
{
    const Hrun *x = a, *y = b;
    if (x->l != y->l)
        return x->l < y->l ? -1 : 1;
    return x->cb < y->cb ? -1 : x->cb > y->cb;
}

/* Sorts and merges chords in place (overlapping or touching chords of a row become one).
 * Chords with ce < cb are dropped. */
static void normalize_runs(Hrlregion *r)
{
    INT4_8 n = 0;
    for (INT4_8 i = 0; i < r->num; i++)
        if (r->rl[i].ce >= r->rl[i].cb)
            r->rl[n++] = r->rl[i];
    qsort(r->rl, (size_t)n, sizeof *r->rl, run_cmp);
    INT4_8 m = 0;
    for (INT4_8 i = 0; i < n; i++) {
        if (m > 0 && r->rl[m - 1].l == r->rl[i].l && r->rl[i].cb <= r->rl[m - 1].ce + 1) {
            if (r->rl[i].ce > r->rl[m - 1].ce)
                r->rl[m - 1].ce = r->rl[i].ce;
        } else {
            r->rl[m++] = r->rl[i];
        }
    }
    r->num = m;
}

static comp_region *region_new(const Hrun *runs, INT4_8 n, int clip, HIMGCOOR w, HIMGCOOR h)
{
    comp_region *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->e.tag = TAG_REGION;
    atomic_init(&c->e.refs, 1);
    c->r.num_max = n > 0 ? n : 1;
    c->r.rl = malloc((size_t)c->r.num_max * sizeof(Hrun));
    if (!c->r.rl) {
        free(c);
        return NULL;
    }
    INT4_8 k = 0;
    for (INT4_8 i = 0; i < n; i++) {
        Hrun r = runs[i];
        if (clip) {               /* reduce_domain semantics: the domain lies inside the image */
            if (r.l < 0 || r.l >= h)
                continue;
            if (r.cb < 0)
                r.cb = 0;
            if (r.ce > w - 1)
                r.ce = w - 1;
        }
        c->r.rl[k++] = r;
    }
    c->r.num = k;
    normalize_runs(&c->r);
    return c;
}

static comp_region *rect_region(HIMGCOOR w, HIMGCOOR h)
{
    comp_region *c = region_new(NULL, 0, 0, 0, 0);
    if (!c)
        return NULL;
    Hrun *rl = realloc(c->r.rl, (size_t)h * sizeof *rl);
    if (!rl) {
        comp_unref(&c->e);
        return NULL;
    }
    c->r.rl = rl;
    for (HIMGCOOR y = 0; y < h; y++)
        rl[y] = (Hrun){y, 0, w - 1};
    c->r.num = c->r.num_max = h;
    return c;
}

INT4_8 hs_region_area(const Hrlregion *r)
{
    INT4_8 a = 0;
    for (INT4_8 i = 0; r && i < r->num; i++)
        a += (INT4_8)r->rl[i].ce - r->rl[i].cb + 1;
    return a;
}

hs_obj *hs_gen_image(int kind, int width, int height, int channels, const void *const *planes,
                     const Hrun *domain, INT4_8 n_runs, char *err, size_t err_cap)
{
    size_t bpp = kind_bytes(kind);
    if (!bpp) {
        put_msg(err, err_cap, "gen_image: unknown pixel kind %d", kind);
        return NULL;
    }
    if (width <= 0 || height <= 0 || channels < 1 || channels > MAX_CHANNELS || !planes) {
        put_msg(err, err_cap, "gen_image: %dx%d with %d channels is not an image", width, height,
                channels);
        return NULL;
    }
    hs_obj *o = obj_new();
    if (!o)
        return NULL;
    o->width = width;
    o->height = height;
    o->domain = domain ? region_new(domain, n_runs, 1, width, height) : rect_region(width, height);
    size_t bytes = (size_t)width * height * bpp;
    for (int c = 0; o->domain && c < channels; c++) {
        comp_image *ci = calloc(1, sizeof *ci);
        void *px = ci ? malloc(bytes) : NULL;
        if (!px) {
            free(ci);
            hs_obj_unref(o);
            return NULL;
        }
        ci->e.tag = TAG_IMAGE;
        atomic_init(&ci->e.refs, 1);
        ci->img.kind = kind;
        ci->img.width = width;
        ci->img.height = height;
        set_pixel_ptr(&ci->img, px);
        if (kind == UINT2_IMAGE)
            ci->img.pixel.u.num_bits = 16;
        memcpy(px, planes[c], bytes);
        o->ch[o->n_ch++] = ci;
    }
    if (!o->domain) {
        hs_obj_unref(o);
        return NULL;
    }
    return o;
}

hs_obj *hs_gen_region(const Hrun *runs, INT4_8 n_runs, char *err, size_t err_cap)
{
    if (n_runs < 0 || (n_runs > 0 && !runs)) {
        put_msg(err, err_cap, "gen_region: bad chord list");
        return NULL;
    }
    hs_obj *o = obj_new();
    if (!o)
        return NULL;
    o->domain = region_new(runs, n_runs, 0, 0, 0);
    if (!o->domain) {
        hs_obj_unref(o);
        return NULL;
    }
    return o;
}

int hs_obj_channels(const hs_obj *obj)
{
    return obj ? obj->n_ch : 0;
}

int hs_obj_image(const hs_obj *obj, int ch, Himage *img)
{
    if (!obj || ch < 1 || ch > obj->n_ch || !img)
        return -1;
    *img = obj->ch[ch - 1]->img;
    return 0;
}

const Hrlregion *hs_obj_region(const hs_obj *obj)
{
    return obj && obj->domain ? &obj->domain->r : NULL;
}

/* Object tuples */
struct hs_objs {
    hs_obj **v;
    INT4_8 n, cap;
};

hs_objs *hs_objs_new(void)
{
    return calloc(1, sizeof(hs_objs));
}

static void objs_clear(hs_objs *o)
{
    for (INT4_8 i = 0; i < o->n; i++)
        hs_obj_unref(o->v[i]);
    o->n = 0;
}

void hs_objs_free(hs_objs *o)
{
    if (!o)
        return;
    objs_clear(o);
    free(o->v);
    free(o);
}

int hs_objs_append(hs_objs *o, hs_obj *obj)
{
    if (!o || !obj)
        return -1;
    if (o->n == o->cap) {
        INT4_8 cap = o->cap ? 2 * o->cap : 4;
        hs_obj **v = realloc(o->v, (size_t)cap * sizeof *v);
        if (!v)
            return -1;
        o->v = v;
        o->cap = cap;
    }
    entry_ref(&obj->e);
    o->v[o->n++] = obj;
    return 0;
}

INT4_8 hs_objs_count(const hs_objs *o)
{
    return o ? o->n : 0;
}

hs_obj *hs_objs_get(const hs_objs *o, INT4_8 i)
{
    return o && i >= 0 && i < o->n ? o->v[i] : NULL;
}

/* ------------------------------------------------------------------------------------------
 * One operator call
 */

struct hs_proc {
    const hs_operator *op;
    hs_objs *const *in_obj;
    hs_tuple *const *in_ctrl;
    hs_objs *out_obj[HS_MAX_PARAMS];
    hs_tuple *out_ctrl[HS_MAX_PARAMS];
    void **tmp;               /* HAllocTmp blocks and temporary regions' chord arrays */
    size_t n_tmp, cap_tmp;
    void **fresh;             /* HNewImage pixel buffers not attached to an output yet */
    size_t n_fresh, cap_fresh;
};

static int list_add(void ***list, size_t *n, size_t *cap, void *p)
{
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 8;
        void **v = realloc(*list, c * sizeof *v);
        if (!v)
            return -1;
        *list = v;
        *cap = c;
    }
    (*list)[(*n)++] = p;
    return 0;
}

static int list_remove(void **list, size_t *n, const void *p)
{
    for (size_t i = *n; i-- > 0;)
        if (list[i] == p) {
            list[i] = list[--*n];
            return 1;
        }
    return 0;
}

Herror HAlloc(Hproc_handle ph, size_t size, void **mem)
{
    if (!mem)
        return H_ERR_WNP;
    *mem = calloc(1, size ? size : 1);
    return *mem ? H_MSG_OK : H_ERR_MEM;
}

Herror HFree(Hproc_handle ph, void *mem)
{
    free(mem);
    return H_MSG_OK;
}

Herror HAllocTmp(Hproc_handle ph, void **mem, size_t size)
{
    if (!ph || !mem)
        return H_ERR_WNP;
    *mem = calloc(1, size ? size : 1);
    if (!*mem)
        return H_ERR_MEM;
    if (list_add(&ph->tmp, &ph->n_tmp, &ph->cap_tmp, *mem) != 0) {
        free(*mem);
        *mem = NULL;
        return H_ERR_MEM;
    }
    return H_MSG_OK;
}

Herror HFreeTmp(Hproc_handle ph, void *mem)
{
    if (!ph)
        return H_ERR_WNP;
    if (mem && list_remove(ph->tmp, &ph->n_tmp, mem))
        free(mem);
    return H_MSG_OK;
}

Herror HAllocRLNumTmp(Hproc_handle ph, Hrlregion **region, INT4_8 num)
{
    if (!region || num < 0)
        return H_ERR_WNP;
    Hrlregion *r;
    HCkP(HAllocTmp(ph, (void **)&r, sizeof *r));
    Hrun *rl;
    Herror e = HAllocTmp(ph, (void **)&rl, (size_t)(num > 0 ? num : 1) * sizeof *rl);
    if (e != H_MSG_OK) {
        HFreeTmp(ph, r);
        return e;
    }
    r->rl = rl;
    r->num = 0;
    r->num_max = num > 0 ? num : 1;
    *region = r;
    return H_MSG_OK;
}

Herror HFreeRLTmp(Hproc_handle ph, Hrlregion *region)
{
    if (!region)
        return H_MSG_OK;
    HFreeTmp(ph, region->rl);
    return HFreeTmp(ph, region);
}

/* An object key of this call: an input object or one it created. */
static hs_obj *proc_obj(Hproc_handle ph, Hkey key)
{
    if (!ph || !key)
        return NULL;
    for (int p = 0; p < ph->op->n_in_obj; p++)
        for (INT4_8 i = 0; i < ph->in_obj[p]->n; i++)
            if ((Hkey)ph->in_obj[p]->v[i] == key)
                return ph->in_obj[p]->v[i];
    for (int p = 0; p < ph->op->n_out_obj; p++)
        for (INT4_8 i = 0; i < ph->out_obj[p]->n; i++)
            if ((Hkey)ph->out_obj[p]->v[i] == key)
                return ph->out_obj[p]->v[i];
    return NULL;
}

/* A component key reachable from this call's objects. */
static struct hs_entry *proc_comp(Hproc_handle ph, Hkey key, int tag)
{
    for (int side = 0; side < 2; side++) {
        int np = side ? ph->op->n_out_obj : ph->op->n_in_obj;
        for (int p = 0; p < np; p++) {
            const hs_objs *o = side ? ph->out_obj[p] : ph->in_obj[p];
            for (INT4_8 i = 0; i < o->n; i++) {
                const hs_obj *ob = o->v[i];
                if (tag == TAG_REGION && ob->domain && (Hkey)&ob->domain->e == key)
                    return &ob->domain->e;
                for (int c = 0; tag == TAG_IMAGE && c < ob->n_ch; c++)
                    if ((Hkey)&ob->ch[c]->e == key)
                        return &ob->ch[c]->e;
            }
        }
    }
    return NULL;
}

Herror HGetObjNum(Hproc_handle ph, int par_num, INT4_8 *num)
{
    if (!ph || par_num < 1 || par_num > ph->op->n_in_obj || !num)
        return H_ERR_WIOPI;
    *num = ph->in_obj[par_num - 1]->n;
    return H_MSG_OK;
}

Herror HGetObj(Hproc_handle ph, int par_num, INT4_8 obj_num, Hkey *obj_key)
{
    if (!ph || par_num < 1 || par_num > ph->op->n_in_obj || !obj_key)
        return H_ERR_WIOPI;
    const hs_objs *o = ph->in_obj[par_num - 1];
    if (obj_num < 1 || obj_num > o->n)
        return H_ERR_WOI;
    *obj_key = (Hkey)o->v[obj_num - 1];
    return H_MSG_OK;
}

Herror HNumOfChannels(Hproc_handle ph, int par_num, INT4_8 obj_num, int *channels)
{
    Hkey k;
    HCkP(HGetObj(ph, par_num, obj_num, &k));
    *channels = ((hs_obj *)k)->n_ch;
    return H_MSG_OK;
}

Herror HGetComp(Hproc_handle ph, Hkey obj_key, int comp, Hkey *comp_key)
{
    hs_obj *o = proc_obj(ph, obj_key);
    if (!o || !comp_key)
        return H_ERR_WOI;
    if (comp == REGION) {
        *comp_key = (Hkey)&o->domain->e;
        return H_MSG_OK;
    }
    if (comp < CHANNEL_1 || comp > o->n_ch)
        return H_ERR_WRCN;
    *comp_key = (Hkey)&o->ch[comp - 1]->e;
    return H_MSG_OK;
}

Herror HGetImage(Hproc_handle ph, Hkey image_key, Himage *image)
{
    struct hs_entry *e = ph ? proc_comp(ph, image_key, TAG_IMAGE) : NULL;
    if (!e || !image)
        return H_ERR_WRCN;
    *image = ((comp_image *)e)->img;
    return H_MSG_OK;
}

static Herror copy_region(const Hrlregion *src, Hrlregion *dst)
{
    if (!dst)
        return H_ERR_WNP;
    if (src->num > dst->num_max)
        return H_ERR_WRRLN3;
    memcpy(dst->rl, src->rl, (size_t)src->num * sizeof *src->rl);
    dst->num = src->num;
    dst->is_compl = src->is_compl;
    return H_MSG_OK;
}

Herror HGetRL(Hproc_handle ph, Hkey region_key, Hrlregion *region)
{
    struct hs_entry *e = ph ? proc_comp(ph, region_key, TAG_REGION) : NULL;
    if (!e)
        return H_ERR_WRCN;
    return copy_region(&((comp_region *)e)->r, region);
}

Herror HGetDImage(Hproc_handle ph, Hkey obj_key, int channel, Himage *image)
{
    Hkey c;
    HCkP(HGetComp(ph, obj_key, channel, &c));
    if (channel == REGION)
        return H_ERR_WRCN;
    return HGetImage(ph, c, image);
}

Herror HGetDRL(Hproc_handle ph, Hkey obj_key, Hrlregion *region)
{
    hs_obj *o = proc_obj(ph, obj_key);
    if (!o)
        return H_ERR_WOI;
    return copy_region(&o->domain->r, region);
}

Herror HGetFDRL(Hproc_handle ph, Hkey obj_key, const Hrlregion **region)
{
    hs_obj *o = proc_obj(ph, obj_key);
    if (!o || !region)
        return H_ERR_WOI;
    *region = &o->domain->r;
    return H_MSG_OK;
}

Herror HCrObj(Hproc_handle ph, int par_num, Hkey *obj_key)
{
    if (!ph || par_num < 1 || par_num > ph->op->n_out_obj || !obj_key)
        return H_ERR_WOOPI;
    hs_obj *o = obj_new();
    if (!o)
        return H_ERR_MEM;
    int rc = hs_objs_append(ph->out_obj[par_num - 1], o);
    hs_obj_unref(o);          /* the tuple holds it now (or nobody) */
    if (rc != 0)
        return H_ERR_MEM;
    *obj_key = (Hkey)o;
    return H_MSG_OK;
}

Herror HNewImage(Hproc_handle ph, Himage *image, int kind, HIMGCOOR width, HIMGCOOR height)
{
    if (!ph || !image)
        return H_ERR_WNP;
    size_t bpp = kind_bytes(kind);
    if (!bpp)
        return H_ERR_WITFO;
    if (width <= 0)
        return H_ERR_WIMAW3;
    if (height <= 0)
        return H_ERR_WIMAH3;
    void *px = calloc((size_t)width * height, bpp);
    if (!px)
        return H_ERR_MEM;
    if (list_add(&ph->fresh, &ph->n_fresh, &ph->cap_fresh, px) != 0) {
        free(px);
        return H_ERR_MEM;
    }
    memset(image, 0, sizeof *image);
    image->kind = kind;
    image->width = width;
    image->height = height;
    set_pixel_ptr(image, px);
    return H_MSG_OK;
}

Herror HPutDImage(Hproc_handle ph, Hkey obj_key, int channel, const Himage *image, bool copy,
                  Hkey *image_key)
{
    hs_obj *o = proc_obj(ph, obj_key);
    if (!o)
        return H_ERR_WOI;
    if (!image || !kind_bytes(image->kind) || !pixel_ptr(image))
        return H_ERR_WNP;
    if (channel != o->n_ch + 1 && !(channel >= 1 && channel <= o->n_ch))
        return H_ERR_WRCN;
    if (o->n_ch > 0 && (image->width != o->width || image->height != o->height))
        return H_ERR_WRCN;
    if (o->n_ch >= MAX_CHANNELS && channel > o->n_ch)
        return H_ERR_WRCN;
    comp_image *ci = calloc(1, sizeof *ci);
    if (!ci)
        return H_ERR_MEM;
    ci->e.tag = TAG_IMAGE;
    atomic_init(&ci->e.refs, 1);
    ci->img = *image;
    void *src = pixel_ptr(image);
    if (!copy && list_remove(ph->fresh, &ph->n_fresh, src)) {
        /* ownership moves from the call to the object */
    } else {
        size_t bytes = (size_t)image->width * image->height * kind_bytes(image->kind);
        void *px = malloc(bytes);
        if (!px) {
            free(ci);
            return H_ERR_MEM;
        }
        memcpy(px, src, bytes);
        set_pixel_ptr(&ci->img, px);
    }
    if (channel <= o->n_ch) {
        comp_unref(&o->ch[channel - 1]->e);
        o->ch[channel - 1] = ci;
    } else {
        o->ch[o->n_ch++] = ci;
    }
    o->width = image->width;
    o->height = image->height;
    if (image_key)
        *image_key = (Hkey)&ci->e;
    return H_MSG_OK;
}

Herror HPutDRL(Hproc_handle ph, Hkey obj_key, const Hrlregion *region, Hkey *region_key)
{
    hs_obj *o = proc_obj(ph, obj_key);
    if (!o)
        return H_ERR_WOI;
    if (!region || region->num < 0 || (region->num > 0 && !region->rl))
        return H_ERR_WNP;
    comp_region *c = region_new(region->rl, region->num, 0, 0, 0);
    if (!c)
        return H_ERR_MEM;
    if (o->domain)
        comp_unref(&o->domain->e);
    o->domain = c;
    if (region_key)
        *region_key = (Hkey)&c->e;
    return H_MSG_OK;
}

Herror HPutRect(Hproc_handle ph, Hkey obj_key, HIMGCOOR width, HIMGCOOR height)
{
    hs_obj *o = proc_obj(ph, obj_key);
    if (!o)
        return H_ERR_WOI;
    if (width <= 0)
        return H_ERR_WIMAW3;
    if (height <= 0)
        return H_ERR_WIMAH3;
    comp_region *c = rect_region(width, height);
    if (!c)
        return H_ERR_MEM;
    if (o->domain)
        comp_unref(&o->domain->e);
    o->domain = c;
    return H_MSG_OK;
}

Herror HNewRegion(Hproc_handle ph, const Hrlregion *region)
{
    Hkey k;
    HCkP(HCrObj(ph, 1, &k));
    return HPutDRL(ph, k, region, NULL);
}

/* Control input */

static Herror in_ctrl(Hproc_handle ph, int par_num, const hs_tuple **t)
{
    if (!ph || par_num < 1 || par_num > ph->op->n_in_ctrl)
        return H_ERR_WICPI;
    *t = ph->in_ctrl[par_num - 1];
    return H_MSG_OK;
}

Herror HGetCParNum(Hproc_handle ph, int par_num, INT4_8 *num)
{
    const hs_tuple *t;
    HCkP(in_ctrl(ph, par_num, &t));
    *num = t->n;
    return H_MSG_OK;
}

Herror HGetPPar(Hproc_handle ph, int par_num, const Hcpar **elem, INT4_8 *num)
{
    const hs_tuple *t;
    HCkP(in_ctrl(ph, par_num, &t));
    *elem = t->v;
    *num = t->n;
    return H_MSG_OK;
}

/* Copies of a tuple's values as one C type, in temporary memory. */
static Herror typed_copy(Hproc_handle ph, int par_num, int type, int conv, void **out,
                         INT4_8 *num)
{
    const hs_tuple *t;
    HCkP(in_ctrl(ph, par_num, &t));
    size_t sz = type == LONG_PAR ? sizeof(INT4_8) : type == DOUBLE_PAR ? sizeof(double)
                                                                       : sizeof(char *);
    void *v;
    HCkP(HAllocTmp(ph, &v, (size_t)(t->n > 0 ? t->n : 1) * sz));
    for (INT4_8 i = 0; i < t->n; i++) {
        const Hcpar *p = &t->v[i];
        if (type == LONG_PAR && p->type == LONG_PAR)
            ((INT4_8 *)v)[i] = p->par.l;
        else if (type == DOUBLE_PAR && p->type == DOUBLE_PAR)
            ((double *)v)[i] = p->par.d;
        else if (type == DOUBLE_PAR && p->type == LONG_PAR && conv == CONV_CAST)
            ((double *)v)[i] = (double)p->par.l;
        else if (type == STRING_PAR && p->type == STRING_PAR)
            ((char **)v)[i] = p->par.s;
        else {
            HFreeTmp(ph, v);
            return H_ERR_WIPT(par_num);
        }
    }
    *out = v;
    *num = t->n;
    return H_MSG_OK;
}

Herror HGetPElemL(Hproc_handle ph, int par_num, int conv, const INT4_8 **elem, INT4_8 *num)
{
    return typed_copy(ph, par_num, LONG_PAR, conv, (void **)elem, num);
}

Herror HGetPElemD(Hproc_handle ph, int par_num, int conv, const double **elem, INT4_8 *num)
{
    return typed_copy(ph, par_num, DOUBLE_PAR, conv, (void **)elem, num);
}

Herror HGetPElemS(Hproc_handle ph, int par_num, int conv, char *const **elem, INT4_8 *num)
{
    return typed_copy(ph, par_num, STRING_PAR, conv, (void **)elem, num);
}

Herror HGetCElemH1(Hproc_handle ph, int par_num, const HHandleInfo *info, void **data)
{
    const hs_tuple *t;
    HCkP(in_ctrl(ph, par_num, &t));
    if (t->n != 1)
        return H_ERR_WIPN(par_num);
    if (t->v[0].type != HANDLE_PAR)
        return H_ERR_WIPT(par_num);
    return handle_check(t->v[0].par.h, info, data, NULL);
}

Herror HClearCElemH(Hproc_handle ph, int par_num, const HHandleInfo *info)
{
    const hs_tuple *t;
    HCkP(in_ctrl(ph, par_num, &t));
    if (t->n < 1)
        return H_ERR_WIPN(par_num);
    for (INT4_8 i = 0; i < t->n; i++) {
        if (t->v[i].type != HANDLE_PAR)
            return H_ERR_WIPT(par_num);
        HCkP(handle_check(t->v[i].par.h, info, NULL, NULL));
    }
    Herror first = H_MSG_OK;
    for (INT4_8 i = 0; i < t->n; i++) {
        Herror e = handle_clear(t->v[i].par.h);
        if (first == H_MSG_OK)
            first = e;
    }
    return first;
}

/* Control output */

static Herror out_ctrl(Hproc_handle ph, int par_num, hs_tuple **t)
{
    if (!ph || par_num < 1 || par_num > ph->op->n_out_ctrl)
        return H_ERR_WNP;
    *t = ph->out_ctrl[par_num - 1];
    return H_MSG_OK;
}

Herror HPutElem(Hproc_handle ph, int par_num, const void *elem, INT4_8 num, int type)
{
    hs_tuple *t;
    HCkP(out_ctrl(ph, par_num, &t));
    if (num < 0 || (num > 0 && !elem))
        return H_ERR_WNP;
    tuple_clear(t);
    for (INT4_8 i = 0; i < num; i++) {
        int rc;
        switch (type) {
        case LONG_PAR: rc = hs_tuple_append_l(t, ((const INT4_8 *)elem)[i]); break;
        case DOUBLE_PAR: rc = hs_tuple_append_d(t, ((const double *)elem)[i]); break;
        case STRING_PAR: rc = hs_tuple_append_s(t, ((char *const *)elem)[i]); break;
        default: return H_ERR_WNP;
        }
        if (rc != 0)
            return H_ERR_MEM;
    }
    return H_MSG_OK;
}

Herror HPutCPar(Hproc_handle ph, int par_num, const Hcpar *elem, INT4_8 num)
{
    hs_tuple *t;
    HCkP(out_ctrl(ph, par_num, &t));
    if (num < 0 || (num > 0 && !elem))
        return H_ERR_WNP;
    tuple_clear(t);
    for (INT4_8 i = 0; i < num; i++) {
        int rc;
        switch (elem[i].type) {
        case LONG_PAR: rc = hs_tuple_append_l(t, elem[i].par.l); break;
        case DOUBLE_PAR: rc = hs_tuple_append_d(t, elem[i].par.d); break;
        case STRING_PAR: rc = hs_tuple_append_s(t, elem[i].par.s); break;
        case HANDLE_PAR: rc = hs_tuple_append_h(t, elem[i].par.h); break;
        default: return H_ERR_CTPL_WIDX;
        }
        if (rc != 0)
            return H_ERR_MEM;
    }
    return H_MSG_OK;
}

Herror HAllocOutputHandle(Hproc_handle ph, int par_num, void ***data_slot,
                          const HHandleInfo *info)
{
    hs_tuple *t;
    HCkP(out_ctrl(ph, par_num, &t));
    if (!data_slot || !info)
        return H_ERR_WNP;
    struct HhandleT *h = handle_create(info);
    if (!h)
        return H_ERR_MEM;
    tuple_clear(t);
    if (hs_tuple_append_h(t, h) != 0) {
        handle_unref(h);
        return H_ERR_MEM;
    }
    h->fresh = 1;
    handle_unref(h);          /* the tuple's reference remains */
    /* The caller stores its data pointer through the slot; counted once set (see
     * finish_handles). */
    *data_slot = &h->data;
    return H_MSG_OK;
}

/* After a supply procedure: data the operator stored into new output handles is now owned by
 * the handles (counted live; released by their destructor). */
static void finish_handles(Hproc_handle ph)
{
    for (int p = 0; p < ph->op->n_out_ctrl; p++) {
        const hs_tuple *t = ph->out_ctrl[p];
        for (INT4_8 i = 0; t && i < t->n; i++) {
            struct HhandleT *h = t->v[i].par.h;
            if (t->v[i].type == HANDLE_PAR && t->counted[i] && h->fresh) {
                h->fresh = 0;
                if (h->data)
                    atomic_fetch_add(&live_data, 1);
            }
        }
    }
}

/* ------------------------------------------------------------------------------------------
 * Error texts
 */

static const struct { Herror code; const char *text; } std_texts[] = {
    {H_MSG_TRUE, "No error"},
    {H_MSG_FALSE, "false"},
    {H_MSG_VOID, "Stop processing"},
    {H_MSG_FAIL, "Call failed"},
    {H_ERR_WNP, "Wrong specification of parameter (error in operator description)"},
    {H_ERR_WOOPI, "Wrong index for output object parameter"},
    {H_ERR_WIOPI, "Wrong index for input object parameter"},
    {H_ERR_WOI, "Wrong index for image object"},
    {H_ERR_WRCN, "Wrong number region/image component"},
    {H_ERR_WICPI, "Wrong index for input control parameter"},
    {H_ERR_CTPL_WIDX, "Wrong Hctuple index"},
    {H_ERR_WRONG_HANDLE_TYPE, "Wrong handle type"},
    {H_ERR_WHDL, "Wrong (unknown) HALCON handle"},
    {H_ERR_HANDLE_NULL, "Handle is NULL"},
    {H_ERR_HANDLE_CLEARED, "Handle was cleared"},
    {H_ERR_ROOIMA, "Region (partially) outside of the definition range of the image"},
    {H_ERR_EDEF, "Image with empty definition range"},
    {H_ERR_WRNUMCHAN, "Wrong number of channels"},
    {H_ERR_WRRLN3, "Number of chords too big for num_max"},
    {H_ERR_WIMAW3, "Image width <= 0"},
    {H_ERR_WIMAH3, "Image height <= 0"},
    {H_ERR_MEM, "Not enough memory available"},
    {H_ERR_WITFO, "Wrong pixel type for this operation"},
    {H_ERR_NIIT, "Operation not realized yet for this pixel type"},
};

#define MAX_PACKAGES 99       /* HALCON loads at most 99 extension packages */
static pthread_mutex_t pkg_mu = PTHREAD_MUTEX_INITIALIZER;
static const hs_package *packages[MAX_PACKAGES];
static int n_packages;

void hs_register_package(const hs_package *pkg)
{
    if (!pkg)
        return;
    pthread_mutex_lock(&pkg_mu);
    int have = 0;
    for (int i = 0; i < n_packages; i++)
        have |= packages[i] == pkg;
    if (!have && n_packages < MAX_PACKAGES)
        packages[n_packages++] = pkg;
    pthread_mutex_unlock(&pkg_mu);
}

const char *hs_error_text(Herror code)
{
    static _Thread_local char buf[64];
    for (size_t i = 0; i < sizeof std_texts / sizeof std_texts[0]; i++)
        if (std_texts[i].code == code)
            return std_texts[i].text;
    static const char *const what[4] = {"type", "value", "number of values", "number of values"};
    if (code >= H_ERR_WIPT1 && code <= H_ERR_WIPN1 + 19 && (code % 100) >= 1 && (code % 100) <= 20) {
        snprintf(buf, sizeof buf, "Wrong %s of control parameter %d", what[code / 100 - 12],
                 code % 100);
        return buf;
    }
    if (code >= H_ERR_WION1 && code <= H_ERR_WION1 + 8) {
        snprintf(buf, sizeof buf, "Wrong number of values of object parameter %d", code % 100);
        return buf;
    }
    if (code >= H_ERR_USER_BASE) {
        const char *t = NULL;
        pthread_mutex_lock(&pkg_mu);
        for (int i = 0; i < n_packages && !t; i++)
            if (packages[i]->error_text)
                t = packages[i]->error_text(code);
        pthread_mutex_unlock(&pkg_mu);
        if (t)
            return t;
    }
    return "No error message available for this error code";
}

/* ------------------------------------------------------------------------------------------
 * The call
 */

static const char *par_type_name(int t)
{
    switch (t) {
    case LONG_PAR: return "integer";
    case DOUBLE_PAR: return "real";
    case STRING_PAR: return "string";
    case HANDLE_PAR: return "handle";
    default: return "undefined";
    }
}

static void type_list(int mask, int iconic, char *buf, size_t cap)
{
    static const int ctl[] = {LONG_PAR, DOUBLE_PAR, STRING_PAR, HANDLE_PAR};
    static const int img[] = {BYTE_IMAGE, INT1_IMAGE, INT2_IMAGE, UINT2_IMAGE, INT4_IMAGE,
                              FLOAT_IMAGE, COMPLEX_IMAGE};
    const int *v = iconic ? img : ctl;
    size_t n = iconic ? sizeof img / sizeof img[0] : sizeof ctl / sizeof ctl[0], len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++)
        if (mask & v[i]) {
            int w = snprintf(buf + len, cap - len, "%s%s", len ? ", " : "",
                             iconic ? kind_name(v[i]) : par_type_name(v[i]));
            if (w < 0 || (size_t)w >= cap - len)
                return;
            len += (size_t)w;
        }
}

/* The checks HALCON makes from the operator description before the supply procedure runs. */
static Herror check_inputs(const hs_operator *op, hs_objs *const *in_obj,
                           hs_tuple *const *in_ctrl, char *msg, size_t cap)
{
    char types[128];
    for (int p = 0; p < op->n_in_ctrl; p++) {
        const hs_param_desc *d = &op->in_ctrl[p];
        const hs_tuple *t = in_ctrl[p];
        for (INT4_8 i = 0; i < t->n; i++)
            if (d->type_mask && !(t->v[i].type & d->type_mask)) {
                type_list(d->type_mask, 0, types, sizeof types);
                put_msg(msg, cap, "%s: %s (control parameter %d): value %lld is of type %s, "
                        "expected %s", op->name, d->name, p + 1, (long long)i + 1,
                        par_type_name(t->v[i].type), types);
                return H_ERR_WIPT(p + 1);
            }
        if (d->multivalue == 0 && t->n != 1) {
            put_msg(msg, cap, "%s: %s (control parameter %d) takes exactly one value, got %lld",
                    op->name, d->name, p + 1, (long long)t->n);
            return H_ERR_WIPN(p + 1);
        }
    }
    for (int p = 0; p < op->n_in_obj; p++) {
        const hs_param_desc *d = &op->in_obj[p];
        const hs_objs *o = in_obj[p];
        if (d->multivalue == 0 && o->n != 1) {
            put_msg(msg, cap, "%s: %s (object parameter %d) takes exactly one object, got %lld",
                    op->name, d->name, p + 1, (long long)o->n);
            return H_ERR_WION(p + 1);
        }
        int is_image = d->sem_type && strcmp(d->sem_type, "image") == 0;
        for (INT4_8 i = 0; i < o->n; i++) {
            const hs_obj *ob = o->v[i];
            if (is_image && ob->n_ch == 0) {
                put_msg(msg, cap, "%s: %s (object parameter %d): object %lld is a region, not "
                        "an image", op->name, d->name, p + 1, (long long)i + 1);
                return H_ERR_WITFO;
            }
            for (int c = 0; c < ob->n_ch; c++)
                if (d->type_mask && !(ob->ch[c]->img.kind & d->type_mask)) {
                    type_list(d->type_mask, 1, types, sizeof types);
                    put_msg(msg, cap, "%s: %s (object parameter %d): channel %d of object %lld "
                            "is a %s image, expected %s", op->name, d->name, p + 1, c + 1,
                            (long long)i + 1, kind_name(ob->ch[c]->img.kind), types);
                    return H_ERR_WITFO;
                }
            if (is_image && d->domain_required && ob->domain->r.num == 0) {
                put_msg(msg, cap, "%s: %s (object parameter %d): object %lld has an empty "
                        "domain", op->name, d->name, p + 1, (long long)i + 1);
                return H_ERR_EDEF;
            }
        }
    }
    return H_MSG_OK;
}

Herror hs_call(const hs_operator *op, hs_objs *const *in_obj, int n_in_obj,
               hs_objs *const *out_obj, int n_out_obj, hs_tuple *const *in_ctrl, int n_in_ctrl,
               hs_tuple *const *out_ctrl, int n_out_ctrl, char *msg, size_t msg_cap)
{
    put_msg(msg, msg_cap, "%s", "");
    if (!op || !op->supply) {
        put_msg(msg, msg_cap, "no such operator");
        return H_ERR_WNP;
    }
    if (n_in_obj != op->n_in_obj || n_out_obj != op->n_out_obj || n_in_ctrl != op->n_in_ctrl ||
        n_out_ctrl != op->n_out_ctrl) {
        put_msg(msg, msg_cap, "%s takes %d:%d:%d:%d parameters (input objects, output objects, "
                "input control, output control), called with %d:%d:%d:%d", op->name,
                op->n_in_obj, op->n_out_obj, op->n_in_ctrl, op->n_out_ctrl, n_in_obj, n_out_obj,
                n_in_ctrl, n_out_ctrl);
        return H_ERR_WNP;
    }
    for (int p = 0; p < n_in_obj; p++)
        if (!in_obj[p])
            return put_msg(msg, msg_cap, "%s: input object parameter %d missing", op->name,
                           p + 1), H_ERR_WIOPI;
    for (int p = 0; p < n_out_obj; p++)
        if (!out_obj[p])
            return put_msg(msg, msg_cap, "%s: output object parameter %d missing", op->name,
                           p + 1), H_ERR_WOOPI;
    for (int p = 0; p < n_in_ctrl; p++)
        if (!in_ctrl[p])
            return put_msg(msg, msg_cap, "%s: input control parameter %d missing", op->name,
                           p + 1), H_ERR_WICPI;
    for (int p = 0; p < n_out_ctrl; p++)
        if (!out_ctrl[p])
            return put_msg(msg, msg_cap, "%s: output control parameter %d missing", op->name,
                           p + 1), H_ERR_WNP;
    Herror e = check_inputs(op, in_obj, in_ctrl, msg, msg_cap);
    if (e != H_MSG_OK)
        return e;

    struct hs_proc ph = {.op = op, .in_obj = in_obj, .in_ctrl = in_ctrl};
    int built = 1;
    for (int p = 0; p < n_out_obj; p++)
        built &= (ph.out_obj[p] = hs_objs_new()) != NULL;
    for (int p = 0; p < n_out_ctrl; p++)
        built &= (ph.out_ctrl[p] = hs_tuple_new()) != NULL;
    tl_errtext_set = 0;
    e = built ? op->supply(&ph) : H_ERR_MEM;
    finish_handles(&ph);
    for (size_t i = 0; i < ph.n_tmp; i++)
        free(ph.tmp[i]);
    free(ph.tmp);
    for (size_t i = 0; i < ph.n_fresh; i++)
        free(ph.fresh[i]);
    free(ph.fresh);
    if (e == H_MSG_OK) {
        for (int p = 0; p < n_out_obj; p++) {
            objs_clear(out_obj[p]);
            hs_objs *tmp = out_obj[p];
            hs_objs swap = *tmp;
            *tmp = *ph.out_obj[p];
            *ph.out_obj[p] = swap;
        }
        for (int p = 0; p < n_out_ctrl; p++) {
            tuple_clear(out_ctrl[p]);
            hs_tuple swap = *out_ctrl[p];
            *out_ctrl[p] = *ph.out_ctrl[p];
            *ph.out_ctrl[p] = swap;
        }
    } else {
        for (int p = 0; p < n_out_obj; p++)
            objs_clear(out_obj[p]);
        for (int p = 0; p < n_out_ctrl; p++)
            tuple_clear(out_ctrl[p]);
        if (tl_errtext_set && tl_errtext[0])
            put_msg(msg, msg_cap, "%s", tl_errtext);
        else
            put_msg(msg, msg_cap, "%s: %s", op->name, hs_error_text(e));
    }
    tl_errtext_set = 0;
    /* Discarded outputs (all of them on failure): handles created by the operator are
     * destroyed here, through their destructor. */
    for (int p = 0; p < n_out_obj; p++)
        hs_objs_free(ph.out_obj[p]);
    for (int p = 0; p < n_out_ctrl; p++)
        hs_tuple_free(ph.out_ctrl[p]);
    return e;
}

Herror hs_clear_handle(const hs_tuple *t, char *msg, size_t msg_cap)
{
    put_msg(msg, msg_cap, "%s", "");
    if (!t)
        return H_ERR_WICPI;
    for (INT4_8 i = 0; i < t->n; i++) {
        Herror e = t->v[i].type == HANDLE_PAR ? handle_check(t->v[i].par.h, NULL, NULL, NULL)
                                              : H_ERR_WIPT1;
        if (e != H_MSG_OK) {
            put_msg(msg, msg_cap, "clear_handle: value %lld: %s", (long long)i + 1,
                    hs_error_text(e));
            return e;
        }
    }
    Herror first = H_MSG_OK;
    for (INT4_8 i = 0; i < t->n; i++) {
        Herror e = handle_clear(t->v[i].par.h);
        if (first == H_MSG_OK && e != H_MSG_OK) {
            first = e;
            put_msg(msg, msg_cap, "clear_handle: %s", hs_error_text(e));
        }
    }
    return first;
}

/* ------------------------------------------------------------------------------------------
 * Extension packages
 */

const char *hs_halcon_arch(void)
{
#if defined(__x86_64__)
    return "x64-linux";
#elif defined(__aarch64__)
    return "aarch64-linux";
#else
    return "unknown-linux";
#endif
}

int hs_load_extensions(const char *path_list, char *err, size_t err_cap)
{
    put_msg(err, err_cap, "%s", "");
    if (!path_list)
        path_list = getenv("HALCONEXTENSIONS");
    if (!path_list || !*path_list)
        return 0;
    char *list = strdup(path_list);
    if (!list) {
        put_msg(err, err_cap, "out of memory");
        return -1;
    }
    int loaded = 0;
    char *save = NULL;
    for (char *dir = strtok_r(list, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/')
            dir[--n] = '\0';
        const char *name = strrchr(dir, '/');
        name = name ? name + 1 : dir;
        char lib[4096], sym[512];
        snprintf(lib, sizeof lib, "%s/lib/%s/lib%s.so", dir, hs_halcon_arch(), name);
        snprintf(sym, sizeof sym, "%s_hs_package", name);
        void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            const char *why = dlerror();
            put_msg(err, err_cap, "HALCONEXTENSIONS entry %s: cannot load %s: %s", dir, lib,
                    why ? why : "unknown error");
            free(list);
            return -1;
        }
        const hs_package *pkg = dlsym(h, sym);
        if (!pkg) {
            put_msg(err, err_cap, "HALCONEXTENSIONS entry %s: %s has no %s (package name and "
                    "directory name must agree)", dir, lib, sym);
            dlclose(h);
            free(list);
            return -1;
        }
        pthread_mutex_lock(&pkg_mu);
        int full = n_packages >= MAX_PACKAGES;
        pthread_mutex_unlock(&pkg_mu);
        if (full) {
            put_msg(err, err_cap, "HALCONEXTENSIONS: more than %d packages", MAX_PACKAGES);
            free(list);
            return -1;
        }
        hs_register_package(pkg);
        loaded++;
    }
    free(list);
    return loaded;
}

const hs_operator *hs_find_operator(const char *name)
{
    const hs_operator *found = NULL;
    pthread_mutex_lock(&pkg_mu);
    for (int i = n_packages - 1; i >= 0 && !found; i--)
        for (int k = 0; k < packages[i]->n_operators && !found; k++)
            if (name && strcmp(packages[i]->operators[k].name, name) == 0)
                found = &packages[i]->operators[k];
    pthread_mutex_unlock(&pkg_mu);
    return found;
}
