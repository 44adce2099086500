#include "mvproxy/control/control_plane.hpp"

#include "control_plane_impl.hpp"
#include "mvproxy/metrics/standard.hpp"

namespace mvproxy::control {

void control_plane::impl::register_metrics(metrics::registry& r) {
  syncs = &r.add_counter("mvproxy_discovery_syncs_total",
                         "Discovery syncs by server and result (changed, unchanged, error).",
                         {"server", "result"});
  sync_failures = &r.add_counter(
      "mvproxy_discovery_sync_errors_total",
      "Failed discovery syncs by server (local or a peer id) and type: unreachable (refused, "
      "reset, TLS, timeout) or failed (answered, but not with usable discovery).",
      {"server", "type"});
  local_transitions = &r.add_counter(
      "mvproxy_local_apiserver_transitions_total",
      "Changes of the local apiserver's state as this sidecar's monitor sees it, by new state "
      "(up, unconfirmed, down).",
      {"state"});
  pushes = &r.add_counter("mvproxy_peer_state_changes_total",
                          "State changes peers pushed to this sidecar, by peer and its "
                          "apiserver's new state.",
                          {"server", "state"});
  r.add_gauge_callback(
      "mvproxy_apiserver_state",
      "1 for the state each apiserver is in as this sidecar knows it (server: local or the "
      "peer id; state: up, unconfirmed, down, unknown).",
      {"server", "state"}, [this] {
        std::vector<metrics::sample> out;
        auto v = state.current();
        auto add = [&](const std::string& server, routing::apiserver_state now) {
          for (auto st : {routing::apiserver_state::up, routing::apiserver_state::unconfirmed,
                          routing::apiserver_state::down, routing::apiserver_state::unknown})
            out.push_back({{server, std::string(to_string(st))}, st == now ? 1.0 : 0.0});
        };
        add("local", v->local_state);
        for (auto& p : v->peers) add(p.endpoint.id, p.apiserver);
        return out;
      });
  lease_ops = &r.add_counter("mvproxy_lease_operations_total",
                             "Own-Lease writes and peer-Lease lists by operation and result.",
                             {"operation", "result"});
  r.add_gauge_callback(
      "mvproxy_discovery_last_sync_age_seconds",
      "Seconds since the last successful discovery sync of each server (local or peer id).",
      {"server"}, [this] {
        std::vector<metrics::sample> out;
        auto v = state.current();
        auto now = sys_clock::now();
        auto age = [&](const sync_status& s) {
          return s.syncs == 0 ? -1.0 : std::chrono::duration<double>(now - s.last_success).count();
        };
        out.push_back({{"local"}, age(v->local_sync)});
        for (auto& p : v->peers) out.push_back({{p.endpoint.id}, age(p.sync)});
        return out;
      });
  r.add_gauge_callback(
      "mvproxy_peers", "Peers by state (healthy, ejected, unsynced).", {"state"}, [this] {
        auto v = state.current();
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

void control_plane::impl::make_local_client() {
  https_client::options o;
  o.host = url_host(cfg.upstream, o.port);
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
  // One client (one connection) per loop: a client serves one request at a time.
  discovery_api = std::make_unique<https_client>(ioc.get_executor(), o);
  api = std::make_unique<https_client>(ioc.get_executor(), std::move(o));
  local_syncer = std::make_unique<discovery_syncer>(*discovery_api, false);
}

std::shared_ptr<control_plane::impl::peer_conn> control_plane::impl::make_peer_conn(
    const membership::peer_endpoint& ep) {
  https_client::options o;
  o.host = ep.host;
  o.port = ep.port;
  o.verify_name = cfg.peer_server_name;
  o.timeout = 5s;
  // A peer sidecar trusts our proxy client certificate and passes these on to its
  // apiserver, which authorizes the read as system:mvproxy.
  o.default_headers.emplace_back("X-Remote-User", "system:mvproxy");
  o.default_headers.emplace_back("X-Remote-Group", "system:authenticated");
  tls_client_files files;
  files.ca_file = cfg.peer_ca_file;
  files.cert_file = cfg.proxy_client_cert_file;
  files.key_file = cfg.proxy_client_key_file;
  o.tls = [files] { return make_client_tls_context(files); };
  auto c = std::make_shared<peer_conn>(ioc);
  c->endpoint = ep;
  https_client::options so = o;
  so.timeout = 45s;  // a long-poll answers within 30 s
  c->state_client = std::make_unique<https_client>(ioc.get_executor(), std::move(so));
  c->client = std::make_unique<https_client>(ioc.get_executor(), std::move(o));
  c->syncer = std::make_unique<discovery_syncer>(*c->client, true);
  return c;
}

asio::awaitable<control_plane::impl::sync_outcome> control_plane::impl::sync_one(
    discovery_syncer& syncer, const std::string& server, const std::string& who, const char* side,
    const std::function<slot(cluster_view&)>& at, const with_result& also) {
  auto attempt = sys_clock::now();
  std::string what;
  sync_outcome outcome = sync_outcome::failed;
  try {
    auto r = co_await syncer.sync();
    bool changed = r.model != nullptr;
    bool recovered = false;
    state.update([&](cluster_view& v) {
      auto [s, model] = at(v);
      if (!s) return false;
      recovered = !s->last_error.empty();
      s->last_attempt = attempt;
      s->last_success = sys_clock::now();
      s->last_error.clear();
      s->etag = r.etag;
      s->api_etag = r.api_etag;
      s->openapi_etag = r.openapi_etag;
      const bool openapi_changed = r.openapi_index.has_value();
      if (openapi_changed)
        s->openapi_index = std::make_shared<const std::string>(std::move(*r.openapi_index));
      ++s->syncs;
      if (changed) {
        s->source = r.source;
        *model = r.model;
      }
      if (also) also(v, sync_outcome::ok, changed);
      return changed || openapi_changed;
    });
    count(syncs, {server, changed ? "changed" : "unchanged"});
    if (recovered) spdlog::info("control: {} discovery sync works again", who);
    if (changed)
      spdlog::info("control: {} discovery synced ({}, {} resources)", who, r.source,
                   r.model->resource_count());
    co_return sync_outcome::ok;
  } catch (const boost::system::system_error& e) {
    what = describe(e);
    outcome = sync_outcome::unreachable;
  } catch (const std::exception& e) {
    what = describe(e);
  }
  bool again = false;  // the last attempt failed too: logged once per outage
  state.update([&](cluster_view& v) {
    auto [s, model] = at(v);
    if (s) {
      again = !s->last_error.empty();
      s->last_attempt = attempt;
      s->last_error = what;
      ++s->errors;
    }
    if (also) also(v, outcome, false);
    return false;
  });
  count(syncs, {server, "error"});
  count(sync_failures, {server, outcome == sync_outcome::unreachable ? "unreachable" : "failed"});
  if (std::string_view(side) == "peer") count(sync_errors, {metrics::discovery_error_fetch});
  if (again)
    spdlog::debug("control: {} discovery sync failed again: {}", who, what);
  else
    spdlog::warn("control: {} discovery sync failed: {}", who, what);
  co_return outcome;
}

void control_plane::impl::spawn(asio::awaitable<void> task) {
  asio::co_spawn(ioc, std::move(task), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("control: task ended: {}", describe(ex));
    }
  });
}

void control_plane::impl::start() {
  make_local_client();
  std::random_device rd;
  std::mt19937_64 rng(rd());
  instance = membership::make_holder_identity(cfg.server_id, rng(), rng());
  state.update([&](cluster_view& v) {
    v.instance = instance;
    return false;
  });
  spawn(local_sync_loop());
  if (!peers_enabled) return;
  spawn(exclusion_loop());
  if (cfg.peer_discovery == config::peer_discovery_mode::static_list) {
    std::vector<membership::peer_endpoint> eps;
    for (auto& p : cfg.peers) eps.push_back({p.id, p.host, p.port, ""});
    std::sort(eps.begin(), eps.end(), [](auto& a, auto& b) { return a.id < b.id; });
    publish_members(std::move(eps));
  } else {
    own.server_id = cfg.server_id;
    own.namespace_name = cfg.lease_namespace;
    own.holder_identity = instance;
    own.advertise_address = util::format_host_port(
        cfg.peer_advertise_ip, cfg.peer_advertise_port ? cfg.peer_advertise_port : cfg.secure_port);
    own.lease_duration_seconds = static_cast<int>(
        std::chrono::duration_cast<std::chrono::seconds>(cfg.lease_duration).count());
    own.acquire_time = sys_clock::now();
    spawn(lease_loop());
    spawn(lease_watch_loop());
  }
}

control_plane::control_plane(const config::config& cfg, view::cluster_state& state,
                             metrics::registry* registry, metrics::counter_family* sync_errors,
                             bool peers)
    : impl_(std::make_unique<impl>(cfg, state, registry, sync_errors, peers, ready_)) {}

void control_plane::on_ready(std::function<void()> f) { impl_->on_ready = std::move(f); }

control_plane::~control_plane() { stop(std::chrono::milliseconds(0)); }

void control_plane::start() {
  impl_->start();
  thread_ = std::thread([this] {
    auto guard = asio::make_work_guard(impl_->ioc);
    impl_->ioc.run();
  });
}

void control_plane::sync_now() {
  asio::post(impl_->ioc, [this] {
    impl_->kick_local();
    for (auto& [id, c] : impl_->peer_conns) c->wake.cancel();
    impl_->lease_wake.cancel();
  });
}

void control_plane::local_trouble() {
  asio::post(impl_->ioc, [this] { impl_->kick_local(); });
}

void control_plane::stop(std::chrono::milliseconds deadline) {
  if (!thread_.joinable()) return;
  if (deadline.count() > 0) {
    auto done = std::make_shared<std::promise<void>>();
    auto finished = done->get_future();
    asio::co_spawn(
        impl_->ioc,
        [this]() -> asio::awaitable<void> {
          impl_->stopping = true;
          co_await impl_->delete_own_lease();
        },
        [done](std::exception_ptr) { done->set_value(); });
    finished.wait_for(deadline);
  }
  impl_->stopping = true;
  impl_->ioc.stop();
  thread_.join();
}

}  // namespace mvproxy::control
