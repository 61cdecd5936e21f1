#include "tests/chaos/chaos_cluster.h"

#include <chrono>
#include <cstdio>
#include <thread>

#include "cluster/admin_client.h"

namespace ken::testing {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

std::optional<json> Eval(const Cluster& c, const std::string& id, const std::string& expr, int seconds) {
  auto deadline = Clock::now() + std::chrono::seconds(seconds);
  while (Clock::now() < deadline) {
    absl::StatusOr<v1::EvalReply> r = AdminEval(c.address.at(id), c.token, expr, 10000);
    if (r.ok() && r->ok()) return json::parse(r->result(), nullptr, false);
    if (r.ok() && !r->ok()) {
      fprintf(stderr, "eval on %s failed: %s\n", id.c_str(), r->error().c_str());
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return std::nullopt;
}

std::optional<v1::StatusReply> Status(const Cluster& c, const std::string& id) {
  absl::StatusOr<v1::StatusReply> s = AdminStatus(c.address.at(id), c.token, 1000);
  if (!s.ok()) return std::nullopt;
  return *s;
}

void Checker::Expect(bool ok, const std::string& what) {
  if (ok) return;
  ++violations;
  if (violations <= 20) fprintf(stderr, "VIOLATION: %s\n", what.c_str());
}

}  // namespace ken::testing
