#include "mvproxy/control/control_plane.hpp"

#include <unistd.h>

#include <future>
#include <map>
#include <random>
#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/system/system_error.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "mvproxy/control/discovery_syncer.hpp"
#include "mvproxy/control/https_client.hpp"
#include "mvproxy/control/kubeconfig.hpp"
#include "mvproxy/membership/lease.hpp"
#include "mvproxy/metrics/registry.hpp"
#include "mvproxy/util/host_port.hpp"

namespace mvproxy::control {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using sys_clock = std::chrono::system_clock;

namespace {

std::string url_host(const std::string& url, std::uint16_t& port) {
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

std::string lease_path(const std::string& ns, const std::string& name = {}) {
  std::string p = "/apis/coordination.k8s.io/v1/namespaces/" + ns + "/leases";
  if (!name.empty()) p += "/" + name;
  return p;
}

const char* const lease_selector = "labelSelector=app.kubernetes.io%2Fname%3Dmvproxy";

// One line for a log: Boost's system_error text carries a source location we do not want.
std::string describe(const std::exception& e) {
  if (auto* se = dynamic_cast<const boost::system::system_error*>(&e)) return se->code().message();
  return e.what();
}

}  // namespace

struct control_plane::impl {
  impl(const config::config& c, cluster_state& s, metrics::registry* r,
       metrics::counter_family* errors, bool with_peers, std::atomic<bool>& rd)
      : cfg(c), state(s), ready(rd), peers_enabled(with_peers), local_wake(ioc), peer_wake(ioc),
        lease_wake(ioc), sync_errors(errors) {
    if (r) register_metrics(*r);
  }

  const config::config& cfg;
  cluster_state& state;
  std::atomic<bool>& ready;
  bool peers_enabled;
  std::function<void()> on_ready;
  asio::io_context ioc;
  asio::steady_timer local_wake, peer_wake, lease_wake;
  std::unique_ptr<https_client> api;            // the local apiserver, as mvproxy itself: Leases
  std::unique_ptr<https_client> discovery_api;  // the same, for the local discovery loop
  std::unique_ptr<discovery_syncer> local_syncer;

  struct peer_conn {
    membership::peer_endpoint endpoint;
    std::unique_ptr<https_client> client;
    std::unique_ptr<discovery_syncer> syncer;
  };
  std::map<std::string, std::shared_ptr<peer_conn>> peer_conns;
  std::vector<membership::peer_endpoint> members;
  membership::own_lease own;
  bool own_lease_written = false;
  std::atomic<bool> stopping{false};

  metrics::counter_family* sync_errors = nullptr;   // apiserver_peer_discovery_sync_errors_total
  metrics::counter_family* syncs = nullptr;         // mvproxy_discovery_syncs_total
  metrics::counter_family* lease_ops = nullptr;     // mvproxy_lease_operations_total

  void register_metrics(metrics::registry& r) {
    syncs = &r.add_counter("mvproxy_discovery_syncs_total",
                           "Discovery syncs by server and result (changed, unchanged, error).",
                           {"server", "result"});
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
            return s.syncs == 0 ? -1.0
                                : std::chrono::duration<double>(now - s.last_success).count();
          };
          out.push_back({{"local"}, age(v->local_sync)});
          for (auto& p : v->peers) out.push_back({{p.endpoint.id}, age(p.sync)});
          return out;
        });
    r.add_gauge_callback("mvproxy_peers", "Peers by state (healthy, ejected, unsynced).",
                         {"state"}, [this] {
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

  void count(metrics::counter_family* f, std::initializer_list<std::string_view> labels) {
    if (f) f->with(labels).inc();
  }

  // ---- clients ----
  void make_local_client() {
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

  std::shared_ptr<peer_conn> make_peer_conn(const membership::peer_endpoint& ep) {
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
    auto c = std::make_shared<peer_conn>();
    c->endpoint = ep;
    c->client = std::make_unique<https_client>(ioc.get_executor(), std::move(o));
    c->syncer = std::make_unique<discovery_syncer>(*c->client, true);
    return c;
  }

  static asio::awaitable<void> wait(asio::steady_timer& t, std::chrono::milliseconds d) {
    t.expires_after(d);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }

  // ---- discovery ----
  // Where one server's sync result goes in a view: its status and its model; null
  // when the server is no longer in the view (a peer that left meanwhile).
  using slot = std::pair<sync_status*, discovery::server_model_ptr*>;

  // One sync of one server, recorded in the view, the metrics and the log. `server`
  // is the metric label ("local" or the peer id), `who` the log's name for it, `type`
  // the apiserver_peer_discovery_sync_errors_total label. False when it failed.
  asio::awaitable<bool> sync_one(discovery_syncer& syncer, const std::string& server,
                                 const std::string& who, const char* type,
                                 const std::function<slot(cluster_view&)>& at) {
    auto attempt = sys_clock::now();
    try {
      auto r = co_await syncer.sync();
      bool changed = r.model != nullptr;
      state.update([&](cluster_view& v) {
        auto [s, model] = at(v);
        if (!s) return false;
        s->last_attempt = attempt;
        s->last_success = sys_clock::now();
        s->last_error.clear();
        s->etag = r.etag;
        ++s->syncs;
        if (!changed) return false;
        s->source = r.source;
        *model = r.model;
        return true;
      });
      count(syncs, {server, changed ? "changed" : "unchanged"});
      if (changed)
        spdlog::info("control: {} discovery synced ({}, {} resources)", who, r.source,
                     r.model->resource_count());
      co_return true;
    } catch (const std::exception& e) {
      std::string what = describe(e);
      state.update([&](cluster_view& v) {
        auto [s, model] = at(v);
        if (s) {
          s->last_attempt = attempt;
          s->last_error = what;
          ++s->errors;
        }
        return false;
      });
      count(syncs, {server, "error"});
      count(sync_errors, {type});
      spdlog::warn("control: {} discovery sync failed: {}", who, what);
      co_return false;
    }
  }

  asio::awaitable<void> local_sync_loop() {
    auto at = [](cluster_view& v) { return slot{&v.local_sync, &v.local}; };
    while (!stopping) {
      if (co_await sync_one(*local_syncer, "local", "local", "local", at) &&
          !ready.exchange(true, std::memory_order_acq_rel) && on_ready)
        on_ready();
      co_await wait(local_wake, cfg.discovery_sync_interval);
    }
  }

  // ---- membership ----
  void publish_members(std::vector<membership::peer_endpoint> next) {
    auto change = membership::diff_peers(members, next);
    if (change.empty()) return;
    for (auto& id : change.removed) {
      peer_conns.erase(id);
      spdlog::info("control: peer {} left", id);
    }
    for (auto& ep : change.added) {
      peer_conns.insert_or_assign(ep.id, make_peer_conn(ep));
      spdlog::info("control: peer {} at {} (holder {})", ep.id,
                   util::format_host_port(ep.host, ep.port), ep.holder_identity);
    }
    members = std::move(next);
    state.update([&](cluster_view& v) {
      std::vector<peer_info> peers;
      for (auto& ep : members) {
        peer_info p;
        if (auto* old = v.find_peer(ep.id)) {
          p = *old;  // a restarted sidecar keeps its last model until re-synced
        } else {
          p.runtime = state.runtime_for(ep.id);
        }
        p.endpoint = ep;
        peers.push_back(std::move(p));
      }
      v.peers = std::move(peers);
      return true;
    });
    peer_wake.cancel();  // sync the newcomers now
  }

  asio::awaitable<void> peer_sync_loop() {
    while (!stopping) {
      // A copy: membership may change while a sync is suspended; a removed peer's
      // connection stays alive until its sync returns.
      std::vector<std::shared_ptr<peer_conn>> conns;
      for (auto& [id, c] : peer_conns) conns.push_back(c);
      for (auto& conn : conns) {
        const std::string id = conn->endpoint.id;
        auto at = [&id](cluster_view& v) {
          for (auto& p : v.peers)
            if (p.endpoint.id == id) return slot{&p.sync, &p.model};
          return slot{nullptr, nullptr};
        };
        if (!co_await sync_one(*conn->syncer, id, "peer " + id, "peer", at)) conn->client->reset();
        if (stopping) co_return;
      }
      co_await wait(peer_wake, cfg.discovery_sync_interval);
    }
  }

  // ---- Leases ----
  asio::awaitable<void> write_own_lease() {
    own.renew_time = sys_clock::now();
    if (!own_lease_written) {
      // Create; if a Lease by our name exists (a previous run), take it over.
      http_request get;
      get.target = lease_path(own.namespace_name, own.server_id);
      auto cur = co_await api->request(get);
      if (cur.status == 200) {
        auto l = membership::parse_lease(cur.body);
        if (l) own.resource_version = l.value->resource_version;
      } else if (cur.status != 404) {
        throw std::runtime_error("GET own Lease: HTTP " + std::to_string(cur.status));
      }
    }
    http_request w;
    if (own.resource_version.empty()) {
      w.method = boost::beast::http::verb::post;
      w.target = lease_path(own.namespace_name);
    } else {
      w.method = boost::beast::http::verb::put;
      w.target = lease_path(own.namespace_name, own.server_id);
    }
    w.body = membership::build_lease_json(own);
    auto resp = co_await api->request(w);
    if (resp.status == 409 || resp.status == 404) {
      // Someone else wrote it (or it was deleted): re-read and try again next tick.
      own_lease_written = false;
      own.resource_version.clear();
      count(lease_ops, {"renew", "conflict"});
      co_return;
    }
    if (resp.status != 200 && resp.status != 201)
      throw std::runtime_error("write own Lease: HTTP " + std::to_string(resp.status) + ": " +
                               resp.body.substr(0, 200));
    auto l = membership::parse_lease(resp.body);
    if (l) own.resource_version = l.value->resource_version;
    own_lease_written = true;
    count(lease_ops, {"renew", "ok"});
  }

  // Lists the mvproxy Leases; returns the list's resourceVersion (for the watch).
  asio::awaitable<std::string> list_leases() {
    http_request r;
    r.target = lease_path(cfg.lease_namespace) + "?" + lease_selector;
    auto resp = co_await api->request(r);
    if (resp.status != 200)
      throw std::runtime_error("list Leases: HTTP " + std::to_string(resp.status));
    auto list = membership::parse_lease_list(resp.body);
    if (!list) throw std::runtime_error("list Leases: " + list.error);
    auto now = sys_clock::now();
    publish_members(membership::peers_from_leases(list.value->items, cfg.server_id, now));
    // Wake again when the first live peer Lease would expire unless renewed.
    auto next = now + cfg.lease_renew_interval;
    for (auto& l : list.value->items)
      if (l.name != cfg.server_id && membership::is_live(l, now))
        next = std::min(next, *l.renew_time + std::chrono::seconds(l.lease_duration_seconds));
    next_lease_check = next;
    count(lease_ops, {"list", "ok"});
    co_return list.value->resource_version;
  }

  sys_clock::time_point next_lease_check{};
  std::string lease_list_rv;

  asio::awaitable<void> lease_loop() {
    auto next_renew = steady::now();
    while (!stopping) {
      try {
        if (steady::now() >= next_renew) {
          co_await write_own_lease();
          next_renew = steady::now() + cfg.lease_renew_interval;
        }
        lease_list_rv = co_await list_leases();
      } catch (const std::exception& e) {
        count(lease_ops, {"renew", "error"});
        spdlog::warn("control: Lease sync failed: {}", describe(e));
        api->reset();
        next_lease_check = sys_clock::now() + 1s;
      }
      auto until_renew = std::chrono::duration_cast<std::chrono::milliseconds>(next_renew - steady::now());
      auto until_expiry = std::chrono::duration_cast<std::chrono::milliseconds>(
          next_lease_check - sys_clock::now() + 10ms);
      co_await wait(lease_wake, std::max(10ms, std::min(until_renew, until_expiry)));
    }
  }

  // A watch on the mvproxy Leases, so a peer that appears or leaves is noticed at once
  // rather than at the next renew tick. Any event re-lists (simple and always right).
  asio::awaitable<void> lease_watch_loop() {
    while (!stopping) {
      try {
        https_client::options o = api->opts();
        https_client watch_client(ioc.get_executor(), o);
        http_request r;
        r.target = lease_path(cfg.lease_namespace) + "?" + lease_selector +
                   "&watch=true&allowWatchBookmarks=true&timeoutSeconds=300";
        if (!lease_list_rv.empty()) r.target += "&resourceVersion=" + lease_list_rv;
        co_await watch_client.stream_lines(
            std::move(r), [](const http_response&) {},
            [this](std::string_view line) {
              auto j = nlohmann::json::parse(line, nullptr, false);
              if (j.is_object() && j.value("type", "") != "BOOKMARK") lease_wake.cancel();
            },
            std::chrono::milliseconds(330'000));
      } catch (const std::exception& e) {
        if (stopping) co_return;
        spdlog::debug("control: Lease watch ended: {}", describe(e));
      }
      asio::steady_timer t(ioc);
      co_await wait(t, 1s);
    }
  }

  asio::awaitable<void> delete_own_lease() {
    if (!own_lease_written) co_return;
    try {
      http_request d;
      d.method = boost::beast::http::verb::delete_;
      d.target = lease_path(own.namespace_name, own.server_id);
      auto resp = co_await api->request(d);
      count(lease_ops, {"delete", resp.status == 200 ? "ok" : "error"});
      spdlog::info("control: deleted own Lease {} (HTTP {})", own.server_id, resp.status);
    } catch (const std::exception& e) {
      spdlog::warn("control: deleting own Lease failed: {}", describe(e));
    }
  }

  void start() {
    make_local_client();
    auto spawn = [this](asio::awaitable<void> a) {
      asio::co_spawn(ioc, std::move(a), [](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::error("control: task ended: {}", describe(ex));
        }
      });
    };
    spawn(local_sync_loop());
    if (!peers_enabled) return;
    spawn(peer_sync_loop());
    if (cfg.peer_discovery == config::peer_discovery_mode::static_list) {
      std::vector<membership::peer_endpoint> eps;
      for (auto& p : cfg.peers) eps.push_back({p.id, p.host, p.port, ""});
      std::sort(eps.begin(), eps.end(), [](auto& a, auto& b) { return a.id < b.id; });
      publish_members(std::move(eps));
    } else {
      std::random_device rd;
      std::mt19937_64 rng(rd());
      own.server_id = cfg.server_id;
      own.namespace_name = cfg.lease_namespace;
      own.holder_identity = membership::make_holder_identity(cfg.server_id, rng(), rng());
      own.advertise_address = util::format_host_port(
          cfg.peer_advertise_ip, cfg.peer_advertise_port ? cfg.peer_advertise_port : cfg.secure_port);
      own.lease_duration_seconds = static_cast<int>(
          std::chrono::duration_cast<std::chrono::seconds>(cfg.lease_duration).count());
      own.acquire_time = sys_clock::now();
      spawn(lease_loop());
      spawn(lease_watch_loop());
    }
  }
};

control_plane::control_plane(const config::config& cfg, cluster_state& state,
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
    impl_->local_wake.cancel();
    impl_->peer_wake.cancel();
    impl_->lease_wake.cancel();
  });
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
