#!/bin/sh
# Assembles the HALCON extension package tree (host_plugin.md 1.9) in $OUT/dapoinspect and a
# tarball of it: def/, lib/<arch>/ (operator library + plugin), doc/, examples/, source/.
# Called by `make halcon-package`.
set -eu
: "${OUT:=build/halcon}" "${HALCON_ARCH:=x64-linux}"
P=$OUT/dapoinspect
rm -rf "$P"
install -d -m 0755 "$P/def" "$P/lib/$HALCON_ARCH" "$P/doc" "$P/examples/hdevelop" "$P/source"
install -m 0644 sdk_shim/halcon/def/dapoinspect.def "$P/def/"
install -m 0644 "$OUT/libdapoinspect.so" "$P/lib/$HALCON_ARCH/"
install -m 0644 build/libdapo_inspect.so "$P/lib/$HALCON_ARCH/"
install -m 0644 "$OUT/dapoinspect.html" "$P/doc/"
install -m 0644 packaging/halcon/examples/hdevelop/inspect_part.hdev "$P/examples/hdevelop/"
install -m 0644 packaging/halcon/README.txt "$P/"
install -m 0644 sdk_shim/halcon/dapoinspect_ops.c sdk_shim/halcon/dapoinspect_ops.h \
    sdk_shim/halcon/halcon_shim.h sdk_shim/loader.c sdk_shim/loader.h \
    sdk_shim/include/insp_tool.h "$P/source/"
tar -C "$OUT" -czf "$OUT/dapoinspect-$HALCON_ARCH.tar.gz" dapoinspect
echo "HALCON extension package: $P ($OUT/dapoinspect-$HALCON_ARCH.tar.gz)"
(cd "$OUT" && find dapoinspect -type f | sort)
