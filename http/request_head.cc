#include "http/request_head.h"

#include <cctype>

#include "absl/strings/str_cat.h"

namespace ken {
namespace {

// RFC 9110 5.6.2: tchar.
bool IsTokenChar(unsigned char c) {
  return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

std::string_view TrimSpaceAndTab(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The one length every Content-Length field (each possibly a list, "5, 5")
// gives, or the reason there is none.
std::string CheckContentLength(const RequestHead& head) {
  std::string length;
  for (const auto& [name, value] : head.fields) {
    if (!EqualsIgnoreCase(name, "content-length")) continue;
    std::string_view rest = value;
    while (true) {
      const size_t comma = rest.find(',');
      std::string_view item = TrimSpaceAndTab(rest.substr(0, comma));
      if (item.empty() || item.size() > 18 || item.find_first_not_of("0123456789") != std::string_view::npos) {
        return absl::StrCat("Content-Length '", QuoteForLog(value), "' is not a number of bytes");
      }
      while (item.size() > 1 && item.front() == '0') item.remove_prefix(1);
      if (!length.empty() && length != item) return "the request has Content-Length fields that disagree";
      length = std::string(item);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return "";
}

}  // namespace

std::string QuoteForLog(std::string_view text, size_t max) {
  std::string out;
  for (size_t i = 0; i < text.size() && i < max; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c > 0x7e || c == '\\') {
      out += c == '\\' ? std::string("\\\\") : absl::StrCat("\\x", absl::Hex(c, absl::kZeroPad2));
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > max) out += "...";
  return out;
}

std::string CheckRequestHead(std::string_view raw, RequestHead* head) {
  head->fields.clear();
  size_t pos = raw.find('\n');  // the request line is the library's to check
  if (pos == std::string_view::npos) return "the request line is not ended by CRLF";
  ++pos;
  bool transfer_encoding = false;
  while (pos < raw.size()) {
    size_t end = raw.find('\n', pos);
    if (end == std::string_view::npos) end = raw.size();
    std::string_view line = raw.substr(pos, end - pos);  // without its LF
    pos = end + 1;
    if (line.empty() || line.back() != '\r') {
      return absl::StrCat("a header line is not ended by CRLF: '", QuoteForLog(line), "'");
    }
    line.remove_suffix(1);
    if (line.empty()) break;  // the end of the head
    if (line.find_first_of(std::string_view("\r\0", 2)) != std::string_view::npos) {
      return absl::StrCat("a header line holds a CR or NUL: '", QuoteForLog(line), "'");
    }
    if (line.front() == ' ' || line.front() == '\t') {
      return absl::StrCat("a header line starts with a space or tab (obsolete line folding): '", QuoteForLog(line),
                          "'");
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      return absl::StrCat("a header line has no colon: '", QuoteForLog(line), "'");
    }
    const std::string_view name = line.substr(0, colon);
    for (unsigned char c : name) {
      if (!IsTokenChar(c)) return absl::StrCat("header name '", QuoteForLog(name), "' is not a token");
    }
    if (name.empty()) return absl::StrCat("a header line has an empty name: '", QuoteForLog(line), "'");
    const std::string_view value = TrimSpaceAndTab(line.substr(colon + 1));
    for (unsigned char c : value) {
      if ((c < 0x20 && c != '\t') || c == 0x7f) {
        return absl::StrCat("header '", QuoteForLog(name), "' has a control byte in its value");
      }
    }
    if (EqualsIgnoreCase(name, "transfer-encoding")) transfer_encoding = true;
    head->fields.emplace_back(std::string(name), std::string(value));
  }
  std::string why = CheckContentLength(*head);
  if (!why.empty()) return why;
  for (const auto& field : head->fields) {
    if (transfer_encoding && EqualsIgnoreCase(field.first, "content-length")) {
      return "the request has both Content-Length and Transfer-Encoding";
    }
  }
  return "";
}

}  // namespace ken
