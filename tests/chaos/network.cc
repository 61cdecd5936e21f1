#include "tests/chaos/network.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ken::testing {

const std::vector<std::string>& FaultKinds() {
  static const std::vector<std::string> kinds = {"partition", "isolate", "asymmetric", "flap",
                                                 "slow",      "throttle", "stall",     "reset"};
  return kinds;
}

NetworkChaos::NetworkChaos(std::vector<std::string> ids, uint32_t seed)
    : ids_(std::move(ids)), rng_(seed), net_(seed) {}

absl::Status NetworkChaos::AddLinks(const std::map<std::string, std::string>& address) {
  for (const std::string& from : ids_) {
    for (const std::string& to : ids_) {
      if (from == to) continue;
      absl::StatusOr<int> port = net_.AddLink(Link(from, to), address.at(to));
      if (!port.ok()) return port.status();
      port_[Link(from, to)] = *port;
    }
  }
  return absl::OkStatus();
}

std::string NetworkChaos::PeerAddressesYaml(const std::string& id) const {
  std::string yaml = "    peer_addresses:\n";
  for (const std::string& to : ids_) {
    if (to != id) absl::StrAppend(&yaml, "      ", to, ": 127.0.0.1:", port_.at(Link(id, to)), "\n");
  }
  return yaml;
}

std::vector<std::string> NetworkChaos::Between(const std::set<std::string>& a, const std::set<std::string>& b) const {
  std::vector<std::string> links;
  for (const std::string& x : a) {
    for (const std::string& y : b) {
      links.push_back(Link(x, y));
      links.push_back(Link(y, x));
    }
  }
  return links;
}

void NetworkChaos::Cut(const std::vector<std::string>& links, bool blackhole) {
  LinkFaults f;
  f.cut = blackhole ? LinkFaults::Cut::kBlackhole : LinkFaults::Cut::kRefuse;
  for (const std::string& link : links) net_.Set(link, f);
}

Fault NetworkChaos::Partition(bool blackhole) {
  std::set<std::string> a, b;
  // Every node on a random side, neither side empty.
  while (a.empty() || b.empty()) {
    a.clear();
    b.clear();
    for (const std::string& id : ids_) (rng_() % 2 ? a : b).insert(id);
  }
  Fault f;
  f.kind = "partition";
  f.blackhole = blackhole;
  f.cut = Between(a, b);
  f.description = absl::StrCat("partition {", absl::StrJoin(a, ","), "} | {", absl::StrJoin(b, ","), "}");
  Cut(f.cut, blackhole);
  return f;
}

Fault NetworkChaos::Apply(const std::string& kind) {
  const bool blackhole = rng_() % 2 == 0;
  const std::string node = ids_[rng_() % ids_.size()];
  std::string other = node;
  while (other == node) other = ids_[rng_() % ids_.size()];
  Fault f;
  f.kind = kind;
  f.blackhole = blackhole;
  if (kind == "partition") {
    f = Partition(blackhole);
  } else if (kind == "isolate") {
    std::set<std::string> rest(ids_.begin(), ids_.end());
    rest.erase(node);
    f.cut = Between({node}, rest);
    f.description = absl::StrCat("isolate ", node);
    Cut(f.cut, blackhole);
  } else if (kind == "asymmetric") {
    f.cut = {Link(node, other)};
    f.description = absl::StrCat("cut ", Link(node, other), " only");
    Cut(f.cut, blackhole);
  } else if (kind == "flap") {
    f.flapping = Link(node, other);
    f.description = absl::StrCat("flap ", node, "<->", other);
    flap_cut_ = false;
    Tick(f);
  } else if (kind == "slow") {
    LinkFaults slow;
    slow.latency_ms = 500 + static_cast<int>(rng_() % 1501);
    slow.jitter_ms = 200;
    for (const std::string& peer : ids_) {
      if (peer == node) continue;
      f.slow.push_back(Link(node, peer));
      f.slow.push_back(Link(peer, node));
    }
    for (const std::string& link : f.slow) net_.Set(link, slow);
    f.description = absl::StrCat("slow ", node, " (", slow.latency_ms, "+0..200 ms each way)");
  } else if (kind == "throttle") {
    LinkFaults thin;
    thin.bandwidth_bytes_per_s = 2000 + static_cast<int64_t>(rng_() % 18001);
    for (const std::string& peer : ids_) {
      if (peer == node) continue;
      f.slow.push_back(Link(node, peer));
      f.slow.push_back(Link(peer, node));
    }
    for (const std::string& link : f.slow) net_.Set(link, thin);
    f.description = absl::StrCat("throttle ", node, " (", thin.bandwidth_bytes_per_s, " bytes/s each way)");
  } else if (kind == "reset") {
    f.resetting = node;
    Tick(f);
    f.description = absl::StrCat("reset ", node, "'s connections every 200-800 ms");
  } else if (kind == "stall") {
    f.stalled = Link(node, other);
    net_.Stall(f.stalled);
    f.description = absl::StrCat("stall ", f.stalled);
  } else {
    f.description = "none";
  }
  if (!f.cut.empty()) absl::StrAppend(&f.description, blackhole ? " (blackhole)" : " (refuse)");
  return f;
}

void NetworkChaos::Tick(const Fault& fault) {
  if (!fault.resetting.empty()) {
    for (const std::string& peer : ids_) {
      if (peer == fault.resetting) continue;
      net_.Reset(Link(fault.resetting, peer));
      net_.Reset(Link(peer, fault.resetting));
    }
  }
  if (fault.flapping.empty()) return;
  const size_t arrow = fault.flapping.find("->");
  const std::string a = fault.flapping.substr(0, arrow), b = fault.flapping.substr(arrow + 2);
  flap_cut_ = !flap_cut_;
  if (flap_cut_) {
    Cut({Link(a, b), Link(b, a)}, fault.blackhole);
  } else {
    net_.Set(Link(a, b), {});
    net_.Set(Link(b, a), {});
  }
}

void NetworkChaos::HealAll() {
  net_.HealAll();
  flap_cut_ = false;
}

}  // namespace ken::testing
