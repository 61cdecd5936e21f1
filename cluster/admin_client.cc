#include "cluster/admin_client.h"

#include <grpcpp/grpcpp.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "proto/ken.grpc.pb.h"

namespace ken {
namespace {

absl::Status FromGrpc(const grpc::Status& s, const std::string& address, bool tls) {
  std::string msg = absl::StrCat("node at ", address, ": ", s.error_message());
  switch (s.error_code()) {
    case grpc::StatusCode::UNAUTHENTICATED:
      return absl::UnauthenticatedError(msg);
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::UNAVAILABLE:
      if (tls) {
        // A refused certificate looks the same as a node that is down.
        return absl::UnavailableError(absl::StrCat("no node answers at ", address,
                                                   " over TLS (not running, or it refuses this certificate: ",
                                                   s.error_message(), ")"));
      }
      return absl::UnavailableError(absl::StrCat("no node answers at ", address, " (not running?)"));
    default:
      return absl::InternalError(msg);
  }
}

std::unique_ptr<v1::Admin::Stub> Stub(const std::string& address, const AdminTls& tls) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  std::shared_ptr<grpc::ChannelCredentials> credentials = ChannelCredentialsFor(tls.pem, tls.node_id, &args);
  return v1::Admin::NewStub(grpc::CreateCustomChannel(address, credentials, args));
}

}  // namespace

absl::StatusOr<v1::StatusReply> AdminStatus(const std::string& address, const std::string& token,
                                            int64_t timeout_ms, const AdminTls& tls) {
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + token);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  v1::StatusReply reply;
  grpc::Status s = Stub(address, tls)->Status(&context, v1::StatusRequest(), &reply);
  if (!s.ok()) return FromGrpc(s, address, tls.pem.enabled());
  return reply;
}

absl::StatusOr<v1::EvalReply> AdminEval(const std::string& address, const std::string& token,
                                        const std::string& source, int64_t timeout_ms, const AdminTls& tls) {
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + token);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  v1::EvalRequest request;
  request.set_source(source);
  v1::EvalReply reply;
  grpc::Status s = Stub(address, tls)->Eval(&context, request, &reply);
  if (!s.ok()) return FromGrpc(s, address, tls.pem.enabled());
  return reply;
}

}  // namespace ken
