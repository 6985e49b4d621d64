#!/usr/bin/env bash
# Installs the release tree into a scratch prefix and builds the README's
# first program against it with pkg-config, as a user's own program would.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
meson install -C "$BUILD" --destdir "$dest" >/dev/null
pcdir=$(dirname "$(find "$dest" -name ptune.pc | head -n 1)")
export PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$dest"
# the README's first C block only
awk '/^```c$/ {on = 1; next} on && /^```$/ {exit} on' README.md > "$dest/first.c"
inc=$(find "$dest" -type d -name include | head -n 1)
cc -std=gnu11 -Wall -Werror "$dest/first.c" -I"$inc" $(pkg-config --cflags --libs ptune) -o "$dest/first"
LD_LIBRARY_PATH="$pcdir/.." "$dest/first" | grep -q "dL/db"
# the installed ptune.h shows none of the library's dependencies
cc -std=gnu11 -Wall -Werror -DPT_INSTALLED tests/public_header.c -I"$inc" \
  $(pkg-config --cflags --libs ptune) -o "$dest/public_header"
LD_LIBRARY_PATH="$pcdir/.." "$dest/public_header"
echo "install check: headers, libptune and ptune.pc build the README program; ptune.h pulls in no dependency"
