#!/usr/bin/env bash
# Idempotent set-up for building Ken on Debian 12: installs the Debian packages a
# fresh machine lacks and unpacks V8 (libnode108 + libnode-dev) into third_party/libnode,
# a git-ignored prefix that Bazel's WORKSPACE points at. Safe to run repeatedly.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="$root/third_party/libnode/root"

# --build-only: just what `bazel build //cli:ken` needs (the image's build
# stage, deploy/Containerfile); otherwise also the tests' tools.
build_pkgs=(g++ bazel-bootstrap libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev
      protobuf-compiler libspdlog-dev libsqlite3-dev libyaml-cpp-dev libabsl-dev
      bazel-rules-java libgtest-dev libgmock-dev libedit-dev nlohmann-json3-dev libcpp-httplib-dev libssl-dev libbrotli-dev zlib1g-dev
      libuv1 libicu72 libc-ares2 libnghttp2-14 libbrotli1 libssl3)
test_pkgs=(sqlite3 clang-14 lld-14 lld libclang-rt-14-dev llvm-14 llvm
      systemd python3-jsonschema python3-yaml libnss-wrapper
      podman runc uidmap slirp4netns fuse-overlayfs mmdebstrap)
pkgs=("${build_pkgs[@]}")
[ "${1:-}" = --build-only ] || pkgs+=("${test_pkgs[@]}")
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

# The engine is pinned: a V8 heap snapshot opens only in the exact V8 build
# that wrote it, so every store depends on this version. Changing it makes
# existing stores unopenable (ken refuses them and says so); see README,
# "The engine is pinned".
libnode_version="18.20.4+dfsg-1~deb12u3"
version_file="$root/third_party/libnode/VERSION"
if [ ! -f "$prefix/usr/include/node/v8.h" ] || [ ! -e "$prefix/usr/lib/x86_64-linux-gnu/libnode.so.108" ] ||
   [ "$(cat "$version_file" 2>/dev/null)" != "$libnode_version" ]; then
  echo "setup: unpacking V8 (libnode108, libnode-dev $libnode_version) into $prefix" >&2
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  fetch() { ( cd "$tmp" && apt-get download "libnode108=$libnode_version" "libnode-dev=$libnode_version" >/dev/null 2>&1 ); }
  if ! fetch; then
    $SUDO apt-get update -qq
    if ! fetch; then
      echo "setup: Debian's archive no longer has libnode108 $libnode_version, the V8 build Ken is pinned to." >&2
      echo "setup: available: $(apt-cache madison libnode108 | awk '{print $3}' | tr '\n' ' ')" >&2
      echo "setup: stores written by this V8 build open only with it; to move to another, export the" >&2
      echo "setup: programs' data, change libnode_version in tools/setup.sh, and re-create the stores." >&2
      exit 1
    fi
  fi
  rm -rf "$prefix"; mkdir -p "$prefix"
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$prefix"; done
  echo "$libnode_version" > "$version_file"
fi
# Bazel's new_local_repository wants a stable layout: include/ and lib/.
ln -sfn root/usr/include "$root/third_party/libnode/include"
ln -sfn root/usr/lib/x86_64-linux-gnu "$root/third_party/libnode/lib"

[ "${1:-}" = --build-only ] && exit 0

# The npm packages tests/npm_test.cc runs in Ken nodes, pinned by
# tests/npm/package-lock.json, from the npm registry with the machine's npm
# (outside Bazel's sandbox); installed again only when the lockfile changed.
npm_dir="$root/tests/npm"
if ! command -v npm >/dev/null; then
  echo "setup: npm is missing: tests/npm_test needs Node.js's npm to install its packages" >&2
  exit 1
fi
if ! cmp -s "$npm_dir/package-lock.json" "$npm_dir/node_modules/.ken-installed-lock"; then
  echo "setup: installing the npm packages of tests/npm (npm ci)" >&2
  (cd "$npm_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  cp "$npm_dir/package-lock.json" "$npm_dir/node_modules/.ken-installed-lock"
fi
