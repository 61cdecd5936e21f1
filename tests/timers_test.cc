// Durable timers in real `ken run` nodes: they survive kill -9, cleared ones
// never fire, and an interval fires once per due time across crashes.
#include <signal.h>

#include <chrono>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "tests/util/cluster.h"

namespace ken {
namespace {

using ::ken::testing::TestCluster;

std::string WaitFor(TestCluster& cluster, const std::string& id, const std::string& expr, const std::string& want,
                    int seconds = 30) {
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    got = cluster.Inspect(id, expr);
    if (got == want) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return got;
}

TEST(TimersTest, TimerSetBeforeKillFiresAfterRestartAndClearedNeverFires) {
  TestCluster cluster("cli/ken", {{"t", R"js(
    var fired = [];
    var started = Date.now();
    setTimeout(function (tag) { fired.push(tag); }, 1500, 'late');
    var cancelled = setTimeout(function () { fired.push('cancelled'); }, 300);
    clearTimeout(cancelled);
    var iv = setInterval(function () { fired.push('never'); }, 200);
    clearInterval(iv);
    setTimeout(function () { fired.push('soon'); }, 100);
  )js"}});
  cluster.Start("t");
  EXPECT_EQ(WaitFor(cluster, "t", "fired", "[\"soon\"]"), "[\"soon\"]");
  cluster.Kill("t", SIGKILL);
  int code;
  while (!cluster.Exited("t", &code)) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));  // 'late' comes due while down
  cluster.Start("t");
  EXPECT_EQ(WaitFor(cluster, "t", "fired", "[\"soon\",\"late\"]"), "[\"soon\",\"late\"]");
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  EXPECT_EQ(cluster.Inspect("t", "fired"), "[\"soon\",\"late\"]");
}

// The interval sends each tick number to a peer; crashes right before and
// right after a tick's commit must neither lose nor repeat a tick.
TEST(TimersTest, IntervalFiresOncePerDueTimeAcrossCrashes) {
  TestCluster cluster("cli/ken", {{"clock", R"js(
    var ticks = 0;
    var iv = setInterval(function () {
      ticks++;
      ken.send('log', ticks);
      if (ticks === 12) clearInterval(iv);
    }, 100);
  )js"},
                                  {"log", R"js(
    var got = [];
    ken.receive(function (n) { got.push(n); });
  )js"}});
  cluster.Start("log");
  cluster.Start("clock", {"KEN_CRASH_AT=after_send_commit:3"});
  int code;
  int crashes = 0;
  for (const char* point : {"before_commit:4", "after_send_commit:2", ""}) {
    while (!cluster.Exited("clock", &code)) {
      if (cluster.Inspect("log", "got.length") == "12") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (cluster.Exited("clock", &code)) {
      EXPECT_EQ(code, 86) << cluster.Output("clock");
      ++crashes;
      std::vector<std::string> env;
      if (*point) env.push_back(std::string("KEN_CRASH_AT=") + point);
      cluster.Start("clock", env);
    }
  }
  EXPECT_EQ(WaitFor(cluster, "log", "got", "[1,2,3,4,5,6,7,8,9,10,11,12]"), "[1,2,3,4,5,6,7,8,9,10,11,12]");
  EXPECT_EQ(cluster.Inspect("clock", "ticks"), "12");
  EXPECT_GE(crashes, 2);
}

TEST(TimersTest, ThrowingCallbackIsConsumedNotRetried) {
  TestCluster cluster("cli/ken", {{"t", R"js(
    var calls = 0;
    var after = [];
    setTimeout(function () { calls++; throw new Error('timer failed'); }, 50);
    setTimeout(function () { after.push('next'); }, 150);
  )js"}});
  cluster.Start("t");
  EXPECT_EQ(WaitFor(cluster, "t", "after", "[\"next\"]"), "[\"next\"]");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(cluster.Inspect("t", "calls"), "0");  // rolled back, and not run again
  int code;
  cluster.Exited("t", &code);
  EXPECT_NE(cluster.Output("t").find("dead letter: timer #1"), std::string::npos) << cluster.Output("t");
}

}  // namespace
}  // namespace ken
