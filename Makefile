# dapo-inspect build. `make` builds the plugin and tools, `make check` runs every Check suite
# twice (optimised, then under AddressSanitizer + UndefinedBehaviorSanitizer), `make bench`
# prints performance figures. Sources are picked up by wildcard: add a file, not a rule.

CC      ?= cc
# The golden reference data lives in the repository (tests/golden/README.md says where it
# comes from); GOLDEN=/path overrides it.
GOLDEN  ?= $(abspath $(CURDIR)/tests/golden)
PKGS    := yaml-0.1 libtiff-4 libpng libjpeg freetype2 zlib check
WARN    := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
DEFS    := -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L
BASE    := $(WARN) $(DEFS) -fopenmp -fPIC -fvisibility=hidden -g
OPT     := -O2 -march=x86-64-v2 -mtune=native
SAN     := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LIBS    := -ldnnl $(shell pkg-config --libs yaml-0.1 libtiff-4 libpng libjpeg freetype2 zlib) -lm -fopenmp -pthread
CHECKLIBS := $(shell pkg-config --libs check)

# The layers (ARCHITECTURE.md). Each layer's files are compiled with the include paths of the
# layers it may use and no others, so reaching into another layer does not compile; relative
# includes ("../x.h") are refused by `make layers`, which `make check` runs first.
INC_base  := -Imodule/base
INC_ops   := $(INC_base) -Imodule/ops
INC_model := $(INC_ops) -Imodule/model
INC_image := $(INC_base) -Imodule/image -Isdk_shim/include
INC_post  := $(INC_base) -Imodule/post
INC_tool  := $(INC_model) -Imodule/image -Imodule/post -Imodule/tool -Isdk_shim/include
# Training (head loss and gradients, ground truth, Adam, checkpoints): model and image, never tool.
INC_train := $(INC_model) -Imodule/image -Imodule/train
# Host side (sdk_shim/ and every host we ship): the public header and the host library only.
INC_host  := -Isdk_shim/include -Isdk_shim $(shell pkg-config --cflags-only-I freetype2)
# The calibration command is a host like insp: the public header, the host library, its own.
INC_calib := $(INC_host) -Icalibration
# Generators write model files, so they see the model's constants (never the tool layer).
INC_tools := $(INC_host) $(INC_model)
# Tests and benchmarks exercise every layer directly.
INC_tests := $(INC_tool) $(INC_host) -Imodule/train -Icalibration -Itests/support -Ibuild
# The training command (calibration/train_*.c): a model-building tool like tools/, linked with
# libdapo_core.a; it sees the training layer and the calibration set reader and metrics.
INC_traincmd := $(INC_train) $(INC_host) -Icalibration
LAYERS    := base ops model image post tool train
# The plugin does not train: the train layer goes into libdapo_core.a only.
PLUGIN_LAYERS := $(filter-out train,$(LAYERS))

MODULE_SRC := $(foreach l,$(LAYERS),$(wildcard module/$(l)/*.c))
PLUGIN_SRC := $(foreach l,$(PLUGIN_LAYERS),$(wildcard module/$(l)/*.c))
TEST_SRC   := $(wildcard tests/test_*.c)
TESTLIB_SRC:= $(wildcard tests/support/*.c)
TOOL_SRC   := $(wildcard tools/*.c)
# Host side (sdk_shim): insp_main.c is the CLI's main; the rest is a host library that the CLI,
# the tools and the tests link.
HOST_SRC   := $(filter-out sdk_shim/insp_main.c,$(wildcard sdk_shim/*.c))
BENCH_SRC  := $(wildcard tests/bench/*.c)
# The calibration command (calibration/): a host like insp, so it sees only the public header,
# the loader and the host library; calibrate_main.c is its main, the rest is linked by the tests.
# The training command's files are calibration/train_*.c (train_main.c is its main).
TRAINCMD_SRC := $(filter-out calibration/train_main.c,$(wildcard calibration/train_*.c))
CALIB_SRC  := $(filter-out calibration/calibrate_main.c calibration/train_%.c,$(wildcard calibration/*.c))

REL := build/rel
SANB:= build/san
MODULE_REL := $(MODULE_SRC:%.c=$(REL)/%.o)
MODULE_SAN := $(MODULE_SRC:%.c=$(SANB)/%.o)
PLUGIN_REL := $(PLUGIN_SRC:%.c=$(REL)/%.o)
PLUGIN_SAN := $(PLUGIN_SRC:%.c=$(SANB)/%.o)

DEMO_CLIP := build/demo/clip.safetensors

.PHONY: all check check-rel check-san bench bench-contention clean demo layers calibrate-demo train-demo
all: build/libdapo_inspect.so build/insp build/insp-calibrate build/insp-train $(REL)/check_all $(TOOL_SRC:tools/%.c=build/%)

build/insp: sdk_shim/insp_main.c $(HOST_SRC:%.c=$(REL)/%.o)
	$(CC) $(BASE) $(INC_host) $(OPT) -o $@ $^ $(LIBS) -ldl

build/insp-calibrate: calibration/calibrate_main.c $(CALIB_SRC:%.c=$(REL)/%.o) $(HOST_SRC:%.c=$(REL)/%.o)
	$(CC) $(BASE) $(INC_calib) $(OPT) -o $@ $^ $(LIBS) -ldl
$(SANB)/insp-calibrate: calibration/calibrate_main.c $(CALIB_SRC:%.c=$(SANB)/%.o) $(HOST_SRC:%.c=$(SANB)/%.o)
	$(CC) $(BASE) $(INC_calib) $(SAN) -o $@ $^ $(LIBS) -ldl

build/libdapo_inspect.so: $(PLUGIN_REL) module/tool/exports.map
	$(CC) -shared -o $@ $(PLUGIN_REL) -Wl,--version-script=module/tool/exports.map -Wl,-z,defs -Wl,-z,now $(LIBS)

# The same plugin built with the sanitizers, loaded by the sanitizer test run.
$(SANB)/libdapo_inspect.so: $(PLUGIN_SAN) module/tool/exports.map
	$(CC) -shared -fsanitize=address,undefined -o $@ $(PLUGIN_SAN) -Wl,--version-script=module/tool/exports.map -Wl,-z,now $(LIBS)

$(REL)/libdapo_core.a: $(MODULE_REL)
	rm -f $@ && ar rcs $@ $^
$(SANB)/libdapo_core.a: $(MODULE_SAN)
	rm -f $@ && ar rcs $@ $^

# Include paths by where the source lives: a layer of module/, the host side, or the tests.
INCS = $(INC_tests)
$(foreach l,$(LAYERS),$(eval $(REL)/module/$(l)/%.o $(SANB)/module/$(l)/%.o: INCS = $$(INC_$(l))))
$(REL)/sdk_shim/%.o $(SANB)/sdk_shim/%.o: INCS = $(INC_host)
$(REL)/calibration/%.o $(SANB)/calibration/%.o: INCS = $(INC_calib)
$(REL)/calibration/train_%.o $(SANB)/calibration/train_%.o: INCS = $(INC_traincmd)

# The training command: a model-building tool (like tools/), not a plugin host. It reuses the
# calibration command's set reader, metrics and recipe reader.
TRAINCMD_USES := calibration/dataset.c calibration/metrics.c calibration/recipe_text.c \
                 calibration/report_text.c
build/insp-train: calibration/train_main.c $(TRAINCMD_SRC:%.c=$(REL)/%.o) $(TRAINCMD_USES:%.c=$(REL)/%.o) $(HOST_SRC:%.c=$(REL)/%.o) $(REL)/libdapo_core.a
	$(CC) $(BASE) $(INC_traincmd) $(OPT) -o $@ $< $(filter %.o,$^) $(REL)/libdapo_core.a $(LIBS) -ldl
$(SANB)/insp-train: calibration/train_main.c $(TRAINCMD_SRC:%.c=$(SANB)/%.o) $(TRAINCMD_USES:%.c=$(SANB)/%.o) $(HOST_SRC:%.c=$(SANB)/%.o) $(SANB)/libdapo_core.a
	$(CC) $(BASE) $(INC_traincmd) $(SAN) -o $@ $< $(filter %.o,$^) $(SANB)/libdapo_core.a $(LIBS) -ldl

$(REL)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(INCS) $(OPT) -MMD -MP -c $< -o $@
$(SANB)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(INCS) $(SAN) -MMD -MP -c $< -o $@

# Every tests/test_NAME.c defines `Suite *NAME_suite(void)`; the runner lists them all.
build/suites.inc: $(TEST_SRC)
	@mkdir -p build
	@for f in $(TEST_SRC); do n=$${f#tests/test_}; echo "SUITE($${n%.c})"; done > $@.tmp && mv $@.tmp $@

$(REL)/check_all: tests/check_main.c build/suites.inc $(TEST_SRC:%.c=$(REL)/%.o) $(TESTLIB_SRC:%.c=$(REL)/%.o) $(HOST_SRC:%.c=$(REL)/%.o) $(CALIB_SRC:%.c=$(REL)/%.o) $(TRAINCMD_SRC:%.c=$(REL)/%.o) $(REL)/libdapo_core.a
	$(CC) $(BASE) $(INC_tests) $(OPT) -o $@ tests/check_main.c $(filter %.o,$^) $(REL)/libdapo_core.a $(LIBS) $(CHECKLIBS) -ldl
$(SANB)/check_all: tests/check_main.c build/suites.inc $(TEST_SRC:%.c=$(SANB)/%.o) $(TESTLIB_SRC:%.c=$(SANB)/%.o) $(HOST_SRC:%.c=$(SANB)/%.o) $(CALIB_SRC:%.c=$(SANB)/%.o) $(TRAINCMD_SRC:%.c=$(SANB)/%.o) $(SANB)/libdapo_core.a
	$(CC) $(BASE) $(INC_tests) $(SAN) -o $@ tests/check_main.c $(filter %.o,$^) $(SANB)/libdapo_core.a $(LIBS) $(CHECKLIBS) -ldl

build/%: tools/%.c $(wildcard tools/*.h) $(HOST_SRC:%.c=$(REL)/%.o) $(REL)/libdapo_core.a
	$(CC) $(BASE) $(INC_tools) $(OPT) -o $@ $< $(HOST_SRC:%.c=$(REL)/%.o) $(REL)/libdapo_core.a $(LIBS) -ldl

build/bench: $(BENCH_SRC) $(REL)/libdapo_core.a
	$(CC) $(BASE) $(INC_tests) $(OPT) -o $@ $(BENCH_SRC) $(REL)/libdapo_core.a $(LIBS)

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
# No relative includes anywhere a layer rule applies: they would bypass the include paths above.
layers:
	@bad=$$(grep -rnE '^\s*#\s*include\s*"[^"]*\.\./' module sdk_shim tools tests calibration || true); \
	  if [ -n "$$bad" ]; then echo "layers: relative includes bypass the layer include paths:"; echo "$$bad"; exit 1; fi; \
	  echo "layers: every include goes through its layer's include paths"
	@echo "golden reference data: $(GOLDEN) (see tests/golden/README.md)"

# The parity and op-layer suites run a second time with the whole plugin capped at CHECK_ISA_CAP
# (ONEDNN_MAX_CPU_ISA: oneDNN and our kernels, module/ops/isa.h), so the AVX2 variant of every
# kernel meets the same bounds as the best one this CPU has.
CHECK_ISA_CAP ?= AVX2
check: layers fuzz-check $(REL)/check_all $(SANB)/check_all build/libdapo_inspect.so $(SANB)/libdapo_inspect.so build/insp build/insp-calibrate $(SANB)/insp-calibrate build/insp-train $(SANB)/insp-train $(TOOL_SRC:tools/%.c=build/%)
	OMP_NUM_THREADS=2 DAPO_PLUGIN=build/libdapo_inspect.so DAPO_CALIBRATE=build/insp-calibrate DAPO_TRAIN=build/insp-train $(REL)/check_all
	@for s in nn parity; do echo "== suite $$s with ONEDNN_MAX_CPU_ISA=$(CHECK_ISA_CAP) =="; \
	  env -u DNNL_MAX_CPU_ISA ONEDNN_MAX_CPU_ISA=$(CHECK_ISA_CAP) CK_RUN_SUITE=$$s OMP_NUM_THREADS=2 \
	    DAPO_PLUGIN=build/libdapo_inspect.so $(REL)/check_all || exit 1; done
	OMP_NUM_THREADS=2 DAPO_PLUGIN=$(SANB)/libdapo_inspect.so DAPO_CALIBRATE=$(SANB)/insp-calibrate DAPO_TRAIN=$(SANB)/insp-train $(SANB)/check_all

# One process per configuration: each prints its own peak resident memory. The tiled runs use
# passive OpenMP waits, as the loader sets them for hosts (batch 2 and 8; each line gives the
# 1 -> 2 thread scaling and the share outside the towers beside their targets).
bench: build/bench $(DEMO_CLIP)
	@export OMP_NUM_THREADS=$$(nproc); \
	build/bench vision B16 224 f32 7 && build/bench vision B16 224 bf16 7 && \
	build/bench vision B16 224 int8 7 && \
	build/bench vision L14 518 f32 5 && build/bench vision L14 518 bf16 5 && \
	build/bench vision L14 518 int8 5 && \
	echo "== the AVX2 path (ONEDNN_MAX_CPU_ISA=AVX2: oneDNN and our kernels together) ==" && \
	ONEDNN_MAX_CPU_ISA=AVX2 build/bench vision B16 224 f32 7 && \
	ONEDNN_MAX_CPU_ISA=AVX2 build/bench vision B16 224 int8 7 && \
	ONEDNN_MAX_CPU_ISA=AVX2 build/bench vision L14 518 f32 5 && \
	ONEDNN_MAX_CPU_ISA=AVX2 build/bench vision L14 518 int8 5 && \
	build/bench text L14 20 bf16 && build/bench text L14 20 f32 && \
	build/bench textcache L14 20 bf16 && build/bench textcache L14 20 f32 && \
	OMP_WAIT_POLICY=PASSIVE build/bench tiles build/demo 4096 3 && \
	OMP_WAIT_POLICY=PASSIVE build/bench tiles build/demo 4096 3 8 && \
	tests/bench/contention.sh B16 224 f32 7

# Prompt training's cost (not in `make bench`: about an hour on 2 cores): insp-train's whole step
# (both towers forward and backward, the head, Adam on every group, the reference's 21 states) on
# a generated model with OpenAI ViT-L/14-336 shapes, at 336 and 518 px, batch 8, next to the
# inference forward of the same batch.
.PHONY: bench-train
bench-train: build/bench build/make_demo_model
	@test -f build/l14/clip.safetensors || build/make_demo_model build/l14 --size l14
	@export OMP_NUM_THREADS=$$(nproc); \
	build/bench train-step build/l14/clip.safetensors models/bpe_simple_vocab_16e6.txt.gz 336 8 2 && \
	build/bench train-step build/l14/clip.safetensors models/bpe_simple_vocab_16e6.txt.gz 518 8 2

# Sharing the CPU with the host: slowdown with other work on the cores, per OpenMP wait policy.
bench-contention: build/bench
	tests/bench/contention.sh B16 224 f32 7

# Live speed anchors (not in `make check`): the same random vision tower in PyTorch (f32, bf16)
# and ONNX Runtime, interleaved with ours; installs python3-torch (apt) and onnxruntime-node (npm,
# into build/anchors) itself. Options (tests/bench/anchors.sh --help): ANCHORS_ARGS=--full.
.PHONY: bench-anchors
build/anchors/anchors_ours: tests/bench/anchors/anchors_ours.c $(REL)/libdapo_core.a
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(INC_tests) $(OPT) -o $@ $< $(REL)/libdapo_core.a $(LIBS)
bench-anchors: build/anchors/anchors_ours
	tests/bench/anchors.sh $(ANCHORS_ARGS)

# The demo CLIP is written again whenever its generator is rebuilt: the trained demo DAPO file
# (models/demo_dapo.safetensors) fits only the CLIP that the current generator writes.
$(DEMO_CLIP): build/make_demo_model
	build/make_demo_model build/demo

# The main job on a built-in default: the demo model (a random CLIP, since real CLIP weights
# cannot be downloaded here, see models/README.md, with DAPO prompts trained on synthetic parts by
# `make train-demo`) on held-out synthetic product images with defects, inspected by the
# reference host CLI through the plugin interface.
# The parts are 320 x 240, the size the prompts were trained on (seed 1: the training parts are
# seed 11); the label TIFFs (grey copies of coloured labels, a kind of part the prompts never saw
# in training) are left out.
demo: all $(DEMO_CLIP)
	@test -d build/demo/parts || build/make_demo_images build/demo/parts --size 320x240
	@echo "== dapo-inspect demo: a random CLIP with DAPO prompts trained on synthetic parts (models/demo_dapo.safetensors); it finds synthetic stains and holes (most scratches escape), not defects of real products =="
	build/insp run --recipe recipes/demo.yaml --out build/demo/out --exclude '*_mask.png' \
	  --exclude '*_label.tif' build/demo/parts; \
	  rc=$$?; [ $$rc -le 1 ] || exit $$rc
	@echo "== results: build/demo/out/ (per image NAME.png / NAME.tif: NAME.*.overlay.png picture, NAME.*.json record, NAME.*.anomaly.tif float map, NAME.*.labels.tif defect types; summary.json, summary.csv) =="
	@ls build/demo/out | head -48

# Calibration of the demo recipe on a labelled synthetic set (3 products x (12 good + 6 bad)
# parts): build/demo/calib/report.html, report.json and one calibrated recipe per product.
calibrate-demo: all $(DEMO_CLIP)
	@test -d build/demo/labelled || build/make_demo_images --labelled build/demo/labelled --good 12 --bad 6 --size 320x240
	rm -rf build/demo/calib/recipes build/demo/calib/report.html build/demo/calib/report.json
	build/insp-calibrate --recipe recipes/demo.yaml --out build/demo/calib --recipe-dir build/demo/calib/recipes build/demo/labelled
	@echo "== report: build/demo/calib/report.html (open it in a browser), numbers: build/demo/calib/report.json =="

# The demo's trained DAPO file (not in `make check`: about 17 minutes on a 2-core machine):
# insp-train on a synthetic labelled training split (3 products x (25 good + 75 bad) parts at
# 320 x 240, seed 11; 20 % held out for validation), all groups, 10 epochs = 300 steps, from the
# demo model's untrained DAPO file. The validation metrics before training and after every epoch
# are printed and in build/demo/trained/report.html. Copy build/demo/trained/dapo.safetensors to
# models/demo_dapo.safetensors to use it in the demo (README "The demo's trained prompts").
train-demo: all build/insp-train $(DEMO_CLIP)
	@test -d build/demo/train_s11 || build/make_demo_images --labelled build/demo/train_s11 --good 25 --bad 75 --size 320x240 --seed 11
	build/insp-train --recipe recipes/demo.yaml --init build/demo/dapo.safetensors --out build/demo/trained \
	  --states scratch,hole,stain --epochs 10 --threads 2 build/demo/train_s11
	@echo "== report: build/demo/trained/report.html; weights: build/demo/trained/dapo.safetensors (models/demo_dapo.safetensors is the committed copy) =="

clean:
	rm -rf build


# --- halcon + packaging (issue 7) -------------------------------------------------------------
# The HALCON layer (sdk_shim/halcon: the runtime stand-in and the dapoinspect operators), the
# installed tree, the Debian package and the HALCON extension package. Tests: suites `halcon`
# and `install` (the latter shells out to `make install`, `make halcon-package`, `make deb`).
VERSION      := 0.1.0
PREFIX       ?= /usr/local
DESTDIR      ?=
BINDIR       ?= $(PREFIX)/bin
LIBDIR       ?= $(PREFIX)/lib
LIBEXECDIR   ?= $(PREFIX)/libexec
PLUGINDIR    ?= $(LIBDIR)/dapo-inspect
INCLUDEDIR   ?= $(PREFIX)/include
DATADIR      ?= $(PREFIX)/share/dapo-inspect
DOCDIR       ?= $(PREFIX)/share/doc/dapo-inspect
MANDIR       ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
HALCON_SRC   := $(wildcard sdk_shim/halcon/*.c)
HALCON_OUT   := build/halcon

# The tests link the stand-in and the operators, and export the stand-in's API (-rdynamic) as
# libhalcon does, so an operator library loaded through HALCONEXTENSIONS resolves against it.
$(REL)/check_all: $(HALCON_SRC:%.c=$(REL)/%.o)
$(SANB)/check_all: $(HALCON_SRC:%.c=$(SANB)/%.o)
CHECKLIBS += -rdynamic
check: $(HALCON_OUT)/libdapoinspect.so $(HALCON_OUT)/dapoinspect.html build/inst/insp build/inst/insp-calibrate

# The operator library of the extension package: operators + loader; the HALCON interface
# symbols stay undefined, the host process (HALCON, here the stand-in) provides them.
$(HALCON_OUT)/libdapoinspect.so: sdk_shim/halcon/dapoinspect_ops.c sdk_shim/loader.c $(wildcard sdk_shim/halcon/*.h) sdk_shim/loader.h sdk_shim/include/insp_tool.h
	@mkdir -p $(@D)
	$(CC) $(BASE) $(INC_host) $(OPT) -shared -o $@ sdk_shim/halcon/dapoinspect_ops.c sdk_shim/loader.c -ldl -lpthread
$(HALCON_OUT)/dapoinspect.html: sdk_shim/halcon/def/dapoinspect.def packaging/def2html.py
	@mkdir -p $(@D)
	python3 packaging/def2html.py $< $@ dapoinspect

# The installed insp also looks for the plugin in PLUGINDIR (rebuilt when PLUGINDIR changes).
build/inst/plugindir: FORCE
	@mkdir -p $(@D); echo '$(PLUGINDIR)' | cmp -s - $@ || echo '$(PLUGINDIR)' > $@
build/inst/insp: sdk_shim/insp_main.c $(HOST_SRC:%.c=$(REL)/%.o) build/inst/plugindir
	$(CC) $(BASE) $(INC_host) $(OPT) -DINSP_PLUGIN_DIR='"$(PLUGINDIR)"' -o $@ sdk_shim/insp_main.c $(HOST_SRC:%.c=$(REL)/%.o) $(LIBS) -ldl
build/inst/insp-calibrate: calibration/calibrate_main.c $(CALIB_SRC) $(wildcard calibration/*.h) $(HOST_SRC:%.c=$(REL)/%.o) build/inst/plugindir
	$(CC) $(BASE) $(INC_calib) $(OPT) -DINSP_PLUGIN_DIR='"$(PLUGINDIR)"' -o $@ calibration/calibrate_main.c $(CALIB_SRC) $(HOST_SRC:%.c=$(REL)/%.o) $(LIBS) -ldl

INSTALL_ENV = DESTDIR='$(DESTDIR)' PREFIX='$(PREFIX)' BINDIR='$(BINDIR)' PLUGINDIR='$(PLUGINDIR)' \
  LIBEXECDIR='$(LIBEXECDIR)' INCLUDEDIR='$(INCLUDEDIR)' PKGCONFIGDIR='$(PKGCONFIGDIR)' \
  DATADIR='$(DATADIR)' DOCDIR='$(DOCDIR)' MANDIR='$(MANDIR)' VERSION='$(VERSION)'
install: build/libdapo_inspect.so build/inst/insp build/inst/insp-calibrate build/make_demo_model build/make_demo_images $(HALCON_OUT)/libdapoinspect.so $(HALCON_OUT)/dapoinspect.html
	$(INSTALL_ENV) sh packaging/install.sh install
uninstall:
	$(INSTALL_ENV) sh packaging/install.sh uninstall
deb: build/libdapo_inspect.so build/make_demo_model build/make_demo_images $(HALCON_OUT)/libdapoinspect.so $(HALCON_OUT)/dapoinspect.html
	VERSION='$(VERSION)' MAKE='$(MAKE)' OUT=build sh packaging/build_deb.sh
halcon-package: build/libdapo_inspect.so $(HALCON_OUT)/libdapoinspect.so $(HALCON_OUT)/dapoinspect.html
	OUT='$(HALCON_OUT)' sh packaging/halcon_package.sh
.PHONY: install uninstall deb halcon-package FORCE
FORCE:

-include $(shell find build -name '*.d' 2>/dev/null)

# ---- fuzzing (issue 10): libFuzzer targets in tests/fuzz/, built with clang ----------------------
# Each tests/fuzz/fuzz_NAME.c is a target over the parsers and validators it names, linked with
# only the module files it needs (no oneDNN, no OpenMP runtime: -fopenmp-simd keeps the simd
# pragmas and drops the parallel ones, so a run is single-threaded and reproducible). Seeds come
# from the project's files (tests/fuzz/make_seeds.py); every crash found is kept in
# tests/fuzz/regress/NAME/ and replayed by `make fuzz-check` (part of `make check`).
# `make fuzz` runs each target for FUZZ_SECONDS and prints executions and coverage (cov/ft).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CHECK_SECONDS ?= 6
FUZZ_SANS    := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_FLAGS   := $(WARN) -Wno-pass-failed $(DEFS) -g -O1 -fno-omit-frame-pointer -fopenmp-simd $(FUZZ_SANS)
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_MODULE  := $(wildcard module/base/*.c) module/model/safetensors.c module/model/tokenizer.c \
                module/model/unicode_tables.c module/image/image_input.c module/tool/recipe.c \
                module/tool/params.c
FUZZ_OBJ     := $(FUZZ_MODULE:%.c=build/fuzz/%.o) build/fuzz/sdk_shim/imageio.o
FUZZ_LIBS    := $(shell pkg-config --libs yaml-0.1 libtiff-4 libpng libjpeg zlib) -lm
$(foreach l,$(LAYERS),$(eval build/fuzz/module/$(l)/%.o: INCS = $$(INC_$(l))))
build/fuzz/sdk_shim/%.o: INCS = $(INC_host)
.SECONDARY: $(FUZZ_OBJ)
build/fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(INCS) -MMD -MP -c $< -o $@
build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_file.h $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_FLAGS) -D_GNU_SOURCE -fsanitize=fuzzer $(INC_tests) -o $@ $< $(FUZZ_OBJ) $(FUZZ_LIBS)
build/fuzz/seeds.stamp: tests/fuzz/make_seeds.py $(wildcard recipes/*.yaml) build/make_fuzz_image_seeds
	python3 tests/fuzz/make_seeds.py build/fuzz/seeds && build/make_fuzz_image_seeds build/fuzz/seeds/imageio && touch $@
build/make_fuzz_image_seeds: tests/fuzz/make_image_seeds.c $(HOST_SRC:%.c=$(REL)/%.o)
	$(CC) $(BASE) $(INC_host) $(OPT) -o $@ $< $(HOST_SRC:%.c=$(REL)/%.o) $(LIBS) -ldl
.PHONY: fuzz fuzz-check fuzz-build
fuzz-build: $(FUZZ_NAMES:%=build/fuzz/fuzz_%) build/fuzz/seeds.stamp
# Long runs: new inputs go to build/fuzz/corpus/NAME (the seeds are read alongside), crashes to
# build/fuzz/crash/NAME/; copy a crash into tests/fuzz/regress/NAME/ once it is fixed.
fuzz: fuzz-build
	@for n in $(FUZZ_NAMES); do tests/fuzz/run_fuzz.sh $$n $(FUZZ_SECONDS) || exit 1; done
# CI: the regression inputs replayed, then a short run of each target from the seeds.
fuzz-check: fuzz-build
	@for n in $(FUZZ_NAMES); do tests/fuzz/run_fuzz.sh $$n $(FUZZ_CHECK_SECONDS) || exit 1; done
# ---- end fuzzing ---------------------------------------------------------------------------------

# ---- fault injection (issue 10): tests/fault/, one dedicated binary ------------------------------
# The plugin's objects linked statically with malloc, calloc, realloc, aligned_alloc,
# posix_memalign, strdup and pthread_create wrapped (-Wl,--wrap): the N-th call made by plugin
# code fails. Built on the sanitizer objects, so LeakSanitizer checks every sweep. Not part of
# `make check` (minutes). Fails the first and last allocation of every call site; FAULT_ALL=1
# fails every allocation in turn (hours for tool_create).
FAULT_WRAP := $(foreach f,malloc calloc realloc aligned_alloc posix_memalign strdup pthread_create,-Wl,--wrap=$(f))
build/fault/fault_check: tests/fault/fault_main.c tests/fault/fault_alloc.c tests/fault/fault_alloc.h $(SANB)/tests/support/golden.o $(SANB)/libdapo_core.a
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(INC_tests) -Itests/fault $(SAN) -o $@ tests/fault/fault_main.c tests/fault/fault_alloc.c $(SANB)/tests/support/golden.o $(SANB)/libdapo_core.a $(FAULT_WRAP) $(LIBS) $(CHECKLIBS)
.PHONY: fault
fault: build/fault/fault_check
	OMP_NUM_THREADS=1 CK_FORK=no build/fault/fault_check
# ---- end fault injection -------------------------------------------------------------------------

# ---- ThreadSanitizer (issue 10): tests/tsan/ -----------------------------------------------------
# The plugin, host library and the concurrency suite built with -fsanitize=thread; one OpenMP
# thread (tests/tsan/README.md says why). Any report fails the run.
TSANB     := build/tsan
TSAN_FL   := -O1 -fno-omit-frame-pointer -fsanitize=thread
MODULE_TSAN := $(MODULE_SRC:%.c=$(TSANB)/%.o)
$(foreach l,$(LAYERS),$(eval $(TSANB)/module/$(l)/%.o: INCS = $$(INC_$(l))))
$(TSANB)/sdk_shim/%.o: INCS = $(INC_host)
$(TSANB)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(INCS) $(TSAN_FL) -MMD -MP -c $< -o $@
$(TSANB)/libdapo_inspect.so: $(MODULE_TSAN) module/tool/exports.map
	$(CC) -shared -fsanitize=thread -o $@ $(MODULE_TSAN) -Wl,--version-script=module/tool/exports.map -Wl,-z,now $(LIBS)
# golden.c (test support) reads the manifest with the base layer's JSON reader
$(TSANB)/concurrency_check: tests/tsan/tsan_main.c $(TSANB)/tests/test_concurrency.o $(TSANB)/tests/support/golden.o $(TSANB)/module/base/json.o $(TSANB)/module/base/dp_error.o $(HOST_SRC:%.c=$(TSANB)/%.o)
	$(CC) $(BASE) $(INC_tests) $(TSAN_FL) -o $@ $^ $(LIBS) $(CHECKLIBS) -ldl
.PHONY: tsan
tsan: $(TSANB)/concurrency_check $(TSANB)/libdapo_inspect.so
	OMP_NUM_THREADS=1 CK_FORK=no DAPO_PLUGIN=$(TSANB)/libdapo_inspect.so \
	  TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1 suppressions=$(abspath tests/tsan/tsan.supp)" \
	  $(TSANB)/concurrency_check
# ---- end ThreadSanitizer -------------------------------------------------------------------------

# ---- soak (issue 10): tests/soak/, not part of `make check` ---------------------------------------
# SOAK_CALLS process calls on varying images and SOAK_CYCLES create/destroy cycles through the
# release plugin, RSS printed as it goes; fails if RSS grows after the warm-up.
SOAK_CALLS  ?= 100000
SOAK_CYCLES ?= 1000
build/soak: tests/soak/soak.c $(REL)/tests/support/golden.o $(REL)/module/base/json.o $(REL)/module/base/dp_error.o $(HOST_SRC:%.c=$(REL)/%.o)
	$(CC) $(BASE) $(INC_tests) $(OPT) -o $@ $^ $(LIBS) -ldl
.PHONY: soak
soak: build/soak build/libdapo_inspect.so
	@d=$$(mktemp -d /tmp/dp_soak_XXXXXX); OMP_NUM_THREADS=1 build/soak build/libdapo_inspect.so $$d $(SOAK_CALLS) $(SOAK_CYCLES); rc=$$?; rm -rf $$d; exit $$rc
# ---- end soak ------------------------------------------------------------------------------------

# ---- coverage (issue 10): gcov via gcovr ----------------------------------------------------------
# Every Check suite (against a --coverage build of the core and of the plugin), the fault-
# injection sweep, plus the fuzz
# corpora (seeds, regression inputs and whatever `make fuzz` has grown in build/fuzz/corpus)
# replayed through gcc builds of the fuzz targets; then line and branch coverage of module/ per
# file. Takes several minutes (the parity suite at -O0).
COVB    := build/cov
COV_FL  := -O0 --coverage
MODULE_COV := $(MODULE_SRC:%.c=$(COVB)/%.o)
$(foreach l,$(LAYERS),$(eval $(COVB)/module/$(l)/%.o: INCS = $$(INC_$(l))))
$(COVB)/sdk_shim/%.o: INCS = $(INC_host)
$(COVB)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(INCS) $(COV_FL) -MMD -MP -c $< -o $@
$(COVB)/libdapo_core.a: $(MODULE_COV)
	rm -f $@ && ar rcs $@ $^
$(COVB)/libdapo_inspect.so: $(PLUGIN_SRC:%.c=$(COVB)/%.o) module/tool/exports.map
	$(CC) -shared --coverage -o $@ $(PLUGIN_SRC:%.c=$(COVB)/%.o) -Wl,--version-script=module/tool/exports.map -Wl,-z,now $(LIBS)
$(COVB)/calibration/%.o: INCS = $(INC_calib)
$(COVB)/calibration/train_%.o: INCS = $(INC_traincmd)
$(COVB)/check_all: tests/check_main.c build/suites.inc $(TEST_SRC:%.c=$(COVB)/%.o) $(TESTLIB_SRC:%.c=$(COVB)/%.o) $(HOST_SRC:%.c=$(COVB)/%.o) $(CALIB_SRC:%.c=$(COVB)/%.o) $(TRAINCMD_SRC:%.c=$(COVB)/%.o) $(HALCON_SRC:%.c=$(COVB)/%.o) $(COVB)/libdapo_core.a
	$(CC) $(BASE) $(INC_tests) $(COV_FL) -o $@ tests/check_main.c $(filter %.o,$^) $(COVB)/libdapo_core.a $(LIBS) $(CHECKLIBS) -ldl
$(COVB)/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay_main.c tests/fuzz/fuzz_file.h $(COVB)/libdapo_core.a $(HOST_SRC:%.c=$(COVB)/%.o)
	$(CC) $(BASE) -D_GNU_SOURCE $(INC_tests) $(COV_FL) -o $@ $< tests/fuzz/replay_main.c $(HOST_SRC:%.c=$(COVB)/%.o) $(COVB)/libdapo_core.a $(LIBS) -ldl
# The fault-injection sweep on the coverage build counts the out-of-memory paths too.
$(COVB)/fault_check: tests/fault/fault_main.c tests/fault/fault_alloc.c tests/fault/fault_alloc.h $(COVB)/tests/support/golden.o $(COVB)/libdapo_core.a
	$(CC) $(BASE) $(INC_tests) -Itests/fault $(COV_FL) -fsanitize=address,undefined -o $@ tests/fault/fault_main.c tests/fault/fault_alloc.c $(COVB)/tests/support/golden.o $(COVB)/libdapo_core.a $(FAULT_WRAP) $(LIBS) $(CHECKLIBS)
.PHONY: coverage
coverage: $(COVB)/fault_check $(COVB)/check_all $(COVB)/libdapo_inspect.so $(FUZZ_NAMES:%=$(COVB)/replay_%) build/fuzz/seeds.stamp build/insp build/insp-calibrate $(HALCON_OUT)/libdapoinspect.so $(HALCON_OUT)/dapoinspect.html build/inst/insp build/inst/insp-calibrate $(TOOL_SRC:tools/%.c=build/%)
	find $(COVB) -name '*.gcda' -delete
	OMP_NUM_THREADS=2 DAPO_PLUGIN=$(COVB)/libdapo_inspect.so $(COVB)/check_all > $(COVB)/check.log 2>&1; tail -1 $(COVB)/check.log
	OMP_NUM_THREADS=1 CK_FORK=no $(COVB)/fault_check > $(COVB)/fault.log 2>&1; tail -1 $(COVB)/fault.log
	@for n in $(FUZZ_NAMES); do printf "fuzz corpus %s: " $$n; $(COVB)/replay_$$n build/fuzz/seeds/$$n tests/fuzz/regress/$$n build/fuzz/corpus/$$n 2>/dev/null; done
	@echo "== line coverage of module/ =="
	@gcovr -r . --object-directory $(COVB) --filter 'module/' --exclude 'module/model/unicode_tables.c' 2>/dev/null | tail -n +4
	@echo "== branch coverage of module/ =="
	@gcovr -r . --object-directory $(COVB) --filter 'module/' --exclude 'module/model/unicode_tables.c' --branches --exclude-unreachable-branches 2>/dev/null | tail -n +4
# ---- end coverage --------------------------------------------------------------------------------
