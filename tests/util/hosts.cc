#include "tests/util/hosts.h"

#include <dlfcn.h>

#include <cstdio>
#include <fstream>

namespace ken::testing {

void WriteHostsFile(const std::string& path, const std::map<std::string, std::string>& names) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp);
    for (const auto& [name, ip] : names) f << ip << " " << name << "\n";
  }
  std::rename(tmp.c_str(), path.c_str());
}

std::vector<std::string> HostsFileEnv(const std::string& path) {
  return {"LD_PRELOAD=libnss_wrapper.so", "NSS_WRAPPER_HOSTS=" + path, "GRPC_DNS_RESOLVER=native"};
}

bool HaveNssWrapper() {
  void* lib = dlopen("libnss_wrapper.so", RTLD_LAZY | RTLD_NOLOAD);
  if (lib == nullptr) lib = dlopen("libnss_wrapper.so", RTLD_LAZY);
  return lib != nullptr;
}

}  // namespace ken::testing
