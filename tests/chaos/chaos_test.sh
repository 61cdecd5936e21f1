#!/usr/bin/env bash
# Runs the chaos binary from the test's runfiles with the given flags.
set -euo pipefail
exec tests/chaos/chaos "$@"
