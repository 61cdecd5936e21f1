#!/usr/bin/env bash
# Prints, one per line, the Debian packages a ken binary needs at run time:
# the packages that ship the shared libraries ldd names (dpkg -S), with
# libnode108 pinned at the version tools/setup.sh unpacked
# (third_party/libnode/VERSION), plus ca-certificates. Run where the binary
# was built (the host, or the image's build stage), where those libraries
# are installed.
#
#   deploy/runtime-packages.sh KEN_BINARY
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
ken="$1"
libnode_dir="$root/third_party/libnode/root/usr/lib/x86_64-linux-gnu"
version="$(cat "$root/third_party/libnode/VERSION")"
packages=("libnode108=$version" ca-certificates)
while read -r lib; do
  [ -z "$lib" ] && continue
  case "$lib" in */libnode.so.*) continue ;; esac  # unpacked by tools/setup.sh: libnode108 above
  pkg="$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1 || true)"
  [ -z "$pkg" ] && pkg="$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -1 | cut -d: -f1 || true)"
  [ -z "$pkg" ] && pkg="$(dpkg -S "/usr$lib" 2>/dev/null | head -1 | cut -d: -f1 || true)"
  if [ -z "$pkg" ]; then echo "runtime-packages: no Debian package ships $lib" >&2; exit 1; fi
  packages+=("$pkg")
done < <(LD_LIBRARY_PATH="$libnode_dir" ldd "$ken" | awk '$3 ~ /^\// {print $3}')
printf '%s\n' "${packages[@]}" | sort -u
