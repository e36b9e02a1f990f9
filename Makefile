# dapo-inspect build. `make` builds the plugin and tools, `make check` runs every Check suite
# twice (optimised, then under AddressSanitizer + UndefinedBehaviorSanitizer), `make bench`
# prints performance figures. Sources are picked up by wildcard: add a file, not a rule.

CC      ?= cc
GOLDEN  ?= $(abspath $(CURDIR)/../shared/golden)
PKGS    := yaml-0.1 libtiff-4 libpng zlib check
WARN    := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
DEFS    := -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L
INCS    := -Imodule -Imodule/nn -Isdk_shim -Isdk_shim/include
BASE    := $(WARN) $(DEFS) $(INCS) -fopenmp -fPIC -fvisibility=hidden -g
OPT     := -O2 -march=x86-64-v2 -mtune=native
SAN     := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LIBS    := -ldnnl $(shell pkg-config --libs yaml-0.1 libtiff-4 libpng zlib) -lm -fopenmp
CHECKLIBS := $(shell pkg-config --libs check)

MODULE_SRC := $(wildcard module/*.c module/nn/*.c)
TEST_SRC   := $(wildcard tests/test_*.c)
TESTLIB_SRC:= $(wildcard tests/support/*.c)
TOOL_SRC   := $(wildcard tools/*.c)
# Host side (sdk_shim): insp_main.c is the CLI's main; the rest is a host library that the CLI,
# the tools and the tests link.
HOST_SRC   := $(filter-out sdk_shim/insp_main.c,$(wildcard sdk_shim/*.c))
# The HALCON layer (sdk_shim/halcon): the runtime stand-in and the dapoinspect operators. The
# tests link both (and export the stand-in's API with -rdynamic, as libhalcon does, so that an
# operator library loaded through HALCONEXTENSIONS resolves against it).
HALCON_SRC := $(wildcard sdk_shim/halcon/*.c)
BENCH_SRC  := $(wildcard tests/bench/*.c)

REL := build/rel
SANB:= build/san
MODULE_REL := $(MODULE_SRC:%.c=$(REL)/%.o)
MODULE_SAN := $(MODULE_SRC:%.c=$(SANB)/%.o)

.PHONY: all check check-rel check-san bench clean demo
all: build/libdapo_inspect.so build/insp $(REL)/check_all $(TOOL_SRC:tools/%.c=build/%)

build/insp: sdk_shim/insp_main.c $(HOST_SRC:%.c=$(REL)/%.o)
	$(CC) $(BASE) $(OPT) -o $@ $^ $(LIBS) -ldl

build/libdapo_inspect.so: $(MODULE_REL) module/exports.map
	$(CC) -shared -o $@ $(MODULE_REL) -Wl,--version-script=module/exports.map -Wl,-z,defs -Wl,-z,now $(LIBS)

# The same plugin built with the sanitizers, loaded by the sanitizer test run.
$(SANB)/libdapo_inspect.so: $(MODULE_SAN) module/exports.map
	$(CC) -shared -fsanitize=address,undefined -o $@ $(MODULE_SAN) -Wl,--version-script=module/exports.map -Wl,-z,now $(LIBS)

$(REL)/libdapo_core.a: $(MODULE_REL)
	rm -f $@ && ar rcs $@ $^
$(SANB)/libdapo_core.a: $(MODULE_SAN)
	rm -f $@ && ar rcs $@ $^

$(REL)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(OPT) -MMD -MP -c $< -o $@
$(SANB)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(SAN) -MMD -MP -c $< -o $@

# Every tests/test_NAME.c defines `Suite *NAME_suite(void)`; the runner lists them all.
build/suites.inc: $(TEST_SRC)
	@mkdir -p build
	@for f in $(TEST_SRC); do n=$${f#tests/test_}; echo "SUITE($${n%.c})"; done > $@.tmp && mv $@.tmp $@

$(REL)/check_all: tests/check_main.c build/suites.inc $(TEST_SRC:%.c=$(REL)/%.o) $(TESTLIB_SRC:%.c=$(REL)/%.o) $(HOST_SRC:%.c=$(REL)/%.o) $(HALCON_SRC:%.c=$(REL)/%.o) $(REL)/libdapo_core.a
	$(CC) $(BASE) $(OPT) -rdynamic -Ibuild -Itests/support -o $@ tests/check_main.c $(filter %.o,$^) $(REL)/libdapo_core.a $(LIBS) $(CHECKLIBS) -ldl
$(SANB)/check_all: tests/check_main.c build/suites.inc $(TEST_SRC:%.c=$(SANB)/%.o) $(TESTLIB_SRC:%.c=$(SANB)/%.o) $(HOST_SRC:%.c=$(SANB)/%.o) $(HALCON_SRC:%.c=$(SANB)/%.o) $(SANB)/libdapo_core.a
	$(CC) $(BASE) $(SAN) -rdynamic -Ibuild -Itests/support -o $@ tests/check_main.c $(filter %.o,$^) $(SANB)/libdapo_core.a $(LIBS) $(CHECKLIBS) -ldl

$(REL)/tests/%.o $(SANB)/tests/%.o: BASE += -Itests/support

build/%: tools/%.c $(wildcard tools/*.h) $(HOST_SRC:%.c=$(REL)/%.o) $(REL)/libdapo_core.a
	$(CC) $(BASE) $(OPT) -o $@ $< $(HOST_SRC:%.c=$(REL)/%.o) $(REL)/libdapo_core.a $(LIBS) -ldl

build/bench: $(BENCH_SRC) $(REL)/libdapo_core.a
	$(CC) $(BASE) $(OPT) -o $@ $(BENCH_SRC) $(REL)/libdapo_core.a $(LIBS)

export DAPO_GOLDEN := $(GOLDEN)
export DAPO_MODELS := $(abspath $(CURDIR)/models)
# LeakSanitizer is on; libgomp keeps its thread pool alive at exit, which is not ours to free.
export ASAN_OPTIONS := detect_leaks=1:abort_on_error=0:detect_odr_violation=0
export LSAN_OPTIONS := suppressions=$(abspath tests/lsan.supp):print_suppressions=0
export UBSAN_OPTIONS := print_stacktrace=1:halt_on_error=1

check-rel: $(REL)/check_all build/libdapo_inspect.so
	OMP_NUM_THREADS=2 $(REL)/check_all
check-san: $(SANB)/check_all
	OMP_NUM_THREADS=2 $(SANB)/check_all
# Both binaries build in parallel; the suites run one after the other (optimised first), so the
# output ends with the sanitizer run's Check summary.
check: $(REL)/check_all $(SANB)/check_all build/libdapo_inspect.so $(SANB)/libdapo_inspect.so build/insp $(TOOL_SRC:tools/%.c=build/%)
	OMP_NUM_THREADS=2 DAPO_PLUGIN=build/libdapo_inspect.so $(REL)/check_all
	OMP_NUM_THREADS=2 DAPO_PLUGIN=$(SANB)/libdapo_inspect.so $(SANB)/check_all

# One process per configuration: each prints its own peak resident memory.
bench: build/bench
	@export OMP_NUM_THREADS=$$(nproc); \
	build/bench vision B16 224 f32 7 && build/bench vision B16 224 bf16 7 && \
	build/bench vision L14 518 f32 5 && build/bench vision L14 518 bf16 5 && \
	build/bench text L14 20 bf16 && build/bench text L14 20 f32

# The main job on a built-in default: an UNTRAINED demo model (random weights: real CLIP and DAPO
# weights cannot be downloaded here, see models/README.md) and synthetic product images with
# defects, inspected by the reference host CLI through the plugin interface.
demo: all
	@test -f build/demo/clip.safetensors || build/make_demo_model build/demo
	@test -d build/demo/images || build/make_demo_images build/demo/images
	@echo "== dapo-inspect demo: UNTRAINED model with random weights; scores and maps show the pipeline working, not real defect detection =="
	imgs=$$(ls build/demo/images/*.png build/demo/images/*.tif | grep -v '_mask\.png$$'); \
	  build/insp run --recipe recipes/demo.yaml --out build/demo/out $$imgs; \
	  rc=$$?; [ $$rc -le 1 ] || exit $$rc
	@echo "== results: build/demo/out/ (per image: *_anomaly.tif float map, *_labels.tif defect types, *_overlay.png, *.json; summary.json) =="
	@ls build/demo/out | head -40

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
