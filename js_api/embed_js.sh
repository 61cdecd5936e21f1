#!/usr/bin/env bash
# Writes a C++ file embedding the given .js files, in order, as raw strings,
# returned by `const std::vector<JsSource>& FUNCTION()`.
# Usage: embed_js.sh OUT.cc FUNCTION FILE.js...
set -euo pipefail
out="$1"; fn="$2"; shift 2
{
  echo '#include "js_api/js_sources.h"'
  echo 'namespace ken {'
  echo "const std::vector<JsSource>& $fn() {"
  echo '  static const std::vector<JsSource>* scripts = new std::vector<JsSource>{'
  for f in "$@"; do
    name="ken:$(basename "$f")"
    echo "    {\"$name\", R\"KENJS("
    cat "$f"
    echo ')KENJS"},'
  done
  echo '  };'
  echo '  return *scripts;'
  echo '}'
  echo '}  // namespace ken'
} > "$out"
