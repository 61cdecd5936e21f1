// The native table is a disk format (js_api/natives.h): heaps bind natives
// by index. This pins the table: entries may only be appended. A failure
// here means an entry was moved, renamed or removed, which would make every
// existing store bind the wrong callbacks.
#include "js_api/natives.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ken {
namespace {

TEST(NativesTest, TableOrderIsPinned) {
  const std::vector<std::string> pinned = {
      // Table version 1 (the first release): heaps without a fingerprint.
      "write", "promiseState", "send", "me", "peers",
      // Version 2.
      "hostNowMs",
      // Built-ins version 4 (inspect.js).
      "brand", "proxyDetails", "previewEntries", "constructorName",
      // Version 5: require (modules.js).
      "readModuleFile", "compileModule",
      // Version 5: ES modules (esm.js).
      "esmCompile", "esmLink", "esmInstantiate", "esmEvaluate", "esmNamespace",
      "v8:ModuleNamespaceEntryGetter", "v8:ModuleNamespaceEntrySetter", "esmStatus",
      // Version 6: calls and replies (ken.js).
      "sendFrame", "serializedSize",
      // Version 7: calls to actors of the same node (actors.js).
      "clone",
  };
  const std::vector<NativeEntry>& table = NativeTable();
  ASSERT_GE(table.size(), pinned.size()) << "an entry was removed";
  for (size_t i = 0; i < pinned.size(); ++i) {
    EXPECT_EQ(table[i].index, static_cast<int>(i));
    EXPECT_EQ(table[i].name, pinned[i]) << "entry " << i << " changed";
  }
  EXPECT_EQ(table.size(), pinned.size()) << "a new native was appended: add it to this list";
  const intptr_t* refs = ExternalReferences();
  for (size_t i = 0; i < table.size(); ++i) {
    if (table[i].callback != nullptr) {
      EXPECT_EQ(refs[i], reinterpret_cast<intptr_t>(table[i].callback));
    }
    EXPECT_EQ(refs[i], table[i].address);
  }
  // Debian's libnode exports the two V8 functions the table adds.
  EXPECT_TRUE(ModuleNamespaceAccessorsFound());
  EXPECT_EQ(refs[table.size()], 0);
}

TEST(NativesTest, FingerprintsAcceptPrefixesAndRefuseOthers) {
  EXPECT_EQ(NativeTableFingerprint(kNativeTableVersion1), "5:" + NativeTableFingerprint(5).substr(2));
  // Version 1's fingerprint is fixed: it identifies heaps of the first release.
  EXPECT_EQ(NativeTableFingerprint(kNativeTableVersion1), "5:6b5a6089");
  EXPECT_TRUE(CheckNativeTable("").ok());  // no fingerprint: version 1
  EXPECT_TRUE(CheckNativeTable(NativeTableFingerprint(5)).ok());
  EXPECT_TRUE(CheckNativeTable(NativeTableFingerprint(NativeTable().size())).ok());
  absl::Status longer = CheckNativeTable("99:00000000");
  EXPECT_EQ(longer.code(), absl::StatusCode::kFailedPrecondition) << longer;
  EXPECT_NE(longer.message().find("wrong native functions"), std::string::npos) << longer;
  EXPECT_EQ(CheckNativeTable("5:deadbeef").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CheckNativeTable("garbage").code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace ken
