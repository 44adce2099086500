#include "mvproxy/util/text.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace std::string_view_literals;
namespace util = mvproxy::util;

struct trim_case {
  std::string_view in;
  std::string_view trim;  // every ASCII white space
  std::string_view ows;   // SP and HTAB only
};

const trim_case trim_cases[] = {
    {"", "", ""},
    {"a", "a", "a"},
    {"  a b \t", "a b", "a b"},
    {"\t\ta", "a", "a"},
    {" \r\n a \n", "a", "\r\n a \n"},
    {"\v\fa", "a", "\v\fa"},
    {" \t ", "", ""},
};

TEST(Text, Trim) {
  for (const auto& c : trim_cases) {
    EXPECT_EQ(util::trim(c.in), c.trim) << "[" << c.in << "]";
    EXPECT_EQ(util::trim_ows(c.in), c.ows) << "[" << c.in << "]";
  }
}

struct lower_case {
  std::string_view in;
  std::string want;
};

const lower_case lower_cases[] = {
    {"", ""},
    {"Content-Length", "content-length"},
    {"GET", "get"},
    {"already-lower-09", "already-lower-09"},
    {"@[`{", "@[`{"},            // the bytes around 'A'-'Z' and 'a'-'z'
    {"\u00DCber", "\u00DCber"},  // UTF-8 and Latin-1 bytes left alone
    {"X-REMOTE-\xC4", "x-remote-\xC4"},
};

TEST(Text, AsciiLower) {
  for (const auto& c : lower_cases) {
    EXPECT_EQ(util::ascii_lower(c.in), c.want) << c.in;
  }
  EXPECT_EQ(util::ascii_lower('Q'), 'q');
  EXPECT_EQ(util::ascii_lower('\xC4'), '\xC4');
}

struct iequals_case {
  std::string_view a, b;
  bool want;
};

const iequals_case iequals_cases[] = {
    {"", "", true},
    {"chunked", "CHUNKED", true},
    {"Transfer-Encoding", "transfer-encoding", true},
    {"chunked", "chunked ", false},
    {"a", "b", false},
    {"@", "`", false},  // 0x40 and 0x60 differ by the case bit but are not letters
    {"\xC4", "\xE4", false},
};

TEST(Text, AsciiIequals) {
  for (const auto& c : iequals_cases) {
    EXPECT_EQ(util::ascii_iequals(c.a, c.b), c.want) << c.a << " vs " << c.b;
    EXPECT_EQ(util::ascii_iequals(c.b, c.a), c.want) << c.b << " vs " << c.a;
  }
}

struct list_case {
  std::string_view in;
  std::vector<std::string> split_list;       // util::split_list
  std::vector<std::string_view> field_list;  // util::split_field_list
};

const list_case list_cases[] = {
    {"", {}, {}},
    {"a", {"a"}, {"a"}},
    {"a, ,b", {"a", "b"}, {"a", "b"}},
    {" keep-alive , Upgrade,,", {"keep-alive", "Upgrade"}, {"keep-alive", "Upgrade"}},
    {"\ta\t,\tb", {"a", "b"}, {"a", "b"}},
    {"a\n,b", {"a", "b"}, {"a\n", "b"}},
};

TEST(Text, Lists) {
  for (const auto& c : list_cases) {
    EXPECT_EQ(util::split_list(c.in), c.split_list) << c.in;
    EXPECT_EQ(util::split_field_list(c.in), c.field_list) << c.in;
  }
}

TEST(Text, Quoted) { EXPECT_EQ(util::quoted("a b"), "\"a b\""); }

}  // namespace
