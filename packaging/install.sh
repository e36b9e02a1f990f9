#!/bin/sh
# Installs (or uninstalls) dapo-inspect. Called by `make install` / `make uninstall`, which
# pass the directories below in the environment; every destination is prefixed by $DESTDIR.
#   BINDIR      the CLI insp and the calibration command insp-calibrate
#   PLUGINDIR   libdapo_inspect.so, and halcon/dapoinspect/ (the HALCON extension package)
#   LIBEXECDIR  dapo-inspect/make_demo_model, make_demo_images (demo model and images)
#   INCLUDEDIR  dapo-inspect/insp_tool.h
#   PKGCONFIGDIR dapo-inspect.pc
#   DATADIR     models/ (CLIP BPE vocabulary, the demo's trained DAPO file), recipes/ (examples +
#               reference)
#   DOCDIR, MANDIR
# Sources: the build tree ($BUILD, default build) and the repository ($SRC, default .).
set -eu
action=${1:-install}
: "${DESTDIR:=}" "${BUILD:=build}" "${SRC:=.}"
: "${BINDIR:?}" "${PLUGINDIR:?}" "${LIBEXECDIR:?}" "${INCLUDEDIR:?}" "${PKGCONFIGDIR:?}"
: "${DATADIR:?}" "${DOCDIR:?}" "${MANDIR:?}" "${PREFIX:?}" "${VERSION:?}"
HALCON_PKG=${HALCON_PKG:-dapoinspect}
HALCON_ARCH=${HALCON_ARCH:-x64-linux}
HALCON_DIR=$PLUGINDIR/halcon/$HALCON_PKG
VOCAB=bpe_simple_vocab_16e6.txt.gz
DEMO_DAPO=demo_dapo.safetensors
D=$DESTDIR

# Every installed file, relative to nothing (absolute paths without DESTDIR).
files() {
    echo "$BINDIR/insp"
    echo "$BINDIR/insp-calibrate"
    echo "$PLUGINDIR/libdapo_inspect.so"
    echo "$LIBEXECDIR/dapo-inspect/make_demo_model"
    echo "$LIBEXECDIR/dapo-inspect/make_demo_images"
    echo "$INCLUDEDIR/dapo-inspect/insp_tool.h"
    echo "$PKGCONFIGDIR/dapo-inspect.pc"
    echo "$DATADIR/models/$VOCAB"
    echo "$DATADIR/models/$DEMO_DAPO"
    for r in "$SRC"/recipes/*.yaml "$SRC"/recipes/README.md; do echo "$DATADIR/recipes/${r##*/}"; done
    echo "$DOCDIR/README.md"
    echo "$DOCDIR/models-README.md"
    echo "$DOCDIR/VOCAB-NOTICE.txt"
    echo "$MANDIR/man1/insp.1.gz"
    echo "$MANDIR/man1/insp-calibrate.1.gz"
    echo "$HALCON_DIR/def/$HALCON_PKG.def"
    echo "$HALCON_DIR/lib/$HALCON_ARCH/lib$HALCON_PKG.so"
    echo "$HALCON_DIR/lib/$HALCON_ARCH/libdapo_inspect.so"
    echo "$HALCON_DIR/doc/$HALCON_PKG.html"
    echo "$HALCON_DIR/examples/hdevelop/inspect_part.hdev"
    echo "$HALCON_DIR/README.txt"
}

if [ "$action" = uninstall ]; then
    files | while read -r f; do rm -f "$D$f"; done
    # directories of ours, deepest first; shared ones (bin, lib, ...) only if empty
    for d in "$HALCON_DIR/lib/$HALCON_ARCH" "$HALCON_DIR/lib" "$HALCON_DIR/def" "$HALCON_DIR/doc" \
             "$HALCON_DIR/examples/hdevelop" "$HALCON_DIR/examples" "$HALCON_DIR" \
             "$PLUGINDIR/halcon" "$PLUGINDIR" "$LIBEXECDIR/dapo-inspect" "$INCLUDEDIR/dapo-inspect" \
             "$DATADIR/models" "$DATADIR/recipes" "$DATADIR" "$DOCDIR" "$MANDIR/man1" "$MANDIR" \
             "$PKGCONFIGDIR" "$LIBEXECDIR" "$BINDIR" "$INCLUDEDIR" "$(dirname "$DOCDIR")" \
             "$(dirname "$DATADIR")" "$(dirname "$PLUGINDIR")" "$PREFIX"; do
        rmdir "$D$d" 2>/dev/null || true
    done
    echo "dapo-inspect uninstalled from ${D:-/}${D:+ }($PREFIX); recipes and models you added were left alone"
    exit 0
fi

inst() { # mode source destination
    install -d -m 0755 "$(dirname "$3")"
    install -m "$1" "$2" "$3"
}

inst 0755 "$BUILD/inst/insp" "$D$BINDIR/insp"
inst 0755 "$BUILD/inst/insp-calibrate" "$D$BINDIR/insp-calibrate"
inst 0644 "$BUILD/libdapo_inspect.so" "$D$PLUGINDIR/libdapo_inspect.so"
inst 0755 "$BUILD/make_demo_model" "$D$LIBEXECDIR/dapo-inspect/make_demo_model"
inst 0755 "$BUILD/make_demo_images" "$D$LIBEXECDIR/dapo-inspect/make_demo_images"
inst 0644 "$SRC/sdk_shim/include/insp_tool.h" "$D$INCLUDEDIR/dapo-inspect/insp_tool.h"
inst 0644 "$SRC/models/$VOCAB" "$D$DATADIR/models/$VOCAB"
inst 0644 "$SRC/models/$DEMO_DAPO" "$D$DATADIR/models/$DEMO_DAPO"
inst 0644 "$SRC/README.md" "$D$DOCDIR/README.md"
inst 0644 "$SRC/models/README.md" "$D$DOCDIR/models-README.md"
inst 0644 "$SRC/models/VOCAB-NOTICE.txt" "$D$DOCDIR/VOCAB-NOTICE.txt"
inst 0644 "$SRC/recipes/README.md" "$D$DATADIR/recipes/README.md"

# pkg-config file
install -d -m 0755 "$D$PKGCONFIGDIR"
sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@INCLUDEDIR@|$INCLUDEDIR|g" -e "s|@PLUGINDIR@|$PLUGINDIR|g" \
    -e "s|@DATADIR@|$DATADIR|g" -e "s|@VERSION@|$VERSION|g" \
    "$SRC/packaging/dapo-inspect.pc.in" > "$D$PKGCONFIGDIR/dapo-inspect.pc"
chmod 0644 "$D$PKGCONFIGDIR/dapo-inspect.pc"

# Example recipes: model.vocabulary points at the installed vocabulary (absolute), so a recipe
# copied anywhere (e.g. /srv/dapo-inspect/recipes) still finds it, and so does the demo recipe's
# trained DAPO file; the demo recipe expects the demo CLIP in ./demo next to it
# (LIBEXECDIR/dapo-inspect/make_demo_model demo).
install -d -m 0755 "$D$DATADIR/recipes"
for r in "$SRC"/recipes/*.yaml; do
    out="$D$DATADIR/recipes/${r##*/}"
    awk -v vocab="$DATADIR/models/$VOCAB" -v demo_dapo="$DATADIR/models/$DEMO_DAPO" '
        /^[ \t]*#?[ \t]*vocabulary:/ { next }               # any vocabulary line, set or commented
        { sub(/\.\.\/models\/demo_dapo\.safetensors/, demo_dapo); sub(/\.\.\/build\/demo\//, "demo/"); sub(/the build generates into build\/demo\//, "make_demo_model writes into ./demo/ (next to this recipe)") }
        { print }
        /^[ \t]+dapo:/ && !done { match($0, /^[ \t]+/); printf "%svocabulary: %s   # installed with dapo-inspect\n", substr($0, 1, RLENGTH), vocab; done = 1 }
    ' "$r" > "$out"
    chmod 0644 "$out"
done

# man page (compressed, reproducible)
install -d -m 0755 "$D$MANDIR/man1"
for m in insp insp-calibrate; do
    gzip -9n < "$SRC/packaging/$m.1" > "$D$MANDIR/man1/$m.1.gz"
    chmod 0644 "$D$MANDIR/man1/$m.1.gz"
done

# The HALCON extension package, with the plugin next to its operator library (a relative link:
# the tree can be copied elsewhere with cp -L).
inst 0644 "$SRC/sdk_shim/halcon/def/$HALCON_PKG.def" "$D$HALCON_DIR/def/$HALCON_PKG.def"
inst 0644 "$BUILD/halcon/lib$HALCON_PKG.so" "$D$HALCON_DIR/lib/$HALCON_ARCH/lib$HALCON_PKG.so"
ln -sf ../../../../libdapo_inspect.so "$D$HALCON_DIR/lib/$HALCON_ARCH/libdapo_inspect.so"
inst 0644 "$BUILD/halcon/$HALCON_PKG.html" "$D$HALCON_DIR/doc/$HALCON_PKG.html"
inst 0644 "$SRC/packaging/halcon/examples/hdevelop/inspect_part.hdev" \
          "$D$HALCON_DIR/examples/hdevelop/inspect_part.hdev"
inst 0644 "$SRC/packaging/halcon/README.txt" "$D$HALCON_DIR/README.txt"

echo "dapo-inspect $VERSION installed into ${D}${PREFIX}"
