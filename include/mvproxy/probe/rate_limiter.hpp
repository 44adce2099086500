#pragma once
// The probe's overall request budget: a token bucket that hands out reservations
// (as Go's rate.Limiter.Reserve). Tokens may go negative, so callers that ask while
// the bucket is empty are given successive slots in the order they asked, and every
// sidecar's worker gets its turn. Pure arithmetic over the times it is given.

#include <chrono>

namespace mvproxy::probe {

class token_bucket {
 public:
  using clock = std::chrono::steady_clock;

  // `rate` tokens per second, at most `burst` saved up; starts full.
  token_bucket(double rate, double burst, clock::time_point now);

  // Takes one token; returns when the caller may send (`now` when one was there).
  clock::time_point reserve(clock::time_point now);

  double tokens(clock::time_point now) const;  // may be negative (slots handed out)

 private:
  double rate_;
  double burst_;
  double tokens_;
  clock::time_point last_;
};

}  // namespace mvproxy::probe
