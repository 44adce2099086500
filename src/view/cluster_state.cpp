#include "mvproxy/view/cluster_state.hpp"

namespace mvproxy::view {

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

}  // namespace mvproxy::view
