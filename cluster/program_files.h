// The files a cluster's programs load, for shipping them to where the nodes
// run (`ken cluster render`): the nodes' scripts and what they require or
// import, found by reading the sources.
#ifndef KEN_CLUSTER_PROGRAM_FILES_H_
#define KEN_CLUSTER_PROGRAM_FILES_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ken {

struct ProgramFiles {
  // The deepest folder holding every file (absolute).
  std::string root;
  struct File {
    std::string rel;   // its path relative to `root` ('/'-separated)
    std::string text;  // its contents, as read
  };
  // Absolute path -> the file.
  std::map<std::string, File> files;
  // Total bytes of the files.
  size_t bytes = 0;
};

// Starting from `scripts` (absolute paths), follows every string-literal
// specifier of `require('...')`, `import('...')`, `import '...'` and
// `... from '...'` in each file read:
// - relative and absolute specifiers resolve as require does (the exact
//   file, then .js .json .mjs .cjs, then the folder's package.json "main",
//   index.js, index.json), and the file found is read in turn;
// - a bare specifier (`lodash`, `@scope/x/sub`) takes the whole package
//   folder from the nearest node_modules above the requiring file (its
//   .js .mjs .cjs .json files), each read in turn;
// - a `#name` specifier takes the requiring file's whole package (the
//   folder of its nearest package.json).
// In files taken only as part of a whole package, specifiers that do not
// resolve are skipped (a package's tests, optional requires); the program's
// own must resolve. A specifier built at run time (`require(name)`) is not
// seen: such files
// must be shipped another way (deploy/README.md). Errors (kInvalidArgument /
// kNotFound): an unreadable file, a relative specifier or package that does
// not resolve (naming it and the file that requires it), over `max_bytes`
// in all.
absl::StatusOr<ProgramFiles> CollectProgramFiles(const std::vector<std::string>& scripts, size_t max_bytes);

// The specifiers of `source`, in order of appearance (exposed for tests).
std::vector<std::string> ModuleSpecifiers(const std::string& source);

}  // namespace ken

#endif  // KEN_CLUSTER_PROGRAM_FILES_H_
