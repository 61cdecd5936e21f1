#include "cluster/grpc_log.h"

#include <grpc/support/log.h>

#include "spdlog/spdlog.h"

namespace ken {
namespace {

void ToSpdlog(gpr_log_func_args* args) {
  if (args == nullptr || args->message == nullptr) return;
  spdlog::debug("grpc: {}:{}: {}", args->file != nullptr ? args->file : "?", args->line, args->message);
}

}  // namespace

void RouteGrpcLogToSpdlog() { gpr_set_log_function(ToSpdlog); }

}  // namespace ken
