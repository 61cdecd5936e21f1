#include "cluster/program_files.h"

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace ken {
namespace {

namespace fs = std::filesystem;

TEST(ProgramFilesTest, SpecifiersOfRequireAndImportOnly) {
  EXPECT_EQ(ModuleSpecifiers("var a = require('./a');\n"
                             "const b = require ( \"../b.js\" );\n"
                             "import c from './c.mjs';\n"
                             "import { d } from\n  'pkg/sub';\n"
                             "export * from \"./e.js\";\n"
                             "import './side-effect.js';\n"
                             "const f = await import('#internal');\n"),
            (std::vector<std::string>{"./a", "../b.js", "./c.mjs", "pkg/sub", "./e.js", "./side-effect.js",
                                      "#internal"}));
  // Not module loads: comments, strings, members, computed names.
  EXPECT_EQ(ModuleSpecifiers("// require('./commented')\n"
                             "/* import x from './block' */\n"
                             "var s = \"require('./in-a-string')\";\n"
                             "obj.require('./member'); loader . import('./member2');\n"
                             "require(name); require('./a' + b);\n"
                             "var from = 'not-a-specifier';\n"),
            (std::vector<std::string>{"./a"}));
}

class ProgramFilesFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::string(getenv("TEST_TMPDIR")) + "/program";
    fs::remove_all(root_);
  }
  void Write(const std::string& rel, const std::string& text) {
    fs::create_directories(fs::path(root_ + "/" + rel).parent_path());
    std::ofstream(root_ + "/" + rel) << text;
  }
  std::string root_;
};

TEST_F(ProgramFilesFilesTest, FollowsRelativeModulesPackagesAndImports) {
  Write("app/main.js",
        "var lib = require('./lib');\nvar cfg = require('../common/config.json');\n"
        "var dir = require('./dir');\nvar dayjs = require('dayjs/plugin/x');\nrequire('fs'); require('node:path');\n");
  Write("app/lib.js", "require('#util');\nmodule.exports = require('./deep/more.cjs');\n");
  Write("app/deep/more.cjs", "module.exports = 1;\n");
  Write("app/dir/package.json", "{\"main\": \"start.js\"}\n");
  Write("app/dir/start.js", "module.exports = 5;\n");
  Write("app/package.json", "{\"imports\": {\"#util\": \"./util/index.js\"}}\n");
  Write("app/util/index.js", "module.exports = 2;\n");
  Write("common/config.json", "{}\n");
  Write("app/node_modules/dayjs/index.js", "module.exports = 3;\n");
  Write("app/node_modules/dayjs/plugin/x.js", "module.exports = 4;\n");
  Write("app/node_modules/dayjs/README.md", "not loadable\n");
  Write("app/unused.js", "never required\n");
  absl::StatusOr<ProgramFiles> p = CollectProgramFiles({root_ + "/app/main.js"}, 1 << 20);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->root, root_);
  std::vector<std::string> rels;
  for (const auto& [path, file] : p->files) rels.push_back(file.rel);
  EXPECT_EQ(p->files.at(root_ + "/app/util/index.js").text, "module.exports = 2;\n");
  // #util takes app's whole package (its own files, not node_modules): so
  // app/unused.js comes along.
  EXPECT_EQ(rels, (std::vector<std::string>{
                      "app/deep/more.cjs", "app/dir/package.json", "app/dir/start.js", "app/lib.js", "app/main.js",
                      "app/node_modules/dayjs/index.js", "app/node_modules/dayjs/plugin/x.js", "app/package.json",
                      "app/unused.js", "app/util/index.js", "common/config.json"}));
}

TEST_F(ProgramFilesFilesTest, PackagesMainNamingItselfAndOptionalRequiresInPackages) {
  Write("main.js", "require('./lib'); require('pkg'); require('.');\n");
  Write("index.js", "module.exports = 0;\n");
  Write("lib/package.json", "{\"main\": \"./\"}\n");  // its own folder: index.js, not a loop
  Write("lib/index.js", "module.exports = 1;\n");
  Write("node_modules/pkg/index.js", "module.exports = 2;\n");
  Write("node_modules/pkg/test/t.js", "try { require('tap'); } catch (e) {}\nrequire('./missing-fixture');\n");
  absl::StatusOr<ProgramFiles> p = CollectProgramFiles({root_ + "/main.js"}, 1 << 20);
  ASSERT_TRUE(p.ok()) << p.status();
  std::vector<std::string> rels;
  for (const auto& [path, file] : p->files) rels.push_back(file.rel);
  EXPECT_EQ(rels, (std::vector<std::string>{"index.js", "lib/index.js", "main.js", "node_modules/pkg/index.js",
                                            "node_modules/pkg/test/t.js"}));
}

TEST_F(ProgramFilesFilesTest, WhatCannotBeFoundOrShippedIsAnError) {
  Write("a.js", "require('./missing');\n");
  absl::StatusOr<ProgramFiles> p = CollectProgramFiles({root_ + "/a.js"}, 1 << 20);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(), "cannot find module './missing' required by " + root_ + "/a.js");
  Write("b.js", "require('left-pad');\n");
  p = CollectProgramFiles({root_ + "/b.js"}, 1 << 20);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("cannot find package 'left-pad' (required by " + root_ + "/b.js)"),
            std::string::npos)
      << p.status();
  Write("c.js", "require('./big');\n");
  Write("big.js", std::string(2000, 'x'));
  p = CollectProgramFiles({root_ + "/c.js"}, 1000);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("over 1000 bytes"), std::string::npos) << p.status();
  p = CollectProgramFiles({root_ + "/none.js"}, 1000);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("cannot read " + root_ + "/none.js"), std::string::npos) << p.status();
}

}  // namespace
}  // namespace ken
