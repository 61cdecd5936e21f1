// The renderer against golden files (cluster/testdata/render/): a 3-node
// config with an HTTP node, a per-node heap limit and durability, and an
// actor placement. KEN_UPDATE_GOLDEN=DIR writes what was rendered into DIR
// (bazel test --test_env=KEN_UPDATE_GOLDEN=$PWD/cluster/testdata/render).
#include "cluster/render.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

namespace ken {
namespace {

constexpr char kDir[] = "cluster/testdata/render";

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

ClusterConfig Load() {
  unsetenv("KEN_CLUSTER_TOKEN");
  absl::StatusOr<ClusterConfig> c = LoadClusterConfig(std::string(kDir) + "/cluster.yaml");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : ClusterConfig();
}

void ExpectGolden(const std::string& name, const std::string& text) {
  if (const char* update = getenv("KEN_UPDATE_GOLDEN")) {
    std::filesystem::create_directories(std::filesystem::path(std::string(update) + "/" + name).parent_path());
    std::ofstream(std::string(update) + "/" + name, std::ios::binary) << text;
    return;
  }
  EXPECT_EQ(text, Read(std::string(kDir) + "/" + name)) << name << " differs from its golden file";
}

TEST(RenderTest, KubernetesManifestsMatchTheGoldenFile) {
  absl::StatusOr<std::vector<RenderedFile>> files = RenderKubernetes(Load(), KubernetesOptions());
  ASSERT_TRUE(files.ok()) << files.status();
  std::vector<std::string> names;
  for (const RenderedFile& f : *files) names.push_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"secret-ken-token.yaml", "configmap-ken-config.yaml", "service-ken.yaml",
                                             "statefulset-driver.yaml", "statefulset-bank-1.yaml",
                                             "statefulset-bank-2.yaml"}));
  ExpectGolden("k8s.yaml", JoinYamlDocuments(*files));
}

TEST(RenderTest, SystemdUnitsMatchTheGoldenFiles) {
  absl::StatusOr<std::vector<RenderedFile>> files = RenderSystemd(Load(), SystemdOptions());
  ASSERT_TRUE(files.ok()) << files.status();
  for (const RenderedFile& f : *files) ExpectGolden("systemd/" + f.name, f.text);
  EXPECT_EQ(files->size(), 11u);  // config, token, sysusers, 2 scripts and a module, unit, target, 3 drop-ins
}

TEST(RenderTest, TheTokenIsOnlyInTheSecret) {
  const ClusterConfig config = Load();
  absl::StatusOr<std::vector<RenderedFile>> k8s = RenderKubernetes(config, KubernetesOptions());
  ASSERT_TRUE(k8s.ok());
  int holding = 0;
  for (const RenderedFile& f : *k8s) {
    if (f.text.find(config.token) == std::string::npos) continue;
    ++holding;
    EXPECT_EQ(f.name, "secret-ken-token.yaml") << "the token is in " << f.name;
  }
  EXPECT_EQ(holding, 1);
  absl::StatusOr<std::vector<RenderedFile>> units = RenderSystemd(config, SystemdOptions());
  ASSERT_TRUE(units.ok());
  for (const RenderedFile& f : *units) {
    EXPECT_EQ(f.text.find(config.token) != std::string::npos, f.name == "etc/ken/token") << f.name;
  }
}

TEST(RenderTest, MemoryCoversTheHeapAndItsCheckpointCopies) {
  EXPECT_EQ(NodeMemoryMb(1024, "journal"), 3 * 1024 + 256);  // heap + snapshotter isolate + its snapshot
  EXPECT_EQ(NodeMemoryMb(1024, "snapshot"), 2 * 1024 + 256);  // heap + the snapshot being written
}

TEST(RenderTest, WhatKubernetesCannotTakeIsAnError) {
  const std::string dir = std::string(getenv("TEST_TMPDIR")) + "/big";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/a.js") << std::string(1100000, 'x');
  absl::StatusOr<ClusterConfig> big =
      ParseClusterConfig("token: t\nnodes:\n  - id: a\n    address: 127.0.0.1:1\n    script: a.js\n", dir, "c.yaml");
  ASSERT_TRUE(big.ok()) << big.status();
  absl::StatusOr<std::vector<RenderedFile>> r = RenderKubernetes(*big, KubernetesOptions());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("put the program into the image"), std::string::npos) << r.status();
  absl::StatusOr<ClusterConfig> dash =
      ParseClusterConfig("token: t\nnodes:\n  - id: a-\n    address: 127.0.0.1:1\n    script: a.js\n", dir, "c.yaml");
  ASSERT_TRUE(dash.ok()) << dash.status();
  r = RenderKubernetes(*dash, KubernetesOptions());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("node id 'a-' cannot name a Kubernetes object"), std::string::npos) << r.status();
  const std::string long_id(53, 'n');
  absl::StatusOr<ClusterConfig> longer = ParseClusterConfig(
      "token: t\nnodes:\n  - id: " + long_id + "\n    address: 127.0.0.1:1\n    script: a.js\n", dir, "c.yaml");
  ASSERT_TRUE(longer.ok()) << longer.status();
  r = RenderKubernetes(*longer, KubernetesOptions());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("is over 52 characters"), std::string::npos) << r.status();
}

}  // namespace
}  // namespace ken
