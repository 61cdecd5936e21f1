// `ken cluster up/status/kill/eval/down` as an operator uses them.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/netfault/fault_net.h"
#include "tests/util/health_check.h"
#include "tests/util/subprocess.h"

namespace ken {
namespace {

using ::ken::testing::BusyPort;
using ::ken::testing::FreePort;
using ::ken::testing::MakeTempDir;
using ::ken::testing::Process;
using ::ken::testing::RunProgram;

const std::string kKen = "cli/ken";

std::string WriteCluster(const std::string& dir, int port_a, int port_b) {
  std::ofstream(dir + "/a.js") << "var hits = 0; ken.receive(function () { hits++; });\n";
  std::ofstream(dir + "/b.js") << "ken.send('a', 1); ken.send('a', 2);\n";
  std::string config = dir + "/cluster.yaml";
  std::ofstream(config) << "token: t0k\nnodes:\n"
                        << "  - id: a\n    address: 127.0.0.1:" << port_a << "\n    script: a.js\n"
                        << "  - id: b\n    address: 127.0.0.1:" << port_b << "\n    script: b.js\n";
  return config;
}

TEST(ClusterCliTest, UpStatusKillEvalDown) {
  const std::string dir = MakeTempDir();
  const std::string config = WriteCluster(dir, FreePort(), FreePort());
  auto up = RunProgram({kKen, "cluster", "up", config, "--detach"}, "", 60000);
  ASSERT_EQ(up.exit_code, 0) << up.output;
  EXPECT_NE(up.output.find("cluster up: 2 nodes"), std::string::npos) << up.output;

  std::string hits;
  for (int i = 0; i < 100 && hits != "2"; ++i) {
    hits = RunProgram({kKen, "cluster", "eval", config, "a", "hits"}).output;
    while (!hits.empty() && hits.back() == '\n') hits.pop_back();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(hits, "2");
  auto status = RunProgram({kKen, "cluster", "status", config});
  EXPECT_NE(status.output.find("NODE"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("OUTBOX"), std::string::npos);
  // Retransmits are not persisted, and the label says so.
  EXPECT_NE(status.output.find(" RETX_SINCE_START "), std::string::npos) << status.output;
  EXPECT_NE(status.output.find(" up    journal "), std::string::npos) << status.output;  // the default mode
  // Two node rows, then a blank line and one row per channel.
  EXPECT_EQ(std::count(status.output.begin(), status.output.end(), '\n'), 7) << status.output;
  EXPECT_NE(status.output.find("\nCHANNEL "), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("\na -> b "), std::string::npos) << status.output;

  auto kill = RunProgram({kKen, "cluster", "kill", config, "a"});
  EXPECT_EQ(kill.exit_code, 0) << kill.output;
  std::string json;
  for (int i = 0; i < 100; ++i) {
    json = RunProgram({kKen, "cluster", "status", config, "--json"}).output;
    if (json.find("\"id\": \"a\", \"up\": true, \"pid\"") != std::string::npos &&
        json.find("\"restarts\": 1") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(json.find("\"restarts\": 1"), std::string::npos) << json;
  EXPECT_NE(json.find("\"durability\": \"journal\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"retransmits_since_start\": "), std::string::npos) << json;
  // State survived the kill; a throwing eval is rolled back and reported.
  EXPECT_EQ(RunProgram({kKen, "cluster", "eval", config, "a", "hits"}).output, "2\n");
  auto bad = RunProgram({kKen, "cluster", "eval", config, "a", "hits = 99; throw new Error('no')"});
  EXPECT_EQ(bad.exit_code, 3);
  EXPECT_NE(bad.output.find("Uncaught Error: no"), std::string::npos) << bad.output;
  EXPECT_EQ(RunProgram({kKen, "cluster", "eval", config, "a", "hits"}).output, "2\n");

  auto again = RunProgram({kKen, "cluster", "up", config, "--detach"});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.output.find("already running"), std::string::npos) << again.output;

  auto down = RunProgram({kKen, "cluster", "down", config}, "", 60000);
  EXPECT_EQ(down.exit_code, 0) << down.output;
  EXPECT_NE(down.output.find("cluster down"), std::string::npos);
  auto after = RunProgram({kKen, "cluster", "status", config});
  // The header, a row per node, and why each is down.
  EXPECT_EQ(std::count(after.output.begin(), after.output.end(), '\n'), 5) << after.output;
  EXPECT_NE(after.output.find(" down "), std::string::npos) << after.output;
  EXPECT_NE(after.output.find("\nb: no node answers at 127.0.0.1:"), std::string::npos) << after.output;
  EXPECT_EQ(after.exit_code, 0) << "nodes that are merely down are no error";
  EXPECT_NE(::ken::testing::ReadFileOrEmpty(dir + "/data/cluster.log").find("[a] "), std::string::npos);
  // Straight back up: the stopped nodes' connections in TIME_WAIT must not
  // make their addresses look taken.
  auto up_again = RunProgram({kKen, "cluster", "up", config, "--detach"}, "", 60000);
  EXPECT_EQ(up_again.exit_code, 0) << up_again.output;
  EXPECT_EQ(RunProgram({kKen, "cluster", "eval", config, "a", "hits"}).output, "2\n");
  EXPECT_EQ(RunProgram({kKen, "cluster", "down", config}, "", 60000).exit_code, 0);
}

// cluster.log follows `up`'s --log-level: at warn, neither the nodes' info
// lines nor the supervisor's own "started node" are there; its warnings
// (a node that died) and each node's "up" line are.
TEST(ClusterCliTest, ClusterLogFollowsTheLogLevel) {
  const std::string dir = MakeTempDir();
  const std::string config = WriteCluster(dir, FreePort(), FreePort());
  auto up = RunProgram({kKen, "cluster", "up", config, "--detach", "--log-level", "warn"}, "", 60000);
  ASSERT_EQ(up.exit_code, 0) << up.output;
  ASSERT_EQ(RunProgram({kKen, "cluster", "kill", config, "a"}).exit_code, 0);
  std::string log;
  for (int i = 0; i < 100; ++i) {
    log = ::ken::testing::ReadFileOrEmpty(dir + "/data/cluster.log");
    if (std::count(log.begin(), log.end(), '\n') >= 4 && log.find("[a] node a up: ", log.find("restart #1")) !=
                                                              std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(RunProgram({kKen, "cluster", "down", config}, "", 60000).exit_code, 0);
  log = ::ken::testing::ReadFileOrEmpty(dir + "/data/cluster.log");
  EXPECT_NE(log.find("[a] node a up: "), std::string::npos) << log;
  EXPECT_NE(log.find("[b] node b up: "), std::string::npos) << log;
  EXPECT_NE(log.find("[supervisor] node a killed by signal 9; restart #1"), std::string::npos) << log;
  EXPECT_EQ(log.find("[info]"), std::string::npos) << log;
  EXPECT_EQ(log.find("[supervisor] started node"), std::string::npos) << log;
  EXPECT_EQ(log.find("[supervisor] all nodes stopped"), std::string::npos) << log;
}

TEST(ClusterCliTest, ConfigErrorsBeforeAnythingStarts) {
  const std::string dir = MakeTempDir();
  // A port already in use.
  auto busy = std::make_unique<BusyPort>();
  const std::string config = WriteCluster(dir, FreePort(), busy->port());
  auto r = RunProgram({kKen, "cluster", "up", config});
  busy.reset();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("node b: gRPC address 127.0.0.1:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("in use"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("started node"), std::string::npos) << "something started: " << r.output;
  // A missing script.
  unlink((dir + "/b.js").c_str());
  r = RunProgram({kKen, "cluster", "up", config});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("cannot read script"), std::string::npos) << r.output;
}

// `ken run` on a busy port: exactly the one line `cluster up` prints for it
// (nothing of gRPC's own logging), exit code 1, and no store made.
TEST(ClusterCliTest, RunOnABusyPortIsOneCleanLine) {
  const std::string dir = MakeTempDir();
  BusyPort busy;
  const std::string config = WriteCluster(dir, FreePort(), busy.port());
  auto r = RunProgram({kKen, "run", "--cluster", config, "--id", "b"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(r.output, "ken run: node b: gRPC address 127.0.0.1:" + std::to_string(busy.port()) +
                          " cannot be used: Address already in use\n");
  EXPECT_FALSE(std::filesystem::exists(dir + "/data/b.ken")) << "the store was made before the port was checked";
}

// Once up, `ken run` prints one line: node id, addresses, store, and what
// it restored; at the default log level nothing else while all is well.
TEST(ClusterCliTest, RunPrintsOneLineWhenUp) {
  const std::string dir = MakeTempDir();
  const int port_a = FreePort();
  const int http = FreePort();
  const std::string config = WriteCluster(dir, port_a, FreePort());
  const std::string head = "node a up: gRPC 127.0.0.1:" + std::to_string(port_a) + ", http 127.0.0.1:" +
                           std::to_string(http) + ", store " + dir + "/data/a.ken, ";
  const std::vector<std::string> argv = {kKen, "run", "--cluster", config, "--id", "a", "--http",
                                         "127.0.0.1:" + std::to_string(http)};
  {
    Process node(argv);
    ASSERT_TRUE(node.WaitFor("\n", 30000)) << node.output();
    EXPECT_EQ(node.output(), head + "new (script " + dir + "/a.js ran as turn 1)\n");
    node.Kill(SIGTERM);
    EXPECT_EQ(node.Wait(), 0) << node.output();
    EXPECT_EQ(std::count(node.output().begin(), node.output().end(), '\n'), 1) << node.output();
  }
  Process node(argv);
  ASSERT_TRUE(node.WaitFor("\n", 30000)) << node.output();
  EXPECT_EQ(node.output().rfind(head + "restored turn ", 0), 0u) << node.output();
  EXPECT_NE(node.output().find(" (commit "), std::string::npos) << node.output();
  node.Kill(SIGTERM);
  EXPECT_EQ(node.Wait(), 0) << node.output();
}

// Deployment keys end to end: the token read from token_file (by the nodes
// and the admin commands), each node binding `listen` while its peers and
// the commands dial `address` (a host name), and the config's heap_limit_mb
// applied to the node's isolate.
TEST(ClusterCliTest, TokenFileListenAndHeapLimitFromTheConfig) {
  const std::string dir = MakeTempDir();
  const int port_a = FreePort(), port_b = FreePort();
  std::ofstream(dir + "/a.js") << "var hits = 0; ken.receive(function () { hits++; });\n";
  std::ofstream(dir + "/b.js") << "ken.send('a', 1); ken.send('a', 2);\n";
  std::ofstream(dir + "/token") << "from-a-file\n";
  const std::string config = dir + "/cluster.yaml";
  std::ofstream(config) << "token_file: token\nheap_limit_mb: 64\nnodes:\n"
                        << "  - id: a\n    address: localhost:" << port_a << "\n    listen: 127.0.0.1:" << port_a
                        << "\n    script: a.js\n"
                        << "  - id: b\n    address: localhost:" << port_b << "\n    listen: 127.0.0.1:" << port_b
                        << "\n    script: b.js\n";
  Process a({kKen, "run", "--cluster", config, "--id", "a"});
  ASSERT_TRUE(a.WaitFor("\n", 30000)) << a.output();
  EXPECT_NE(a.output().find("node a up: gRPC 127.0.0.1:" + std::to_string(port_a) + " (address localhost:" +
                            std::to_string(port_a) + "), "),
            std::string::npos)
      << a.output();
  Process b({kKen, "run", "--cluster", config, "--id", "b"});
  ASSERT_TRUE(b.WaitFor("\n", 30000)) << b.output();
  std::string hits;
  for (int i = 0; i < 200 && hits != "2\n"; ++i) {
    hits = RunProgram({kKen, "cluster", "eval", config, "a", "hits"}).output;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(hits, "2\n") << "b's messages did not reach a at its address";
  // 64 MiB of heap: a turn that allocates past it is aborted, the node lives.
  auto big = RunProgram({kKen, "cluster", "eval", config, "a", "var big = []; for (;;) big.push(new Array(1e6).fill(1))"});
  EXPECT_EQ(big.exit_code, 3) << big.output;
  EXPECT_NE(big.output.find("heap limit"), std::string::npos) << big.output;
  EXPECT_EQ(RunProgram({kKen, "cluster", "eval", config, "a", "hits"}).output, "2\n");
  // A wrong token in the file: the commands are refused.
  std::ofstream(dir + "/token") << "another\n";
  auto refused = RunProgram({kKen, "cluster", "eval", config, "a", "hits"});
  EXPECT_NE(refused.exit_code, 0) << refused.output;
  EXPECT_NE(refused.output.find("token"), std::string::npos) << refused.output;
  a.Kill(SIGTERM);
  b.Kill(SIGTERM);
  EXPECT_EQ(a.Wait(), 0) << a.output();
  EXPECT_EQ(b.Wait(), 0) << b.output();
}

// Mutual TLS from `ken cluster certs` to a running cluster: the nodes talk
// over TLS, the commands use the admin certificate, and a node without TLS
// cannot join (the cluster's config forbids mixing; a plaintext admin call
// is refused).
TEST(ClusterCliTest, CertsThenATlsCluster) {
  const std::string dir = MakeTempDir();
  const std::string config = WriteCluster(dir, FreePort(), FreePort());
  auto certs = RunProgram({kKen, "cluster", "certs", config, "-o", dir + "/certs"});
  ASSERT_EQ(certs.exit_code, 0) << certs.output;
  EXPECT_NE(certs.output.find("ca: certs/ca.pem"), std::string::npos) << certs.output;
  for (const char* f : {"ca.pem", "ca.key", "a.pem", "a.key", "b.pem", "b.key", "admin.pem", "admin.key"}) {
    EXPECT_TRUE(std::filesystem::exists(dir + "/certs/" + f)) << f;
  }
  EXPECT_EQ(std::filesystem::status(dir + "/certs/a.key").permissions() & std::filesystem::perms::group_read,
            std::filesystem::perms::none);
  // Turn TLS on as the printed lines say.
  std::string text = ken::testing::ReadFileOrEmpty(config);
  std::ofstream(dir + "/plain.yaml") << text;  // the same nodes without TLS
  text.insert(text.find("nodes:"), "ca: certs/ca.pem\ncert: certs/admin.pem\nkey: certs/admin.key\n");
  for (const char* id : {"a", "b"}) {
    const std::string at = std::string("    script: ") + id + ".js\n";
    text.replace(text.find(at), at.size(),
                 at + "    cert: certs/" + id + ".pem\n    key: certs/" + id + ".key\n");
  }
  std::ofstream(config) << text;
  // certs for a config that already names files not made yet: it makes them.
  std::string later = text;
  for (size_t at = later.find("certs/"); at != std::string::npos; at = later.find("certs/", at + 7)) {
    later.replace(at, 6, "certs2/");
  }
  std::ofstream(dir + "/later.yaml") << later;
  auto certs2 = RunProgram({kKen, "cluster", "certs", dir + "/later.yaml", "-o", dir + "/certs2"});
  EXPECT_EQ(certs2.exit_code, 0) << certs2.output;
  EXPECT_TRUE(std::filesystem::exists(dir + "/certs2/b.key"));
  // A key that is not its certificate's is found when the config is used.
  std::string swapped = text;
  swapped.replace(swapped.find("key: certs/a.key"), 16, "key: certs/b.key");
  std::ofstream(dir + "/swapped.yaml") << swapped;
  auto mismatch = RunProgram({kKen, "run", "--cluster", dir + "/swapped.yaml", "--id", "a"});
  EXPECT_NE(mismatch.exit_code, 0) << mismatch.output;
  EXPECT_NE(mismatch.output.find("is not the key of the certificate"), std::string::npos) << mismatch.output;
  // systemd units for the host of node a: a's key, not b's.
  auto units = RunProgram({kKen, "cluster", "render", "systemd", config, "-o", dir + "/host-a", "--nodes", "a"});
  ASSERT_EQ(units.exit_code, 0) << units.output;
  EXPECT_TRUE(std::filesystem::exists(dir + "/host-a/etc/ken/tls/a.key"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/host-a/etc/ken/tls/b.key")) << "host a holds b's key";
  EXPECT_FALSE(std::filesystem::exists(dir + "/host-a/etc/systemd/system/ken@b.service.d/memory.conf"));
  EXPECT_EQ(ken::testing::ReadFileOrEmpty(dir + "/host-a/etc/ken/cluster.yaml").find("b.pem"), std::string::npos);
  EXPECT_NE(units.output.find("warning: node 'a' has the loopback address"), std::string::npos) << units.output;
  auto unknown = RunProgram({kKen, "cluster", "render", "systemd", config, "-o", dir + "/x", "--nodes", "a,zz"});
  EXPECT_EQ(unknown.exit_code, 2) << unknown.output;
  EXPECT_NE(unknown.output.find("--nodes names 'zz', which is not a node of"), std::string::npos) << unknown.output;
  auto up = RunProgram({kKen, "cluster", "up", config, "--detach"}, "", 60000);
  ASSERT_EQ(up.exit_code, 0) << up.output;
  std::string hits;
  for (int i = 0; i < 200 && hits != "2\n"; ++i) {
    hits = RunProgram({kKen, "cluster", "eval", config, "a", "hits"}).output;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(hits, "2\n") << "b's messages did not reach a over TLS";
  auto status = RunProgram({kKen, "cluster", "status", config});
  EXPECT_EQ(status.exit_code, 0) << status.output;
  EXPECT_NE(status.output.find("\na -> b "), std::string::npos) << status.output;
  // Without the admin certificate the commands are refused before dialing.
  std::string no_admin = text;
  no_admin.erase(no_admin.find("cert: certs/admin.pem\n"), std::string("cert: certs/admin.pem\n").size());
  std::ofstream(dir + "/no-admin.yaml") << no_admin;
  auto refused = RunProgram({kKen, "cluster", "eval", dir + "/no-admin.yaml", "a", "hits"});
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_NE(refused.output.find("need a top-level 'ca', 'cert' and 'key'"), std::string::npos) << refused.output;
  // A plaintext config for the same nodes: nothing answers it.
  auto plain = RunProgram({kKen, "cluster", "eval", dir + "/plain.yaml", "a", "1"});
  EXPECT_EQ(plain.exit_code, 1) << plain.output;
  EXPECT_NE(plain.output.find("no node answers"), std::string::npos) << plain.output;
  // status says why a node shows down: here, plaintext to a TLS node.
  auto plain_status = RunProgram({kKen, "cluster", "status", dir + "/plain.yaml"});
  EXPECT_NE(plain_status.output.find("\na: no node answers at 127.0.0.1:"), std::string::npos) << plain_status.output;
  // The wrong token: refused, said, and the exit code says so.
  std::string wrong = text;
  wrong.replace(wrong.find("token: t0k"), 10, "token: nope");
  std::ofstream(dir + "/wrong-token.yaml") << wrong;
  auto refused_status = RunProgram({kKen, "cluster", "status", dir + "/wrong-token.yaml"});
  EXPECT_EQ(refused_status.exit_code, 1) << refused_status.output;
  EXPECT_NE(refused_status.output.find("\nb: node at 127.0.0.1:"), std::string::npos) << refused_status.output;
  EXPECT_NE(refused_status.output.find("token"), std::string::npos) << refused_status.output;
  EXPECT_EQ(RunProgram({kKen, "cluster", "down", config}).exit_code, 0);
  // A probe has no client certificate: --health answers it in plaintext.
  const int health_port = FreePort();
  const std::string health = "127.0.0.1:" + std::to_string(health_port);
  auto bad = RunProgram({kKen, "run", "--cluster", config, "--id", "a", "--health", "nowhere"});
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("--health 'nowhere' must be HOST:PORT"), std::string::npos) << bad.output;
  Process a({kKen, "run", "--cluster", config, "--id", "a", "--health", health});
  ASSERT_TRUE(a.WaitFor(", health " + health + ",", 30000)) << a.output();
  EXPECT_EQ(ken::testing::GrpcHealthCheck(grpc::CreateChannel(health, grpc::InsecureChannelCredentials())),
            std::string("\x08\x01", 2));
  a.Kill(SIGTERM);
  EXPECT_EQ(a.Wait(), 0) << a.output();
}

// Render flags a user may get wrong: each named, exit code 2.
TEST(ClusterCliTest, RenderFlagsAreChecked) {
  const std::string dir = MakeTempDir();
  const std::string config = WriteCluster(dir, FreePort(), FreePort());
  for (const auto& [args, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"k8s", config, "--storage", "ten gigs"}, "--storage 'ten gigs' is not a size Kubernetes takes"},
           {{"k8s", config, "--storage", "0Gi"}, "--storage '0Gi' is not a size"},
           {{"k8s", config, "--storage-class", "Fast_SSD"}, "--storage-class 'Fast_SSD' is not a storage class name"},
           {{"k8s", config, "--nodes", "a"}, "--nodes is for render systemd"},
           {{"k8s", config, "--heap-limit-mb", "8"}, "--heap-limit-mb must be 0 (V8's default) or from 16"}}) {
    std::vector<std::string> argv = {kKen, "cluster", "render"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunProgram(argv);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << r.output;
  }
  auto ok = RunProgram({kKen, "cluster", "render", "k8s", config, "--storage", "20Gi", "--storage-class", "fast-ssd",
                        "--heap-limit-mb", "512"});
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("storage: 20Gi"), std::string::npos) << ok.output;
  EXPECT_NE(ok.output.find("storageClassName: \"fast-ssd\""), std::string::npos) << ok.output;
  EXPECT_NE(ok.output.find("heap_limit_mb: 512"), std::string::npos) << ok.output;
  EXPECT_NE(ok.output.find("memory: 1792Mi"), std::string::npos) << "3 x 512 + 256" << ok.output;
}

// Polls `ken cluster status` until its output contains `text`.
bool StatusShows(const std::string& config, const std::string& text, int seconds, std::string* last) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    *last = RunProgram({kKen, "cluster", "status", config}).output;
    if (last->find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return false;
}

// `ken run --peer ID=HOST:PORT` dials the peer there (here: a fault proxy in
// front of it), and `ken cluster status` shows per channel whether the peer
// is reachable, the unacked count and the oldest one's age.
TEST(ClusterCliTest, RunDialsAPeerWhereToldAndStatusShowsEachChannel) {
  const std::string dir = MakeTempDir();
  const int port_a = FreePort();
  const std::string config = WriteCluster(dir, port_a, FreePort());
  for (const auto& [arg, message] : std::vector<std::pair<std::string, std::string>>{
           {"a", "--peer 'a' must be ID=HOST:PORT"},
           {"a=nowhere", "--peer 'a=nowhere' must be ID=HOST:PORT"},
           {"zz=127.0.0.1:1", "--peer names 'zz', which is not a node of"},
           {"b=127.0.0.1:1", "--peer names 'b', this node itself"}}) {
    auto r = RunProgram({kKen, "run", "--cluster", config, "--id", "b", "--peer", arg});
    EXPECT_EQ(r.exit_code, 2) << arg << ": " << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << r.output;
  }
  ::ken::testing::FaultNet net;
  absl::StatusOr<int> proxy = net.AddLink("b->a", "127.0.0.1:" + std::to_string(port_a));
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  auto twice = RunProgram({kKen, "run", "--cluster", config, "--id", "b", "--peer", "a=127.0.0.1:1",
                           "--peer=a=127.0.0.1:2"});
  EXPECT_EQ(twice.exit_code, 2) << twice.output;
  EXPECT_NE(twice.output.find("--peer names 'a' twice"), std::string::npos) << twice.output;
  for (const char* action : {"status", "up"}) {  // --peer belongs to ken run only, and is checked everywhere
    auto r = RunProgram({kKen, "cluster", action, config, "--peer", "a=127.0.0.1:1"});
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("--peer is for ken run"), std::string::npos) << r.output;
    r = RunProgram({kKen, "cluster", action, config, "--peer=garbage"});
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("--peer 'garbage' must be ID=HOST:PORT"), std::string::npos) << r.output;
  }
  Process a({kKen, "run", "--cluster", config, "--id", "a"});
  Process b({kKen, "run", "--cluster", config, "--id", "b", "--peer=a=127.0.0.1:" + std::to_string(*proxy)});
  ASSERT_TRUE(a.WaitFor(" up: ", 30000)) << a.output();
  ASSERT_TRUE(b.WaitFor(" up: ", 30000)) << b.output();
  auto hits = [&] { return RunProgram({kKen, "cluster", "eval", config, "a", "hits"}).output; };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (hits() != "2\n" && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(hits(), "2\n");
  EXPECT_GT(net.stats("b->a").up_bytes, 0u) << "b did not dial a through the proxy";
  std::string status;
  EXPECT_TRUE(StatusShows(config, "b -> a                            reachable ", 20, &status)) << status;
  // Cut b -> a: b's next message waits, and the status says so.
  ::ken::testing::LinkFaults cut;
  cut.cut = ::ken::testing::LinkFaults::Cut::kRefuse;
  net.Set("b->a", cut);
  ASSERT_EQ(RunProgram({kKen, "cluster", "eval", config, "b", "ken.send('a', 3)"}).exit_code, 0);
  EXPECT_TRUE(StatusShows(config, "b -> a                            UNREACHABLE ", 20, &status)) << status;
  const size_t row = status.find("b -> a ");
  EXPECT_NE(status.substr(row, status.find('\n', row) - row).find("        1 "), std::string::npos) << status;
  EXPECT_NE(status.find("a -> b                            "), std::string::npos) << status;
  auto json = RunProgram({kKen, "cluster", "status", config, "--json"}).output;
  EXPECT_NE(json.find("\"reachable\": false"), std::string::npos) << json;
  EXPECT_NE(json.find("\"last_send_error\": \""), std::string::npos) << json;
  // One way only: a's messages to b still get acked (in the replies to a's
  // own transmissions, as b cannot dial a), so a's outbox drains.
  ASSERT_EQ(RunProgram({kKen, "cluster", "eval", config, "b", "var got = 0; ken.receive(function () { got++; }); 0"})
                .exit_code,
            0);
  ASSERT_EQ(RunProgram({kKen, "cluster", "eval", config, "a", "ken.send('b', 9)"}).exit_code, 0);
  EXPECT_TRUE(StatusShows(config, "a -> b                            reachable ", 20, &status)) << status;
  // a's row of `status --json`: its "outbox" (all destinations; a sends only to b).
  auto a_outbox = [&]() -> std::string {
    const std::string js = RunProgram({kKen, "cluster", "status", config, "--json"}).output;
    const size_t at = js.find("\"outbox\": ", js.find("\"id\": \"a\""));
    return at == std::string::npos ? js : js.substr(at, js.find(',', at) - at);
  };
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (a_outbox() != "\"outbox\": 0" && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(a_outbox(), "\"outbox\": 0") << "a's outbox to b did not drain with b unable to dial a";
  EXPECT_EQ(RunProgram({kKen, "cluster", "eval", config, "b", "got"}).output, "1\n");
  net.HealAll();
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (hits() != "3\n" && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(hits(), "3\n");
  EXPECT_TRUE(StatusShows(config, "b -> a                            reachable ", 20, &status)) << status;
  a.Kill(SIGTERM);
  b.Kill(SIGTERM);
  a.Wait();
  b.Wait();
}

}  // namespace
}  // namespace ken
