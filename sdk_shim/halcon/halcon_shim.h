/* halcon_shim.h - a stand-in for the part of the HALCON runtime that an extension package
 * touches, written from MVTec's public documentation of the Extension Package Interface
 * (names, semantics, error codes; see /work/shared/spec/host_plugin.md section 1). It is NOT a
 * copy of MVTec's headers: the types below carry the documented members only, the numeric
 * values of constants are given where the public reference lists them (error codes) and are
 * our own choice elsewhere (pixel kinds, parameter type tags). Code written against this header
 * uses the documented names, so a supply procedure ports to the real "Halcon.h" by changing
 * the include; the binary interface is this stand-in's own.
 *
 * Two halves:
 *   1. the extension-package side (what a supply procedure calls): Herror, Hproc_handle,
 *      Hkey, Himage, Hrlregion, Hcpar, HHandleInfo and the H* access routines;
 *   2. the runtime side (hs_*): what the HALCON runtime does around an operator call: control
 *      tuples, iconic object tuples, the object database, handles and clear_handle, operator
 *      descriptions, calling a supply procedure with the checks HALCON makes first, the error
 *      text lookup, and loading extension packages listed in HALCONEXTENSIONS.
 *
 * Conventions kept from HALCON:
 *   - success is H_MSG_TRUE (2); errors are H_ERR_* codes; package-specific codes >= 10000;
 *   - parameter positions are 1-based and counted per class (input objects, output objects,
 *     input control, output control); errors about control parameter n use H_ERR_WIPT<n>,
 *     H_ERR_WIPV<n>, H_ERR_WIPN<n>, about input object parameter n H_ERR_WION<n>;
 *   - an image object is a domain (run-length region) plus 1..n channels; each channel is one
 *     plane of width * height samples, rows not padded, channels not interleaved;
 *   - handles live in tuples, are reference counted, and clear_handle leaves a handle in a
 *     cleared state: using it afterwards is refused (H_ERR_HANDLE_CLEARED), the runtime never
 *     dereferences its data again;
 *   - an operator's temporary memory (HAllocTmp, HAllocRLNumTmp, HNewImage not attached to an
 *     output) is released when the operator returns, whatever it returns;
 *   - HSetErrText attaches a message to the error the supply procedure returns next.
 * Everything is thread-safe: operators may be called from several threads at once.
 */
#ifndef HALCON_SHIM_H
#define HALCON_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define HSHIM_API __attribute__((visibility("default")))
#else
#define HSHIM_API
#endif

/* ------------------------------------------------------------------------------------------
 * Basic types
 */
typedef int32_t Herror;              /* H_MSG_* or H_ERR_* */
typedef int64_t Hlong;               /* HALCON integer (64-bit build) */
typedef int64_t INT4_8;              /* counts and integer control values */
typedef int32_t HIMGCOOR;            /* image coordinates (the XL variant's 32-bit width) */
typedef struct hs_proc *Hproc_handle;        /* one running operator call */
typedef struct hs_entry *Hkey;               /* key of an object or component in the database */
typedef struct HhandleT *Hphandle;           /* a handle value inside a control tuple */

/* Messages (documented: H_MSG_TRUE = 2 is success; H_MSG_OK is the same value). */
#define H_MSG_OK    2
#define H_MSG_TRUE  2
#define H_MSG_FALSE 3
#define H_MSG_VOID  4
#define H_MSG_FAIL  5

/* Error codes used by the stand-in. Values as in HALCON's public error code list. */
#define H_ERR_WIPT1  1201   /* wrong type of control parameter 1 (.. 20: 1220) */
#define H_ERR_WIPV1  1301   /* wrong value of control parameter 1 (.. 20: 1320) */
#define H_ERR_WIPN1  1401   /* wrong number of values of control parameter 1 (.. 20: 1420) */
#define H_ERR_WION1  1501   /* wrong number of values of object parameter 1 (.. 9: 1509) */
#define H_ERR_WNP    2000   /* wrong specification of parameter (operator description) */
#define H_ERR_WOOPI  2100   /* wrong index for output object parameter */
#define H_ERR_WIOPI  2101   /* wrong index for input object parameter */
#define H_ERR_WOI    2102   /* wrong index for image object */
#define H_ERR_WRCN   2103   /* wrong number region/image component */
#define H_ERR_WICPI  2201   /* wrong index for input control parameter */
#define H_ERR_CTPL_WIDX 2402 /* wrong Hctuple index */
#define H_ERR_WRONG_HANDLE_TYPE 2404
#define H_ERR_WHDL   2450   /* wrong (unknown) HALCON handle */
#define H_ERR_HANDLE_NULL    2453
#define H_ERR_HANDLE_CLEARED 2454
#define H_ERR_ROOIMA 3011   /* region (partially) outside of the definition range of the image */
#define H_ERR_EDEF   3013   /* image with empty definition range (empty domain) */
#define H_ERR_WRNUMCHAN 3359 /* wrong number of channels */
#define H_ERR_WRRLN3 3513   /* number of chords too big for num_max */
#define H_ERR_WIMAW3 3524   /* image width <= 0 */
#define H_ERR_WIMAH3 3525   /* image height <= 0 */
#define H_ERR_MEM    6001   /* not enough memory available */
#define H_ERR_WITFO  9007   /* wrong pixel type for this operation */
#define H_ERR_NIIT   9008   /* operation not realized yet for this pixel type */
/* Package-specific codes start here (HALCON reserves the range below for itself). */
#define H_ERR_USER_BASE 10000

#define H_ERR_WIPT(n) (H_ERR_WIPT1 - 1 + (n))
#define H_ERR_WIPV(n) (H_ERR_WIPV1 - 1 + (n))
#define H_ERR_WIPN(n) (H_ERR_WIPN1 - 1 + (n))
#define H_ERR_WION(n) (H_ERR_WION1 - 1 + (n))

/* Early return on anything but success (documented macro). */
#define HCkP(expr)                                                                          \
    do {                                                                                    \
        Herror hckp_err_ = (expr);                                                          \
        if (hckp_err_ != H_MSG_OK)                                                          \
            return hckp_err_;                                                               \
    } while (0)

/* ------------------------------------------------------------------------------------------
 * Images (one channel each) and run-length regions
 */
#define UNDEF_IMAGE   0
#define BYTE_IMAGE    1
#define INT4_IMAGE    2
#define FLOAT_IMAGE   4
#define INT1_IMAGE    32
#define COMPLEX_IMAGE 128
#define INT2_IMAGE    512
#define UINT2_IMAGE   1024

typedef struct HUInt2Pixel {
    uint16_t *p;
    int8_t num_bits;          /* number of used bits, 0 = all 16 */
} HUInt2Pixel;

typedef struct HInt2Pixel {
    int16_t *p;
    int8_t num_bits;
} HInt2Pixel;

typedef union HPixelImage {
    uint8_t *b;               /* BYTE_IMAGE */
    int8_t *i;                /* INT1_IMAGE */
    HInt2Pixel s;             /* INT2_IMAGE */
    HUInt2Pixel u;            /* UINT2_IMAGE */
    int32_t *l;               /* INT4_IMAGE */
    float *f;                 /* FLOAT_IMAGE ("real") */
    float *z;                 /* COMPLEX_IMAGE: 2 floats per pixel */
} HPixelImage;

/* One channel: width * height samples, row after row, no padding. The pixel memory belongs to
 * the object database (or to the operator call, from HNewImage, until attached). */
typedef struct Himage {
    int kind;                 /* *_IMAGE */
    HPixelImage pixel;
    HIMGCOOR width, height;
} Himage;

/* One chord of a region: row l, columns cb..ce inclusive. */
typedef struct Hrun {
    HIMGCOOR l, cb, ce;
} Hrun;

/* A run-length region. Chords are sorted by row, then column, and do not overlap. */
typedef struct Hrlregion {
    bool is_compl;            /* complement flag; the stand-in only produces false */
    INT4_8 num;               /* chords in use */
    INT4_8 num_max;           /* chords allocated */
    Hrun *rl;
} Hrlregion;

/* Component numbers for HGetComp: the domain, then channels 1..n. */
#define REGION    0
#define CHANNEL_1 1

/* ------------------------------------------------------------------------------------------
 * Control parameters
 */
#define UNDEF_PAR  0
#define LONG_PAR   1
#define DOUBLE_PAR 2
#define FLOAT_PAR  DOUBLE_PAR
#define STRING_PAR 4
#define MIXED_PAR  8
#define HANDLE_PAR 16

typedef union Hpar {
    INT4_8 l;
    double d;
    char *s;
    Hphandle h;
} Hpar;

typedef struct Hcpar {
    Hpar par;
    int type;                 /* LONG_PAR, DOUBLE_PAR, STRING_PAR, HANDLE_PAR */
} Hcpar;

/* Conversions HGetPElem* may apply. */
#define CONV_NONE 0           /* only elements of the requested type are accepted */
#define CONV_CAST 1           /* integers are accepted where reals are requested */

/* ------------------------------------------------------------------------------------------
 * Handle types: one static descriptor per type. The destructor releases the data stored in
 * the handle; it is called exactly once, by clear_handle or when the last tuple referring to
 * the handle goes away, and never for NULL data.
 */
typedef Herror (*HHandleDestructor)(Hproc_handle ph, void *data);
typedef struct HHandleInfo {
    const char *type_id;      /* unique tag; types are told apart by descriptor address
                                 and by this tag */
    const char *sem_type;     /* semantic type, e.g. "inspection_tool" */
    HHandleDestructor cb_clear;
    void *cb_serialize;       /* unused (no serialisation in the stand-in) */
    void *cb_deserialize;
} HHandleInfo;
#define HANDLE_INFO_INITIALIZER_NOSER(TAG, SEM_TYPE, DESTRUCTOR, UNUSED1, UNUSED2) \
    { (TAG), (SEM_TYPE), (DESTRUCTOR), NULL, NULL }

/* ------------------------------------------------------------------------------------------
 * Extension-package side: memory
 */
HSHIM_API Herror HAlloc(Hproc_handle ph, size_t size, void **mem);         /* permanent */
HSHIM_API Herror HFree(Hproc_handle ph, void *mem);
HSHIM_API Herror HAllocTmp(Hproc_handle ph, void **mem, size_t size);      /* per call */
HSHIM_API Herror HFreeTmp(Hproc_handle ph, void *mem);
/* A temporary region with room for num chords (num = 0: an empty region with room for 1). */
HSHIM_API Herror HAllocRLNumTmp(Hproc_handle ph, Hrlregion **region, INT4_8 num);
HSHIM_API Herror HFreeRLTmp(Hproc_handle ph, Hrlregion *region);

/* Extension-package side: iconic input */
HSHIM_API Herror HGetObjNum(Hproc_handle ph, int par_num, INT4_8 *num);
HSHIM_API Herror HGetObj(Hproc_handle ph, int par_num, INT4_8 obj_num, Hkey *obj_key);
HSHIM_API Herror HNumOfChannels(Hproc_handle ph, int par_num, INT4_8 obj_num, int *channels);
HSHIM_API Herror HGetComp(Hproc_handle ph, Hkey obj_key, int comp, Hkey *comp_key);
HSHIM_API Herror HGetImage(Hproc_handle ph, Hkey image_key, Himage *image);
HSHIM_API Herror HGetRL(Hproc_handle ph, Hkey region_key, Hrlregion *region);   /* copy */
HSHIM_API Herror HGetDImage(Hproc_handle ph, Hkey obj_key, int channel, Himage *image);
HSHIM_API Herror HGetDRL(Hproc_handle ph, Hkey obj_key, Hrlregion *region);     /* copy */
HSHIM_API Herror HGetFDRL(Hproc_handle ph, Hkey obj_key, const Hrlregion **region); /* ref */

/* Extension-package side: iconic output */
HSHIM_API Herror HCrObj(Hproc_handle ph, int par_num, Hkey *obj_key);
HSHIM_API Herror HNewImage(Hproc_handle ph, Himage *image, int kind, HIMGCOOR width,
                           HIMGCOOR height);
HSHIM_API Herror HPutDImage(Hproc_handle ph, Hkey obj_key, int channel, const Himage *image,
                            bool copy, Hkey *image_key);
HSHIM_API Herror HPutDRL(Hproc_handle ph, Hkey obj_key, const Hrlregion *region,
                         Hkey *region_key);
HSHIM_API Herror HPutRect(Hproc_handle ph, Hkey obj_key, HIMGCOOR width, HIMGCOOR height);
HSHIM_API Herror HNewRegion(Hproc_handle ph, const Hrlregion *region);

/* Extension-package side: control input (by reference: valid until the operator returns) */
HSHIM_API Herror HGetCParNum(Hproc_handle ph, int par_num, INT4_8 *num);
HSHIM_API Herror HGetPElemL(Hproc_handle ph, int par_num, int conv, const INT4_8 **elem,
                            INT4_8 *num);
HSHIM_API Herror HGetPElemD(Hproc_handle ph, int par_num, int conv, const double **elem,
                            INT4_8 *num);
HSHIM_API Herror HGetPElemS(Hproc_handle ph, int par_num, int conv, char *const **elem,
                            INT4_8 *num);
HSHIM_API Herror HGetPPar(Hproc_handle ph, int par_num, const Hcpar **elem, INT4_8 *num);
/* Exactly one handle of type info in input control parameter par_num; *data is the handle's
 * data pointer (borrowed). Refuses: count != 1 (H_ERR_WIPN), not a handle (H_ERR_WIPT), an
 * unknown handle value (H_ERR_WHDL), a cleared handle (H_ERR_HANDLE_CLEARED), a handle of
 * another type (H_ERR_WRONG_HANDLE_TYPE). */
HSHIM_API Herror HGetCElemH1(Hproc_handle ph, int par_num, const HHandleInfo *info, void **data);

/* Extension-package side: control output (values are copied) */
HSHIM_API Herror HPutElem(Hproc_handle ph, int par_num, const void *elem, INT4_8 num, int type);
HSHIM_API Herror HPutCPar(Hproc_handle ph, int par_num, const Hcpar *elem, INT4_8 num);
/* Creates a handle of type info in output control parameter par_num and returns the address
 * of its data slot: the operator stores its data pointer there (*data_slot = p). From that
 * moment the handle owns the data: if the operator then fails, the runtime discards the output
 * and calls the destructor; the operator must not free it itself. */
HSHIM_API Herror HAllocOutputHandle(Hproc_handle ph, int par_num, void ***data_slot,
                                    const HHandleInfo *info);
/* Stand-in addition (the public reference documents clear_handle, not a package routine for
 * it): clears every handle of type info in input control parameter par_num, as a type-specific
 * clear_* operator does. Same refusals as HGetCElemH1 except that any count >= 1 is fine. */
HSHIM_API Herror HClearCElemH(Hproc_handle ph, int par_num, const HHandleInfo *info);

/* Extension-package side: errors. Attaches text (copied, truncated to 1023 bytes) to the error
 * the calling thread's operator returns next. */
HSHIM_API Herror HSetErrText(const char *text);

/* ==========================================================================================
 * Runtime side
 */

/* Control tuples. A tuple owns its strings and holds a reference on each handle in it. */
typedef struct hs_tuple hs_tuple;
HSHIM_API hs_tuple *hs_tuple_new(void);
HSHIM_API void hs_tuple_free(hs_tuple *t);        /* NULL ok; drops handle references */
HSHIM_API int hs_tuple_append_l(hs_tuple *t, INT4_8 v);   /* 0 or -1 (no memory) */
HSHIM_API int hs_tuple_append_d(hs_tuple *t, double v);
HSHIM_API int hs_tuple_append_s(hs_tuple *t, const char *v);
HSHIM_API int hs_tuple_append_h(hs_tuple *t, Hphandle h); /* adds a reference */
/* Appends a raw value as a handle element without registering a reference: what a script
 * holding a stale or forged handle value produces. The runtime must refuse it, not follow it. */
HSHIM_API int hs_tuple_append_raw_handle(hs_tuple *t, uintptr_t raw);
HSHIM_API INT4_8 hs_tuple_length(const hs_tuple *t);
/* Element i (0-based, as tuple indices in HDevelop), borrowed; NULL if out of range. */
HSHIM_API const Hcpar *hs_tuple_get(const hs_tuple *t, INT4_8 i);

/* Iconic objects and tuples of them. */
typedef struct hs_obj hs_obj;
typedef struct hs_objs hs_objs;
HSHIM_API hs_objs *hs_objs_new(void);
HSHIM_API void hs_objs_free(hs_objs *o);          /* drops its object references */
HSHIM_API int hs_objs_append(hs_objs *o, hs_obj *obj);   /* adds a reference */
HSHIM_API INT4_8 hs_objs_count(const hs_objs *o);
HSHIM_API hs_obj *hs_objs_get(const hs_objs *o, INT4_8 i);   /* 0-based, borrowed */
HSHIM_API void hs_obj_unref(hs_obj *obj);
/* A new image object (reference owned by the caller): channels planes of width * height
 * samples of kind, copied from planes[c]; domain = the given chords (copied, sorted and
 * checked), or the full rectangle if domain == NULL. Returns NULL and a message on a bad
 * argument (size, kind, chord outside the image). */
HSHIM_API hs_obj *hs_gen_image(int kind, int width, int height, int channels,
                               const void *const *planes, const Hrun *domain, INT4_8 n_runs,
                               char *err, size_t err_cap);
/* A region object (no channels). */
HSHIM_API hs_obj *hs_gen_region(const Hrun *runs, INT4_8 n_runs, char *err, size_t err_cap);
HSHIM_API int hs_obj_channels(const hs_obj *obj);
/* Channel ch (1-based) into *img (pixels borrowed from the object); -1 if absent. */
HSHIM_API int hs_obj_image(const hs_obj *obj, int ch, Himage *img);
/* The domain (image) or the region (region object), borrowed. */
HSHIM_API const Hrlregion *hs_obj_region(const hs_obj *obj);
HSHIM_API INT4_8 hs_region_area(const Hrlregion *r);

/* Handles. */
HSHIM_API int hs_handle_valid(Hphandle h);        /* 1: registered and not cleared */
/* clear_handle( : : Handle : ): clears every handle in t (each must be a valid handle of any
 * type, else the error HGetCElemH1 would give; the first offending element decides). */
HSHIM_API Herror hs_clear_handle(const hs_tuple *t, char *msg, size_t msg_cap);
/* Number of live (not yet destroyed) handle data of all types, for leak checks. */
HSHIM_API long hs_live_handles(void);
/* A handle of type info holding data (for tests that need a handle of a foreign type). The
 * returned value carries one reference: append it to a tuple and release it with
 * hs_handle_release. */
HSHIM_API Hphandle hs_handle_new(const HHandleInfo *info, void *data);
HSHIM_API void hs_handle_release(Hphandle h);

/* Operator descriptions: what hcomp generates from a DEF file, reduced to what the runtime
 * checks before it calls the supply procedure. */
#define HS_MAX_PARAMS 16
typedef struct hs_param_desc {
    const char *name;
    const char *sem_type;     /* "image", "region", "string", "number", "inspection_tool", ... */
    /* allowed element types: for control parameters a mask of *_PAR (0 = any); for image
     * parameters a mask of *_IMAGE kinds (0 = any) */
    int type_mask;
    int multivalue;           /* 0 false (exactly one value), 1 true (any count), 2 optional
                                 (zero or more... treated as any count) */
    int domain_required;      /* image inputs: an empty domain is refused (H_ERR_EDEF) */
} hs_param_desc;

typedef Herror (*hs_supply_proc)(Hproc_handle ph);
typedef struct hs_operator {
    const char *name;         /* HALCON operator name, e.g. "read_inspection_tool" */
    const char *supply_name;  /* "CIPReadInspectionTool" */
    hs_supply_proc supply;
    int n_in_obj, n_out_obj, n_in_ctrl, n_out_ctrl;
    hs_param_desc in_obj[HS_MAX_PARAMS], out_obj[HS_MAX_PARAMS];
    hs_param_desc in_ctrl[HS_MAX_PARAMS], out_ctrl[HS_MAX_PARAMS];
} hs_operator;

/* A package's operator table, as the runtime finds it in the operator library. */
typedef struct hs_package {
    const char *name;                      /* package (directory) name */
    int n_operators;
    const hs_operator *operators;
    /* Text of a package code (>= 10000), NULL if unknown. */
    const char *(*error_text)(Herror code);
} hs_package;
/* Name of the symbol an operator library exports: "<package>_hs_package", a const hs_package. */

/* Calls op as the HALCON runtime does: checks the number of parameters of each class against
 * the description (H_ERR_WNP: HDevelop refuses such a line before it runs), every input control tuple's element types (H_ERR_WIPT<n>) and value count
 * (H_ERR_WIPN<n> for multivalue false), every input object tuple's count (H_ERR_WION<n>),
 * pixel types (H_ERR_WITFO) and domains (H_ERR_EDEF); then runs the supply procedure, releases
 * its temporary memory and, on success, appends the output objects to out_obj[i] and output
 * control values to out_ctrl[i] (both created by the caller; previous contents replaced). On
 * failure the outputs are left empty and msg holds the message (HSetErrText's, else the
 * standard text of the code). Returns H_MSG_TRUE or the error. */
HSHIM_API Herror hs_call(const hs_operator *op, hs_objs *const *in_obj, int n_in_obj,
                         hs_objs *const *out_obj, int n_out_obj, hs_tuple *const *in_ctrl,
                         int n_in_ctrl, hs_tuple *const *out_ctrl, int n_out_ctrl, char *msg,
                         size_t msg_cap);

/* get_error_text: the standard text of a code (HALCON's own, or a registered package's);
 * unknown codes get the standard fallback text. Static string. */
HSHIM_API const char *hs_error_text(Herror code);
/* Makes a package's error texts known to hs_error_text (idempotent). */
HSHIM_API void hs_register_package(const hs_package *pkg);

/* Loads every extension package listed in path_list (':'-separated directories, as
 * HALCONEXTENSIONS on Linux; NULL = getenv("HALCONEXTENSIONS")): for a directory D named P it
 * opens D/lib/<arch>/libP.so (arch from hs_halcon_arch()), finds P_hs_package and registers
 * it. Returns the number of packages loaded, -1 with a message on the first failure. Loaded
 * libraries stay loaded for the process's lifetime. */
HSHIM_API int hs_load_extensions(const char *path_list, char *err, size_t err_cap);
/* A loaded package's operator by name, NULL if none. */
HSHIM_API const hs_operator *hs_find_operator(const char *name);
/* The HALCONARCH directory name of this build, e.g. "x64-linux". */
HSHIM_API const char *hs_halcon_arch(void);

#ifdef __cplusplus
}
#endif

#endif
