#include "base/form_urlencoded.h"

#include "gtest/gtest.h"

namespace ken {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

TEST(FormUrlencodedTest, SplitsDecodesAndKeepsRepeatedNames) {
  EXPECT_EQ(ParseFormUrlencoded("a=1&b=2&a=3"), (Pairs{{"a", "1"}, {"b", "2"}, {"a", "3"}}));
  EXPECT_EQ(ParseFormUrlencoded("q=a+b%20c&%C3%A9=%2B"), (Pairs{{"q", "a b c"}, {"\xC3\xA9", "+"}}));
  EXPECT_EQ(ParseFormUrlencoded("x&y=&=z&&"), (Pairs{{"x", ""}, {"y", ""}, {"", "z"}}));
  EXPECT_EQ(ParseFormUrlencoded("k=a=b"), (Pairs{{"k", "a=b"}}));
  EXPECT_EQ(ParseFormUrlencoded(""), Pairs{});
}

TEST(FormUrlencodedTest, MalformedEscapesStayAsTheyAre) {
  EXPECT_EQ(DecodeFormComponent("100%"), "100%");
  EXPECT_EQ(DecodeFormComponent("%"), "%");
  EXPECT_EQ(DecodeFormComponent("%4"), "%4");
  EXPECT_EQ(DecodeFormComponent("%zz%41"), "%zzA");
  EXPECT_EQ(DecodeFormComponent("%%41"), "%A");
  EXPECT_EQ(DecodeFormComponent("%00"), std::string(1, '\0'));
  EXPECT_EQ(DecodeFormComponent("%ff"), "\xff");
}

}  // namespace
}  // namespace ken
