#include "base/host_port.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"

namespace ken {

bool ParseHostPort(const std::string& address, std::string* host, int* port) {
  // Printable ASCII without spaces only: a stray newline or space would
  // reach the resolver, not the parser.
  for (char c : address) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= address.size()) return false;
  std::string h = address.substr(0, colon);
  if (h.front() == '[') {
    if (h.back() != ']' || h.size() < 3) return false;
  } else if (h.find(':') != std::string::npos || h.find_first_of(" /") != std::string::npos) {
    return false;
  }
  int p = 0;
  const std::string digits = address.substr(colon + 1);
  if (digits.find_first_not_of("0123456789") != std::string::npos) return false;
  if (!absl::SimpleAtoi(digits, &p) || p < 1 || p > 65535) return false;
  *host = h;
  *port = p;
  return true;
}

std::string WhyNotBindable(const std::string& address) {
  std::string host;
  int port = 0;
  if (!ParseHostPort(address, &host, &port)) return "cannot be parsed";
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  struct addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  struct addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || res == nullptr) {
    return "cannot be resolved";
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  // With the options the real listeners take (cpp-httplib and gRPC set
  // SO_REUSEPORT): sockets a killed node left behind on the port (accepted
  // connections still closing) must not count as busy, or a node restarted
  // after kill -9 would refuse its own port.
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
#ifdef SO_REUSEPORT
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
#endif
  int rc = fd >= 0 ? bind(fd, res->ai_addr, res->ai_addrlen) : -1;
  int err = errno;
  if (fd >= 0) close(fd);
  freeaddrinfo(res);
  return rc == 0 ? "" : std::string("cannot be used: ") + strerror(err);
}

}  // namespace ken
