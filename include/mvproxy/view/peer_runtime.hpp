#pragma once
// One peer's health as the data plane sees it: failures eject it for a while, and the
// requests in flight to it are counted. The one part of the cluster view the data plane
// writes, so it lives outside the immutable snapshots: one long-lived object per peer
// id, shared by successive views (view::cluster_state::runtime_for).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "mvproxy/membership/peer_health.hpp"

namespace mvproxy::view {

class peer_runtime {
 public:
  explicit peer_runtime(std::string id, membership::ejection_policy p = {})
      : id_(std::move(id)), health_(p) {}
  const std::string& id() const { return id_; }
  bool healthy(std::chrono::steady_clock::time_point now) const {
    return now.time_since_epoch().count() >= ejected_until_.load(std::memory_order_relaxed);
  }
  void on_success();
  void on_failure(std::chrono::steady_clock::time_point now, bool at_once = false);
  std::atomic<int>& in_flight() { return in_flight_; }
  int in_flight_count() const { return in_flight_.load(std::memory_order_relaxed); }
  int consecutive_failures() const;

 private:
  std::string id_;
  mutable std::mutex mu_;
  membership::peer_health health_;
  std::atomic<std::int64_t> ejected_until_{0};  // steady_clock ticks; mirror of health_
  std::atomic<int> in_flight_{0};
};

}  // namespace mvproxy::view
