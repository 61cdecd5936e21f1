// host:port addresses as Ken's configs and flags write them.
#ifndef KEN_BASE_HOST_PORT_H_
#define KEN_BASE_HOST_PORT_H_

#include <string>

namespace ken {

// Parses "host:port": port 1..65535 (digits only); host non-empty, printable
// ASCII without spaces or '/' ("[v6]" allowed). Returns false, leaving the
// outputs alone, otherwise.
bool ParseHostPort(const std::string& address, std::string* host, int* port);

// Whether a server could listen on `address` now: resolves it and binds a
// socket there (with SO_REUSEADDR, as gRPC and the HTTP server do, so that
// connections of a process that just stopped, lingering in TIME_WAIT, do not
// make it look taken), then closes it. Returns "" or why not, in words fit
// to follow "address A ": "cannot be parsed", "cannot be resolved",
// "cannot be used: Address already in use" (the OS's reason).
std::string WhyNotBindable(const std::string& address);

}  // namespace ken

#endif  // KEN_BASE_HOST_PORT_H_
