// Decoding application/x-www-form-urlencoded text (WHATWG URL standard,
// "application/x-www-form-urlencoded parsing"): the query of a request
// target, or a form body. Never fails: malformed input decodes to something.
#ifndef KEN_BASE_FORM_URLENCODED_H_
#define KEN_BASE_FORM_URLENCODED_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ken {

// The name/value pairs of `text`, in order, repeated names kept. `text` is
// split at '&'; empty pieces are skipped; each piece splits at its first
// '=' (none: the value is ""); in name and value '+' becomes a space and
// "%XY" (two hex digits) the byte 0xXY. A '%' not followed by two hex
// digits stays as it is. The results are bytes: not checked for UTF-8 (the
// caller decides what to do with invalid sequences).
std::vector<std::pair<std::string, std::string>> ParseFormUrlencoded(std::string_view text);

// One name or value decoded as above ('+' and percent escapes).
std::string DecodeFormComponent(std::string_view text);

}  // namespace ken

#endif  // KEN_BASE_FORM_URLENCODED_H_
