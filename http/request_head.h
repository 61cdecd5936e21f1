// Checking a request's head (request line and header lines) as the client
// sent it, byte for byte. cpp-httplib 0.11 is lenient where RFC 9112 says a
// server must refuse: it drops a header line without a colon (and one with
// an empty value), skips lines ended by a bare LF, percent-decodes header
// values, and reads `Content-Length: -1` as 2^64-1 (so the request waits
// for a body that never comes). The front end checks the raw head itself
// (http_connection.h records it) and answers 400 with the reason.
#ifndef KEN_HTTP_REQUEST_HEAD_H_
#define KEN_HTTP_REQUEST_HEAD_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ken {

struct RequestHead {
  // Every header field in arrival order: the name as sent, the value as sent
  // without surrounding spaces and tabs (not decoded; possibly empty).
  std::vector<std::pair<std::string, std::string>> fields;
};

// Checks `raw`, the request line and header lines up to and including the
// empty line that ends them, each ended by CRLF. Returns "" and fills *head
// when it is well-formed; otherwise the reason, one line of text for the
// client and the log (the offending line quoted, at most 100 bytes of it,
// control bytes escaped). Refused: a header line not ended by CRLF, holding
// a CR or NUL, starting with a space or tab (obsolete line folding), without
// a colon, or whose name is not a token (RFC 9110 5.1; also spaces before
// the colon); a value with other control bytes (RFC 9110 5.5); a
// Content-Length that is not digits (at most 18), several that disagree,
// or one alongside Transfer-Encoding (RFC 9112 6.3).
std::string CheckRequestHead(std::string_view raw, RequestHead* head);

// `text` cut to `max` bytes, with control bytes and bytes over 0x7e written
// as \r, \n, \t or \xHH, and "..." if cut: safe to quote in a log line.
std::string QuoteForLog(std::string_view text, size_t max = 100);

}  // namespace ken

#endif  // KEN_HTTP_REQUEST_HEAD_H_
