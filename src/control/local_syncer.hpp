#pragma once
// The local syncer: reads the local apiserver's discovery and keeps the local view's
// state (up, unconfirmed, down) true between reads (docs/architecture.md, "Who learns
// what"). Runs on the control thread. Private to src/control.

#include <atomic>
#include <functional>
#include <memory>

#include "control_context.hpp"
#include "mvproxy/control/discovery_syncer.hpp"
#include "mvproxy/control/https_client.hpp"
#include "sync_recorder.hpp"

namespace mvproxy::control {

class local_syncer {
 public:
  // `ready` is set, and `on_ready` called once, when the first read succeeded.
  local_syncer(control_context& ctx, sync_recorder& recorder, std::atomic<bool>& ready)
      : ctx_(ctx), recorder_(recorder), ready_(ready), wake_(ctx.ioc()) {}

  void on_ready(std::function<void()> f) { on_ready_ = std::move(f); }
  // Called (on the control thread) when the local apiserver is up again.
  void on_up(std::function<void()> f) { on_up_ = std::move(f); }

  // Starts the read-and-watch loop with a client of its own (a client serves one
  // request at a time).
  void start(const https_client::options& local);
  // Probe the local apiserver now (a request saw it fail, or waits for it).
  void kick();

 private:
  // Reads the local discovery, then watches the connection it used until the next
  // read: the apiserver closing it means it went away. Publishes local_state.
  asio::awaitable<void> run();
  void set_state(view::cluster_view& v, routing::apiserver_state s);
  static routing::apiserver_state state_after(sync_outcome o);

  control_context& ctx_;
  sync_recorder& recorder_;
  std::atomic<bool>& ready_;
  std::function<void()> on_ready_;
  std::function<void()> on_up_;
  std::unique_ptr<https_client> client_;
  std::unique_ptr<discovery_syncer> syncer_;
  asio::steady_timer wake_;
  bool probe_requested_ = false;
  steady::time_point last_kick_{};
};

}  // namespace mvproxy::control
