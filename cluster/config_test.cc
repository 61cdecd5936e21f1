#include "cluster/config.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

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

// Sets KEN_CLUSTER_TOKEN for one scope.
class ScopedTokenEnv {
 public:
  explicit ScopedTokenEnv(const char* value) { setenv("KEN_CLUSTER_TOKEN", value, 1); }
  ~ScopedTokenEnv() { unsetenv("KEN_CLUSTER_TOKEN"); }
};

TEST_F(ConfigTest, TokenFileHoldsTheTokenAndTheEnvironmentOverridesIt) {
  unsetenv("KEN_CLUSTER_TOKEN");
  const std::string nodes = "nodes:\n  - id: a\n    address: 127.0.0.1:1\n    script: a.js\n";
  std::ofstream(dir_ + "/token") << "s3cret-from-a-file\r\n\n";  // as `echo` or an editor leaves it
  auto c = Parse("token_file: token\n" + nodes);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->token, "s3cret-from-a-file");
  EXPECT_EQ(c->token_file, dir_ + "/token");
  ExpectError("token: x\ntoken_file: token\n" + nodes, "c.yaml:2: give either 'token' or 'token_file', not both");
  ExpectError("token_file: missing\n" + nodes, "c.yaml:1: cannot read token_file " + dir_ + "/missing (No such file");
  ExpectError("token_file: ''\n" + nodes, "'token_file' must name a file");
  ExpectError("token_file: .\n" + nodes, "is not a regular file");
  std::ofstream(dir_ + "/empty") << "\n";
  ExpectError("token_file: empty\n" + nodes, "token_file " + dir_ + "/empty is empty");
  std::ofstream(dir_ + "/spaced") << "two words\n";
  ExpectError("token_file: spaced\n" + nodes, "the token in " + dir_ + "/spaced must be printable ASCII");
  {
    // The environment wins, and the file is not read (it may be absent where
    // the environment carries the token).
    ScopedTokenEnv env("from-the-environment");
    auto e = Parse("token_file: missing\n" + nodes);
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->token, "from-the-environment");
  }
}

TEST_F(ConfigTest, ListenIsWhereTheNodeBindsAndAddressWherePeersDial) {
  auto c = Parse(std::string(kGood) + "    listen: 0.0.0.0:7102\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->Find("pong")->listen, "0.0.0.0:7102");
  EXPECT_EQ(c->Find("pong")->address, "127.0.0.1:7102");
  EXPECT_EQ(c->Find("ping")->listen, "127.0.0.1:7101") << "without listen: the address";
  EXPECT_EQ(c->DialAddressesOf("ping").at("pong"), "127.0.0.1:7102");
  ExpectError(std::string(kGood) + "    listen: 7102\n", "node 'pong': cannot parse listen address '7102'");
  // Nodes on different hosts may all listen on the same port (and all on
  // 0.0.0.0): only the addresses peers dial must differ.
  auto same = Parse(
      "token: t\nnodes:\n  - id: a\n    address: a.ken:7001\n    listen: 0.0.0.0:7001\n    script: a.js\n"
      "  - id: b\n    address: b.ken:7001\n    listen: 0.0.0.0:7001\n    script: b.js\n");
  ASSERT_TRUE(same.ok()) << same.status();
}

TEST_F(ConfigTest, TlsFilesAllOrNoneForEveryNode) {
  for (const char* f : {"ca.pem", "a.pem", "a.key", "b.pem", "b.key", "admin.pem", "admin.key"}) {
    std::ofstream(dir_ + "/" + f) << "-----BEGIN X-----\n";
  }
  const std::string nodes_tls =
      "nodes:\n  - id: a\n    address: 127.0.0.1:1\n    script: a.js\n    cert: a.pem\n    key: a.key\n"
      "  - id: b\n    address: 127.0.0.1:2\n    script: b.js\n    cert: b.pem\n    key: b.key\n";
  auto c = Parse("token: t\nca: ca.pem\ncert: admin.pem\nkey: admin.key\n" + nodes_tls);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->tls.cert, dir_ + "/admin.pem");
  EXPECT_EQ(c->Find("a")->tls.ca, dir_ + "/ca.pem") << "the top level's CA";
  EXPECT_EQ(c->Find("b")->tls.key, dir_ + "/b.key");
  ExpectError("token: t\n" + nodes_tls, "node 'a': TLS needs 'ca', 'cert' and 'key'");
  ExpectError("token: t\nca: ca.pem\nnodes:\n  - id: a\n    address: 127.0.0.1:1\n    script: a.js\n"
              "    cert: a.pem\n    key: a.key\n  - id: b\n    address: 127.0.0.1:2\n    script: b.js\n",
              "node 'b': TLS needs 'ca', 'cert' and 'key'");
  ExpectError("token: t\nca: missing.pem\n" + nodes_tls, "cannot read ca " + dir_ + "/missing.pem");
  // Wildcard http addresses may repeat (each pod binds its own).
  auto pods = Parse("token: t\nnodes:\n  - id: a\n    address: a-0.ken:7001\n    script: a.js\n    http: 0.0.0.0:8080\n"
                    "  - id: b\n    address: b-0.ken:7001\n    script: b.js\n    http: 0.0.0.0:8080\n");
  EXPECT_TRUE(pods.ok()) << pods.status();
}

TEST_F(ConfigTest, HeapLimitPerNodeOverTheTopLevel) {
  auto c = Parse("heap_limit_mb: 512\n" + std::string(kGood) + "    heap_limit_mb: 2048\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->Find("ping")->limits.heap_limit_mb, 512);
  EXPECT_EQ(c->Find("pong")->limits.heap_limit_mb, 2048);
  auto d = Parse(kGood);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->Find("ping")->limits.heap_limit_mb, 0) << "absent: V8's default";
  ExpectError("heap_limit_mb: 8\n" + std::string(kGood), "'heap_limit_mb' must be a whole number from 16 to 65536");
  ExpectError("heap_limit_mb: 70000\n" + std::string(kGood), "from 16 to 65536");
}

TEST_F(ConfigTest, PeerAddressesOverrideWhereANodeDialsItsPeers) {
  auto c = Parse(std::string(kGood) + "    peer_addresses:\n      ping: proxy.local:9001\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->DialAddressesOf("pong"), (std::map<std::string, std::string>{{"ping", "proxy.local:9001"}}));
  EXPECT_EQ(c->DialAddressesOf("ping"), (std::map<std::string, std::string>{{"pong", "127.0.0.1:7102"}}));
  ExpectError(std::string(kGood) + "    peer_addresses:\n      nobody: 127.0.0.1:9001\n",
              "c.yaml:12: node 'pong': peer_addresses names 'nobody', which is not a node of this config");
  ExpectError(std::string(kGood) + "    peer_addresses:\n      pong: 127.0.0.1:9001\n",
              "node 'pong': peer_addresses names 'pong', the node itself");
  ExpectError(std::string(kGood) + "    peer_addresses:\n      ping: no-port\n",
              "node 'pong': peer_addresses: the address of 'ping' is 'no-port'; it must be host:port");
  ExpectError(std::string(kGood) + "    peer_addresses:\n      ping: [a, b]\n",
              "the address of 'ping' is a list or mapping; it must be host:port");
  ExpectError(std::string(kGood) + "    peer_addresses:\n      ping: 127.0.0.1:9001\n      ping: 127.0.0.1:9002\n",
              "node 'pong': peer_addresses: duplicate key 'ping'");
  ExpectError(std::string(kGood) + "    peer_addresses: 127.0.0.1:9001\n",
              "node 'pong': 'peer_addresses' must map node ids to host:port");
}

TEST_F(ConfigTest, ActorPlacementPerKind) {
  auto none = Parse(kGood);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->ActorPlacementJson(), R"({"kinds":{},"max_message_bytes":4194304,"nodes":["ping","pong"]})");
  auto c = Parse(std::string(kGood) + "actors:\n  Room:\n    placement: [pong]\n  Cart: {placement: [pong, ping]}\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->actor_placement.at("Room"), std::vector<std::string>{"pong"});
  EXPECT_EQ(c->ActorPlacementJson(), R"({"kinds":{"Cart":["pong","ping"],"Room":["pong"]},"max_message_bytes":4194304,"nodes":["ping","pong"]})");
  for (const auto& [yaml, message] : std::vector<std::pair<std::string, std::string>>{
           {"actors: [Room]\n", "'actors' must map actor kinds to their settings"},
           {"actors:\n  Room: 3\n", "actors: 'Room' must be a mapping (placement)"},
           {"actors:\n  Room: {}\n", "actors: 'Room': 'placement' must be a non-empty list of node ids"},
           {"actors:\n  Room: {placement: []}\n", "'placement' must be a non-empty list of node ids"},
           {"actors:\n  Room: {placement: [ping, nobody]}\n",
            "actors: 'Room': placement names 'nobody', which is not a node of this config"},
           {"actors:\n  Room: {placement: [ping, ping]}\n", "actors: 'Room': placement names 'ping' twice"},
           {"actors:\n  Room: {placement: [ping], where: x}\n", "unknown key 'where' in actors: Room"},
           {"actors:\n  Room: {placement: [ping]}\n  Room: {placement: [pong]}\n", "duplicate kind 'Room'"},
           {"actors:\n  'a b': {placement: [ping]}\n", "a kind must be 1-100 printable ASCII characters"}}) {
    ExpectError(std::string(kGood) + yaml, message);
  }
}

TEST_F(ConfigTest, ParsesAndResolvesPaths) {
  auto c = Parse(kGood);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->token, "change-me");
  EXPECT_EQ(c->durability, "");  // not named: each store keeps its own mode
  EXPECT_EQ(c->nodes[0].durability, "");
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
  ExpectError("token: t\nnodes:\n  - id: a\n    address: h:1\n    script: a.js\n    durability: Journal\n",
              "node 'a': durability 'Journal' is not supported (supported: snapshot, journal)");
  ExpectError("token: t\nsnapshot_every_commits: 0\nnodes:\n  - id: a\n    address: h:1\n    script: a.js\n",
              "'snapshot_every_commits' must be a whole number from 1");
  ExpectError("token: t\nsnapshot_every_ms: 1e3\nnodes:\n  - id: a\n    address: h:1\n    script: a.js\n",
              "'snapshot_every_ms' must be a whole number");
  ExpectError("token: t\njournal_max_commits: 10\nnodes:\n  - id: a\n    address: h:1\n    script: a.js\n",
              "node 'a': 'journal_max_commits' (10) must be at least 'snapshot_every_commits' (10000)");
}

TEST_F(ConfigTest, DurabilityAndSnapshotterKeysTopLevelAndPerNode) {
  auto c = Parse(
      "token: t\ndurability: journal\nsnapshot_every_commits: 50\nsnapshot_every_ms: 2000\nnodes:\n"
      "  - id: a\n    address: h:1\n    script: a.js\n"
      "  - id: b\n    address: h:2\n    script: a.js\n    durability: snapshot\n    snapshot_every_bytes: 4096\n"
      "    journal_max_commits: 70\n    http_max_body_bytes: 2048\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->durability, "journal");
  EXPECT_EQ(c->nodes[0].durability, "journal");
  EXPECT_EQ(c->nodes[1].durability, "snapshot");
  EXPECT_EQ(c->nodes[0].limits.snapshot_every_commits, 50);
  EXPECT_EQ(c->nodes[0].limits.snapshot_every_ms, 2000);
  EXPECT_EQ(c->nodes[0].limits.snapshot_every_bytes, 64ll << 20);
  EXPECT_EQ(c->nodes[0].limits.journal_max_commits, 100000);
  EXPECT_EQ(c->nodes[1].limits.snapshot_every_commits, 50);
  EXPECT_EQ(c->nodes[1].limits.snapshot_every_bytes, 4096);
  EXPECT_EQ(c->nodes[1].limits.journal_max_commits, 70);
  EXPECT_EQ(c->nodes[0].limits.http_max_body_bytes, 1 << 20);
  EXPECT_EQ(c->nodes[1].limits.http_max_body_bytes, 2048);
}

TEST_F(ConfigTest, LoadsFromFile) {
  std::ofstream(dir_ + "/cluster.yaml") << kGood;
  auto c = LoadClusterConfig(dir_ + "/cluster.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->path, dir_ + "/cluster.yaml");
  EXPECT_EQ(LoadClusterConfig(dir_ + "/none.yaml").status().code(), absl::StatusCode::kNotFound);
}

// The rest of a valid config after its first line; node `a` ends at line 5.
constexpr char kNodes[] = R"(nodes:
  - id: a
    address: 127.0.0.1:7101
    script: a.js
  - id: b
    address: 127.0.0.1:7102
    script: b.js
)";


TEST_F(ConfigTest, TokenMustBePrintableAsciiWithoutSpaces) {
  unsetenv("KEN_CLUSTER_TOKEN");
  const std::vector<std::string> bad = {
      "tökén",            // UTF-8
      "with space",       // a space
      "\"tab\\there\"",   // a control character (tab)
      "\"bell\\a\"",      // a control character (BEL)
      "\"del\\x7f\"",     // DEL
      "\"nul\\0x\"",      // NUL
      "\"\\u00e9t\\u00e9\"",  // non-ASCII by escape
  };
  for (const std::string& token : bad) {
    auto c = Parse("token: " + token + "\n" + kNodes);
    ASSERT_FALSE(c.ok()) << token;
    const std::string message(c.status().message());
    EXPECT_EQ(message.rfind("c.yaml:1: ", 0), 0u) << message;
    EXPECT_NE(message.find("'token'"), std::string::npos) << message;
    EXPECT_NE(message.find("printable ASCII"), std::string::npos) << message;
  }
  // The line is the token's, wherever it is.
  auto c = Parse(std::string(kNodes) + "token: tökén\n");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("c.yaml:8: "), std::string::npos) << c.status();
  // Every printable ASCII character but the space is fine.
  std::string all;
  for (char ch = 0x21; ch <= 0x7e; ++ch) all += ch;
  std::string quoted = "'";
  for (char ch : all) quoted += ch == '\'' ? std::string("''") : std::string(1, ch);
  quoted += "'";
  auto ok = Parse("token: " + quoted + "\n" + kNodes);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->token, all);
}

TEST_F(ConfigTest, EnvironmentTokenOverridesTheFileAndIsValidated) {
  {
    ScopedTokenEnv env("from-the-environment");
    auto c = Parse(kGood);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->token, "from-the-environment");
  }
  for (const char* bad : {"tökén", "with space", "tab\there", "bell\a", "trailing\n"}) {
    ScopedTokenEnv env(bad);
    auto c = Parse(kGood);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(c.status().message().find("KEN_CLUSTER_TOKEN"), std::string::npos) << c.status();
    EXPECT_NE(c.status().message().find("printable ASCII"), std::string::npos) << c.status();
  }
  {
    ScopedTokenEnv env("");  // set but empty: the file's token
    auto c = Parse(kGood);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->token, "change-me");
  }
  {
    // With the environment's token, the file need not have one.
    ScopedTokenEnv env("from-the-environment");
    auto c = Parse("nodes:\n  - id: a\n    address: 127.0.0.1:1\n    script: a.js\n");
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->token, "from-the-environment");
  }
  unsetenv("KEN_CLUSTER_TOKEN");
  auto c = Parse(kGood);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->token, "change-me");
}

TEST_F(ConfigTest, NonScalarKeysAreOneLineErrors) {
  struct Case {
    std::string yaml;
    std::string where;
  } cases[] = {
      {"token: t\n? [a, b]\n: 1\n" + std::string(kNodes), "c.yaml:2: "},
      {"? {k: v}\n: 1\ntoken: t\n" + std::string(kNodes), "c.yaml:1: "},
      {"token: t\n? [a, b]\n" + std::string(kNodes), "c.yaml:2: "},
      {"token: t\nnodes:\n  - id: a\n    address: h:1\n    script: a.js\n    ? [x, y]\n    : 2\n", "c.yaml:6: "},
      {"token: t\nnodes:\n  - id: a\n    ? {x: 1}\n    : 2\n    address: h:1\n    script: a.js\n", "c.yaml:4: "},
      {"token: t\nnodes:\n  - {[a]: 1, id: a, address: 'h:1', script: a.js}\n", "c.yaml:3: "},
  };
  for (const Case& k : cases) {
    absl::StatusOr<ClusterConfig> c;
    ASSERT_NO_THROW(c = Parse(k.yaml)) << k.yaml;
    ASSERT_FALSE(c.ok()) << k.yaml;
    const std::string message(c.status().message());
    EXPECT_EQ(message.rfind(k.where, 0), 0u) << message;
    EXPECT_NE(message.find("key"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

TEST_F(ConfigTest, LimitsHaveDefaultsTopLevelValuesAndPerNodeOverrides) {
  auto defaults = Parse(kGood);
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  for (const NodeLimits& l : {defaults->limits, defaults->nodes[0].limits, defaults->nodes[1].limits}) {
    EXPECT_EQ(l.max_unacked_messages, 100000);
    EXPECT_EQ(l.max_unacked_bytes, 268435456);
    EXPECT_EQ(l.max_buffered_messages, 10000);
    EXPECT_EQ(l.max_checkpoint_bytes, 805306368);
  }
  auto top = Parse(std::string("max_unacked_messages: 5\nmax_unacked_bytes: 1000\nmax_buffered_messages: 7\n"
                               "max_checkpoint_bytes: 999000000\n") +
                   kGood);
  ASSERT_TRUE(top.ok()) << top.status();
  for (const NodeLimits& l : {top->limits, top->nodes[0].limits, top->nodes[1].limits}) {
    EXPECT_EQ(l.max_unacked_messages, 5);
    EXPECT_EQ(l.max_unacked_bytes, 1000);
    EXPECT_EQ(l.max_buffered_messages, 7);
    EXPECT_EQ(l.max_checkpoint_bytes, 999000000);
  }
  // Per node: overrides the top level (or the default) for that node only,
  // wherever the top-level key appears in the file.
  auto per_node = Parse(R"(token: t
nodes:
  - id: a
    address: 127.0.0.1:7101
    script: a.js
    max_buffered_messages: 3
    max_unacked_messages: 1
  - id: b
    address: 127.0.0.1:7102
    script: b.js
    max_checkpoint_bytes: 1048576
max_buffered_messages: 9
)");
  ASSERT_TRUE(per_node.ok()) << per_node.status();
  EXPECT_EQ(per_node->limits.max_buffered_messages, 9);
  EXPECT_EQ(per_node->limits.max_unacked_messages, 100000);
  EXPECT_EQ(per_node->limits.max_checkpoint_bytes, 805306368);
  const NodeLimits& a = per_node->Find("a")->limits;
  const NodeLimits& b = per_node->Find("b")->limits;
  EXPECT_EQ(a.max_buffered_messages, 3);
  EXPECT_EQ(a.max_unacked_messages, 1);
  EXPECT_EQ(a.max_unacked_bytes, 268435456);
  EXPECT_EQ(a.max_checkpoint_bytes, 805306368);
  EXPECT_EQ(b.max_buffered_messages, 9);
  EXPECT_EQ(b.max_unacked_messages, 100000);
  EXPECT_EQ(b.max_checkpoint_bytes, 1048576);
}

TEST_F(ConfigTest, BadLimitsNameTheKeyAndLine) {
  const char* const keys[] = {"max_unacked_messages", "max_unacked_bytes", "max_buffered_messages",
                              "max_checkpoint_bytes"};
  const std::vector<std::string> bad = {"0",    "-1",     "-100000", "ten",       "1.5",    "1e3",
                                        "0x10", "[1, 2]", "{a: 1}",  "99999999999999999999", "''",
                                        "1099511627777"};
  for (const char* key : keys) {
    std::vector<std::string> values = bad;
    if (std::string(key) == "max_checkpoint_bytes") {
      values.push_back("999000001");
      values.push_back("1000000000");
    }
    for (const std::string& value : values) {
      const std::string entry = std::string(key) + ": " + value + "\n";
      // At the top level (line 1) ...
      auto top = Parse(entry + kGood);
      ASSERT_FALSE(top.ok()) << entry;
      std::string message(top.status().message());
      EXPECT_EQ(message.rfind("c.yaml:1: ", 0), 0u) << entry << message;
      EXPECT_NE(message.find(std::string("'") + key + "'"), std::string::npos) << entry << message;
      // ... and in a node (line 6).
      auto node = Parse("token: t\nnodes:\n  - id: a\n    address: h:1\n    script: a.js\n    " + entry);
      ASSERT_FALSE(node.ok()) << entry;
      message = std::string(node.status().message());
      EXPECT_EQ(message.rfind("c.yaml:6: ", 0), 0u) << entry << message;
      EXPECT_NE(message.find(std::string("'") + key + "'"), std::string::npos) << entry << message;
    }
    // No value at all is not a number either.
    auto empty = Parse(std::string(key) + ":\n" + kGood);
    ASSERT_FALSE(empty.ok()) << key;
    EXPECT_NE(empty.status().message().find(std::string("'") + key + "'"), std::string::npos) << empty.status();
    // The bounds themselves are fine.
    for (const char* value : {"1", std::string(key) == "max_checkpoint_bytes" ? "999000000" : "1099511627776"}) {
      auto ok = Parse(std::string(key) + ": " + value + "\n" + kGood);
      EXPECT_TRUE(ok.ok()) << key << ": " << value << ": " << ok.status();
    }
  }
}

// Whatever the file holds, ParseClusterConfig returns a status; nothing
// yaml-cpp throws escapes it.
TEST_F(ConfigTest, GarbageNeverThrows) {
  const std::string node = "    address: h:1\n    script: a.js\n";
  std::vector<std::string> docs = {
      "",
      "~",
      "just a scalar",
      "- a\n- b\n",
      "token: t\nnodes: scalar\n",
      "token: t\nnodes: {a: 1}\n",
      "token: t\nnodes:\n  - just-a-scalar\n",
      "token: t\nnodes:\n  - [a, b]\n",
      "token: t\nnodes:\n  -\n",
      "token: t\nnodes:\n  - id: [a]\n" + node,
      "token: t\nnodes:\n  - id: {a: 1}\n" + node,
      "token: t\nnodes:\n  - id: a\n    address: {h: 1}\n    script: a.js\n",
      "token: t\nnodes:\n  - id: a\n    address: [h, 1]\n    script: a.js\n",
      "token: t\nnodes:\n  - id: a\n    address: h:1\n    script: [a.js]\n",
      "token: t\nnodes:\n  - id: a\n" + node + "    store: {x: 1}\n",
      "token: t\nnodes:\n  - id: a\n" + node + "    http: [1]\n",
      "token: t\nnodes:\n  - id: a\n" + node + "    durability: {x: 1}\n",
      "token: {a: b}\nnodes: []\n",
      "token: [t]\n" + std::string(kNodes),
      "token:\n" + std::string(kNodes),
      "token: ''\n" + std::string(kNodes),
      "token: t\nmax_message_bytes: [1]\n" + std::string(kNodes),
      "token: t\nmax_message_bytes: {a: 1}\n" + std::string(kNodes),
      "token: t\ndurability: [snapshot]\n" + std::string(kNodes),
      "token: t\nnodes: *undefined\n",
      "token: t\nnodes: &x [*x]\n",
      "token: &t t\nnodes:\n  - &n {id: a, address: 'h:1', script: a.js}\n  - *n\n",
      "token: t\nbase: &b {address: 'h:1'}\nnodes:\n  - <<: *b\n    id: a\n    script: a.js\n",
      "&k token: t\n*k : u\n" + std::string(kNodes),
      "token: t\nnodes:\n  - !!map {id: a, address: 'h:1', script: a.js}\n  - !!seq [1]\n",
      "token: !!map t\n" + std::string(kNodes),
      "token: t\nnodes: !!str\n",
      "token: t\n? \n" + std::string(kNodes),
      "token: t\nnodes:\n  - id: a\n    ? \n" + node,
      "token: \"unterminated\n",
      "token: t\n\tnodes: []\n",
      "token: t\nnodes: [\n",
      "\xff\xfe\x00t\x00o\x00k",
      std::string("token: t\0x\n", 11) + kNodes,
      "token: t\n---\ntoken: u\n",
      "%YAML 9.9\n---\ntoken: t\n",
      "token: t\nnodes:\n" + std::string(5000, ' ') + "- id: a\n",
      "token: " + std::string(5000, '[') + "\n",
      "token: " + std::string(5000, '{') + "\n",
      "nodes:\n" + std::string(3000, '-') + " x\n",
  };
  // And some noise made of YAML's punctuation.
  std::mt19937 rng(7);
  const std::string alphabet = "[]{}:,-?*&!|>'\"#%@` \n\t\\ab1~<=.";
  for (int i = 0; i < 300; ++i) {
    std::string doc = i % 2 == 0 ? "token: t\n" : "";
    for (int n = rng() % 80; n > 0; --n) doc += alphabet[rng() % alphabet.size()];
    docs.push_back(doc);
  }
  for (const std::string& doc : docs) {
    absl::StatusOr<ClusterConfig> c;
    ASSERT_NO_THROW(c = Parse(doc)) << doc;
    if (!c.ok()) {
      EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << doc;
      EXPECT_EQ(c.status().message().rfind("c.yaml", 0), 0u) << c.status();
    }
  }
}

}  // namespace
}  // namespace ken

namespace ken {
namespace {

class ConfigStrictTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* t = getenv("TEST_TMPDIR");
    std::string tmpl = std::string(t ? t : "/tmp") + "/cfgXXXXXX";
    dir_ = mkdtemp(tmpl.data());
    std::ofstream(dir_ + "/a.js") << "1";
  }
  std::string Error(const std::string& yaml) {
    auto c = ParseClusterConfig(yaml, dir_, "c.yaml");
    return c.ok() ? "" : std::string(c.status().message());
  }
  std::string dir_;
};

// Mistakes that used to be accepted silently, or to hang or crash later.
TEST_F(ConfigStrictTest, AddressesDuplicatesDocumentsAndScripts) {
  const std::string node = "  - id: a\n    address: 127.0.0.1:7001\n    script: a.js\n";
  EXPECT_NE(Error("token: t\nnodes:\n  - id: a\n    address: \"127.0.0.1:7001\\n\"\n    script: a.js\n")
                .find("c.yaml:4: node 'a': cannot parse address"),
            std::string::npos);
  EXPECT_NE(Error("token: t\nnodes:\n  - id: a\n    address: \"127.0.0.1: 7001\"\n    script: a.js\n")
                .find("cannot parse address"),
            std::string::npos);
  EXPECT_NE(Error("token: t\ntoken: u\nnodes:\n" + node).find("c.yaml:2: duplicate key 'token'"), std::string::npos);
  EXPECT_NE(Error("token: t\nnodes:\n  - id: a\n    address: 127.0.0.1:7001\n    script: a.js\n    script: b.js\n")
                .find("c.yaml:6: duplicate key 'script' in node"),
            std::string::npos);
  EXPECT_NE(Error("token: t\nnodes:\n" + node + "---\ntoken: other\n").find("c.yaml:6: the cluster config must be one"),
            std::string::npos);
  EXPECT_EQ(Error("---\ntoken: t\nnodes:\n" + node), "");  // a leading '---' is one document
  ASSERT_EQ(mkfifo((dir_ + "/fifo.js").c_str(), 0644), 0);
  EXPECT_NE(Error("token: t\nnodes:\n  - id: a\n    address: 127.0.0.1:7001\n    script: fifo.js\n")
                .find("(not a regular file)"),
            std::string::npos);
  EXPECT_NE(Error("token: t\nnodes:\n  - id: a\n    address: 127.0.0.1:7001\n    script: /dev/zero\n")
                .find("(not a regular file)"),
            std::string::npos);
  // The OS's reason, whatever it is.
  EXPECT_NE(Error("token: t\nnodes:\n  - id: a\n    address: 127.0.0.1:7001\n    script: none.js\n")
                .find("cannot read script " + dir_ + "/none.js (No such file or directory)"),
            std::string::npos);
  EXPECT_NE(Error("token: t\nnodes:\n  - id: a\n    address: 127.0.0.1:7001\n    script: fifo.js/x.js\n")
                .find("/fifo.js/x.js (Not a directory)"),
            std::string::npos);
}

}  // namespace
}  // namespace ken
