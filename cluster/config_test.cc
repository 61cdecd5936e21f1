#include "cluster/config.h"

#include <cstdlib>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace ken {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* t = getenv("TEST_TMPDIR");
    std::string tmpl = std::string(t ? t : "/tmp") + "/cfgXXXXXX";
    dir_ = mkdtemp(tmpl.data());
    std::ofstream(dir_ + "/a.js") << "1";
    std::ofstream(dir_ + "/b.js") << "2";
  }
  absl::StatusOr<ClusterConfig> Parse(const std::string& yaml) { return ParseClusterConfig(yaml, dir_, "c.yaml"); }
  void ExpectError(const std::string& yaml, const std::string& message) {
    auto c = Parse(yaml);
    ASSERT_FALSE(c.ok()) << yaml;
    EXPECT_NE(c.status().message().find(message), std::string::npos) << c.status();
  }
  std::string dir_;
};

constexpr char kGood[] = R"(token: change-me
nodes:
  - id: ping
    address: 127.0.0.1:7101
    script: a.js
  - id: pong
    address: 127.0.0.1:7102
    script: b.js
    store: stores/pong.ken
    http: 127.0.0.1:8081
)";

TEST_F(ConfigTest, ParsesAndResolvesPaths) {
  auto c = Parse(kGood);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->token, "change-me");
  EXPECT_EQ(c->durability, "snapshot");
  ASSERT_EQ(c->nodes.size(), 2u);
  EXPECT_EQ(c->nodes[0].script, dir_ + "/a.js");
  EXPECT_EQ(c->nodes[0].store, dir_ + "/data/ping.ken");
  EXPECT_EQ(c->nodes[1].store, dir_ + "/stores/pong.ken");
  EXPECT_EQ(c->nodes[1].port, 7102);
  EXPECT_EQ(c->nodes[1].http, "127.0.0.1:8081");
  EXPECT_EQ(c->PeersOf("ping"), std::vector<std::string>{"pong"});
  EXPECT_NE(c->Find("pong"), nullptr);
  EXPECT_EQ(c->Find("nope"), nullptr);
}

TEST_F(ConfigTest, ReportsEveryKindOfMistake) {
  ExpectError("token: t\nnodes:\n  - id: a\n    address: 127.0.0.1:1\n", "c.yaml:3: missing field 'script'");
  ExpectError("nodes:\n  - id: a\n    address: 127.0.0.1:1\n    script: a.js\n", "missing field 'token'");
  ExpectError("token: t\nnodes:\n  - id: a\n    address: 127.0.0.1:1\n    script: a.js\n  - id: a\n    address: 127.0.0.1:2\n    script: a.js\n",
              "c.yaml:6: duplicate node id 'a'");
  ExpectError("token: t\nnodes:\n  - id: a\n    address: 127.0.0.1:1\n    script: a.js\n  - id: b\n    address: 127.0.0.1:1\n    script: a.js\n",
              "duplicate address '127.0.0.1:1'");
  ExpectError("token: t\nnodes:\n  - id: a\n    address: localhost\n    script: a.js\n", "cannot parse address 'localhost'");
  ExpectError("token: t\nnodes:\n  - id: a\n    address: h:99999\n    script: a.js\n", "cannot parse address 'h:99999'");
  ExpectError("token: t\nnodes:\n  - id: Bad_Id\n    address: h:1\n    script: a.js\n", "node id 'Bad_Id'");
  ExpectError("token: t\nnodes:\n  - id: a\n    address: h:1\n    script: missing.js\n", "cannot read script");
  ExpectError("token: t\ncolour: red\nnodes: []\n", "c.yaml:2: unknown key 'colour'");
  ExpectError("token: t\nnodes:\n  - id: a\n    adress: h:1\n    script: a.js\n", "unknown key 'adress'");
  ExpectError("token: t\nnodes: [\n", "YAML syntax error");
  ExpectError("token: t\ndurability: log\nnodes:\n  - id: a\n    address: h:1\n    script: a.js\n", "durability 'log' is not supported");
  ExpectError("token: t\nnodes: []\n", "'nodes' must be a non-empty list");
}

TEST_F(ConfigTest, LoadsFromFile) {
  std::ofstream(dir_ + "/cluster.yaml") << kGood;
  auto c = LoadClusterConfig(dir_ + "/cluster.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->path, dir_ + "/cluster.yaml");
  EXPECT_EQ(LoadClusterConfig(dir_ + "/none.yaml").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ken
