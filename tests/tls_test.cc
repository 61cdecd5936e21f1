// Mutual TLS between nodes (base/tls.h) over the real transport: a sender
// whose certificate comes from the cluster's CA and names its node gets its
// messages delivered; one from another CA, an expired one, one naming
// another node, a plaintext client, and a server whose certificate names
// another node are each refused, the receiver stays up and nothing is
// delivered. Admin calls need a certificate too (and the token).
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "base/clock.h"
#include "base/tls.h"
#include "cluster/admin_client.h"
#include "cluster/certs.h"
#include "gtest/gtest.h"
#include "messaging/channels.h"
#include "messaging/transport.h"
#include "tests/util/health_check.h"
#include "tests/util/subprocess.h"

namespace ken {
namespace {

TlsPem Pem(const CertificatePem& ca, const CertificatePem& mine) { return TlsPem{ca.cert, mine.cert, mine.key}; }

CertificatePem Must(absl::StatusOr<CertificatePem> c) {
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : CertificatePem();
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = Must(MakeCa("ken test CA"));
    other_ca_ = Must(MakeCa("another CA"));
    b_cert_ = Must(MakeCertificate(ca_, {"b", "127.0.0.1"}));
    b_channels_ = std::make_unique<Channels>("b", "inc-b", std::vector<std::string>{"a"}, &clock_, ChannelOptions{}, 4);
    TransportOptions options;
    options.listen_address = "127.0.0.1:" + std::to_string(testing::FreePort());
    options.token = "secret";
    options.tls = Pem(ca_, b_cert_);
    address_ = options.listen_address;
    auto server = TransportServer::Start(
        options, b_channels_.get(), [] {}, [] { v1::StatusReply r; r.set_node_id("b"); return r; },
        [](const std::string&) { return v1::EvalReply(); });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  void TearDown() override { server_->Shutdown(); }

  // Node a sends one message to b with `tls`; returns whether b got it (and
  // a had it acked) within `wait_ms`.
  bool Deliver(const TlsPem& tls, int wait_ms) {
    Channels a("a", "inc-a", {"b"}, &clock_, ChannelOptions{}, 3);
    PeerSenders senders(&a, {{"b", address_}}, "secret", 4 << 20, tls);
    ChannelBatch batch = a.BeginBatch();
    std::string error;
    EXPECT_TRUE(a.Stage(batch, "b", std::string("\xFF\x0F", 2) + "hello", &error).has_value()) << error;
    a.CommitBatch(batch);
    senders.Wake();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
    size_t delivered = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      ChannelBatch b = b_channels_->BeginBatch();
      for (const v1::Envelope& e : b_channels_->TakeDeliverable(16)) {
        b_channels_->MarkDelivered(b, e.src(), e.seq());
        ++delivered;
      }
      b_channels_->CommitBatch(b);
      if (delivered > 0 && a.UnackedTotal() == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(delivered, 0u) << "delivered but never acked";
    return false;
  }

  SteadyClock clock_;
  CertificatePem ca_, other_ca_, b_cert_;
  std::unique_ptr<Channels> b_channels_;
  std::unique_ptr<TransportServer> server_;
  std::string address_;
};

TEST_F(TlsTest, TheClustersCaAndTheRightNodeAreAccepted) {
  EXPECT_TRUE(Deliver(Pem(ca_, Must(MakeCertificate(ca_, {"a"}))), 20000));
}

TEST_F(TlsTest, WrongCaExpiredOtherNodeAndPlaintextAreRefused) {
  // Refused cases: each sender keeps retrying for 3 s, nothing arrives.
  EXPECT_FALSE(Deliver(Pem(ca_, Must(MakeCertificate(other_ca_, {"a"}))), 3000)) << "another CA's certificate";
  Validity past;
  past.not_before_s = -10 * 24 * 3600;
  past.not_after_s = -24 * 3600;
  EXPECT_FALSE(Deliver(Pem(ca_, Must(MakeCertificate(ca_, {"a"}, past))), 3000)) << "an expired certificate";
  EXPECT_FALSE(Deliver(Pem(ca_, Must(MakeCertificate(ca_, {"c"}))), 3000)) << "a certificate of node c";
  EXPECT_FALSE(Deliver(TlsPem{}, 3000)) << "plaintext";
  // The receiver is alive and takes the right sender after all that.
  EXPECT_TRUE(Deliver(Pem(ca_, Must(MakeCertificate(ca_, {"a"}))), 20000));
}

TEST_F(TlsTest, AServerWhoseCertificateNamesAnotherNodeIsRefused) {
  // b's address, but the sender expects node "b" and b's server presents a
  // certificate for "b": swap in a server certificate for "c".
  server_->Shutdown();
  TransportOptions options;
  options.listen_address = address_;
  options.token = "secret";
  options.tls = Pem(ca_, Must(MakeCertificate(ca_, {"c"})));
  auto server = TransportServer::Start(
      options, b_channels_.get(), [] {}, [] { return v1::StatusReply(); },
      [](const std::string&) { return v1::EvalReply(); });
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = std::move(*server);
  EXPECT_FALSE(Deliver(Pem(ca_, Must(MakeCertificate(ca_, {"a"}))), 3000));
}

TEST_F(TlsTest, AdminCallsNeedACertificateAndTheToken) {
  const TlsPem admin = Pem(ca_, Must(MakeCertificate(ca_, {"ken-admin"})));
  absl::StatusOr<v1::StatusReply> ok = AdminStatus(address_, "secret", 5000, AdminTls{admin, "b"});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->node_id(), "b");
  EXPECT_EQ(AdminStatus(address_, "wrong", 5000, AdminTls{admin, "b"}).status().code(),
            absl::StatusCode::kUnauthenticated);
  absl::StatusOr<v1::StatusReply> plain = AdminStatus(address_, "secret", 2000);
  EXPECT_FALSE(plain.ok());
  absl::StatusOr<v1::StatusReply> other =
      AdminStatus(address_, "secret", 2000, AdminTls{Pem(ca_, Must(MakeCertificate(other_ca_, {"x"}))), "b"});
  EXPECT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("over TLS"), std::string::npos) << other.status();
}

// Probes have no client certificate: a node's plaintext health address
// answers the health service (and nothing else), its TLS port does not.
TEST_F(TlsTest, TheHealthAddressAnswersProbesInPlaintext) {
  server_->Shutdown();
  TransportOptions options;
  options.listen_address = address_;
  options.token = "secret";
  options.tls = Pem(ca_, b_cert_);
  options.health_address = "127.0.0.1:" + std::to_string(testing::FreePort());
  auto server = TransportServer::Start(
      options, b_channels_.get(), [] {}, [] { return v1::StatusReply(); },
      [](const std::string&) { return v1::EvalReply(); });
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = std::move(*server);
  auto health = grpc::CreateChannel(options.health_address, grpc::InsecureChannelCredentials());
  EXPECT_EQ(testing::GrpcHealthCheck(health), std::string("\x08\x01", 2)) << "SERVING";
  EXPECT_NE(testing::GrpcHealthCheck(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()), 2000)
                .rfind("error: ", 0),
            std::string::npos)
      << "the TLS port answered a plaintext probe";
  // Only health there: Ken's services are not served in plaintext.
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::StatusReply reply;
  EXPECT_EQ(v1::Admin::NewStub(health)->Status(&context, v1::StatusRequest(), &reply).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  // A busy health address is an error at start.
  server_->Shutdown();
  testing::BusyPort busy;
  options.health_address = "127.0.0.1:" + std::to_string(busy.port());
  EXPECT_FALSE(TransportServer::Start(options, b_channels_.get(), [] {}, [] { return v1::StatusReply(); },
                                      [](const std::string&) { return v1::EvalReply(); })
                   .ok());
}

// Files are checked when read, not at the first handshake.
TEST(TlsFilesTest, AKeyOfAnotherCertificateOrAFileThatIsNoCertificateIsRefused) {
  const CertificatePem ca = Must(MakeCa("ken test CA"));
  const CertificatePem a = Must(MakeCertificate(ca, {"a"})), b = Must(MakeCertificate(ca, {"b"}));
  const std::string dir = testing::MakeTempDir();
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir + "/" + name) << text;
    return dir + "/" + name;
  };
  const TlsFiles good{write("ca.pem", ca.cert), write("a.pem", a.cert), write("a.key", a.key)};
  ASSERT_TRUE(ReadTls(good).ok()) << ReadTls(good).status();
  TlsFiles files = good;
  files.key = write("b.key", b.key);
  EXPECT_EQ(ReadTls(files).status().message(),
            "TLS key " + files.key + " is not the key of the certificate " + files.cert);
  files = good;
  files.cert = write("garbage.pem", "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
  EXPECT_EQ(ReadTls(files).status().message(), "TLS certificate " + files.cert + " holds no PEM certificate");
  files = good;
  files.ca = write("key-as-ca.pem", a.key);
  EXPECT_EQ(ReadTls(files).status().message(), "TLS CA " + files.ca + " holds no PEM certificate");
  files = good;
  files.key = write("cert-as-key.pem", a.cert);
  EXPECT_NE(ReadTls(files).status().message().find("holds no PEM private key"), std::string::npos)
      << ReadTls(files).status();
}

}  // namespace
}  // namespace ken
