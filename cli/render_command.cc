// `ken cluster render k8s|systemd CLUSTER.yaml [-o DIR]` (cluster/render.h).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cli/commands.h"
#include "cluster/config.h"
#include "cluster/render.h"

namespace ken {
namespace {

// Writes every file into `dir` (made if missing), each with its mode.
int WriteAll(const std::string& what, const std::vector<RenderedFile>& files, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    fprintf(stderr, "ken cluster render %s: cannot make %s (%s)\n", what.c_str(), dir.c_str(), ec.message().c_str());
    return 1;
  }
  for (const RenderedFile& f : files) {
    const std::string path = (std::filesystem::path(dir) / f.name).string();
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    // Made with its mode (a token or key is never readable by others, not
    // even for a moment), then written whole.
    unlink(path.c_str());
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, static_cast<mode_t>(f.mode));
    bool ok = fd >= 0 && fchmod(fd, static_cast<mode_t>(f.mode)) == 0;
    for (size_t at = 0; ok && at < f.text.size();) {
      const ssize_t n = write(fd, f.text.data() + at, f.text.size() - at);
      if (n <= 0) ok = false;
      else at += static_cast<size_t>(n);
    }
    const int saved = errno;
    if (fd >= 0 && close(fd) != 0) ok = false;
    if (!ok) {
      fprintf(stderr, "ken cluster render %s: cannot write %s (%s)\n", what.c_str(), path.c_str(), strerror(saved));
      return 1;
    }
    printf("%s\n", path.c_str());
  }
  return 0;
}

bool Loopback(const std::string& address) {
  std::string host;
  int port = 0;
  if (!ParseHostPort(address, &host, &port)) return false;
  return host == "localhost" || absl::StartsWith(host, "127.") || host == "::1" || host == "[::1]";
}

}  // namespace

int ClusterRender(const ClusterConfig& config, const ClusterOptions& options) {
  const std::string what = options.render_target;
  absl::StatusOr<std::vector<RenderedFile>> files;
  if (what == "k8s" || what == "kubernetes") {
    if (!options.nodes.empty()) {
      fprintf(stderr, "ken cluster render k8s: --nodes is for render systemd (Kubernetes places every pod)\n");
      return 2;
    }
    KubernetesOptions k8s;
    if (!options.image.empty()) k8s.image = options.image;
    if (!options.storage.empty()) k8s.storage = options.storage;
    k8s.storage_class = options.storage_class;
    if (options.heap_limit_mb > 0) k8s.default_heap_limit_mb = options.heap_limit_mb;
    files = RenderKubernetes(config, k8s);
  } else if (what == "systemd") {
    if (options.output_dir.empty()) {
      fprintf(stderr, "ken cluster render systemd: -o DIR is required (it writes units, the config, its token and scripts)\n");
      return 2;
    }
    SystemdOptions systemd;
    if (options.heap_limit_mb > 0) systemd.default_heap_limit_mb = options.heap_limit_mb;
    for (absl::string_view id : absl::StrSplit(options.nodes, ',', absl::SkipWhitespace())) {
      systemd.nodes.insert(std::string(absl::StripAsciiWhitespace(id)));
    }
    // Units are for hosts of their own: an address only this host can dial
    // cannot be reached from the others.
    if (config.nodes.size() > 1) {
      for (const NodeConfig& n : config.nodes) {
        if (Loopback(n.address)) {
          fprintf(stderr,
                  "ken cluster render systemd: warning: node '%s' has the loopback address %s: nodes on other hosts "
                  "cannot dial it (give each node an address its peers reach: a DNS name or an IP)\n",
                  n.id.c_str(), n.address.c_str());
        }
      }
    }
    files = RenderSystemd(config, systemd);
  } else {
    fprintf(stderr, "ken cluster render: unknown target '%s' (k8s, systemd)\n", what.c_str());
    return 2;
  }
  if (!files.ok()) {
    fprintf(stderr, "ken cluster render %s: %s\n", what.c_str(), std::string(files.status().message()).c_str());
    return 2;
  }
  if (!options.output_dir.empty()) return WriteAll(what, *files, options.output_dir);
  fputs(JoinYamlDocuments(*files).c_str(), stdout);
  return 0;
}

}  // namespace ken
