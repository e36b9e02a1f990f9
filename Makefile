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
# Host side (sdk_shim/ and every host we ship): the public header and the host library only.
INC_host  := -Isdk_shim/include -Isdk_shim $(shell pkg-config --cflags-only-I freetype2)
# The calibration command is a host like insp: the public header, the host library, its own.
INC_calib := $(INC_host) -Icalibration
# Generators write model files, so they see the model's constants (never the tool layer).
INC_tools := $(INC_host) $(INC_model)
# Tests and benchmarks exercise every layer directly.
INC_tests := $(INC_tool) $(INC_host) -Icalibration -Itests/support -Ibuild
LAYERS    := base ops model image post tool

MODULE_SRC := $(foreach l,$(LAYERS),$(wildcard module/$(l)/*.c))
TEST_SRC   := $(wildcard tests/test_*.c)
TESTLIB_SRC:= $(wildcard tests/support/*.c)
TOOL_SRC   := $(wildcard tools/*.c)
# Host side (sdk_shim): insp_main.c is the CLI's main; the rest is a host library that the CLI,
# the tools and the tests link.
HOST_SRC   := $(filter-out sdk_shim/insp_main.c,$(wildcard sdk_shim/*.c))
BENCH_SRC  := $(wildcard tests/bench/*.c)
# The calibration command (calibration/): a host like insp, so it sees only the public header,
# the loader and the host library; calibrate_main.c is its main, the rest is linked by the tests.
CALIB_SRC  := $(filter-out calibration/calibrate_main.c,$(wildcard calibration/*.c))

REL := build/rel
SANB:= build/san
MODULE_REL := $(MODULE_SRC:%.c=$(REL)/%.o)
MODULE_SAN := $(MODULE_SRC:%.c=$(SANB)/%.o)

.PHONY: all check check-rel check-san bench bench-contention clean demo layers calibrate-demo
all: build/libdapo_inspect.so build/insp build/insp-calibrate $(REL)/check_all $(TOOL_SRC:tools/%.c=build/%)

build/insp: sdk_shim/insp_main.c $(HOST_SRC:%.c=$(REL)/%.o)
	$(CC) $(BASE) $(INC_host) $(OPT) -o $@ $^ $(LIBS) -ldl

build/insp-calibrate: calibration/calibrate_main.c $(CALIB_SRC:%.c=$(REL)/%.o) $(HOST_SRC:%.c=$(REL)/%.o)
	$(CC) $(BASE) $(INC_calib) $(OPT) -o $@ $^ $(LIBS) -ldl
$(SANB)/insp-calibrate: calibration/calibrate_main.c $(CALIB_SRC:%.c=$(SANB)/%.o) $(HOST_SRC:%.c=$(SANB)/%.o)
	$(CC) $(BASE) $(INC_calib) $(SAN) -o $@ $^ $(LIBS) -ldl

build/libdapo_inspect.so: $(MODULE_REL) module/tool/exports.map
	$(CC) -shared -o $@ $(MODULE_REL) -Wl,--version-script=module/tool/exports.map -Wl,-z,defs -Wl,-z,now $(LIBS)

# The same plugin built with the sanitizers, loaded by the sanitizer test run.
$(SANB)/libdapo_inspect.so: $(MODULE_SAN) module/tool/exports.map
	$(CC) -shared -fsanitize=address,undefined -o $@ $(MODULE_SAN) -Wl,--version-script=module/tool/exports.map -Wl,-z,now $(LIBS)

$(REL)/libdapo_core.a: $(MODULE_REL)
	rm -f $@ && ar rcs $@ $^
$(SANB)/libdapo_core.a: $(MODULE_SAN)
	rm -f $@ && ar rcs $@ $^

# Include paths by where the source lives: a layer of module/, the host side, or the tests.
INCS = $(INC_tests)
$(foreach l,$(LAYERS),$(eval $(REL)/module/$(l)/%.o $(SANB)/module/$(l)/%.o: INCS = $$(INC_$(l))))
$(REL)/sdk_shim/%.o $(SANB)/sdk_shim/%.o: INCS = $(INC_host)
$(REL)/calibration/%.o $(SANB)/calibration/%.o: INCS = $(INC_calib)

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

$(REL)/check_all: tests/check_main.c build/suites.inc $(TEST_SRC:%.c=$(REL)/%.o) $(TESTLIB_SRC:%.c=$(REL)/%.o) $(HOST_SRC:%.c=$(REL)/%.o) $(CALIB_SRC:%.c=$(REL)/%.o) $(REL)/libdapo_core.a
	$(CC) $(BASE) $(INC_tests) $(OPT) -o $@ tests/check_main.c $(filter %.o,$^) $(REL)/libdapo_core.a $(LIBS) $(CHECKLIBS) -ldl
$(SANB)/check_all: tests/check_main.c build/suites.inc $(TEST_SRC:%.c=$(SANB)/%.o) $(TESTLIB_SRC:%.c=$(SANB)/%.o) $(HOST_SRC:%.c=$(SANB)/%.o) $(CALIB_SRC:%.c=$(SANB)/%.o) $(SANB)/libdapo_core.a
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

check: layers $(REL)/check_all $(SANB)/check_all build/libdapo_inspect.so $(SANB)/libdapo_inspect.so build/insp build/insp-calibrate $(SANB)/insp-calibrate $(TOOL_SRC:tools/%.c=build/%)
	OMP_NUM_THREADS=2 DAPO_PLUGIN=build/libdapo_inspect.so DAPO_CALIBRATE=build/insp-calibrate $(REL)/check_all
	OMP_NUM_THREADS=2 DAPO_PLUGIN=$(SANB)/libdapo_inspect.so DAPO_CALIBRATE=$(SANB)/insp-calibrate $(SANB)/check_all

# One process per configuration: each prints its own peak resident memory.
bench: build/bench
	@export OMP_NUM_THREADS=$$(nproc); \
	build/bench vision B16 224 f32 7 && build/bench vision B16 224 bf16 7 && \
	build/bench vision L14 518 f32 5 && build/bench vision L14 518 bf16 5 && \
	build/bench text L14 20 bf16 && build/bench text L14 20 f32 && \
	tests/bench/contention.sh B16 224 f32 7

# Sharing the CPU with the host: slowdown with other work on the cores, per OpenMP wait policy.
bench-contention: build/bench
	tests/bench/contention.sh B16 224 f32 7

# The main job on a built-in default: an UNTRAINED demo model (random weights: real CLIP and DAPO
# weights cannot be downloaded here, see models/README.md) and synthetic product images with
# defects, inspected by the reference host CLI through the plugin interface.
demo: all
	@test -f build/demo/clip.safetensors || build/make_demo_model build/demo
	@test -d build/demo/images || build/make_demo_images build/demo/images
	@echo "== dapo-inspect demo: UNTRAINED model with random weights; scores and maps show the pipeline working, not real defect detection =="
	build/insp run --recipe recipes/demo.yaml --out build/demo/out --exclude '*_mask.png' build/demo/images; \
	  rc=$$?; [ $$rc -le 1 ] || exit $$rc
	@echo "== results: build/demo/out/ (per image NAME.png / NAME.tif: NAME.*.overlay.png picture, NAME.*.json record, NAME.*.anomaly.tif float map, NAME.*.labels.tif defect types; summary.json, summary.csv) =="
	@ls build/demo/out | head -48

# Calibration of the demo recipe on a labelled synthetic set (3 products x (12 good + 6 bad)
# parts): build/demo/calib/report.html, report.json and one calibrated recipe per product.
calibrate-demo: all
	@test -f build/demo/clip.safetensors || build/make_demo_model build/demo
	@test -d build/demo/labelled || build/make_demo_images --labelled build/demo/labelled --good 12 --bad 6 --size 320x240
	rm -rf build/demo/calib/recipes build/demo/calib/report.html build/demo/calib/report.json
	build/insp-calibrate --recipe recipes/demo.yaml --out build/demo/calib --recipe-dir build/demo/calib/recipes build/demo/labelled
	@echo "== report: build/demo/calib/report.html (open it in a browser), numbers: build/demo/calib/report.json =="

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
