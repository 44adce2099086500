#include "mvproxy/view/peer_runtime.hpp"

namespace mvproxy::view {

void peer_runtime::on_success() {
  std::lock_guard lock(mu_);
  health_.on_success();
  ejected_until_.store(health_.ejected_until().time_since_epoch().count(),
                       std::memory_order_relaxed);
}

void peer_runtime::on_failure(std::chrono::steady_clock::time_point now, bool at_once) {
  std::lock_guard lock(mu_);
  health_.on_failure(now, at_once);
  ejected_until_.store(health_.ejected_until().time_since_epoch().count(),
                       std::memory_order_relaxed);
}

int peer_runtime::consecutive_failures() const {
  std::lock_guard lock(mu_);
  return health_.consecutive_failures();
}

}  // namespace mvproxy::view
