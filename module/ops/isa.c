/* The plugin's instruction-set level (isa.h): the CPU's features, oneDNN's effective ISA and the
 * ONEDNN_MAX_CPU_ISA cap, combined once per process. The only mutable state is `state`, written
 * once under pthread_once and read-only afterwards. */
#include "isa.h"

#include <oneapi/dnnl/dnnl.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

static struct {
    dp_isa level, cpu, onednn, cap;
    const char *var;          /* the variable that was set (static string), NULL = none */
    char value[40];           /* its value, cut to fit */
} state;
static pthread_once_t state_once = PTHREAD_ONCE_INIT;

static const struct { const char *name; dp_isa level; } cap_names[] = {
    { "SSE41", DP_ISA_GENERIC },           { "AVX", DP_ISA_GENERIC },
    { "AVX2", DP_ISA_AVX2 },               { "AVX2_VNNI", DP_ISA_AVX2 },
    /* Xeon Phi: AVX-512F without BW/DQ/VL, so our AVX-512 kernels do not run there */
    { "AVX512_MIC", DP_ISA_AVX2 },         { "AVX512_MIC_4OPS", DP_ISA_AVX2 },
    { "AVX512_CORE", DP_ISA_AVX512 },      { "AVX512_CORE_VNNI", DP_ISA_AVX512 },
    { "AVX512_CORE_BF16", DP_ISA_AVX512_BF16 }, { "AVX512_CORE_AMX", DP_ISA_AVX512_BF16 },
    { "ALL", DP_ISA_AVX512_BF16 },
};

dp_isa dp_isa_cap_from_name(const char *value)
{
    if (value)
        for (size_t i = 0; i < sizeof cap_names / sizeof cap_names[0]; i++)
            if (strcasecmp(value, cap_names[i].name) == 0)
                return cap_names[i].level;
    return DP_ISA_AVX512_BF16;
}

static int known_name(const char *value)
{
    for (size_t i = 0; i < sizeof cap_names / sizeof cap_names[0]; i++)
        if (strcasecmp(value, cap_names[i].name) == 0)
            return 1;
    return 0;
}

dp_isa dp_isa_from_onednn(dnnl_cpu_isa_t isa)
{
    /* oneDNN's ISA values are bit sets: each level contains the bits of those below it */
    unsigned v = (unsigned)isa;
    if ((v & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16)
        return DP_ISA_AVX512_BF16;
    if ((v & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core)
        return DP_ISA_AVX512;
    if ((v & dnnl_cpu_isa_avx2) == dnnl_cpu_isa_avx2)
        return DP_ISA_AVX2;
    return DP_ISA_GENERIC;
}

static dp_isa cpu_level(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        return DP_ISA_GENERIC;
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512dq") || !__builtin_cpu_supports("avx512vl"))
        return DP_ISA_AVX2;
    return __builtin_cpu_supports("avx512bf16") ? DP_ISA_AVX512_BF16 : DP_ISA_AVX512;
}

static dp_isa min_isa(dp_isa a, dp_isa b)
{
    return a < b ? a : b;
}

static void read_state(void)
{
    /* oneDNN's own order: ONEDNN_ first, then DNNL_ */
    static const char *const vars[] = { "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA" };
    for (int i = 0; i < 2 && !state.var; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) {
            state.var = vars[i];
            snprintf(state.value, sizeof state.value, "%s", v);
        }
    }
    state.cap = dp_isa_cap_from_name(state.var ? state.value : NULL);
    state.cpu = cpu_level();
    state.onednn = dp_isa_from_onednn(dnnl_get_effective_cpu_isa());
    state.level = min_isa(min_isa(state.cpu, state.onednn), state.cap);
}

dp_isa dp_isa_level(void)
{
    pthread_once(&state_once, read_state);
    return state.level;
}

dp_isa dp_isa_cpu_level(void)
{
    pthread_once(&state_once, read_state);
    return state.cpu;
}

const char *dp_isa_name(dp_isa level)
{
    switch (level) {
    case DP_ISA_AVX2: return "AVX2+FMA";
    case DP_ISA_AVX512: return "AVX-512";
    case DP_ISA_AVX512_BF16: return "AVX-512 BF16";
    default: return "generic";
    }
}

void dp_isa_describe(char *buf, size_t cap)
{
    dp_isa level = dp_isa_level();
    const char *name = dp_isa_name(level);
    if (state.var && !known_name(state.value))
        snprintf(buf, cap, "%s (the CPU's best; %s=%s is no ISA name oneDNN knows, so both ignore "
                 "it)", name, state.var, state.value);
    else if (state.var && state.onednn > state.cap)
        snprintf(buf, cap, "%s for our kernels, oneDNN at %s (oneDNN fixed its cap before %s=%s "
                 "was set)", name, dp_isa_name(state.onednn), state.var, state.value);
    else if (state.var && state.cap < state.cpu)
        snprintf(buf, cap, "%s (capped by %s=%s; the CPU has %s)", name, state.var, state.value,
                 dp_isa_name(state.cpu));
    else if (level < state.cpu)
        snprintf(buf, cap, "%s (oneDNN's cap, fixed by the host before this plugin loaded; the CPU "
                 "has %s)", name, dp_isa_name(state.cpu));
    else
        snprintf(buf, cap, "%s (the CPU's best%s%s%s%s)", name, state.var ? "; " : "",
                 state.var ? state.var : "", state.var ? "=" : "", state.var ? state.value : "");
}
