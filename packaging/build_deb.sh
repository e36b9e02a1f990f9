#!/bin/sh
# Builds the Debian package with Debian's own tools: `make install` into a staging root,
# dpkg-shlibdeps for the run-time dependencies, dpkg-gencontrol for DEBIAN/control, dpkg-deb
# (root:root ownership without fakeroot), then lintian. Called by `make deb`.
# Env: VERSION, MAKE (the make that called us), OUT (directory for the .deb).
set -eu
: "${VERSION:?}" "${MAKE:=make}" "${OUT:=build}"
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
ARCH=$(dpkg-architecture -qDEB_HOST_ARCH)
W=$OUT/deb
ROOT=$W/root
rm -rf "$W"
mkdir -p "$W/src/debian"
$MAKE -s install DESTDIR="$(pwd)/$ROOT" PREFIX=/usr LIBDIR=/usr/lib/$MA LIBEXECDIR=/usr/libexec \
    >/dev/null
# Debian ships stripped objects (the build keeps -g for debugging in place)
for f in "$ROOT/usr/bin/"* "$ROOT/usr/libexec/dapo-inspect/"* \
         "$ROOT/usr/lib/$MA/dapo-inspect/libdapo_inspect.so" \
         "$ROOT/usr/lib/$MA/dapo-inspect/halcon/dapoinspect/lib/x64-linux/libdapoinspect.so"; do
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$f"
done
DOC=$ROOT/usr/share/doc/dapo-inspect
install -m 0644 packaging/debian/copyright "$DOC/copyright"
gzip -9n < packaging/debian/changelog > "$DOC/changelog.Debian.gz"
chmod 0644 "$DOC/changelog.Debian.gz"
cp packaging/debian/control packaging/debian/changelog "$W/src/debian/"
mkdir -p "$ROOT/DEBIAN"
# run-time dependencies of the programs and the plugin (the operator library's HALCON symbols
# come from the HALCON process that loads it, so it is left out)
( cd "$W/src" && dpkg-shlibdeps -T../substvars \
      ../root/usr/bin/insp ../root/usr/libexec/dapo-inspect/make_demo_model \
      ../root/usr/libexec/dapo-inspect/make_demo_images \
      "../root/usr/lib/$MA/dapo-inspect/libdapo_inspect.so" )
( cd "$W/src" && dpkg-gencontrol -pdapo-inspect -P../root -T../substvars -f../files \
      -v"$VERSION-1" -DArchitecture="$ARCH" -Vmisc:Depends= )
( cd "$ROOT" && find usr -type f -print0 | sort -z | xargs -0 md5sum > DEBIAN/md5sums )
chmod 0644 "$ROOT/DEBIAN/control" "$ROOT/DEBIAN/md5sums"
DEB=$OUT/dapo-inspect_${VERSION}-1_${ARCH}.deb
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$DEB" >/dev/null
echo "== $DEB"
dpkg-deb -f "$DEB" Package Version Architecture Installed-Size Depends
echo "== lintian $DEB"
lintian --display-info --display-level ">=pedantic" "$DEB" > "$OUT/lintian.txt" 2>&1 || true
cat "$OUT/lintian.txt"
if grep -q '^E:' "$OUT/lintian.txt"; then
    echo "lintian reported errors" >&2
    exit 1
fi
echo "lintian: no errors"
