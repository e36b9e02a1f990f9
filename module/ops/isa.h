/* The instruction-set level of the whole plugin: oneDNN's kernels and ours run at one level,
 * capped by the same switch, ONEDNN_MAX_CPU_ISA (oneDNN reads it itself; DNNL_MAX_CPU_ISA is its
 * older spelling). Every kernel of ours with ISA-specific code dispatches on dp_isa_level() and
 * on nothing else.
 *
 * The level is read once per process, at the first dp_nn_create (pthread_once, so concurrent
 * first tool creations agree), and is read-only afterwards: oneDNN also fixes its cap at its first
 * query and refuses dnnl_set_max_cpu_isa afterwards, so two tools in one host always run the same
 * level, and changing the variable after the first tool has no effect on either side. */
#ifndef DP_ISA_H
#define DP_ISA_H

#include <stddef.h>

#include <oneapi/dnnl/dnnl_types.h>

/* Ordered: a kernel written for a level runs at that level and above. */
typedef enum dp_isa {
    DP_ISA_GENERIC = 0,      /* x86-64-v2 (SSE4.2) C: what the compiler makes of plain loops */
    DP_ISA_AVX2 = 1,         /* AVX2 + FMA */
    DP_ISA_AVX512 = 2,       /* AVX-512 F/BW/DQ/VL (oneDNN's avx512_core) */
    DP_ISA_AVX512_BF16 = 3   /* plus AVX-512 BF16: oneDNN's native bf16 kernels */
} dp_isa;

/* The level every kernel runs at: min(what the CPU has, oneDNN's effective ISA, the cap the
 * variable names). The first call fixes it for the process. */
dp_isa dp_isa_level(void);
/* What the CPU itself has, whatever the cap (for saying why a precision was lowered). */
dp_isa dp_isa_cpu_level(void);
/* Short name for reports: "generic", "AVX2+FMA", "AVX-512", "AVX-512 BF16". */
const char *dp_isa_name(dp_isa level);
/* The level a ONEDNN_MAX_CPU_ISA value allows (oneDNN's names, any case: SSE41, AVX, AVX2,
 * AVX2_VNNI, AVX512_MIC, AVX512_MIC_4OPS, AVX512_CORE, AVX512_CORE_VNNI, AVX512_CORE_BF16,
 * AVX512_CORE_AMX, ALL). NULL, empty or a name oneDNN does not know (it then ignores the
 * variable) -> DP_ISA_AVX512_BF16, i.e. no cap. Pure: tests call it with any value. */
dp_isa dp_isa_cap_from_name(const char *value);
/* The level a oneDNN ISA value corresponds to (dnnl_get_effective_cpu_isa()). Pure. */
dp_isa dp_isa_from_onednn(dnnl_cpu_isa_t isa);
/* One line (into the caller's buf of cap bytes) for the tool's runtime description: the level and why, e.g. "AVX2+FMA (capped by
 * ONEDNN_MAX_CPU_ISA=AVX2; the CPU has AVX-512 BF16)" or "AVX2+FMA (the CPU's best)". */
void dp_isa_describe(char *buf, size_t cap);

#endif
