#pragma once
// The sidecar's control plane, on a thread of its own: keeps the local apiserver's
// discovery in sync (the local syncer), keeps peer membership (static list, or the
// Lease keeper), keeps each peer's discovery in sync (the peer syncer), and publishes
// all of it through `view::cluster_state`. The data plane only reads the published
// views.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "mvproxy/config/config.hpp"
#include "mvproxy/view/cluster_state.hpp"

namespace mvproxy::metrics {
class registry;
template <class T>
class family;
class counter;
}  // namespace mvproxy::metrics

namespace mvproxy::control {

class control_plane {
 public:
  // `registry` may be null (no metrics): the control plane registers its own mvproxy_*
  // series there. `sync_errors` (apiserver_peer_discovery_sync_errors_total{type}) is
  // registered by the app with the other upstream-named series; may be null.
  // `peers`: keep peer membership and peer discovery (off when nothing is proxied to
  // peers: the gate is off or no --peer-ca-file).
  control_plane(const config::config& cfg, view::cluster_state& state, metrics::registry* registry,
                metrics::family<metrics::counter>* sync_errors = nullptr, bool peers = true);
  ~control_plane();
  control_plane(const control_plane&) = delete;
  control_plane& operator=(const control_plane&) = delete;

  // Called once, on the control thread, when the first local discovery sync finished.
  void on_ready(std::function<void()> f);
  void start();
  // Graceful: deletes the own Lease (lease mode, bounded by `deadline`), then stops.
  void stop(std::chrono::milliseconds deadline = std::chrono::seconds(5));

  // True once the first local discovery sync has finished.
  bool ready() const { return ready_.load(std::memory_order_acquire); }
  // Wakes the sync loops now (tests, SIGHUP).
  void sync_now();
  // The data plane saw the local apiserver fail (refused, reset, a pooled connection
  // it closed) or has a request waiting for it: probe it now. Any thread; cheap.
  void local_trouble();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::atomic<bool> ready_{false};
  std::thread thread_;
};

}  // namespace mvproxy::control
