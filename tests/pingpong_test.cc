// Exactly-once messaging under crashes: two real `ken run` processes play
// ping-pong with 10,000 numbered messages over gRPC on loopback. Each side
// keeps the numbers it received. In every scenario a crash is injected at a
// named point (KEN_CRASH_AT) in one node, the crashed node is restarted, and
// at the end both sides must have received exactly 1..10,000, in order,
// with no duplicates.
#include <signal.h>

#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/util/cluster.h"
#include "tests/util/subprocess.h"

namespace ken {
namespace {

using ::ken::testing::NodeSpec;
using ::ken::testing::ReadFileOrEmpty;
using ::ken::testing::TestCluster;

const char kKen[] = "cli/ken";
const char kDone[] = "[10000,10000,true]";
const char kCheck[] = "[received.length, receivedSet.size, received.every((n, i) => n === i + 1)]";

struct Scenario {
  const char* name;
  std::vector<std::string> ping_env;
  std::vector<std::string> pong_env;
};

void PrintTo(const Scenario& s, std::ostream* os) { *os << s.name; }

class PingPongTest : public ::testing::TestWithParam<Scenario> {};

TEST_P(PingPongTest, EveryNumberArrivesExactlyOnceInOrder) {
  const Scenario& scenario = GetParam();
  TestCluster cluster(kKen, {{"ping", ReadFileOrEmpty("examples/pingpong/ping.js")},
                             {"pong", ReadFileOrEmpty("examples/pingpong/pong.js")}});
  cluster.Start("pong", scenario.pong_env);
  cluster.Start("ping", scenario.ping_env);
  const int expected_crashes = (scenario.ping_env.empty() ? 0 : 1) + (scenario.pong_env.empty() ? 0 : 1);
  int crashes = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(240);
  auto next_check = std::chrono::steady_clock::now();
  bool done = false;
  while (!done && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (const char* id : {"ping", "pong"}) {
      int code = 0;
      if (!cluster.Exited(id, &code)) continue;
      ASSERT_EQ(code, 86) << id << " exited unexpectedly:\n" << cluster.Output(id);
      ++crashes;
      cluster.Start(id);  // restart without the crash point
    }
    if (std::chrono::steady_clock::now() >= next_check) {
      next_check = std::chrono::steady_clock::now() + std::chrono::milliseconds(1000);
      done = cluster.Inspect("ping", kCheck) == kDone && cluster.Inspect("pong", kCheck) == kDone;
    }
  }
  EXPECT_EQ(cluster.Inspect("pong", kCheck), kDone) << cluster.Output("pong");
  EXPECT_EQ(cluster.Inspect("ping", kCheck), kDone) << cluster.Output("ping");
  EXPECT_EQ(crashes, expected_crashes) << "the crash point was not reached\nping:\n"
                                       << cluster.Output("ping") << "\npong:\n" << cluster.Output("pong");
  // Nothing was dead-lettered and every outbox drained.
  for (const char* id : {"ping", "pong"}) {
    EXPECT_EQ(cluster.Output(id).find("dead letter"), std::string::npos) << cluster.Output(id);
  }
}

// Real SIGKILLs of either node at random instants, restarting each.
TEST(PingPongKillTest, RandomKill9OfEitherNode) {
  TestCluster cluster(kKen, {{"ping", ReadFileOrEmpty("examples/pingpong/ping.js")},
                             {"pong", ReadFileOrEmpty("examples/pingpong/pong.js")}});
  cluster.Start("pong");
  cluster.Start("ping");
  uint32_t seed = static_cast<uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  for (int kill = 0; kill < 8; ++kill) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 400));
    const char* victim = rng() % 2 ? "ping" : "pong";
    cluster.Kill(victim, SIGKILL);
    int code;
    while (!cluster.Exited(victim, &code)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    cluster.Start(victim);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
  while (std::chrono::steady_clock::now() < deadline &&
         !(cluster.Inspect("ping", kCheck) == kDone && cluster.Inspect("pong", kCheck) == kDone)) {
    int code;
    for (const char* id : {"ping", "pong"}) ASSERT_FALSE(cluster.Exited(id, &code)) << cluster.Output(id);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  EXPECT_EQ(cluster.Inspect("pong", kCheck), kDone) << cluster.Output("pong");
  EXPECT_EQ(cluster.Inspect("ping", kCheck), kDone) << cluster.Output("ping");
}

std::vector<std::string> Crash(const std::string& point) { return {"KEN_CRASH_AT=" + point}; }

INSTANTIATE_TEST_SUITE_P(
    CrashPoints, PingPongTest,
    ::testing::Values(
        Scenario{"no_crash", {}, {}},
        Scenario{"sender_before_commit", Crash("before_commit:40"), {}},
        Scenario{"sender_after_commit_before_release", Crash("after_send_commit:40"), {}},
        Scenario{"sender_after_release_before_ack", Crash("after_send_rpc:60"), {}},
        Scenario{"sender_mid_retransmit", Crash("mid_retransmit:1"), Crash("after_receive:2000")},
        Scenario{"sender_receiving_after_commit_before_ack", Crash("after_deliver_commit:70"), {}},
        Scenario{"sender_after_receive_before_turn", Crash("after_receive:3000"), {}},
        Scenario{"receiver_before_commit", {}, Crash("before_commit:40")},
        Scenario{"receiver_after_commit_before_ack", {}, Crash("after_deliver_commit:40")},
        Scenario{"receiver_after_receive_before_turn", {}, Crash("after_receive:3000")},
        Scenario{"receiver_sending_after_commit_before_release", {}, Crash("after_send_commit:60")},
        Scenario{"receiver_after_release_before_ack", {}, Crash("after_send_rpc:60")},
        Scenario{"receiver_mid_retransmit", Crash("after_receive:2000"), Crash("mid_retransmit:1")}),
    [](const ::testing::TestParamInfo<Scenario>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace ken
