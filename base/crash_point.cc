#include "base/crash_point.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace ken {
namespace {

struct Target {
  bool armed = false;
  std::string name;
  long nth = 1;
  std::atomic<long> hits{0};
};

Target& GetTarget() {
  static Target* target = [] {
    auto* t = new Target();
    const char* env = getenv("KEN_CRASH_AT");
    if (env != nullptr && *env != '\0') {
      std::string spec = env;
      size_t colon = spec.find(':');
      t->name = spec.substr(0, colon);
      if (colon != std::string::npos) t->nth = std::max(1L, strtol(spec.c_str() + colon + 1, nullptr, 10));
      t->armed = true;
    }
    return t;
  }();
  return *target;
}

}  // namespace

void CrashPoint(const char* name) {
  Target& t = GetTarget();
  if (!t.armed || t.name != name) return;
  if (t.hits.fetch_add(1) + 1 != t.nth) return;
  char msg[200];
  int n = snprintf(msg, sizeof(msg), "ken: crash point %s reached (KEN_CRASH_AT); exiting\n", name);
  if (n > 0) (void)!write(2, msg, static_cast<size_t>(n));
  _exit(86);
}

}  // namespace ken
