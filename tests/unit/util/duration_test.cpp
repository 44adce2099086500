#include "mvproxy/util/duration.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace {

using namespace std::chrono;
using mvproxy::util::format_duration;
using mvproxy::util::parse_duration;
using mvproxy::util::parse_duration_ms;

struct good_case {
  std::string text;
  nanoseconds want;
};

// Values as Go's time.ParseDuration returns them.
const good_case good_cases[] = {
    {"0", 0ns},
    {"0s", 0ns},
    {"+0", 0ns},
    {"500ms", 500ms},
    {"10s", 10s},
    {"1m30s", 90s},
    {"1h", 1h},
    {"1.5s", 1500ms},
    {".5s", 500ms},
    {"1.s", 1s},
    {"15s", 15s},
    {"2h45m", 2h + 45min},
    {"1h2m3s4ms5us6ns", 1h + 2min + 3s + 4ms + 5us + 6ns},
    {"3us", 3us},
    {"3\xC2\xB5s", 3us},  // U+00B5 micro sign
    {"3\xCE\xBCs", 3us},  // U+03BC Greek mu
    {"100ns", 100ns},
    {"1.000000001s", 1s + 1ns},
    {"0.3333333333333333333h", 20min},  // Go rounds through a float64 here
    {"9223372036854775807ns", nanoseconds(9223372036854775807LL)},
    {"2562047h", 2562047h},
    {"1h1h", 2h},
};

TEST(Duration, ParsesGoSyntax) {
  for (const auto& c : good_cases) {
    EXPECT_EQ(parse_duration(c.text), c.want) << c.text;
  }
}

TEST(Duration, NegativeOnlyWhenAllowed) {
  EXPECT_EQ(parse_duration("-1.5s", true), -1500ms);
  EXPECT_EQ(parse_duration("-9223372036854775808ns", true), nanoseconds::min());
  EXPECT_THROW(parse_duration("-1s"), std::invalid_argument);
  EXPECT_THROW(parse_duration("-0"), std::invalid_argument);
}

TEST(Duration, MillisecondsTruncate) {
  EXPECT_EQ(parse_duration_ms("10s"), 10'000ms);
  EXPECT_EQ(parse_duration_ms("1500us"), 1ms);
  EXPECT_EQ(parse_duration_ms("999us"), 0ms);
}

struct bad_case {
  std::string text;
  std::string why;
};

const bad_case bad_cases[] = {
    {"", "empty duration"},
    {"10", "missing unit in duration"},
    {"1.5", "missing unit in duration"},
    {"1m30", "missing unit in duration"},
    {"10sec", "unknown unit \"sec\" in duration"},
    {"10S", "unknown unit \"S\" in duration"},
    {"1d", "unknown unit \"d\" in duration"},
    {"s", "invalid duration"},
    {".s", "invalid duration"},
    {"-", "negative duration"},
    {"+", "invalid duration"},
    {" 1s", "invalid duration"},
    {"1s ", "unknown unit \"s \" in duration"},
    {"1e3s", "unknown unit \"e\" in duration"},
    {"9223372036854775808ns", "duration out of range"},
    {"2562048h", "duration out of range"},
    {"99999999999999999999s", "duration out of range"},
    {"2562047h2562047h", "duration out of range"},
    {"1..5s", "missing unit in duration"},
};

TEST(Duration, RefusesBadInput) {
  for (const auto& c : bad_cases) {
    try {
      parse_duration(c.text);
      ADD_FAILURE() << "accepted: \"" << c.text << "\"";
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(e.what(), c.why) << c.text;
    }
  }
}

struct format_case {
  nanoseconds d;
  std::string want;
};

// Expected strings are Go's Duration.String() output.
const format_case format_cases[] = {
    {0ns, "0s"},
    {1ns, "1ns"},
    {1100ns, "1.1\xC2\xB5s"},
    {2200us, "2.2ms"},
    {500ms, "500ms"},
    {1500ms, "1.5s"},
    {10s, "10s"},
    {90s, "1m30s"},
    {1h, "1h0m0s"},
    {4h + 5min + 6s + 7ms, "4h5m6.007s"},
    {-2s, "-2s"},
    {-1ns, "-1ns"},
    {nanoseconds::min(), "-2562047h47m16.854775808s"},
    {nanoseconds::max(), "2562047h47m16.854775807s"},
};

TEST(Duration, FormatsLikeGo) {
  for (const auto& c : format_cases) {
    EXPECT_EQ(format_duration(c.d), c.want) << c.d.count();
  }
}

TEST(Duration, FormatThenParseRoundTrips) {
  for (const auto& c : format_cases) {
    EXPECT_EQ(parse_duration(format_duration(c.d), true), c.d) << c.want;
  }
}

}  // namespace
