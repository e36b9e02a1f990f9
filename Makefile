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

$(REL)/check_all: tests/check_main.c build/suites.inc $(TEST_SRC:%.c=$(REL)/%.o) $(TESTLIB_SRC:%.c=$(REL)/%.o) $(HOST_SRC:%.c=$(REL)/%.o) $(REL)/libdapo_core.a
	$(CC) $(BASE) $(OPT) -Ibuild -Itests/support -o $@ tests/check_main.c $(filter %.o,$^) $(REL)/libdapo_core.a $(LIBS) $(CHECKLIBS) -ldl
$(SANB)/check_all: tests/check_main.c build/suites.inc $(TEST_SRC:%.c=$(SANB)/%.o) $(TESTLIB_SRC:%.c=$(SANB)/%.o) $(HOST_SRC:%.c=$(SANB)/%.o) $(SANB)/libdapo_core.a
	$(CC) $(BASE) $(SAN) -Ibuild -Itests/support -o $@ tests/check_main.c $(filter %.o,$^) $(SANB)/libdapo_core.a $(LIBS) $(CHECKLIBS) -ldl

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
check: $(HALCON_OUT)/libdapoinspect.so $(HALCON_OUT)/dapoinspect.html build/inst/insp

# The operator library of the extension package: operators + loader; the HALCON interface
# symbols stay undefined, the host process (HALCON, here the stand-in) provides them.
$(HALCON_OUT)/libdapoinspect.so: sdk_shim/halcon/dapoinspect_ops.c sdk_shim/loader.c $(wildcard sdk_shim/halcon/*.h) sdk_shim/loader.h sdk_shim/include/insp_tool.h
	@mkdir -p $(@D)
	$(CC) $(BASE) $(OPT) -shared -o $@ sdk_shim/halcon/dapoinspect_ops.c sdk_shim/loader.c -ldl -lpthread
$(HALCON_OUT)/dapoinspect.html: sdk_shim/halcon/def/dapoinspect.def packaging/def2html.py
	@mkdir -p $(@D)
	python3 packaging/def2html.py $< $@ dapoinspect

# The installed insp also looks for the plugin in PLUGINDIR (rebuilt when PLUGINDIR changes).
build/inst/plugindir: FORCE
	@mkdir -p $(@D); echo '$(PLUGINDIR)' | cmp -s - $@ || echo '$(PLUGINDIR)' > $@
build/inst/insp: sdk_shim/insp_main.c $(HOST_SRC:%.c=$(REL)/%.o) build/inst/plugindir
	$(CC) $(BASE) $(OPT) -DINSP_PLUGIN_DIR='"$(PLUGINDIR)"' -o $@ sdk_shim/insp_main.c $(HOST_SRC:%.c=$(REL)/%.o) $(LIBS) -ldl

INSTALL_ENV = DESTDIR='$(DESTDIR)' PREFIX='$(PREFIX)' BINDIR='$(BINDIR)' PLUGINDIR='$(PLUGINDIR)' \
  LIBEXECDIR='$(LIBEXECDIR)' INCLUDEDIR='$(INCLUDEDIR)' PKGCONFIGDIR='$(PKGCONFIGDIR)' \
  DATADIR='$(DATADIR)' DOCDIR='$(DOCDIR)' MANDIR='$(MANDIR)' VERSION='$(VERSION)'
install: build/libdapo_inspect.so build/inst/insp build/make_demo_model build/make_demo_images $(HALCON_OUT)/libdapoinspect.so $(HALCON_OUT)/dapoinspect.html
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
