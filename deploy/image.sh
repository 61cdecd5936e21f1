#!/usr/bin/env bash
# Builds Ken's runtime image (deploy/Containerfile, target runtime) with
# podman, making the base image first if it is missing (deploy/base-image.sh).
#
#   deploy/image.sh [--ken PATH | --from-source] [--tag IMAGE]
#     --ken PATH     a ken binary built on this host (default bazel-bin/cli/ken;
#                    build it first: bazel build -c opt //cli:ken)
#     --from-source  build ken inside a container instead (the Containerfile's
#                    build stage: tools/setup.sh and Bazel on a minbase Debian 12
#                    made by mmdebstrap, packages from Debian's archive); needs
#                    no build tools on the host; ~5 min on 2 cores.
#                    Builds the checkout's files as they are (tracked and
#                    untracked, not ignored ones).
#     --tag IMAGE    default localhost/ken:latest
set -euo pipefail
# The real checkout (also when run through Bazel runfiles, which link to it).
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
ken="$root/bazel-bin/cli/ken"
tag=localhost/ken:latest
from_source=0
while [ $# -gt 0 ]; do
  case "$1" in
    --ken) ken="$2"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    --from-source) from_source=1; shift ;;
    *) echo "image.sh: unknown argument $1 (--ken PATH, --from-source, --tag IMAGE)" >&2; exit 2 ;;
  esac
done
source "$root/deploy/podman.sh"
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
if [ "$from_source" = 1 ]; then
  builder=localhost/ken-build-base:bookworm
  if [ "${KEN_REBUILD_BASE:-0}" = 1 ] || ! podman_ image exists "$builder"; then
    echo "image.sh: mmdebstrap bookworm (minbase, apt) for $builder" >&2
    sources=/etc/apt/sources.list.d/debian.sources
    [ -f "$sources" ] || sources=/etc/apt/sources.list
    mmdebstrap --quiet --variant=minbase --include=ca-certificates \
      --aptopt='Acquire::Check-Valid-Until "false"' bookworm "$context/builder.tar" "$sources"
    podman_ import --quiet "$context/builder.tar" "$builder" >/dev/null
    rm -f "$context/builder.tar"
  fi
  mkdir "$context/src" "$context/out"
  (cd "$root" && git ls-files -z -co --exclude-standard | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) |
    tar -C "$context/src" -xf -
  echo "image.sh: building ken from source in $builder (target build)" >&2
  podman_ build "${KEN_PODMAN_RUN_OPTS[@]}" --target build -f "$root/deploy/Containerfile" \
    -t localhost/ken-build:latest "$context/src"
  id="$(podman_ create localhost/ken-build:latest /bin/true)"
  podman_ cp "$id:/out/ken" "$context/ken"
  podman_ cp "$id:/out/packages" "$context/packages"
  podman_ rm "$id" >/dev/null
  rm -rf "$context/src"
  ken="$context/ken"
  KEN_BASE_PACKAGES="$context/packages" bash "$root/deploy/base-image.sh" "$ken"
else
  [ -x "$ken" ] || { echo "image.sh: no ken binary at $ken (bazel build -c opt //cli:ken, or --from-source)" >&2; exit 1; }
  bash "$root/deploy/base-image.sh" "$ken"
  cp -L "$ken" "$context/ken"
fi
cp "$root/deploy/ken-entrypoint" "$root/deploy/Containerfile" "$context/"
chmod 0755 "$context/ken" "$context/ken-entrypoint"
podman_ build "${KEN_PODMAN_RUN_OPTS[@]}" --quiet --target runtime -f "$context/Containerfile" -t "$tag" "$context" >/dev/null
echo "image.sh: $tag ($(podman_ image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))" >&2
