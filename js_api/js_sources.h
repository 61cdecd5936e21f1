// The built-in scripts, embedded at build time from js_api/*.js (see BUILD).
#ifndef KEN_JS_API_JS_SOURCES_H_
#define KEN_JS_API_JS_SOURCES_H_

#include <cstddef>
#include <vector>

namespace ken {

struct JsSource {
  const char* name;    // e.g. "ken:polyfills.js"
  const char* source;  // UTF-8, NUL-terminated
};

// In the order they must run.
const std::vector<JsSource>& BuiltinScripts();

// The built-ins' upgrade migrations (js_api/upgrades/*.js).
const std::vector<JsSource>& UpgradeScripts();

// The switch between durability modes (js_api/durability.js).
const std::vector<JsSource>& DurabilityScripts();

}  // namespace ken

#endif  // KEN_JS_API_JS_SOURCES_H_
