#!/usr/bin/env bash
# Idempotent set-up for building Ken on Debian 12: installs the Debian packages a
# fresh machine lacks and unpacks V8 (libnode108 + libnode-dev) into third_party/libnode,
# a git-ignored prefix that Bazel's WORKSPACE points at. Safe to run repeatedly.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="$root/third_party/libnode/root"

pkgs=(bazel-bootstrap libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev
      protobuf-compiler libspdlog-dev libsqlite3-dev libyaml-cpp-dev libabsl-dev
      bazel-rules-java libgtest-dev libgmock-dev libedit-dev nlohmann-json3-dev libcpp-httplib-dev libssl-dev libbrotli-dev zlib1g-dev sqlite3
      libuv1 libicu72 libc-ares2 libnghttp2-14 libbrotli1 libssl3)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -f "$prefix/usr/include/node/v8.h" ] || [ ! -e "$prefix/usr/lib/x86_64-linux-gnu/libnode.so.108" ]; then
  echo "setup: unpacking V8 (libnode108, libnode-dev) into $prefix" >&2
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  ( cd "$tmp" && apt-get download libnode108 libnode-dev >/dev/null 2>&1 ) || {
    $SUDO apt-get update -qq
    ( cd "$tmp" && apt-get download libnode108 libnode-dev >/dev/null )
  }
  rm -rf "$prefix"; mkdir -p "$prefix"
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$prefix"; done
fi
# Bazel's new_local_repository wants a stable layout: include/ and lib/.
ln -sfn root/usr/include "$root/third_party/libnode/include"
ln -sfn root/usr/lib/x86_64-linux-gnu "$root/third_party/libnode/lib"
