// `ken cluster certs CLUSTER.yaml -o DIR` (cluster/certs.h): a test CA and
// certificates for mutual TLS.
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cluster/certs.h"
#include "cluster/config.h"

namespace ken {
namespace {

namespace fs = std::filesystem;

bool Exists(const std::string& path) { return fs::exists(path); }

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Writes cert (0644) and key (0600); false with a message on failure.
bool Write(const std::string& base, const CertificatePem& pem) {
  for (auto [path, text, mode] : {std::tuple<std::string, const std::string&, mode_t>{base + ".pem", pem.cert, 0644},
                                  {base + ".key", pem.key, 0600}}) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out || chmod(path.c_str(), mode) != 0) {
      fprintf(stderr, "ken cluster certs: cannot write %s\n", path.c_str());
      return false;
    }
  }
  return true;
}

}  // namespace

int ClusterCerts(const ClusterConfig& config, const ClusterOptions& options) {
  if (options.output_dir.empty()) {
    fprintf(stderr, "ken cluster certs: -o DIR is required (where the CA and certificates go)\n");
    return 2;
  }
  const std::string dir = fs::absolute(options.output_dir).lexically_normal().string();
  std::error_code ec;
  fs::create_directories(dir, ec);
  CertificatePem ca;
  if (Exists(dir + "/ca.pem") && Exists(dir + "/ca.key")) {
    ca = {Read(dir + "/ca.pem"), Read(dir + "/ca.key")};  // grow an existing cluster's set
    printf("using the CA in %s/ca.pem\n", dir.c_str());
  } else {
    absl::StatusOr<CertificatePem> made = MakeCa("Ken cluster CA (ken cluster certs)");
    if (!made.ok()) {
      fprintf(stderr, "ken cluster certs: %s\n", std::string(made.status().message()).c_str());
      return 1;
    }
    ca = *made;
    if (!Write(dir + "/ca", ca)) return 1;
    printf("wrote %s/ca.pem and ca.key (keep ca.key safe: it signs nodes into the cluster)\n", dir.c_str());
  }
  std::vector<std::pair<std::string, std::vector<std::string>>> subjects = {{"admin", {"ken-admin"}}};
  for (const NodeConfig& n : config.nodes) {
    std::vector<std::string> names = {n.id};
    if (n.host != n.id) names.push_back(n.host.front() == '[' ? n.host.substr(1, n.host.size() - 2) : n.host);
    subjects.push_back({n.id, names});
  }
  for (const auto& [file, names] : subjects) {
    if (Exists(dir + "/" + file + ".pem") && Exists(dir + "/" + file + ".key")) {
      printf("kept %s/%s.pem\n", dir.c_str(), file.c_str());
      continue;
    }
    absl::StatusOr<CertificatePem> cert = MakeCertificate(ca, names);
    if (!cert.ok()) {
      fprintf(stderr, "ken cluster certs: %s: %s\n", file.c_str(), std::string(cert.status().message()).c_str());
      return 1;
    }
    if (!Write(dir + "/" + file, *cert)) return 1;
    printf("wrote %s/%s.pem and .key\n", dir.c_str(), file.c_str());
  }
  const fs::path base = fs::path(config.path).parent_path();
  const std::string shown = fs::path(dir).lexically_relative(base).string();
  const std::string at = shown.empty() || shown.rfind("..", 0) == 0 ? dir : shown;
  printf("\nAdd to %s (top level):\n  ca: %s/ca.pem\n  cert: %s/admin.pem\n  key: %s/admin.key\nand to each node:\n",
         config.path.c_str(), at.c_str(), at.c_str(), at.c_str());
  for (const NodeConfig& n : config.nodes) {
    printf("  - id: %s\n    cert: %s/%s.pem\n    key: %s/%s.key\n", n.id.c_str(), at.c_str(), n.id.c_str(), at.c_str(),
           n.id.c_str());
  }
  return 0;
}

}  // namespace ken
