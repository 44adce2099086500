#include "mvproxy/probe/rate_limiter.hpp"

#include <algorithm>

namespace mvproxy::probe {

token_bucket::token_bucket(double rate, double burst, clock::time_point now)
    : rate_(rate), burst_(std::max(1.0, burst)), tokens_(burst_), last_(now) {}

double token_bucket::tokens(clock::time_point now) const {
  // A caller's clock read may be a hair older than the last reservation's.
  now = std::max(now, last_);
  double refill = std::chrono::duration<double>(now - last_).count() * rate_;
  return std::min(burst_, tokens_ + refill);
}

token_bucket::clock::time_point token_bucket::reserve(clock::time_point now) {
  now = std::max(now, last_);
  tokens_ = tokens(now) - 1;
  last_ = now;
  if (tokens_ >= 0) return now;
  auto wait = std::chrono::duration<double>(-tokens_ / rate_);
  return now + std::chrono::round<clock::duration>(wait);  // not truncated: 0.1 s is 0.0999…
}

}  // namespace mvproxy::probe
