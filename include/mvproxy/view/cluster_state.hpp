#pragma once
// The publisher of the cluster view: the control plane publishes a new immutable
// `cluster_view` (copy, change, swap); the data plane reads the current one with one
// atomic load per request and never sees a half-made update.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mvproxy/view/cluster_view.hpp"
#include "mvproxy/view/peer_runtime.hpp"

namespace mvproxy::view {

class cluster_state {
 public:
  explicit cluster_state(std::string own_id);
  std::shared_ptr<const cluster_view> current() const {
    return view_.load(std::memory_order_acquire);
  }
  // Copies the current view, lets `change` edit the copy, publishes it. Serialized.
  // `change` returns true when models or membership changed (bumps generation).
  void update(const std::function<bool(cluster_view&)>& change);
  // The runtime for a peer id, created on first use and kept across restarts of that
  // peer's Lease so ejection history survives re-publication.
  std::shared_ptr<peer_runtime> runtime_for(const std::string& id);

  // A request that waits for the view to change: `wake` is called once, on no
  // particular thread, right after the next view is published (it should post to the
  // waiter's own executor). Register first, then check the view, then wait: no change
  // is missed.
  void on_next_change(std::function<void()> wake);

 private:
  std::atomic<std::shared_ptr<const cluster_view>> view_;
  std::mutex write_mu_;
  std::mutex runtimes_mu_;  // apart from write_mu_: update() callbacks call runtime_for
  std::map<std::string, std::shared_ptr<peer_runtime>> runtimes_;
  std::mutex waiters_mu_;
  std::vector<std::function<void()>> waiters_;
};

}  // namespace mvproxy::view
