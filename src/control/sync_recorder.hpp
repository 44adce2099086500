#pragma once
// One discovery sync of one server, recorded where everyone looks: its status and model
// in the published view, the sync counters, and the log (once per outage at warning
// level). Shared by the local syncer and the peer syncer, so both servers' syncs are
// counted and logged the same way. Private to src/control.

#include <functional>
#include <string>
#include <utility>

#include "control_context.hpp"
#include "mvproxy/control/discovery_syncer.hpp"

namespace mvproxy::control {

// How a sync ended: read, the server could not be reached (refused, reset, TLS,
// timeout), or it answered but not with usable discovery.
enum class sync_outcome { ok, unreachable, failed };

class sync_recorder {
 public:
  // Where one server's sync result goes in a view: its status and its model; null
  // when the server is no longer in the view (a peer that left meanwhile).
  using slot = std::pair<view::sync_status*, discovery::server_model_ptr*>;
  using locate = std::function<slot(view::cluster_view&)>;
  // Applied in the same update as a sync's result: its outcome and whether the model
  // changed.
  using with_result = std::function<void(view::cluster_view&, sync_outcome, bool changed)>;

  explicit sync_recorder(control_context& ctx) : ctx_(ctx) {}

  // One sync of one server. `server` is the metric label ("local" or the peer id),
  // `who` the log's name for it; `peer`: only a peer's failed read counts in
  // apiserver_peer_discovery_sync_errors_total (fetch_discovery), as upstream's does.
  asio::awaitable<sync_outcome> sync(discovery_syncer& syncer, const std::string& server,
                                     const std::string& who, bool peer, const locate& at,
                                     const with_result& also = {});

 private:
  // The view's part of a successful read; returns whether the failure streak ended.
  bool record_success(discovery_result& r, sys_clock::time_point attempt, const locate& at,
                      const with_result& also);
  void record_failure(const std::string& server, const std::string& who, bool peer,
                      sync_outcome outcome, const std::string& what, sys_clock::time_point attempt,
                      const locate& at, const with_result& also);

  control_context& ctx_;
};

}  // namespace mvproxy::control
