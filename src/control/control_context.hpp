#pragma once
// What the control plane's parts share (local_syncer, peer_syncer, lease_keeper and the
// control_plane that owns them): the control thread's io_context, the configuration,
// the counters, and the one way to change the cluster view — publish() — so that the
// data plane only ever sees whole immutable snapshots. Private to src/control.

// GCC 12 reports a false -Wmismatched-new-delete on Asio's coroutine frames (sized
// operator delete of awaitable_frame_base) when it inlines deeply, as here at -O2.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <spdlog/spdlog.h>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <chrono>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "mvproxy/config/config.hpp"
#include "mvproxy/metrics/registry.hpp"
#include "mvproxy/view/cluster_state.hpp"

namespace mvproxy::control {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using sys_clock = std::chrono::system_clock;

// One line for a log: Boost's system_error text carries a source location we do not want.
inline std::string describe(const std::exception& e) {
  if (auto* se = dynamic_cast<const boost::system::system_error*>(&e)) return se->code().message();
  return e.what();
}

// Sleeps on `t` for `d`; ends early when someone cancels `t` (a wake-up).
inline asio::awaitable<void> wait(asio::steady_timer& t, std::chrono::milliseconds d) {
  t.expires_after(d);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

// The control plane's counters; each may be null (no registry).
struct control_metrics {
  metrics::counter_family* sync_errors = nullptr;    // apiserver_peer_discovery_sync_errors_total
  metrics::counter_family* syncs = nullptr;          // mvproxy_discovery_syncs_total
  metrics::counter_family* sync_failures = nullptr;  // mvproxy_discovery_sync_errors_total
  metrics::counter_family* lease_ops = nullptr;      // mvproxy_lease_operations_total
  // mvproxy_local_apiserver_transitions_total
  metrics::counter_family* local_transitions = nullptr;
  metrics::counter_family* pushes = nullptr;  // mvproxy_peer_state_changes_total

  static void count(metrics::counter_family* f, std::initializer_list<std::string_view> labels) {
    if (f) f->with(labels).inc();
  }
};

class control_context {
 public:
  control_context(const config::config& cfg, view::cluster_state& state)
      : cfg_(cfg), state_(state) {}
  control_context(const control_context&) = delete;
  control_context& operator=(const control_context&) = delete;

  const config::config& cfg() const { return cfg_; }
  asio::io_context& ioc() { return ioc_; }
  control_metrics& metrics() { return metrics_; }
  bool stopping() const { return stopping_.load(); }
  void stop() { stopping_ = true; }

  // Copies the current view, lets `change` edit the copy, swaps it in (see
  // view::cluster_state::update). The only way the parts change the view.
  void publish(const std::function<bool(view::cluster_view&)>& change) { state_.update(change); }
  std::shared_ptr<const view::cluster_view> current() const { return state_.current(); }
  // A peer's health object, which outlives the views that point at it.
  std::shared_ptr<view::peer_runtime> runtime_for(const std::string& id) {
    return state_.runtime_for(id);
  }

  // Runs `task` on the control thread; an exception ends it with one log line.
  void spawn(asio::awaitable<void> task) {
    asio::co_spawn(ioc_, std::move(task), [](const std::exception_ptr& e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("control: task ended: {}", describe(ex));
      }
    });
  }

 private:
  const config::config& cfg_;
  view::cluster_state& state_;
  asio::io_context ioc_;
  control_metrics metrics_;
  std::atomic<bool> stopping_{false};
};

}  // namespace mvproxy::control
