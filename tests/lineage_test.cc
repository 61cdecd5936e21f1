// Stores that go back in time or are re-created, through real `ken run`
// processes: a receiver or sender restored from a copy of its store, a
// receiver whose store was deleted and re-created. Each must be detected and
// reported on both ends (Admin.Status and the log), and nothing may be
// delivered twice or dropped silently. Also the outbox cap: a sender whose
// peer is down gets a clear error from ken.send past max_unacked_messages.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>
#include <thread>

#include "gtest/gtest.h"
#include "tests/util/cluster.h"

namespace ken {
namespace {

using ::ken::testing::TestCluster;

// `a` sends 1, 2, 3, ... to `b` every 20 ms; a refused send is kept in
// `refused` (its message) and the number is not used.
constexpr char kSender[] = R"js(
var n = 0;
var refused = [];
setInterval(function () {
  try { ken.send('b', n + 1); n++; } catch (e) { if (refused.length < 5) refused.push(e.message); }
}, 20);
)js";

// `b` keeps every number it receives, and whether each came in order.
constexpr char kReceiver[] = R"js(
var got = [];
var disorder = 0;
ken.receive(function (v) { if (v !== got.length + 1) disorder++; got.push(v); });
)js";

namespace fs = std::filesystem;

// The suffixes of a store's files: the SQLite file, its WAL, and (journal
// mode) its journal segments `.journal.<seq>`.
std::vector<std::string> StoreSuffixes(const std::string& path) {
  std::vector<std::string> suffixes = {"", "-wal"};
  const std::string name = fs::path(path).filename().string() + ".journal.";
  for (const auto& entry : fs::directory_iterator(fs::path(path).parent_path())) {
    const std::string f = entry.path().filename().string();
    if (f.rfind(name, 0) == 0) suffixes.push_back(f.substr(name.size() - 9));
  }
  return suffixes;
}

void RemoveStore(const std::string& path) {
  for (const std::string& suffix : StoreSuffixes(path)) fs::remove(path + suffix);
  fs::remove(path + "-shm");
}

// A copy of a store is all of its files, taken while no node runs on it.
void CopyStore(const std::string& from, const std::string& to) {
  RemoveStore(to);
  for (const std::string& suffix : StoreSuffixes(from)) {
    if (fs::exists(from + suffix)) fs::copy_file(from + suffix, to + suffix);
  }
}

int Num(const std::string& text) { return text.empty() ? -1 : std::stoi(text); }

// Waits until `id` has exited (after a kill).
void Reap(TestCluster& cluster, const std::string& id) {
  int code;
  for (int i = 0; i < 500 && !cluster.Exited(id, &code); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

// The channel error `id` reports for its channel with `peer` ("" if none or
// the node does not answer).
std::string ChannelError(TestCluster& cluster, const std::string& id, const std::string& peer) {
  absl::StatusOr<v1::StatusReply> s = cluster.Status(id);
  if (!s.ok()) return "";
  for (const auto& c : s->channels()) {
    if (c.peer() == peer) return c.error();
  }
  return "";
}

std::string WaitForChannelError(TestCluster& cluster, const std::string& id, const std::string& peer) {
  std::string error;
  for (int i = 0; i < 150 && error.empty(); ++i) {
    error = ChannelError(cluster, id, peer);
    if (error.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return error;
}

// The receiver's numbers are exactly 1..k, each once, in order.
void ExpectExactlyOnceInOrder(TestCluster& cluster) {
  EXPECT_EQ(cluster.Inspect("b", "disorder"), "0");
  EXPECT_EQ(cluster.Inspect("b", "got.every(function (v, i) { return v === i + 1; })"), "true");
}

class LineageTest : public ::testing::Test {
 protected:
  LineageTest() : cluster_("cli/ken", {{"a", kSender}, {"b", kReceiver}}) {}

  // Runs until b has at least `count` numbers.
  void RunUntil(int count) {
    for (int i = 0; i < 300; ++i) {
      if (Num(cluster_.Inspect("b", "got.length")) >= count) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL() << "b did not receive " << count << " messages: " << cluster_.Output("a") << cluster_.Output("b");
  }

  // Stops `id` cleanly, copies its store aside, restarts it.
  std::string Backup(const std::string& id) {
    cluster_.Kill(id, SIGTERM);
    Reap(cluster_, id);
    const std::string copy = cluster_.dir() + "/" + id + "-backup.ken";
    CopyStore(cluster_.store(id), copy);
    cluster_.Start(id);
    return copy;
  }

  // Kills `id` and puts `copy` in place of its store.
  void RestoreAndStart(const std::string& id, const std::string& copy) {
    cluster_.Kill(id, SIGKILL);
    Reap(cluster_, id);
    RemoveStore(cluster_.store(id));
    CopyStore(copy, cluster_.store(id));
    cluster_.Start(id);
  }

  TestCluster cluster_;
};

// The receiver restored from an older copy of its store: its delivered mark
// went back, though the sender holds acks beyond it. Without detection the
// channel would stall silently.
TEST_F(LineageTest, ReceiverRestoredFromACopyIsDetectedOnBothEnds) {
  cluster_.Start("b");
  cluster_.Start("a");
  RunUntil(20);
  const std::string copy = Backup("b");
  RunUntil(80);
  const int before = Num(cluster_.Inspect("b", "got.length"));
  RestoreAndStart("b", copy);
  std::string b_error = WaitForChannelError(cluster_, "b", "a");
  EXPECT_NE(b_error.find("went back in time"), std::string::npos) << b_error << cluster_.Output("b");
  std::string a_error = WaitForChannelError(cluster_, "a", "b");
  EXPECT_NE(a_error, "") << cluster_.Output("a");
  EXPECT_TRUE(cluster_.WaitForOutput("b", "takes the new incarnation")) << cluster_.Output("b");
  // a's program sees the broken channel: ken.send throws, naming it.
  EXPECT_EQ(cluster_.WaitForValue("a", "refused.length > 0", "true"), "true");
  EXPECT_NE(cluster_.Inspect("a", "refused[0]").find("is broken"), std::string::npos) << cluster_.Inspect("a", "refused");
  // Nothing was delivered twice: b holds its restored prefix, in order.
  ExpectExactlyOnceInOrder(cluster_);
  EXPECT_LT(Num(cluster_.Inspect("b", "got.length")), before);
}

// The sender restored from an older copy: it re-uses sequence numbers the
// receiver has delivered. Without detection those messages would be dropped
// as duplicates, silently.
TEST_F(LineageTest, SenderRestoredFromACopyIsDetectedOnBothEnds) {
  cluster_.Start("b");
  cluster_.Start("a");
  RunUntil(20);
  const std::string copy = Backup("a");
  RunUntil(80);
  RestoreAndStart("a", copy);
  std::string a_error = WaitForChannelError(cluster_, "a", "b");
  EXPECT_NE(a_error.find("went back in time"), std::string::npos) << a_error << cluster_.Output("a");
  std::string b_error = WaitForChannelError(cluster_, "b", "a");
  EXPECT_NE(b_error, "") << cluster_.Output("b");
  // b applied every number once; none of a's re-used numbers slipped in,
  // and a's program is told: its sends throw, naming the broken channel.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ExpectExactlyOnceInOrder(cluster_);
  EXPECT_EQ(cluster_.WaitForValue("a", "refused.length > 0", "true"), "true");
  EXPECT_NE(cluster_.Inspect("a", "refused[0]").find("is broken"), std::string::npos) << cluster_.Inspect("a", "refused");
}

// The receiver's store deleted and re-created: the sender's envelopes are
// addressed to the old incarnation. Both ends report the broken channel,
// and the sender's outbox stops growing (ken.send throws).
TEST_F(LineageTest, RecreatedReceiverIsReportedOnBothEnds) {
  cluster_.Start("b");
  cluster_.Start("a");
  RunUntil(20);
  cluster_.Kill("b", SIGKILL);
  Reap(cluster_, "b");
  RemoveStore(cluster_.store("b"));
  cluster_.Start("b");
  std::string a_error = WaitForChannelError(cluster_, "a", "b");
  EXPECT_NE(a_error.find("incarnation"), std::string::npos) << a_error << cluster_.Output("a");
  std::string b_error = WaitForChannelError(cluster_, "b", "a");
  EXPECT_NE(b_error.find("re-created"), std::string::npos) << b_error << cluster_.Output("b");
  EXPECT_EQ(cluster_.WaitForValue("a", "refused.length > 0", "true"), "true");
  // `ken cluster status` shows the broken channels (JSON and table).
  auto json = ::ken::testing::RunProgram({"cli/ken", "cluster", "status", cluster_.config_path(), "--json"});
  EXPECT_NE(json.output.find("\"broken_channels\": [{\"peer\": \"b\""), std::string::npos) << json.output;
  auto table = ::ken::testing::RunProgram({"cli/ken", "cluster", "status", cluster_.config_path()});
  EXPECT_NE(table.output.find("a: channel with b broken:"), std::string::npos) << table.output;
  absl::StatusOr<v1::StatusReply> a = cluster_.Status("a");
  ASSERT_TRUE(a.ok()) << a.status();
  const uint64_t unacked = a->unacked_total();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  a = cluster_.Status("a");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->unacked_total(), unacked);  // no longer growing
  EXPECT_EQ(cluster_.Inspect("b", "got.length"), "0");
}

// Back-pressure: with b down, a's outbox to b fills up to
// max_unacked_messages; further sends throw a clear error naming b and the
// cap; the program catches it, and sends succeed again once b is back.
TEST(OutboxCapTest, SendPastTheCapThrowsAndSucceedsOnceThePeerIsBack) {
  TestCluster cluster("cli/ken", {{"a", "var refused = []; var sent = 0;"}, {"b", kReceiver}},
                      "max_unacked_messages: 5\n");
  cluster.Start("a");
  const std::string burst = R"js(
    for (var i = 0; i < 8; i++) {
      try { ken.send('b', sent + 1); sent++; } catch (e) { refused.push(e.message); }
    }
    [sent, refused.length])js";
  absl::StatusOr<v1::EvalReply> r;
  for (int i = 0; i < 100; ++i) {
    r = cluster.Eval("a", burst);
    if (r.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->ok()) << r->error();
  EXPECT_EQ(r->result(), "[5,3]");
  const std::string refused = cluster.Inspect("a", "refused[0]");
  EXPECT_NE(refused.find("'b'"), std::string::npos) << refused;
  EXPECT_NE(refused.find("max_unacked_messages 5"), std::string::npos) << refused;
  cluster.Start("b");
  EXPECT_EQ(cluster.WaitForValue("b", "got.length", "5"), "5");
  // The acks free the outbox: sending works again.
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<v1::StatusReply> s = cluster.Status("a");
    if (s.ok() && s->unacked_total() == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  r = cluster.Eval("a", "for (var i = 0; i < 3; i++) ken.send('b', ++sent); [sent, refused.length]");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->ok()) << r->error();
  EXPECT_EQ(r->result(), "[8,3]");
  EXPECT_EQ(cluster.WaitForValue("b", "got.length", "8"), "8");
  EXPECT_EQ(cluster.Inspect("b", "disorder"), "0");
}

}  // namespace
}  // namespace ken
