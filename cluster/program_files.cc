#include "cluster/program_files.h"

#include <sys/stat.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace ken {
namespace {

namespace fs = std::filesystem;

bool IdentifierChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$';
}

bool RegularFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool Directory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool Loadable(const std::string& path) {
  const std::string ext = fs::path(path).extension().string();
  return ext == ".js" || ext == ".mjs" || ext == ".cjs" || ext == ".json";
}

// Node.js's built-in modules: Ken has none (a require of one fails at run
// time with its own message), and there is no file to ship.
bool NodeBuiltin(const std::string& spec) {
  static const std::set<std::string> kBuiltins = {
      "assert", "async_hooks", "buffer", "child_process", "cluster", "console", "constants", "crypto", "dgram",
      "diagnostics_channel", "dns", "domain", "events", "fs", "http", "http2", "https", "inspector", "module",
      "net", "os", "path", "perf_hooks", "process", "punycode", "querystring", "readline", "repl", "stream",
      "string_decoder", "sys", "timers", "tls", "trace_events", "tty", "url", "util", "v8", "vm", "wasi",
      "worker_threads", "zlib"};
  if (spec.rfind("node:", 0) == 0) return true;
  return kBuiltins.count(spec.substr(0, spec.find('/'))) > 0;
}

// require's file resolution: the file, with an extension, or a folder's
// package.json main / index file. Also returns the package.json read.
std::string ResolveFile(std::string base, std::vector<std::string>* also) {
  while (base.size() > 1 && base.back() == '/') base.pop_back();  // "./" and "." name the folder
  if (RegularFile(base)) return base;
  for (const char* ext : {".js", ".json", ".mjs", ".cjs"}) {
    if (RegularFile(base + ext)) return base + ext;
  }
  if (!Directory(base)) return "";
  const std::string package = base + "/package.json";
  if (RegularFile(package)) {
    absl::StatusOr<std::string> text = ReadFile(package);
    nlohmann::json json = text.ok() ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json();
    const std::string main_path =
        json.is_object() && json.contains("main") && json["main"].is_string()
            ? (fs::path(base) / json["main"].get<std::string>()).lexically_normal().string()
            : std::string();
    // A "main" naming the folder itself ("", ".", "./") falls through to
    // its index file, as in Node.js (and must not resolve forever).
    if (!main_path.empty() && fs::path(main_path) != fs::path(base).lexically_normal() &&
        fs::path(main_path) != (fs::path(base) / "").lexically_normal()) {
      std::vector<std::string> unused;
      std::string main = ResolveFile(main_path, &unused);
      if (!main.empty()) {
        also->push_back(package);
        return main;
      }
    }
  }
  for (const char* index : {"/index.js", "/index.json", "/index.mjs", "/index.cjs"}) {
    if (RegularFile(base + index)) return base + index;
  }
  return "";
}

// Every loadable file under `dir` (sorted), skipping nested node_modules'
// .bin folders.
std::vector<std::string> LoadableFilesUnder(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::error_code e;
    if (it->is_directory(e) && it->path().filename() == ".bin") {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(e) && Loadable(it->path().string())) out.push_back(it->path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The folder of the package named by bare specifier `spec` in the nearest
// node_modules above `from_dir`, or "".
std::string PackageFolder(const std::string& spec, const std::string& from_dir) {
  std::string name = spec.substr(0, spec.find('/'));
  if (spec[0] == '@') {
    const size_t slash = spec.find('/');
    name = slash == std::string::npos ? spec : spec.substr(0, spec.find('/', slash + 1));
  }
  for (fs::path dir = from_dir;; dir = dir.parent_path()) {
    const std::string candidate = (dir / "node_modules" / name).string();
    if (Directory(candidate)) return candidate;
    if (dir == dir.parent_path()) return "";
  }
}

// The folder of the nearest package.json at or above `dir`, or "".
std::string PackageRoot(const std::string& dir) {
  for (fs::path d = dir;; d = d.parent_path()) {
    if (RegularFile((d / "package.json").string())) return d.string();
    if (d == d.parent_path()) return "";
  }
}

}  // namespace

std::vector<std::string> ModuleSpecifiers(const std::string& s) {
  std::vector<std::string> out;
  const size_t n = s.size();
  auto skip_space = [&](size_t i) {
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
    return i;
  };
  // The string literal at i ('...' or "..."), or npos; *end after it.
  auto literal = [&](size_t i, std::string* value) -> size_t {
    if (i >= n || (s[i] != '\'' && s[i] != '"')) return std::string::npos;
    const char q = s[i];
    std::string v;
    for (size_t j = i + 1; j < n; ++j) {
      if (s[j] == '\\') return std::string::npos;  // an escaped specifier: not a plain path
      if (s[j] == '\n') return std::string::npos;
      if (s[j] == q) {
        *value = v;
        return j + 1;
      }
      v += s[j];
    }
    return std::string::npos;
  };
  size_t i = 0;
  while (i < n) {
    const char c = s[i];
    if (c == '/' && i + 1 < n && s[i + 1] == '/') {
      i = s.find('\n', i);
      if (i == std::string::npos) break;
      continue;
    }
    if (c == '/' && i + 1 < n && s[i + 1] == '*') {
      i = s.find("*/", i + 2);
      if (i == std::string::npos) break;
      i += 2;
      continue;
    }
    if (c == '\'' || c == '"' || c == '`') {
      size_t j = i + 1;
      while (j < n && s[j] != c) j += s[j] == '\\' ? 2 : 1;
      i = j + 1;
      continue;
    }
    if (!IdentifierChar(c)) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < n && IdentifierChar(s[j])) ++j;
    const std::string word = s.substr(i, j - i);
    size_t before = i;
    while (before > 0 && (s[before - 1] == ' ' || s[before - 1] == '\t')) --before;
    const bool member = before > 0 && s[before - 1] == '.';
    i = j;
    if (member || (word != "require" && word != "import" && word != "from")) continue;
    size_t k = skip_space(j);
    if (word != "from" && k < n && s[k] == '(') k = skip_space(k + 1);
    else if (word == "require") continue;
    std::string value;
    const size_t end = literal(k, &value);
    if (end == std::string::npos || value.empty()) continue;
    out.push_back(value);
    i = end;
  }
  return out;
}

absl::StatusOr<ProgramFiles> CollectProgramFiles(const std::vector<std::string>& scripts, size_t max_bytes) {
  std::set<std::string> seen;
  std::set<std::string> from_packages;  // taken as part of a whole package, not required by name
  std::deque<std::string> queue;
  std::set<std::string> packages_taken;
  auto add = [&](const std::string& path) {
    if (seen.insert(path).second) queue.push_back(path);
  };
  for (const std::string& s : scripts) add(fs::path(s).lexically_normal().string());
  if (queue.empty()) return absl::InvalidArgumentError("no scripts");
  ProgramFiles program;
  while (!queue.empty()) {
    const std::string file = queue.front();
    queue.pop_front();
    absl::StatusOr<std::string> text = ReadFile(file);
    if (!text.ok()) return text.status();
    program.bytes += text->size();
    if (program.bytes > max_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("the program's files come to over ", max_bytes,
                                                     " bytes (at ", file, ")"));
    }
    program.files[file].text = *text;
    if (fs::path(file).extension() == ".json") continue;
    const std::string dir = fs::path(file).parent_path().string();
    // A package's other files (tests, optional `try { require('x') }`
    // lines) may name what is not installed: only what the program
    // requires by name must be found.
    const bool optional = from_packages.count(file) > 0;
    for (const std::string& spec : ModuleSpecifiers(*text)) {
      if (spec.rfind("./", 0) == 0 || spec.rfind("../", 0) == 0 || spec == "." || spec == ".." || spec[0] == '/' ||
          spec.rfind("file://", 0) == 0) {
        const std::string path = spec.rfind("file://", 0) == 0 ? spec.substr(7) : spec;
        const std::string base = (spec[0] == '/' || spec.rfind("file://", 0) == 0 ? fs::path(path)
                                                                                 : fs::path(dir) / path)
                                     .lexically_normal()
                                     .string();
        std::vector<std::string> also;
        const std::string found = ResolveFile(base, &also);
        if (found.empty() && optional) continue;
        if (found.empty()) {
          return absl::NotFoundError(absl::StrCat("cannot find module '", spec, "' required by ", file));
        }
        add(found);
        for (const std::string& a : also) add(a);
      } else if (spec[0] == '#') {
        const std::string root = PackageRoot(dir);
        if (root.empty() && optional) continue;
        if (root.empty()) {
          return absl::NotFoundError(absl::StrCat("'", spec, "' in ", file, " needs a package.json with \"imports\""));
        }
        if (packages_taken.insert(root).second) {
          for (const std::string& f : LoadableFilesUnder(root)) {
            if (f.find("/node_modules/", root.size()) != std::string::npos) continue;
            if (!seen.count(f)) from_packages.insert(f);
            add(f);
          }
        }
      } else if (!NodeBuiltin(spec)) {
        const std::string folder = PackageFolder(spec, dir);
        if (folder.empty() && optional) continue;
        if (folder.empty()) {
          return absl::NotFoundError(absl::StrCat("cannot find package '", spec, "' (required by ", file,
                                                  ") in a node_modules folder above it"));
        }
        if (packages_taken.insert(folder).second) {
          for (const std::string& f : LoadableFilesUnder(folder)) {
            if (!seen.count(f)) from_packages.insert(f);
            add(f);
          }
        }
      }
    }
  }
  // The deepest common folder.
  fs::path root = fs::path(program.files.begin()->first).parent_path();
  for (const auto& [path, file] : program.files) {
    while (path.rfind(root.string() + "/", 0) != 0 && root != root.parent_path()) root = root.parent_path();
  }
  program.root = root.string();
  for (auto& [path, file] : program.files) file.rel = fs::path(path).lexically_relative(root).string();
  return program;
}

}  // namespace ken
