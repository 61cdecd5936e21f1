// The standard gRPC health check (grpc.health.v1.Health/Check, service ""),
// as an orchestrator's probe asks it (Kubernetes' grpc probe,
// grpc_health_probe), without generated code for health.proto.
#ifndef KEN_TESTS_UTIL_HEALTH_CHECK_H_
#define KEN_TESTS_UTIL_HEALTH_CHECK_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

namespace ken::testing {

// The serialized HealthCheckResponse ("\x08\x01" is {status: SERVING}), or
// the call's error as text prefixed "error: ". Deadline `timeout_ms`.
std::string GrpcHealthCheck(const std::shared_ptr<grpc::Channel>& channel, int timeout_ms = 10000);

}  // namespace ken::testing

#endif  // KEN_TESTS_UTIL_HEALTH_CHECK_H_
