#!/usr/bin/env bash
# Writes a C++ file embedding the given .js files, in order, as raw strings.
set -euo pipefail
out="$1"; shift
{
  echo '#include "js_api/js_sources.h"'
  echo 'namespace ken {'
  echo 'const std::vector<JsSource>& BuiltinScripts() {'
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
