#include "tests/util/health_check.h"

#include <grpcpp/generic/generic_stub.h>

#include <chrono>
#include <vector>

namespace ken::testing {

std::string GrpcHealthCheck(const std::shared_ptr<grpc::Channel>& channel, int timeout_ms) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  grpc::Slice empty("", 0);  // HealthCheckRequest{service: ""} is zero bytes
  grpc::ByteBuffer request(&empty, 1), response;
  // The completion-queue API (gRPC's callback API races inside its own
  // header code under TSan).
  grpc::CompletionQueue cq;
  auto call = stub.PrepareUnaryCall(&context, "/grpc.health.v1.Health/Check", request, &cq);
  call->StartCall();
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  const bool got = cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  if (!got) return "error: the completion queue shut down";
  if (!status.ok()) return "error: " + status.error_message();
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return "error: cannot read the response";
  std::string bytes;
  for (const grpc::Slice& slice : slices) bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  return bytes;
}

}  // namespace ken::testing
