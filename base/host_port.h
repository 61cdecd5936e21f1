// host:port addresses as Ken's configs and flags write them.
#ifndef KEN_BASE_HOST_PORT_H_
#define KEN_BASE_HOST_PORT_H_

#include <string>

namespace ken {

// Parses "host:port": port 1..65535 (digits only); host non-empty, printable
// ASCII without spaces or '/' ("[v6]" allowed). Returns false, leaving the
// outputs alone, otherwise.
bool ParseHostPort(const std::string& address, std::string* host, int* port);

}  // namespace ken

#endif  // KEN_BASE_HOST_PORT_H_
