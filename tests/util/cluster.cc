#include "tests/util/cluster.h"

#include <signal.h>

#include <fstream>

namespace ken::testing {

TestCluster::TestCluster(std::string ken, const std::vector<NodeSpec>& nodes) : ken_(std::move(ken)) {
  dir_ = MakeTempDir();
  config_path_ = dir_ + "/cluster.yaml";
  std::ofstream config(config_path_);
  config << "token: test-token\nnodes:\n";
  for (const NodeSpec& n : nodes) {
    ports_[n.id] = FreePort();
    std::ofstream(dir_ + "/" + n.id + ".js") << n.script_source;
    config << "  - id: " << n.id << "\n    address: 127.0.0.1:" << ports_[n.id] << "\n    script: " << n.id
           << ".js\n";
  }
}

TestCluster::~TestCluster() {
  for (auto& [id, p] : processes_) p->Kill(SIGKILL);
}

void TestCluster::Start(const std::string& id, const std::vector<std::string>& env,
                        const std::vector<std::string>& args) {
  auto it = processes_.find(id);
  if (it != processes_.end()) {
    old_output_[id] += it->second->output();
    it->second->Kill(SIGKILL);
    it->second->Wait(10000);
  }
  std::vector<std::string> argv = {ken_, "run", "--cluster", config_path_, "--id", id, "--log-level", "warn"};
  argv.insert(argv.end(), args.begin(), args.end());
  processes_[id] = std::make_unique<Process>(argv, env);
}

bool TestCluster::Exited(const std::string& id, int* exit_code) {
  auto it = processes_.find(id);
  if (it == processes_.end()) return false;
  return it->second->Poll(exit_code);
}

bool TestCluster::Running(const std::string& id) {
  int code;
  return processes_.count(id) && !Exited(id, &code);
}

void TestCluster::Kill(const std::string& id, int signal) { processes_.at(id)->Kill(signal); }

std::string TestCluster::Output(const std::string& id) const {
  auto it = processes_.find(id);
  std::string out = old_output_.count(id) ? old_output_.at(id) : "";
  if (it != processes_.end()) out += it->second->output();
  return out;
}

std::string TestCluster::Inspect(const std::string& id, const std::string& expr) const {
  ChildResult r = RunProgram({ken_, "inspect", "--store", store(id), "-e", expr}, "", 30000);
  if (r.exit_code != 0) return "";
  std::string out = r.output;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace ken::testing
