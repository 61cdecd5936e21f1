#!/usr/bin/env bash
# Debian's python3 (python3-jsonschema, python3-yaml from tools/setup.sh),
# not whatever python3 comes first on PATH.
exec /usr/bin/python3 cluster/k8s_schema_test.py
