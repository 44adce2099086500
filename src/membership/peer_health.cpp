#include "mvproxy/membership/peer_health.hpp"

#include <algorithm>

namespace mvproxy::membership {

void peer_health::on_success() {
  failures_ = 0;
  ejections_ = 0;
  probing_ = false;
}

void peer_health::on_failure(time_point now, bool at_once) {
  if (!healthy(now)) return;  // already ejected: failures of in-flight requests add nothing
  ++failures_;
  // A peer just let back in is on probation: one failure ejects it again.
  if (failures_ < policy_.consecutive_failures && !probing_ && !at_once) return;
  auto period = policy_.base_ejection * (1LL << std::min(ejections_, 20));
  ejected_until_ = now + std::min<std::chrono::milliseconds>(period, policy_.max_ejection);
  ++ejections_;
  failures_ = 0;
  probing_ = true;
}

}  // namespace mvproxy::membership
