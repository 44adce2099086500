#pragma once
// control_plane's insides, shared by its source files: control_plane.cpp (set-up,
// discovery syncs, start/stop), leases.cpp (Lease membership), local_monitor.cpp (the
// local apiserver's state) and peer_links.cpp (each peer's discovery and pushed state).
// Private to src/control.

// GCC 12 reports a false -Wmismatched-new-delete on Asio's coroutine frames (sized
// operator delete of awaitable_frame_base) when it inlines deeply, as here at -O2.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <spdlog/spdlog.h>
#include <unistd.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include "mvproxy/control/control_plane.hpp"
#include "mvproxy/control/discovery_syncer.hpp"
#include "mvproxy/control/https_client.hpp"
#include "mvproxy/control/kubeconfig.hpp"
#include "mvproxy/membership/lease.hpp"
#include "mvproxy/metrics/registry.hpp"
#include "mvproxy/util/host_port.hpp"

#include "mvproxy/control/control_plane.hpp"
#include "mvproxy/view/peer_state.hpp"

namespace mvproxy::control {

namespace asio = boost::asio;
// The view module's types, which the control plane writes.
using view::cluster_state;
using view::cluster_view;
using view::peer_info;
using view::peer_state;
using view::parse_peer_state;
using view::peer_state_path;
using view::state_target;
using view::sync_status;
using view::to_string;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using sys_clock = std::chrono::system_clock;

inline std::string url_host(const std::string& url, std::uint16_t& port) {
  // https://host:port[/...]
  std::string rest = url.substr(url.find("://") + 3);
  rest = rest.substr(0, rest.find('/'));
  if (rest.find(':') == std::string::npos || (rest.front() == '[' && rest.back() == ']')) {
    port = 443;
    if (rest.front() == '[') return rest.substr(1, rest.size() - 2);
    return rest;
  }
  auto hp = util::parse_host_port(rest);
  port = hp.port;
  return hp.host;
}

inline std::string lease_path(const std::string& ns, const std::string& name = {}) {
  std::string p = "/apis/coordination.k8s.io/v1/namespaces/" + ns + "/leases";
  if (!name.empty()) p += "/" + name;
  return p;
}

inline const char* const lease_selector = "labelSelector=app.kubernetes.io%2Fname%3Dmvproxy";

// One line for a log: Boost's system_error text carries a source location we do not want.
inline std::string describe(const std::exception& e) {
  if (auto* se = dynamic_cast<const boost::system::system_error*>(&e)) return se->code().message();
  return e.what();
}

struct control_plane::impl {
  impl(const config::config& c, cluster_state& s, metrics::registry* r,
       metrics::counter_family* errors, bool with_peers, std::atomic<bool>& rd)
      : cfg(c),
        state(s),
        ready(rd),
        peers_enabled(with_peers),
        local_wake(ioc),
        lease_wake(ioc),
        sync_errors(errors) {
    if (r) register_metrics(*r);
  }

  const config::config& cfg;
  cluster_state& state;
  std::atomic<bool>& ready;
  bool peers_enabled;
  std::function<void()> on_ready;
  asio::io_context ioc;
  asio::steady_timer local_wake, lease_wake;
  std::unique_ptr<https_client> api;            // the local apiserver, as mvproxy itself: Leases
  std::unique_ptr<https_client> discovery_api;  // the same, for the local discovery loop
  std::unique_ptr<discovery_syncer> local_syncer;

  // This run of the sidecar (the Lease holder identity; made the same way in static
  // mode), so peers can tell a restart from a revision they have seen.
  std::string instance;

  struct peer_conn {
    explicit peer_conn(asio::io_context& ioc) : wake(ioc) {}
    membership::peer_endpoint endpoint;
    std::unique_ptr<https_client> client;        // its discovery, read through it
    std::unique_ptr<https_client> state_client;  // the long-poll of the state it pushes
    std::unique_ptr<discovery_syncer> syncer;
    asio::steady_timer wake;           // its discovery loop's; cancelled to sync now
    bool stopped = false;              // it left, or restarted under a new holder
    std::optional<peer_state> pushed;  // pushed, not yet applied: goes with the next read
  };
  std::map<std::string, std::shared_ptr<peer_conn>> peer_conns;
  std::vector<membership::peer_endpoint> members;
  membership::own_lease own;
  bool own_lease_written = false;
  std::atomic<bool> stopping{false};

  metrics::counter_family* sync_errors = nullptr;  // apiserver_peer_discovery_sync_errors_total
  metrics::counter_family* syncs = nullptr;        // mvproxy_discovery_syncs_total
  metrics::counter_family* sync_failures = nullptr;  // mvproxy_discovery_sync_errors_total
  metrics::counter_family* lease_ops = nullptr;    // mvproxy_lease_operations_total
  metrics::counter_family* local_transitions =
      nullptr;                                // mvproxy_local_apiserver_transitions_total
  metrics::counter_family* pushes = nullptr;  // mvproxy_peer_state_changes_total

  void register_metrics(metrics::registry& r);

  void count(metrics::counter_family* f, std::initializer_list<std::string_view> labels) {
    if (f) f->with(labels).inc();
  }

  // ---- clients ----
  void make_local_client();

  std::shared_ptr<peer_conn> make_peer_conn(const membership::peer_endpoint& ep);

  static asio::awaitable<void> wait(asio::steady_timer& t, std::chrono::milliseconds d) {
    t.expires_after(d);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }

  // ---- discovery ----
  // Where one server's sync result goes in a view: its status and its model; null
  // when the server is no longer in the view (a peer that left meanwhile).
  using slot = std::pair<sync_status*, discovery::server_model_ptr*>;

  // How a sync ended: read, the server could not be reached (refused, reset, TLS,
  // timeout), or it answered but not with usable discovery.
  enum class sync_outcome { ok, unreachable, failed };
  // Applied in the same update as a sync's result: its outcome and whether the model
  // changed.
  using with_result = std::function<void(cluster_view&, sync_outcome, bool changed)>;

  // One sync of one server, recorded in the view, the metrics and the log. `server`
  // is the metric label ("local" or the peer id), `who` the log's name for it, `side`
  // "local" or "peer": only a peer's failed read counts in
  // apiserver_peer_discovery_sync_errors_total (fetch_discovery), as upstream's does.
  asio::awaitable<sync_outcome> sync_one(discovery_syncer& syncer, const std::string& server,
                                         const std::string& who, const char* side,
                                         const std::function<slot(cluster_view&)>& at,
                                         const with_result& also = {});

  void spawn(asio::awaitable<void> task);

  // ---- the local apiserver (local_monitor.cpp) ----
  // Reads the local discovery, then watches the connection it used until the next
  // read: the apiserver closing it means it went away. Publishes local_state.
  asio::awaitable<void> local_sync_loop();
  // Probe the local apiserver now (a request saw it fail, or waits for it).
  void kick_local();
  void set_local_state(cluster_view& v, routing::apiserver_state s);
  static routing::apiserver_state state_after(sync_outcome o);
  bool probe_requested = false;
  steady::time_point last_kick{};

  // ---- group-versions never routed to a peer (exclusions.cpp) ----
  asio::awaitable<void> exclusion_loop();
  asio::awaitable<discovery::gv_set> list_gvs(https_client& client, const char* path);
  void publish_excluded(const discovery::gv_set& excluded);

  // ---- peers (peer_links.cpp) ----
  void publish_members(std::vector<membership::peer_endpoint> next);
  // Per peer: its discovery, read every --discovery-sync-interval and at once when it
  // pushes a change; and the long-poll of the state it pushes.
  asio::awaitable<void> peer_loop(std::shared_ptr<peer_conn> c);
  asio::awaitable<void> peer_state_loop(std::shared_ptr<peer_conn> c);
  void apply_pushed(cluster_view& v, const std::string& id, const peer_state& pushed);

  // ---- Leases ----
  asio::awaitable<void> write_own_lease();

  // Lists the mvproxy Leases; returns the list's resourceVersion (for the watch).
  asio::awaitable<std::string> list_leases();

  sys_clock::time_point next_lease_check{};
  std::string lease_list_rv;
  // Peer Leases without a usable address at the last list: warned about once each.
  std::set<std::string> unusable_leases;
  void note_unusable_leases(const std::vector<std::string>& names);

  asio::awaitable<void> lease_loop();

  // A watch on the mvproxy Leases, so a peer that appears or leaves is noticed at once
  // rather than at the next renew tick. Any event re-lists (simple and always right).
  asio::awaitable<void> lease_watch_loop();

  asio::awaitable<void> delete_own_lease();

  void start();
};

}  // namespace mvproxy::control
