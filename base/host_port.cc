#include "base/host_port.h"

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

}  // namespace ken
