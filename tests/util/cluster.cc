#include "tests/util/cluster.h"

#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "cluster/admin_client.h"

namespace ken::testing {

TestCluster::TestCluster(std::string ken, const std::vector<NodeSpec>& nodes, const std::string& extra_config)
    : ken_(std::move(ken)) {
  dir_ = MakeTempDir();
  config_path_ = dir_ + "/cluster.yaml";
  std::ofstream config(config_path_);
  config << "token: test-token\n" << extra_config;
  // Named only for a target that asks for a mode: a named mode converts an
  // existing store (golden stores of the first release cannot go to journal).
  if (getenv("KEN_TEST_DURABILITY") != nullptr && extra_config.find("durability:") == std::string::npos) {
    config << "durability: " << DurabilityUnderTest() << "\n";
  }
  config << "nodes:\n";
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

bool TestCluster::WaitForOutput(const std::string& id, const std::string& needle, int seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (true) {
    int code;
    Exited(id, &code);  // reads what is available
    if (Output(id).find(needle) != std::string::npos) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

absl::StatusOr<v1::StatusReply> TestCluster::Status(const std::string& id) const {
  return AdminStatus("127.0.0.1:" + std::to_string(ports_.at(id)), "test-token", 5000);
}

absl::StatusOr<v1::EvalReply> TestCluster::Eval(const std::string& id, const std::string& source) const {
  return AdminEval("127.0.0.1:" + std::to_string(ports_.at(id)), "test-token", source, 30000);
}

absl::StatusOr<v1::EvalReply> TestCluster::EvalWhenUp(const std::string& id, const std::string& source,
                                                      int seconds) const {
  absl::StatusOr<v1::EvalReply> r;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  do {
    r = Eval(id, source);
    if (r.ok()) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < deadline);
  return r;
}

std::string TestCluster::WaitForValue(const std::string& id, const std::string& expr, const std::string& want,
                                      int seconds) const {
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    got = Inspect(id, expr);
    if (got == want) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return got;
}

}  // namespace ken::testing
