// Names for nodes on one machine as if on many: a hosts(5) file that the
// programs a test starts resolve names through, without touching /etc/hosts
// (no root needed, nothing left behind).
//
// The mechanism is nss_wrapper (Debian's libnss-wrapper, from the Samba
// project: https://cwrap.org/nss_wrapper.html): LD_PRELOADed, it answers
// getaddrinfo from the file named by NSS_WRAPPER_HOSTS, re-reading it when
// it changes. gRPC is told to resolve with getaddrinfo (GRPC_DNS_RESOLVER=
// native) rather than c-ares, which reads /etc/hosts itself.
#ifndef KEN_TESTS_UTIL_HOSTS_H_
#define KEN_TESTS_UTIL_HOSTS_H_

#include <map>
#include <string>
#include <vector>

namespace ken::testing {

// Writes `names` (host name -> IPv4 address) to `path` in hosts(5) format,
// replacing it atomically (a rename), so a resolver never reads half a file.
void WriteHostsFile(const std::string& path, const std::map<std::string, std::string>& names);

// The environment entries ("NAME=value", for Process's `env`) that make a
// program resolve names through the hosts file at `path`.
std::vector<std::string> HostsFileEnv(const std::string& path);

// Whether nss_wrapper is installed (tools/setup.sh installs it).
bool HaveNssWrapper();

}  // namespace ken::testing

#endif  // KEN_TESTS_UTIL_HOSTS_H_
