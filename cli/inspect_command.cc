#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "runtime/node/node.h"
#include "runtime/turn/dispatcher.h"

namespace ken {

int RunInspect(const InspectOptions& options) {
  NodeOptions node_options;
  node_options.store_path = options.store_path;
  node_options.read_only = true;
  node_options.create_if_missing = false;
  absl::StatusOr<std::unique_ptr<Node>> opened = Node::Open(node_options);
  if (!opened.ok()) {
    fprintf(stderr, "ken inspect: %s\n", std::string(opened.status().message()).c_str());
    return 1;
  }
  Node& node = **opened;
  TurnResult result =
      node.Evaluate(options.has_expression ? InspectBody(options.expression) : ListGlobalsBody());
  if (!result.ok()) {
    fprintf(stderr, "ken inspect: store %s: %s\n", options.store_path.c_str(), result.error.c_str());
    return 3;
  }
  if (!options.has_expression) {
    // The listing starts with what the store is: its mode and newest commit.
    printf("# %s: %s mode, commit %lld, %llu turns\n", options.store_path.c_str(), node.durability().c_str(),
           static_cast<long long>(node.checkpoint_seq()), static_cast<unsigned long long>(node.state().turns()));
  }
  if (!result.output.empty()) printf("%s\n", result.output.c_str());
  return 0;
}

}  // namespace ken
