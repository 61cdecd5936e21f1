// Nodes as if on separate machines: each on its own loopback address, all on
// one port, dialing each other by names from a hosts file (tests/util/hosts.h).
// A node that moves to another address under the same name (a pod
// rescheduled to a new IP) is reached there, its messages neither lost nor
// doubled.
#include <signal.h>

#include <chrono>
#include <memory>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/util/hosts.h"
#include "tests/util/subprocess.h"

namespace ken {
namespace {

using ::ken::testing::Process;
using ::ken::testing::RunProgram;

const std::string kKen = "cli/ken";

class MultiHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(::ken::testing::HaveNssWrapper()) << "needs libnss-wrapper (tools/setup.sh installs it)";
    dir_ = ::ken::testing::MakeTempDir();
    hosts_ = dir_ + "/hosts";
    env_ = ::ken::testing::HostsFileEnv(hosts_);
    port_ = ::ken::testing::FreePortOn({"127.0.0.2", "127.0.0.3", "127.0.0.4"});
    std::ofstream(dir_ + "/a.js") << "var acked = 0;\n";
    std::ofstream(dir_ + "/b.js") << "var got = []; ken.receive(function (v) { got.push(v); });\n";
  }

  // The cluster config with b listening on `b_ip`; both advertise names.
  std::string WriteConfig(const std::string& b_ip) {
    const std::string config = dir_ + "/cluster.yaml";
    const std::string port = std::to_string(port_);
    std::ofstream(config) << "token: t0k\nnodes:\n"
                          << "  - id: a\n    address: a.ken.test:" << port << "\n    listen: 127.0.0.2:" << port
                          << "\n    script: a.js\n"
                          << "  - id: b\n    address: b.ken.test:" << port << "\n    listen: " << b_ip << ":" << port
                          << "\n    script: b.js\n";
    return config;
  }

  std::string Eval(const std::string& config, const std::string& id, const std::string& expr) {
    return RunProgram({kKen, "cluster", "eval", config, id, expr}, "", 60000, env_).output;
  }

  // Polls b's `got` until it reads `want`, for up to `seconds`.
  bool BGot(const std::string& config, const std::string& want, std::string* last, int seconds = 30) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      *last = Eval(config, "b", "got");
      if (*last == want + "\n") return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }

  std::string dir_, hosts_;
  std::vector<std::string> env_;
  int port_ = 0;
};

TEST_F(MultiHostTest, APeerThatMovesToANewAddressIsReachedThereByName) {
  ::ken::testing::WriteHostsFile(hosts_, {{"a.ken.test", "127.0.0.2"}, {"b.ken.test", "127.0.0.3"}});
  std::string config = WriteConfig("127.0.0.3");
  Process a({kKen, "run", "--cluster", config, "--id", "a"}, env_);
  auto b = std::make_unique<Process>(std::vector<std::string>{kKen, "run", "--cluster", config, "--id", "b"}, env_);
  ASSERT_TRUE(a.WaitFor(" up: ", 30000)) << a.output();
  ASSERT_TRUE(b->WaitFor(" up: gRPC 127.0.0.3:", 30000)) << b->output();
  ASSERT_EQ(Eval(config, "a", "ken.send('b', 1); 0"), "0\n");
  std::string got;
  ASSERT_TRUE(BGot(config, "[1]", &got)) << got;

  // b dies; a's next message waits in its outbox; b comes back on another
  // address under the same name (same store), and a reaches it there.
  b->Kill(SIGKILL);
  b->Wait();
  ASSERT_EQ(Eval(config, "a", "ken.send('b', 2); 0"), "0\n");
  std::this_thread::sleep_for(std::chrono::seconds(2));  // a retries the old address meanwhile
  ::ken::testing::WriteHostsFile(hosts_, {{"a.ken.test", "127.0.0.2"}, {"b.ken.test", "127.0.0.4"}});
  config = WriteConfig("127.0.0.4");
  b = std::make_unique<Process>(std::vector<std::string>{kKen, "run", "--cluster", config, "--id", "b"}, env_);
  ASSERT_TRUE(b->WaitFor(" up: gRPC 127.0.0.4:", 30000)) << b->output();
  // Within seconds: a resolves the name again when the old address fails
  // (gRPC would wait 30 s between resolutions by default).
  EXPECT_TRUE(BGot(config, "[1,2]", &got, 12)) << got << "\na's log:\n" << a.output();
  ASSERT_EQ(Eval(config, "a", "ken.send('b', 3); 0"), "0\n");
  EXPECT_TRUE(BGot(config, "[1,2,3]", &got)) << got;
  // And b reaches a by name (the admin eval above went through b's name too).
  a.Kill(SIGTERM);
  b->Kill(SIGTERM);
  EXPECT_EQ(a.Wait(), 0) << a.output();
  EXPECT_EQ(b->Wait(), 0) << b->output();
}

}  // namespace
}  // namespace ken
