// require's file reads as the node answers them (js_api/modules.js,
// NativeHost::ReadModuleFile): from disk in a turn that loads a program,
// refused in every other turn, and recorded with the turn in journal mode
// (JournalTurn.module_reads) so that a replay answers the same without
// touching the disk. Any thread; no state.
#ifndef KEN_RUNTIME_NODE_MODULE_FILES_H_
#define KEN_RUNTIME_NODE_MODULE_FILES_H_

#include <string>

#include "absl/status/statusor.h"
#include "js_api/natives.h"
#include "proto/journal.pb.h"
#include "proto/turn.pb.h"

namespace ken {

// Whether a turn of this input may read module files: a program load, a
// shell input (typed or .load), a code upgrade.
bool InputLoadsModules(const v1::TurnInput& input);

// The regular file at `path`: kFound with its bytes; kAbsent if nothing is
// there, it is not a regular file (a folder, a socket) or the path holds a
// NUL. Errors: kInvalidArgument for a
// relative path or a file over kMaxModuleFileBytes, kUnavailable when it
// cannot be read (permissions, I/O), each naming the file.
absl::StatusOr<NativeHost::ModuleFile> ReadModuleFileFromDisk(const std::string& path);

// A read as a journal record, and back.
v1::ModuleRead RecordModuleRead(const std::string& path, const absl::StatusOr<NativeHost::ModuleFile>& read);
absl::StatusOr<NativeHost::ModuleFile> RecordedModuleRead(const v1::ModuleRead& record);

}  // namespace ken

#endif  // KEN_RUNTIME_NODE_MODULE_FILES_H_
