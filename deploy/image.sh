#!/usr/bin/env bash
# Builds Ken's runtime image (deploy/Containerfile) with podman from a ken
# binary built on the host, making the base image first if it is missing
# (deploy/base-image.sh).
#
#   deploy/image.sh [--ken PATH] [--tag IMAGE]
#     --ken PATH   the binary (default bazel-bin/cli/ken; build it first:
#                  bazel build -c opt //cli:ken)
#     --tag IMAGE  default localhost/ken:latest
set -euo pipefail
# The real checkout (also when run through Bazel runfiles, which link to it).
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
ken="$root/bazel-bin/cli/ken"
tag=localhost/ken:latest
while [ $# -gt 0 ]; do
  case "$1" in
    --ken) ken="$2"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    *) echo "image.sh: unknown argument $1 (--ken PATH, --tag IMAGE)" >&2; exit 2 ;;
  esac
done
[ -x "$ken" ] || { echo "image.sh: no ken binary at $ken (bazel build -c opt //cli:ken)" >&2; exit 1; }
source "$root/deploy/podman.sh"
bash "$root/deploy/base-image.sh" "$ken"
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
cp -L "$ken" "$context/ken"
cp "$root/deploy/ken-entrypoint" "$root/deploy/Containerfile" "$context/"
chmod 0755 "$context/ken" "$context/ken-entrypoint"
podman_ build "${KEN_PODMAN_RUN_OPTS[@]}" --quiet -f "$context/Containerfile" -t "$tag" "$context" >/dev/null
echo "image.sh: $tag ($(podman_ image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))" >&2
