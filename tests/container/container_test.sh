#!/usr/bin/env bash
# Debian's python3, not whatever python3 comes first on PATH.
exec /usr/bin/python3 tests/container/container_test.py
