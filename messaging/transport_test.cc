// Two nodes' channels and transports in one process: each side's turn
// thread sends and delivers while gRPC threads receive and sender threads
// transmit, retransmit and ack. Checks exactly-once, in-order delivery in
// both directions and an empty outbox at the end. (Also what tsan runs over
// the transport: README, "Sanitizers and fuzzing".)
#include "messaging/transport.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "gtest/gtest.h"
#include "messaging/channels.h"
#include "tests/netfault/fault_net.h"
#include "tests/util/health_check.h"
#include "tests/util/subprocess.h"

namespace ken {
namespace {

constexpr int kMessages = 300;

struct Side {
  Side(const std::string& self, const std::string& peer)
      : channels(self, "inc-" + self, {peer}, &clock, ChannelOptions{}, self == "a" ? 3 : 4), peer(peer) {}
  SteadyClock clock;
  Channels channels;
  std::string peer;
  std::unique_ptr<TransportServer> server;
  std::unique_ptr<PeerSenders> senders;
  std::vector<uint64_t> received;  // payload numbers, in delivery order (turn thread only until joined)
  std::atomic<size_t> delivered{0};
};

std::string Payload(int n) {
  std::string p("\xFF\x0F", 2);
  return p + std::to_string(n);
}

// The turn thread: sends its messages a few per batch and delivers what
// arrived, committing each batch (as a turn loop does after its commit).
void Turns(Side& side, std::atomic<bool>& stop) {
  int sent = 0;
  while (!stop) {
    ChannelBatch batch = side.channels.BeginBatch();
    for (int i = 0; i < 7 && sent < kMessages; ++i, ++sent) {
      std::string error;
      if (!side.channels.Stage(batch, side.peer, Payload(sent), &error).has_value()) {
        ADD_FAILURE() << error;
        stop = true;
        return;
      }
    }
    for (const v1::Envelope& e : side.channels.TakeDeliverable(16)) {
      side.channels.MarkDelivered(batch, e.src(), e.seq());
      side.received.push_back(std::stoull(e.payload().substr(2)));
      ++side.delivered;
    }
    side.channels.CommitBatch(batch);
    side.senders->Wake();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// Starts side's transport server on 127.0.0.1:port (token "secret") into
// side->server; returns its address, or "" (with a test failure).
std::string Serve(Side* side, int port) {
  TransportOptions options;
  options.listen_address = "127.0.0.1:" + std::to_string(port);
  options.token = "secret";
  auto server = TransportServer::Start(
      options, &side->channels, [] {}, [] { return v1::StatusReply(); },
      [](const std::string&) { return v1::EvalReply(); });
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return "";
  side->server = std::move(*server);
  return options.listen_address;
}

TEST(TransportTest, BothDirectionsDeliverEveryMessageOnceInOrder) {
  Side a("a", "b"), b("b", "a");
  const int port_a = testing::FreePort(), port_b = testing::FreePort();
  ASSERT_FALSE(Serve(&a, port_a).empty());
  ASSERT_FALSE(Serve(&b, port_b).empty());
  a.senders = std::make_unique<PeerSenders>(&a.channels, std::map<std::string, std::string>{{"b", "127.0.0.1:" + std::to_string(port_b)}},
                                            "secret", 4 << 20);
  b.senders = std::make_unique<PeerSenders>(&b.channels, std::map<std::string, std::string>{{"a", "127.0.0.1:" + std::to_string(port_a)}},
                                            "secret", 4 << 20);
  std::atomic<bool> stop{false};
  std::thread turns_a([&] { Turns(a, stop); });
  std::thread turns_b([&] { Turns(b, stop); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(40);
  while (!stop && std::chrono::steady_clock::now() < deadline &&
         !(a.channels.UnackedTotal() == 0 && b.channels.UnackedTotal() == 0 && a.delivered >= kMessages &&
           b.delivered >= kMessages)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop = true;
  turns_a.join();
  turns_b.join();
  a.senders.reset();
  b.senders.reset();
  a.server->Shutdown();
  b.server->Shutdown();
  for (Side* side : {&a, &b}) {
    ASSERT_EQ(side->received.size(), static_cast<size_t>(kMessages)) << side->channels.self();
    for (int i = 0; i < kMessages; ++i) EXPECT_EQ(side->received[i], static_cast<uint64_t>(i));
    EXPECT_EQ(side->channels.UnackedTotal(), 0u) << side->channels.self() << "'s outbox";
  }
}

// A connection that stalls mid-stream (bytes accepted, never forwarded, as
// a dead middlebox does): a transmission on it waits for its 10 s deadline.
// Stopping the senders cancels it instead of waiting.
TEST(TransportTest, StoppingSendersCancelsATransmissionInFlight) {
  Side a("a", "b"), b("b", "a");
  const std::string address = Serve(&b, testing::FreePort());
  ASSERT_FALSE(address.empty());
  testing::FaultNet net;
  absl::StatusOr<int> link = net.AddLink("a->b", address);
  ASSERT_TRUE(link.ok()) << link.status();
  a.senders = std::make_unique<PeerSenders>(
      &a.channels, std::map<std::string, std::string>{{"b", "127.0.0.1:" + std::to_string(*link)}}, "secret", 4 << 20);
  auto send = [&](int n) {
    ChannelBatch batch = a.channels.BeginBatch();
    std::string error;
    ASSERT_TRUE(a.channels.Stage(batch, "b", Payload(n), &error).has_value()) << error;
    a.channels.CommitBatch(batch);
    a.senders->Wake();
  };
  send(1);  // over a healthy connection; b delivers and commits it, and its ack comes back in a reply
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (a.channels.UnackedTotal() != 0 && std::chrono::steady_clock::now() < deadline) {
    ChannelBatch batch = b.channels.BeginBatch();
    for (const v1::Envelope& e : b.channels.TakeDeliverable(16)) b.channels.MarkDelivered(batch, e.src(), e.seq());
    b.channels.CommitBatch(batch);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(a.channels.UnackedTotal(), 0u) << "the first message was not acked";
  net.Stall("a->b");
  send(2);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // its call waits on the stalled connection
  const auto start = std::chrono::steady_clock::now();
  a.senders.reset();
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  EXPECT_LT(took.count(), 4000) << "stopping the senders waited for the transmission's deadline";
  EXPECT_EQ(a.channels.UnackedTotal(), 1u) << "the cancelled message must stay in the outbox";
  b.server->Shutdown();
}

// What an orchestrator's probe asks (Kubernetes' grpc probe,
// grpc_health_probe): grpc.health.v1.Health/Check with no token answers
// SERVING, while Ken's own services still refuse a call without the token.
TEST(TransportTest, HealthCheckAnswersWithoutTheToken) {
  Side b("b", "a");
  const std::string address = Serve(&b, testing::FreePort());
  ASSERT_FALSE(address.empty());
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  EXPECT_EQ(testing::GrpcHealthCheck(channel), std::string("\x08\x01", 2)) << "HealthCheckResponse{status: SERVING}";
  auto admin = v1::Admin::NewStub(channel);
  grpc::ClientContext admin_context;
  v1::StatusRequest status_request;
  v1::StatusReply reply;
  EXPECT_EQ(admin->Status(&admin_context, status_request, &reply).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  b.server->Shutdown();
}

}  // namespace
}  // namespace ken
