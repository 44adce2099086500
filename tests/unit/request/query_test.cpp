// Reading a raw query as Go's url.ParseQuery does.

#include "mvproxy/request/query.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>

namespace mvproxy::request {
namespace {

TEST(Query, FirstValue) {
  struct {
    const char* query;
    const char* key;
    bool found;
    const char* raw_value;
  } cases[] = {
      {"a=1&b=2", "b", true, "2"},    {"a=1&a=2", "a", true, "1"},
      {"a", "a", true, ""},           {"a=", "a", true, ""},
      {"a=x=y", "a", true, "x=y"},    {"%61=1", "a", true, "1"},
      {"a+b=1", "a b", true, "1"},    {"a%20b=1", "a b", true, "1"},
      {"a=%zz&a=2", "a", true, "2"},                                  // a bad escape drops the pair
      {"a%zz=1&a=2", "a", true, "2"}, {"a=1;b&a=2", "a", true, "2"},  // so does ';'
      {"&&a=3", "a", true, "3"},      {"A=1", "a", false, ""},        // keys are case-sensitive
      {"", "a", false, ""},           {"b=1", "a", false, ""},
      {"a%=1", "a", false, ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.query);
    auto v = first_query_value(c.query, c.key);
    ASSERT_EQ(v.has_value(), c.found);
    if (c.found) {
      EXPECT_EQ(*v, c.raw_value);
    }
  }
}

TEST(Query, SeveralKeysInOnePass) {
  const std::array<std::string_view, 3> keys{"watch", "limit", "fieldSelector"};
  std::array<std::optional<std::string_view>, 3> values;
  first_query_values("limit=500&watch=1&limit=7&x=y", keys, values);
  EXPECT_EQ(values[0], "1");
  EXPECT_EQ(values[1], "500");
  EXPECT_FALSE(values[2].has_value());
}

TEST(Query, Decoding) {
  EXPECT_TRUE(valid_escapes("a%20b%2Fc"));
  EXPECT_FALSE(valid_escapes("%"));
  EXPECT_FALSE(valid_escapes("%2"));
  EXPECT_FALSE(valid_escapes("a%g0"));
  EXPECT_TRUE(query_decoded_equals("f%61lse", "false"));
  EXPECT_TRUE(query_decoded_equals("FALSE", "false", true));
  EXPECT_FALSE(query_decoded_equals("FALSE", "false"));
  EXPECT_FALSE(query_decoded_equals("fals", "false"));
  EXPECT_FALSE(query_decoded_equals("falsey", "false"));
  EXPECT_TRUE(query_decoded_equals("a+b", "a b"));
  std::string raw = "metadata.name%3Dx+y%2C";
  std::string out(raw.size(), '\0');
  out.resize(query_decode(raw, out.data()));
  EXPECT_EQ(out, "metadata.name=x y,");
}

}  // namespace
}  // namespace mvproxy::request
