// The control plane: owns its thread, its io_context and three parts with one job each
// — the local syncer (local discovery and the local apiserver's state), the peer syncer
// (peers' discovery and pushed state) and the Lease keeper (own Lease, peers' Leases) —
// and publishes what they learn as immutable cluster views (control_context::publish).

#include "mvproxy/control/control_plane.hpp"

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <future>
#include <optional>
#include <random>

#include "control_context.hpp"
#include "lease_keeper.hpp"
#include "local_syncer.hpp"
#include "mvproxy/control/kubeconfig.hpp"
#include "mvproxy/membership/lease.hpp"
#include "mvproxy/util/host_port.hpp"
#include "mvproxy/util/https_url.hpp"
#include "mvproxy/util/thread_name.hpp"
#include "mvproxy/view/peer_state.hpp"
#include "peer_syncer.hpp"
#include "sync_recorder.hpp"

namespace mvproxy::control {

namespace {

// How to reach the local apiserver as mvproxy itself (Leases, discovery, exclusions).
https_client::options local_client_options(const config::config& cfg) {
  https_client::options o;
  auto upstream = util::parse_https_url(cfg.upstream);  // validated already
  o.host = upstream.host;
  o.port = upstream.port;
  o.timeout = 10s;
  tls_client_files files;
  files.ca_file = cfg.upstream_ca_file;
  files.cert_file = cfg.proxy_client_cert_file;
  files.key_file = cfg.proxy_client_key_file;
  std::optional<kubeconfig_credentials> kc;
  if (!cfg.kubeconfig.empty()) kc = load_kubeconfig(cfg.kubeconfig);
  if (kc) {
    if (!kc->ca_file.empty() || !kc->ca_pem.empty()) {
      files.ca_file = kc->ca_file;
      files.ca_pem = kc->ca_pem;
    }
    files.cert_file = kc->cert_file;
    files.key_file = kc->key_file;
    files.cert_pem = kc->cert_pem;
    files.key_pem = kc->key_pem;
    if (!kc->token.empty()) o.default_headers.emplace_back("Authorization", "Bearer " + kc->token);
  } else {
    // Without a kubeconfig mvproxy is "system:mvproxy", asserted with the proxy
    // client certificate through the apiserver's requestheader authenticator.
    o.default_headers.emplace_back("X-Remote-User", "system:mvproxy");
    o.default_headers.emplace_back("X-Remote-Group", "system:authenticated");
  }
  o.tls = [files] { return make_client_tls_context(files); };
  return o;
}

}  // namespace

struct control_plane::impl {
  impl(const config::config& cfg, view::cluster_state& state, metrics::counter_family* errors,
       bool with_peers, std::atomic<bool>& ready)
      : ctx(cfg, state),
        peers_enabled(with_peers),
        recorder(ctx),
        local(ctx, recorder, ready),
        peers(ctx, recorder),
        leases(ctx, [this](std::vector<membership::peer_endpoint> next) {
          peers.publish_members(std::move(next));
        }) {
    ctx.metrics().sync_errors = errors;
    // The local apiserver is back: renew the own Lease now, so peers that let it lapse
    // see this sidecar again.
    local.on_up([this] { leases.wake(); });
  }

  control_context ctx;
  bool peers_enabled;
  sync_recorder recorder;
  local_syncer local;
  peer_syncer peers;
  lease_keeper leases;

  // In the order /metrics has always listed them.
  void register_metrics(metrics::registry& r);
  void register_counters(metrics::registry& r);
  void register_state_gauge(metrics::registry& r);
  void register_sync_gauges(metrics::registry& r);
  void start();
};

void control_plane::impl::register_counters(metrics::registry& r) {
  auto& m = ctx.metrics();
  m.syncs = &r.add_counter("mvproxy_discovery_syncs_total",
                           "Discovery syncs by server and result (changed, unchanged, error).",
                           {"server", "result"});
  m.sync_failures = &r.add_counter(
      "mvproxy_discovery_sync_errors_total",
      "Failed discovery syncs by server (local or a peer id) and type: unreachable (refused, "
      "reset, TLS, timeout) or failed (answered, but not with usable discovery).",
      {"server", "type"});
  m.local_transitions = &r.add_counter(
      "mvproxy_local_apiserver_transitions_total",
      "Changes of the local apiserver's state as this sidecar's monitor sees it, by new state "
      "(up, unconfirmed, down).",
      {"state"});
  m.pushes = &r.add_counter("mvproxy_peer_state_changes_total",
                            "State changes peers pushed to this sidecar, by peer and its "
                            "apiserver's new state.",
                            {"server", "state"});
}

void control_plane::impl::register_state_gauge(metrics::registry& r) {
  r.add_gauge_callback(
      "mvproxy_apiserver_state",
      "1 for the state each apiserver is in as this sidecar knows it (server: local or the "
      "peer id; state: up, unconfirmed, down, unknown).",
      {"server", "state"}, [this] {
        std::vector<metrics::sample> out;
        auto v = ctx.current();
        auto add = [&](const std::string& server, routing::apiserver_state now) {
          for (auto st : {routing::apiserver_state::up, routing::apiserver_state::unconfirmed,
                          routing::apiserver_state::down, routing::apiserver_state::unknown})
            out.push_back({{server, std::string(view::to_string(st))}, st == now ? 1.0 : 0.0});
        };
        add("local", v->local_state);
        for (auto& p : v->peers) add(p.endpoint.id, p.apiserver);
        return out;
      });
}

void control_plane::impl::register_sync_gauges(metrics::registry& r) {
  r.add_gauge_callback(
      "mvproxy_discovery_last_sync_age_seconds",
      "Seconds since the last successful discovery sync of each server (local or peer id).",
      {"server"}, [this] {
        std::vector<metrics::sample> out;
        auto v = ctx.current();
        auto now = sys_clock::now();
        auto age = [&](const view::sync_status& s) {
          return s.syncs == 0 ? -1.0 : std::chrono::duration<double>(now - s.last_success).count();
        };
        out.push_back({{"local"}, age(v->local_sync)});
        for (auto& p : v->peers) out.push_back({{p.endpoint.id}, age(p.sync)});
        return out;
      });
  r.add_gauge_callback(
      "mvproxy_peers", "Peers by state (healthy, ejected, unsynced).", {"state"}, [this] {
        auto v = ctx.current();
        double healthy = 0, ejected = 0, unsynced = 0;
        auto now = steady::now();
        for (auto& p : v->peers) {
          if (!p.model)
            ++unsynced;
          else if (p.runtime && !p.runtime->healthy(now))
            ++ejected;
          else
            ++healthy;
        }
        return std::vector<metrics::sample>{
            {{"healthy"}, healthy}, {{"ejected"}, ejected}, {{"unsynced"}, unsynced}};
      });
}

void control_plane::impl::register_metrics(metrics::registry& r) {
  register_counters(r);
  register_state_gauge(r);
  ctx.metrics().lease_ops = &r.add_counter(
      "mvproxy_lease_operations_total",
      "Own-Lease writes and peer-Lease lists by operation and result.", {"operation", "result"});
  register_sync_gauges(r);
}

void control_plane::impl::start() {
  const auto& cfg = ctx.cfg();
  auto local_options = local_client_options(cfg);
  // This run of the sidecar (the Lease holder identity; made the same way in static
  // mode), so peers can tell a restart from a revision they have seen.
  std::random_device rd;
  std::mt19937_64 rng(rd());
  const std::string instance = membership::make_holder_identity(cfg.server_id, rng(), rng());
  ctx.publish([&](view::cluster_view& v) {
    v.instance = instance;
    return false;
  });
  local.start(local_options);
  if (!peers_enabled) return;
  peers.start(local_options);
  if (cfg.peer_discovery == config::peer_discovery_mode::static_list) {
    std::vector<membership::peer_endpoint> eps;
    for (auto& p : cfg.peers) eps.push_back({p.id, p.host, p.port, ""});
    std::sort(eps.begin(), eps.end(), [](auto& a, auto& b) { return a.id < b.id; });
    peers.publish_members(std::move(eps));
  } else {
    leases.start(local_options, instance);
  }
}

control_plane::control_plane(const config::config& cfg, view::cluster_state& state,
                             metrics::registry* registry, metrics::counter_family* sync_errors,
                             bool peers)
    : impl_(std::make_unique<impl>(cfg, state, sync_errors, peers, ready_)) {
  if (registry) impl_->register_metrics(*registry);
}

void control_plane::on_ready(std::function<void()> f) { impl_->local.on_ready(std::move(f)); }

control_plane::~control_plane() { stop(std::chrono::milliseconds(0)); }

void control_plane::start() {
  impl_->start();
  thread_ = std::thread([this] {
    util::name_this_thread("control");
    auto guard = asio::make_work_guard(impl_->ctx.ioc());
    impl_->ctx.ioc().run();
  });
}

void control_plane::sync_now() {
  asio::post(impl_->ctx.ioc(), [this] {
    impl_->local.kick();
    impl_->peers.sync_now();
    impl_->leases.wake();
  });
}

void control_plane::local_trouble() {
  asio::post(impl_->ctx.ioc(), [this] { impl_->local.kick(); });
}

void control_plane::stop(std::chrono::milliseconds deadline) {
  if (!thread_.joinable()) return;
  if (deadline.count() > 0) {
    auto done = std::make_shared<std::promise<void>>();
    auto finished = done->get_future();
    asio::co_spawn(
        impl_->ctx.ioc(),
        [this]() -> asio::awaitable<void> {
          impl_->ctx.stop();
          co_await impl_->leases.delete_own_lease();
        },
        [done](const std::exception_ptr&) { done->set_value(); });
    finished.wait_for(deadline);
  }
  impl_->ctx.stop();
  impl_->ctx.ioc().stop();
  thread_.join();
}

}  // namespace mvproxy::control
