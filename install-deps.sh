#!/usr/bin/env bash
# Installs the Debian packages dapo-inspect builds and tests with (Debian 12). Idempotent.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
# dpkg-dev and lintian: `make deb` (dpkg-shlibdeps, dpkg-gencontrol, dpkg-deb) and its check.
PKGS="build-essential pkg-config libdnnl-dev libyaml-dev libtiff-dev libpng-dev libjpeg62-turbo-dev libfreetype-dev fonts-dejavu-core zlib1g-dev check python3 dpkg-dev lintian"
# fuzzing (libFuzzer), coverage report
PKGS="$PKGS clang libclang-rt-14-dev gcovr"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "install-deps: installing$missing" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
echo "install-deps: all packages present" >&2
