// The supervisor with stand-in nodes (a shell script in place of the ken
// binary): node lines are prefixed with their id, a node that exits is
// restarted with its restart count, and Stop() from another thread ends
// every node with SIGTERM and returns from Run(). (Also what TSan runs over
// the supervisor: README, "Sanitizers and fuzzing".)
#include "cluster/supervisor.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "gtest/gtest.h"

namespace ken {
namespace {

// Called as `ken run --cluster CONFIG --id ID --log-level LEVEL`.
constexpr char kFakeKen[] = R"sh(#!/bin/sh
id=$5
echo "node $id up (restart $KEN_RESTARTS, supervised $KEN_SUPERVISED)"
if [ "$id" = a ] && [ "$KEN_RESTARTS" = 0 ]; then echo "a fails once"; exit 3; fi
trap 'echo "node $id got SIGTERM"; exit 0' TERM
while :; do sleep 0.05; done
)sh";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(SupervisorTest, PrefixesRestartsAndStops) {
  const char* tmp = getenv("TEST_TMPDIR");  // Bazel's, removed after the test
  std::string tmpl = std::string(tmp ? tmp : "/tmp") + "/ken-supervisor-XXXXXX";
  const std::string dir = mkdtemp(tmpl.data());
  const std::string fake = dir + "/fake-ken";
  std::ofstream(fake) << kFakeKen;
  chmod(fake.c_str(), 0755);
  ClusterConfig config;
  config.path = dir + "/cluster.yaml";
  for (const char* id : {"a", "b"}) {
    NodeConfig n;
    n.id = id;
    config.nodes.push_back(n);
  }
  SupervisorOptions options;
  options.ken_binary = fake;
  Supervisor supervisor(config, options);

  // The supervisor writes to stdout: into a file for the test.
  const std::string out = dir + "/out.txt";
  fflush(stdout);
  const int saved = dup(1);
  const int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  dup2(fd, 1);
  close(fd);
  std::thread run([&] { supervisor.Run(); });
  std::string text;
  for (int i = 0; i < 200; ++i) {
    text = ReadAll(out);
    if (text.find("[a] node a up (restart 1") != std::string::npos &&
        text.find("[b] node b up (restart 0") != std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  supervisor.Stop();
  run.join();
  fflush(stdout);
  dup2(saved, 1);
  close(saved);
  text = ReadAll(out);
  EXPECT_NE(text.find("[a] node a up (restart 0, supervised 1)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("[a] a fails once\n"), std::string::npos) << text;
  EXPECT_NE(text.find("node a exited with code 3; restart #1"), std::string::npos) << text;
  EXPECT_NE(text.find("[a] node a up (restart 1, supervised 1)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("[b] node b got SIGTERM\n"), std::string::npos) << text;
  EXPECT_NE(text.find("node b stopped (exited with code 0)"), std::string::npos) << text;
  EXPECT_EQ(text.find("restart #2"), std::string::npos) << "a node stopped by Stop() was restarted: " << text;
}

}  // namespace
}  // namespace ken
