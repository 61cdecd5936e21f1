#!/usr/bin/env bash
# Makes the runtime base image localhost/ken-runtime-base:bookworm offline,
# from Debian's archive only (no registry is pulled): a minbase Debian 12
# root file system with the shared libraries `ken` links, as the Debian
# packages that ship them (found with ldd and dpkg -S), plus libnode108 at
# the version the build unpacked (third_party/libnode/VERSION); see
# deploy/runtime-packages.sh. KEN_BASE_PACKAGES=FILE takes the list from a
# file instead (image.sh --from-source: the build stage writes it).
# Imported with `podman import`. Idempotent: an existing image is kept
# unless KEN_REBUILD_BASE=1.
#
#   deploy/base-image.sh [KEN_BINARY]      (default bazel-bin/cli/ken)
set -euo pipefail
# The real checkout (also when run through Bazel runfiles, which link to it).
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
ken="${1:-$root/bazel-bin/cli/ken}"
image=localhost/ken-runtime-base:bookworm
source "$root/deploy/podman.sh"
if [ "${KEN_REBUILD_BASE:-0}" != 1 ] && podman_ image exists "$image"; then
  echo "base-image: $image exists (KEN_REBUILD_BASE=1 makes it again)" >&2
  exit 0
fi
if [ "${KEN_BASE_PACKAGES:-}" ]; then
  mapfile -t packages < "$KEN_BASE_PACKAGES"
else
  mapfile -t packages < <(bash "$root/deploy/runtime-packages.sh" "$ken")
fi
[ ${#packages[@]} -gt 0 ] || { echo "base-image: no package list" >&2; exit 1; }
list="$(printf '%s\n' "${packages[@]}" | sort -u | paste -sd, -)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "base-image: mmdebstrap bookworm with $list" >&2
# The host's own Debian sources (the archive this machine may reach).
sources=/etc/apt/sources.list.d/debian.sources
[ -f "$sources" ] || sources=/etc/apt/sources.list
mmdebstrap --quiet --variant=minbase --include="$list" \
  --aptopt='Acquire::Check-Valid-Until "false"' \
  --customize-hook='chroot "$1" useradd --system --uid 10001 --user-group --home-dir /var/lib/ken --no-create-home ken' \
  --customize-hook='mkdir -p "$1/var/lib/ken" "$1/etc/ken" && chroot "$1" chown ken:ken /var/lib/ken' \
  bookworm "$tmp/rootfs.tar" "$sources"
podman_ import --quiet "$tmp/rootfs.tar" "$image" >/dev/null
echo "base-image: $image ($(du -h "$tmp/rootfs.tar" | cut -f1) root file system)" >&2
