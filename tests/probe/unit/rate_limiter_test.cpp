#include "mvproxy/probe/rate_limiter.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace {

using namespace std::chrono_literals;
using mvproxy::probe::token_bucket;
using clock_type = token_bucket::clock;

const clock_type::time_point t0{};

// Each case: rate, burst, the times callers ask (ms after t0), the times they may go.
struct bucket_case {
  const char* name;
  double rate;
  double burst;
  std::vector<int> ask_ms;
  std::vector<int> go_ms;
};

class TokenBucket : public ::testing::TestWithParam<bucket_case> {};

TEST_P(TokenBucket, Reservations) {
  const auto& c = GetParam();
  token_bucket b(c.rate, c.burst, t0);
  ASSERT_EQ(c.ask_ms.size(), c.go_ms.size());
  for (std::size_t i = 0; i < c.ask_ms.size(); ++i) {
    auto go = b.reserve(t0 + std::chrono::milliseconds(c.ask_ms[i]));
    EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(go - t0).count(), c.go_ms[i])
        << c.name << " request " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, TokenBucket,
    ::testing::Values(
        // Starts full: the first goes at once, then one slot per 1/rate.
        bucket_case{"queue at 10/s", 10, 1, {0, 0, 0, 0}, {0, 100, 200, 300}},
        // Asking late is not penalised; asking early waits for the next slot.
        bucket_case{"spaced callers", 10, 1, {0, 150, 200, 210}, {0, 150, 250, 350}},
        // A burst is spent at once, then the rate applies.
        bucket_case{"burst 3", 4, 3, {0, 0, 0, 0, 0}, {0, 0, 0, 250, 500}},
        // Saved tokens never exceed the burst, however long the pause.
        bucket_case{"idle refill capped",
                    2,
                    2,
                    {0, 0, 10'000, 10'000, 10'000},
                    {0, 0, 10'000, 10'000, 10'500}},
        // Fractional rates.
        bucket_case{"0.5/s", 0.5, 1, {0, 0, 1000}, {0, 2000, 4000}},
        // A clock read older than the last reservation counts as that reservation's time.
        bucket_case{"clock behind", 10, 1, {100, 50}, {100, 200}},
        // Burst below one still lets a single request through.
        bucket_case{"burst floor", 10, 0, {0, 0}, {0, 100}}),
    [](const ::testing::TestParamInfo<bucket_case>& i) { return std::to_string(i.index); });

TEST(TokenBucketTokens, GoNegativeWhileSlotsAreHandedOut) {
  token_bucket b(10, 1, t0);
  EXPECT_DOUBLE_EQ(b.tokens(t0), 1);
  b.reserve(t0);
  b.reserve(t0);
  b.reserve(t0);
  EXPECT_DOUBLE_EQ(b.tokens(t0), -2);
  EXPECT_NEAR(b.tokens(t0 + 300ms), 1, 1e-9);
  EXPECT_NEAR(b.tokens(t0 + 5s), 1, 1e-9);
}

}  // namespace
