#!/usr/bin/env bash
# Builds and runs ONE Check suite in isolation, under ASan+UBSan, linking only the sources named.
# Usage: tests/run_one.sh NAME [source.c ...]
#   NAME: the suite (tests/test_NAME.c defines `Suite *NAME_suite(void)`)
#   sources: module/host files the suite needs (module/base/*.c are always added)
# Meant for working on one part while other parts are being edited; `make check` runs everything.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1; shift
out=build/one/$name
mkdir -p "$out"
echo "SUITE($name)" > "$out/suites.inc"
cc -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter \
   -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L \
   -Imodule/base -Imodule/ops -Imodule/model -Imodule/image -Imodule/post -Imodule/tool \
   -Isdk_shim -Isdk_shim/include \
   -Itests/support -I"$out" -fopenmp -g -O1 -fno-omit-frame-pointer \
   -fsanitize=address,undefined -fno-sanitize-recover=all \
   -o "$out/check_$name" tests/check_main.c "tests/test_$name.c" tests/support/*.c \
   module/base/*.c "$@" \
   -ldnnl $(pkg-config --libs yaml-0.1 libtiff-4 libpng zlib check) -lm
export DAPO_GOLDEN=${DAPO_GOLDEN:-$(pwd)/tests/golden}
export DAPO_MODELS=${DAPO_MODELS:-$(pwd)/models}
LSAN_OPTIONS=suppressions=$(pwd)/tests/lsan.supp "$out/check_$name"
