// Unhandled promise rejections on a cluster node: logged with the input and
// the reason's stack, counted in Admin.Status, and the turn commits (a
// rejection is not an abort), in timers, receive handlers and HTTP handlers.
#include <string>

#include "gtest/gtest.h"
#include "tests/util/cluster.h"
#include "tests/util/subprocess.h"

namespace ken {
namespace {

TEST(RejectionsTest, NodesLogAndCountUnhandledRejectionsAndCommit) {
  ::ken::testing::TestCluster cluster("cli/ken", {{"a", R"js(
    var effects = [];
    setTimeout(function () {
      effects.push('timer');
      Promise.reject(new Error('timer rejection'));
    }, 50);
    ken.receive(function (value) {
      effects.push('message ' + value);
      (async function handler() { throw new RangeError('receive rejection'); })();
      Promise.reject(new Error('handled later')).catch(function () {});
    });
  )js"},
                                                   {"b", R"js(
    setTimeout(function () { ken.send('a', 7); }, 50);
  )js"}});
  cluster.Start("a");
  cluster.Start("b");
  EXPECT_EQ(cluster.WaitForValue("a", "effects.length", "2"), "2");
  EXPECT_TRUE(cluster.WaitForOutput("a", "receive rejection", 20)) << cluster.Output("a");
  const std::string log = cluster.Output("a");
  EXPECT_NE(log.find("unhandled promise rejection in timer"), std::string::npos) << log;
  EXPECT_NE(log.find("Uncaught Error: timer rejection\n    at "), std::string::npos) << log;
  EXPECT_NE(log.find("unhandled promise rejection in message b->a #1 (the turn committed): "
                     "Uncaught RangeError: receive rejection\n    at handler ("),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("handled later"), std::string::npos) << log;
  auto status = cluster.Status("a");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->unhandled_rejections(), 2u);
  EXPECT_EQ(status->dead_letters(), 0u);
  auto json = ::ken::testing::RunProgram({"cli/ken", "cluster", "status", cluster.config_path(), "--json"});
  EXPECT_NE(json.output.find("\"unhandled_rejections_since_start\": 2"), std::string::npos) << json.output;
}

}  // namespace
}  // namespace ken
