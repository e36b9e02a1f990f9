#!/usr/bin/env bash
# Live speed anchors (`make bench-anchors`, not part of `make check`): the DAPO vision tower with
# the same random weights in ours (oneDNN), PyTorch (Debian's python3-torch; f32 and bf16) and
# ONNX Runtime (onnxruntime-node from npm; f32, exported from PyTorch), interleaved on this
# machine; prints ms per image and our speed-up over each anchor, then the same with the
# instruction set capped at AVX2 where the anchor has a switch. Installs what it needs (apt,
# npm into build/anchors) and carries on with the anchors that are available.
#
# Usage: tests/bench/anchors.sh [--full] [--rounds N] [--threads N] [--models "B16 L14"]
#                               [--no-install]
#   default (~10 min on a quiet 2-core machine; 41 min measured under heavy outside load): B16@224 3 rounds x 5 images (PyTorch bf16: 1 image per round),
#     with and without the AVX2 cap; L14@518 2 rounds x 1 image, f32, with and without the cap.
#   --full: 3 rounds everywhere, B16 10 images, L14 2 images, PyTorch bf16 also at L14@518 and
#     under the cap (on CPUs without native bf16 that is many minutes per L14 image).
set -eu
cd "$(dirname "$0")/../.."

full=0 rounds="" threads=$(nproc) models="B16 L14" install=1
while [ $# -gt 0 ]; do
    case $1 in
        --full) full=1 ;;
        --rounds) rounds=$2; shift ;;
        --threads) threads=$2; shift ;;
        --models) models=$2; shift ;;
        --no-install) install=0 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "anchors: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

out=build/anchors
ours=$out/anchors_ours
py=/usr/bin/python3          # Debian's python: the one that sees python3-torch (not a pyenv shim)
here=tests/bench/anchors
mkdir -p "$out"
[ -x "$ours" ] || { echo "anchors: $ours missing; run through 'make bench-anchors'" >&2; exit 1; }

say() { printf 'anchors: %s\n' "$*"; }

# ---- install ------------------------------------------------------------------------------
have_torch() { "$py" -c 'import torch, numpy' >/dev/null 2>&1; }
sudo_cmd=""
[ "$(id -u)" = 0 ] || sudo_cmd=sudo
apt_install() {   # quiet apt-get install; one `apt-get update` and a retry if it fails
    local log=$out/apt.log
    if DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y --no-install-recommends "$@" >"$log" 2>&1; then
        return 0
    fi
    $sudo_cmd apt-get update >>"$log" 2>&1 || true
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y --no-install-recommends "$@" >>"$log" 2>&1
}
if [ $install = 1 ]; then
    # python3-torch only recommends an optimised BLAS; without one its f32 matmuls run on the
    # reference BLAS, a strawman. OpenBLAS's OpenMP build follows torch.set_num_threads.
    need=""
    have_torch || need="python3-torch python3-numpy"
    dpkg -s libopenblas0-openmp >/dev/null 2>&1 || dpkg -s libopenblas0-pthread >/dev/null 2>&1 ||
        need="$need libopenblas0-openmp"
    if [ -n "$need" ]; then
        say "installing with apt-get:$need (log: $out/apt.log)"
        apt_install $need || say "COULD NOT INSTALL$need with apt-get (see $out/apt.log); continuing with what is there"
    fi
    if ! [ -d "$out/node_modules/onnxruntime-node" ]; then
        if command -v npm >/dev/null 2>&1; then
            say "installing onnxruntime-node from npm into $out/node_modules (log: $out/npm.log)"
            # The CPU binaries ship in the package; its install script only fetches optional GPU
            # parts from NuGet, which is not reachable here.
            ( cd "$out" && { [ -f package.json ] || echo '{"private": true}' > package.json; } &&
              ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund onnxruntime-node ) \
                >"$out/npm.log" 2>&1 || say "COULD NOT INSTALL onnxruntime-node from npm (see $out/npm.log)"
        else
            say "COULD NOT INSTALL onnxruntime-node: npm (Node.js) not found"
        fi
    fi
fi
torch=0 ort=0
if have_torch; then
    torch=1
    say "PyTorch $("$py" -c 'import torch; print(torch.__version__)') ($py); BLAS: $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || echo unknown)"
else
    say "PyTorch NOT AVAILABLE: no PyTorch anchor, and no ONNX Runtime anchor (its model is exported by PyTorch)"
fi
export NODE_PATH=$PWD/$out/node_modules
if [ $torch = 1 ] && command -v node >/dev/null 2>&1 &&
   v=$(node -e 'console.log(require("onnxruntime-node").env.versions.common)' 2>/dev/null); then
    ort=1
    say "onnxruntime-node $v, Node.js $(node --version)"
elif [ $torch = 1 ]; then
    say "ONNX Runtime NOT AVAILABLE (onnxruntime-node does not load from $NODE_PATH): no ORT anchor"
fi

# ---- the machine ----------------------------------------------------------------------------
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
flags=$(grep -m1 '^flags' /proc/cpuinfo)
isa=AVX2
case " $flags " in *" avx512f "*) isa=AVX-512 ;; esac
native_bf16=0
case " $flags " in *" avx512_bf16 "*|*" amx_bf16 "*) native_bf16=1; isa="$isa BF16" ;; esac
machine="$cpu, $isa, $(nproc) cores"
say "machine: $machine; $threads threads for every engine"
if [ $native_bf16 = 0 ]; then
    say "this CPU has no native bf16 (no AVX-512 BF16 / AMX): PyTorch's bf16 is emulated and slow"
    say "  (its bf16 matmul falls back to a generic kernel); ours runs f32 here, as the plugin does"
    say "  when a recipe asks for bf16 on such a CPU, so the bf16 rows compare ours f32 with PyTorch bf16"
fi
say "AVX2 cap: ours ONEDNN_MAX_CPU_ISA=AVX2, PyTorch ATEN_CPU_CAPABILITY=avx2; ONNX Runtime has no"
say "  switch (its MLAS kernels are chosen from CPUID), so its uncapped figure is set against our capped one"
case $isa in AVX2) say "  this CPU is AVX2 already: the cap should change nothing (rows printed anyway, labelled)" ;; esac
: > "$out/results.tsv"

# ---- per model ------------------------------------------------------------------------------
stamp=$(cat "$here/anchors_torch.py" | sha1sum | cut -c1-8)   # re-export when the model code changes
for m in $models; do
    case $m in B16) size=224 ;; L14) size=518 ;; *) echo "anchors: model $m: B16 or L14" >&2; exit 2 ;; esac
    opts=()
    if [ "$m" = B16 ]; then
        opts+=(--rounds "${rounds:-3}" --images $([ $full = 1 ] && echo 10 || echo 5) --bf16-images 1 --torch-bf16 --cap)
        [ $full = 1 ] && opts+=(--cap-bf16)
    else
        opts+=(--rounds "${rounds:-$([ $full = 1 ] && echo 3 || echo 2)}" --images $([ $full = 1 ] && echo 2 || echo 1) --bf16-images 1 --cap)
        if [ $full = 1 ] || [ $native_bf16 = 1 ]; then opts+=(--torch-bf16); fi
        [ $full = 1 ] && opts+=(--cap-bf16)
    fi
    [ $torch = 1 ] && opts+=(--torch)
    [ $native_bf16 = 1 ] && opts+=(--native-bf16)
    if [ $ort = 1 ]; then
        onnx=$out/${m}_${size}_$stamp.onnx
        if ! [ -f "$onnx" ]; then
            rm -f "$out/${m}_${size}"_*.onnx
            say "exporting the f32 PyTorch tower $m@$size to ONNX ($onnx)"
            if ! "$py" "$here/anchors_torch.py" export "$m" "$size" "$onnx.tmp" "$out/input_$size.f32" >"$out/export.log" 2>&1; then
                say "ONNX EXPORT FAILED for $m@$size (see $out/export.log): no ORT anchor for it"
                rm -f "$onnx.tmp"
            else
                mv "$onnx.tmp" "$onnx"
            fi
        fi
        [ -f "$onnx" ] && opts+=(--onnx "$onnx" --onnx-input "$out/input_$size.f32")
    fi
    echo
    "$py" "$here/anchors_run.py" --model "$m" --size "$size" --threads "$threads" --ours "$ours" \
        --out "$out" --machine "$machine" "${opts[@]}"
    if [ "$m" = L14 ] && [ $torch = 1 ] && [ $full = 0 ] && [ $native_bf16 = 0 ]; then
        # Not run by default: an estimate from this run's B16 bf16 figure, scaled by the flops.
        awk -F'\t' '$1 == "B16@224" && $2 == "PyTorch bf16" { b = $5 }
                     $1 == "L14@518" && $3 == "ours f32" { o = $4 }
                     END { if (b && o) printf "  PyTorch bf16 at L14@518 not run (--full runs it): emulated, it would take about %.0f s per image (this run'"'"'s B16@224 bf16 %.0f ms x the flop ratio 28.1), about %.0fx our f32 time\n", b * 28.1 / 1e3, b, b * 28.1 / o }' "$out/results.tsv"
    fi
done
echo
say "results appended to $out/results.tsv (model, anchor, ours, ours ms, anchor ms, speed-up, rounds x images, threads, machine)"
