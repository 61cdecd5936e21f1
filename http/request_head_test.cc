#include "http/request_head.h"

#include "gtest/gtest.h"

namespace ken {
namespace {

std::string Check(const std::string& header_lines, RequestHead* head = nullptr) {
  RequestHead local;
  return CheckRequestHead("GET / HTTP/1.1\r\n" + header_lines + "\r\n", head != nullptr ? head : &local);
}

TEST(RequestHeadTest, KeepsFieldsAsSent) {
  RequestHead head;
  EXPECT_EQ(Check("Host: x\r\nX-Enc:  %41b \t\r\nX-Empty:\r\nhost: y\r\n", &head), "");
  using Fields = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(head.fields, (Fields{{"Host", "x"}, {"X-Enc", "%41b"}, {"X-Empty", ""}, {"host", "y"}}));
  EXPECT_EQ(Check("Content-Length: 12\r\ncontent-length: 012\r\n"), "");
  EXPECT_EQ(Check("Content-Length: 5, 5\r\n"), "");
}

TEST(RequestHeadTest, RefusesMalformedLines) {
  EXPECT_EQ(Check("Host: x\r\nNoColonHere\r\n"), "a header line has no colon: 'NoColonHere'");
  EXPECT_EQ(Check("Host: x\nX: y\r\n"), "a header line is not ended by CRLF: 'Host: x'");
  EXPECT_EQ(Check("X: a\rb\r\n"), "a header line holds a CR or NUL: 'X: a\\rb'");
  EXPECT_EQ(Check(std::string("X: a\0b\r\n", 8)), "a header line holds a CR or NUL: 'X: a\\x00b'");
  EXPECT_EQ(Check("X: a\r\n continued\r\n"),
            "a header line starts with a space or tab (obsolete line folding): ' continued'");
  EXPECT_EQ(Check("X : a\r\n"), "header name 'X ' is not a token");
  EXPECT_EQ(Check(": a\r\n"), "a header line has an empty name: ': a'");
  EXPECT_EQ(Check("X: a\x01\r\n"), "header 'X' has a control byte in its value");
}

TEST(RequestHeadTest, RefusesBadContentLength) {
  EXPECT_EQ(Check("Content-Length: -1\r\n"), "Content-Length '-1' is not a number of bytes");
  EXPECT_EQ(Check("Content-Length: \r\n"), "Content-Length '' is not a number of bytes");
  EXPECT_EQ(Check("Content-Length: 1x\r\n"), "Content-Length '1x' is not a number of bytes");
  EXPECT_EQ(Check("Content-Length: 1234567890123456789\r\n"),
            "Content-Length '1234567890123456789' is not a number of bytes");
  EXPECT_EQ(Check("Content-Length: 1\r\nContent-Length: 2\r\n"),
            "the request has Content-Length fields that disagree");
  EXPECT_EQ(Check("Content-Length: 1, 2\r\n"), "the request has Content-Length fields that disagree");
  EXPECT_EQ(Check("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n"),
            "the request has both Content-Length and Transfer-Encoding");
}

TEST(RequestHeadTest, QuotesSafely) {
  EXPECT_EQ(QuoteForLog("a\r\n\t\\\x7f\xc3"), "a\\r\\n\\t\\\\\\x7f\\xc3");
  EXPECT_EQ(QuoteForLog(std::string(150, 'x')), std::string(100, 'x') + "...");
}

}  // namespace
}  // namespace ken
