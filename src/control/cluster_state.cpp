#include "mvproxy/control/cluster_state.hpp"

namespace mvproxy::control {

void peer_runtime::on_success() {
  std::lock_guard lock(mu_);
  health_.on_success();
  ejected_until_.store(health_.ejected_until().time_since_epoch().count(),
                       std::memory_order_relaxed);
}

void peer_runtime::on_failure(std::chrono::steady_clock::time_point now) {
  std::lock_guard lock(mu_);
  health_.on_failure(now);
  ejected_until_.store(health_.ejected_until().time_since_epoch().count(),
                       std::memory_order_relaxed);
}

int peer_runtime::consecutive_failures() const {
  std::lock_guard lock(mu_);
  return health_.consecutive_failures();
}

const peer_info* cluster_view::find_peer(std::string_view id) const {
  for (auto& p : peers)
    if (p.endpoint.id == id) return &p;
  return nullptr;
}

void cluster_view::refilter(peer_info& p) const {
  p.model = excluded ? discovery::without(p.raw_model, *excluded) : p.raw_model;
}

cluster_state::cluster_state(std::string own_id) {
  auto v = std::make_shared<cluster_view>();
  v->own_id = std::move(own_id);
  view_.store(std::move(v));
}

void cluster_state::update(const std::function<bool(cluster_view&)>& change) {
  {
    std::lock_guard lock(write_mu_);
    auto next = std::make_shared<cluster_view>(*view_.load(std::memory_order_acquire));
    if (change(*next)) ++next->generation;
    view_.store(std::move(next), std::memory_order_release);
  }
  std::vector<std::function<void()>> waiters;
  {
    std::lock_guard lock(waiters_mu_);
    waiters.swap(waiters_);
  }
  for (auto& wake : waiters) wake();
}

void cluster_state::on_next_change(std::function<void()> wake) {
  std::lock_guard lock(waiters_mu_);
  waiters_.push_back(std::move(wake));
}

std::shared_ptr<peer_runtime> cluster_state::runtime_for(const std::string& id) {
  std::lock_guard lock(runtimes_mu_);
  auto& r = runtimes_[id];
  if (!r) r = std::make_shared<peer_runtime>(id);
  return r;
}

}  // namespace mvproxy::control
