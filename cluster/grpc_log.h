// gRPC writes its own log lines to stderr (gpr_log: "E1202 ... chttp2_server.cc
// ... Address already in use ..."), in its own format, besides Ken's one
// clean line for the same failure. RouteGrpcLogToSpdlog sends them to Ken's
// log instead, at debug level ("grpc: FILE:LINE: message"), so that at the
// default level a command prints only Ken's own lines. Call it once, early
// in main, before any gRPC use; it affects the whole process.
#ifndef KEN_CLUSTER_GRPC_LOG_H_
#define KEN_CLUSTER_GRPC_LOG_H_

namespace ken {

void RouteGrpcLogToSpdlog();

}  // namespace ken

#endif  // KEN_CLUSTER_GRPC_LOG_H_
