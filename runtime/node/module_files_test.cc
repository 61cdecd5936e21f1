// require's file reads as the node answers them: regular files only, the
// size limit, and the journal record round trip.
#include "runtime/node/module_files.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace ken {
namespace {

std::string TempDir() {
  const char* t = getenv("TEST_TMPDIR");
  std::string dir = std::string(t != nullptr ? t : "/tmp") + "/module_files_test";
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(ModuleFilesTest, ReadsRegularFilesOnly) {
  const std::string dir = TempDir();
  std::ofstream(dir + "/a.js") << std::string("exports.x = '\xff';\n");
  auto a = ReadModuleFileFromDisk(dir + "/a.js");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->result, NativeHost::ModuleFile::kFound);
  EXPECT_EQ(a->text, "exports.x = '\xff';\n");
  for (const std::string& absent : {dir + "/missing.js", dir, dir + "/a.js/x", dir + "/a.js" + std::string(1, '\0')}) {
    auto r = ReadModuleFileFromDisk(absent);
    ASSERT_TRUE(r.ok()) << absent;
    EXPECT_EQ(r->result, NativeHost::ModuleFile::kAbsent) << absent;
  }
  auto relative = ReadModuleFileFromDisk("a.js");
  EXPECT_EQ(relative.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ModuleFilesTest, AFileOverTheLimitIsAnErrorNamingIt) {
  const std::string path = TempDir() + "/big.js";
  std::ofstream(path).close();
  std::filesystem::resize_file(path, kMaxModuleFileBytes + 1);  // sparse: no disk used
  auto r = ReadModuleFileFromDisk(path);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("over the limit"), std::string::npos) << r.status();
}

TEST(ModuleFilesTest, ReadsRoundTripThroughTheirRecord) {
  NativeHost::ModuleFile found;
  found.result = NativeHost::ModuleFile::kFound;
  found.text = std::string("a\0b", 3);
  NativeHost::ModuleFile absent;
  absent.result = NativeHost::ModuleFile::kAbsent;
  const absl::StatusOr<NativeHost::ModuleFile> reads[] = {found, absent, NativeHost::ModuleFile(),
                                                           absl::UnavailableError("require: cannot read /x: EIO")};
  for (const auto& read : reads) {
    v1::ModuleRead record;
    ASSERT_TRUE(record.ParseFromString(RecordModuleRead("/p/x.js", read).SerializeAsString()));
    EXPECT_EQ(record.path(), "/p/x.js");
    auto back = RecordedModuleRead(record);
    ASSERT_EQ(back.ok(), read.ok());
    if (!read.ok()) {
      EXPECT_EQ(back.status().message(), read.status().message());
      continue;
    }
    EXPECT_EQ(back->result, read->result);
    EXPECT_EQ(back->text, read->text);
  }
  EXPECT_TRUE(InputLoadsModules([] { v1::TurnInput t; t.mutable_shell(); return t; }()));
  EXPECT_TRUE(InputLoadsModules([] { v1::TurnInput t; t.mutable_program(); return t; }()));
  EXPECT_FALSE(InputLoadsModules([] { v1::TurnInput t; t.mutable_eval(); return t; }()));
  EXPECT_FALSE(InputLoadsModules([] { v1::TurnInput t; t.mutable_delivery(); return t; }()));
  EXPECT_FALSE(InputLoadsModules([] { v1::TurnInput t; t.mutable_http(); return t; }()));
}

}  // namespace
}  // namespace ken
