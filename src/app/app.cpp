#include "mvproxy/app/app.hpp"

#include <netdb.h>
#include <unistd.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>

#include <csignal>
#include <random>
#include <thread>

#include "mvproxy/admin/server.hpp"
#include "mvproxy/app/logging.hpp"
#include "mvproxy/control/control_plane.hpp"
#include "mvproxy/control/debug_peers.hpp"
#include "mvproxy/tls/provider.hpp"
#include "mvproxy/util/host_port.hpp"
#include "mvproxy/util/thread_name.hpp"
#include "mvproxy/view/cluster_state.hpp"
#include "mvproxy/view/merged_discovery.hpp"

namespace mvproxy::app {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

tcp::endpoint endpoint_of(const std::string& host, std::uint16_t port, const char* flag) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host.empty() ? "0.0.0.0" : host, ec);
  if (ec) throw std::invalid_argument(std::string(flag) + ": " + host + " is not an IP address");
  return {addr, port};
}

std::string describe(const tcp::endpoint& ep) {
  return util::format_host_port(ep.address().to_string(), ep.port());
}

// The address peers reach this sidecar at when --peer-advertise-ip is not given: the
// bind address when it names one, else the host name's first non-loopback address
// (kube-apiserver picks its advertise address from the host's interfaces likewise).
std::string default_advertise_ip(const std::string& bind) {
  boost::system::error_code ec;
  auto a = asio::ip::make_address(bind, ec);
  if (!ec && !a.is_unspecified()) return bind;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0) {
    addrinfo hints{};
    hints.ai_family = AF_INET;
    addrinfo* res = nullptr;
    if (getaddrinfo(host, nullptr, &hints, &res) == 0) {
      std::string found;
      for (auto* r = res; r && found.empty(); r = r->ai_next) {
        auto* sin = reinterpret_cast<sockaddr_in*>(r->ai_addr);
        asio::ip::address_v4 v4(ntohl(sin->sin_addr.s_addr));
        if (!v4.is_loopback()) found = v4.to_string();
      }
      freeaddrinfo(res);
      if (!found.empty()) return found;
    }
  }
  return "127.0.0.1";
}

}  // namespace

struct app::impl final : dispatch::planner {
  explicit impl(config::config c)
      : cfg(std::move(c)),
        metrics(registry),
        endpoints(registry, ready),
        tls(tls::server_files{cfg.tls_cert_file, cfg.tls_private_key_file, cfg.client_ca_file,
                              cfg.requestheader_client_ca_file, cfg.requestheader_allowed_names,
                              !cfg.disable_http2_serving},
            tls::client_files{cfg.upstream_ca_file, cfg.proxy_client_cert_file,
                              cfg.proxy_client_key_file},
            cfg.peer_ca_file.empty()
                ? std::nullopt
                : std::optional<tls::client_files>(tls::client_files{
                      cfg.peer_ca_file, cfg.proxy_client_cert_file, cfg.proxy_client_key_file})) {
    options.local = proxy::parse_upstream_url(cfg.upstream, "local");
    options.listen = endpoint_of(cfg.bind_address, cfg.secure_port, "--bind-address");
    options.workers = cfg.workers ? cfg.workers : std::max(1u, std::thread::hardware_concurrency());
    auto hp = util::parse_host_port(cfg.admin_address);
    admin_at = endpoint_of(hp.host, hp.port, "--admin-address");
    ready.require("listening");
    options.peer_server_name = cfg.peer_server_name;
    proxy_enabled = cfg.peer_proxy_enabled();
    // As kube-apiserver without --peer-ca-file; the control plane then publishes no
    // Lease and reads no peers (validation asked for no credentials for them).
    if (cfg.mixed_version_proxy_enabled() && !proxy_enabled)
      logger("main")->warn(
          "no --peer-ca-file: serving locally only, no Lease published and nothing proxied "
          "to peers (as kube-apiserver 1.36)");
    options.lim.local_recovery_wait = cfg.local_recovery_wait;
    options.lim.request_timeout = cfg.request_timeout;
    options.lim.upstream_connect_timeout = cfg.upstream_connect_timeout;
    if (cfg.http2_max_streams_per_connection > 0)
      options.lim.http2_max_streams = cfg.http2_max_streams_per_connection;
    options.lim.goaway_chance = cfg.goaway_chance;
    options.lim.upstream_http2 = !cfg.disable_upstream_http2;
    options.lim.upstream_http2_read_idle_timeout = cfg.upstream_http2_read_idle_timeout;
    options.lim.upstream_http2_ping_timeout = cfg.upstream_http2_ping_timeout;
    if (proxy_enabled) {
      options.planner = this;
      options.cluster = &cluster;
      options.local_trouble = [this] {
        if (auto* c = control_ptr.load(std::memory_order_acquire)) c->local_trouble();
      };
    }
    ready.require("discovery");
    registry.add_gauge_callback(
        "mvproxy_certificate_expiration_timestamp_seconds",
        "notAfter (Unix seconds) of each certificate in use; a CA bundle: its first to expire.",
        {"certificate"}, [this] {
          std::vector<metrics::sample> out;
          for (auto& e : tls.expirations()) out.push_back({{e.certificate}, e.not_after});
          return out;
        });
    endpoints.add("/debug/peers", [this] {
      return admin::response{200, "application/json",
                             control::debug_peers_json(*cluster.current(), &merged)};
    });
  }

  asio::awaitable<void> reload_loop(asio::steady_timer& timer) {
    auto log = logger("tls");
    for (;;) {
      timer.expires_after(std::chrono::seconds(2));
      auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      auto r = tls.reload_if_changed();
      if (r.reloaded) log->info("certificates changed on disk: reloaded, new connections use them");
      if (!r.error.empty())
        log->warn("certificates changed but were not usable, keeping the old ones: {}", r.error);
    }
  }

  // The plan for one request over the current cluster view (the router of SPEC §3).
  dispatch::plan plan_for(const boost::beast::http::request_header<>& head, bool trusted_peer,
                          bool wait_expired) override {
    thread_local std::mt19937_64 rng(std::random_device{}());
    dispatch::inputs in;
    in.feature_enabled = proxy_enabled;
    in.trusted_peer = trusted_peer;
    in.wait_expired = wait_expired;
    in.random = rng();
    in.nopeer_requests = &metrics.nopeer_requests_total;
    return dispatch::make_plan(head, in, *cluster.current(), merged);
  }

  config::config cfg;
  metrics::registry registry;
  metrics::standard_metrics metrics;
  admin::readiness ready;
  admin::endpoints endpoints;
  tls::provider tls;
  proxy::server_options options;
  tcp::endpoint admin_at;
  bool proxy_enabled = false;  // cfg.peer_proxy_enabled(): the gate on and a peer CA given
  view::cluster_state cluster{cfg.server_id};
  view::merged_discovery merged{&metrics.peer_aggregated_cache_hits_total,
                                &metrics.peer_aggregated_cache_misses_total};
  std::unique_ptr<control::control_plane> control;
  std::atomic<control::control_plane*> control_ptr{nullptr};  // for worker threads
};

app::app(config::config cfg) : impl_(std::make_unique<impl>(std::move(cfg))) {}
app::~app() = default;

metrics::registry& app::registry() { return impl_->registry; }
metrics::standard_metrics& app::metrics() { return impl_->metrics; }
admin::readiness& app::readiness() { return impl_->ready; }
admin::endpoints& app::endpoints() { return impl_->endpoints; }
const proxy::upstream_target& app::local_target() const { return impl_->options.local; }

int app::run() {
  auto& m = *impl_;
  auto log = logger("main");
  std::unique_ptr<proxy::server> srv;
  asio::io_context admin_ioc{1};
  std::unique_ptr<admin::server> adm;
  // A busy or foreign address is a bad flag: one line naming it, exit 2.
  auto cannot_listen = [&](const char* flags, const std::string& at,
                           const boost::system::system_error& e) {
    std::fprintf(stderr, "mvproxy: %s %s: %s\n", flags, at.c_str(), e.code().message().c_str());
    return 2;
  };
  try {
    srv = std::make_unique<proxy::server>(m.options, m.tls, m.metrics);
  } catch (const boost::system::system_error& e) {
    return cannot_listen("--bind-address/--secure-port", describe(m.options.listen), e);
  }
  try {
    adm = std::make_unique<admin::server>(admin_ioc, m.admin_at, m.endpoints);
  } catch (const boost::system::system_error& e) {
    return cannot_listen("--admin-address", describe(m.admin_at), e);
  }
  log->info("listening on {} ({} workers, upstream {})", describe(srv->local_endpoint()),
            m.options.workers, m.cfg.upstream);
  log->info("admin listening on {}", describe(adm->local_endpoint()));

  // The control plane: discovery sync and peer membership. With port 0 (tests), the
  // port actually bound is the one peers are told.
  if (m.cfg.peer_advertise_port == 0) m.cfg.peer_advertise_port = srv->local_endpoint().port();
  if (m.cfg.peer_advertise_ip.empty())
    m.cfg.peer_advertise_ip = default_advertise_ip(m.cfg.bind_address);
  if (m.proxy_enabled)
    log->info("server id {}, peers by {}, advertising {}", m.cfg.server_id,
              m.cfg.peer_discovery == config::peer_discovery_mode::lease ? "Lease" : "static list",
              util::format_host_port(m.cfg.peer_advertise_ip, m.cfg.peer_advertise_port));
  // A single sidecar is a normal first step; say why nothing will be proxied.
  if (m.proxy_enabled && m.cfg.peer_discovery == config::peer_discovery_mode::static_list &&
      m.cfg.peers.empty())
    log->info(
        "no peers: the static list (--peers) names no other sidecar; every request goes "
        "to the local apiserver");
  m.control = std::make_unique<control::control_plane>(
      m.cfg, m.cluster, &m.registry, &m.metrics.peer_discovery_sync_errors_total, m.proxy_enabled);
  m.control->on_ready([&m] { m.ready.open("discovery"); });
  m.control_ptr.store(m.control.get(), std::memory_order_release);
  m.control->start();

  // Signals are handled here, on the main thread, so no worker ever blocks on them.
  asio::io_context main_ioc{1};
  asio::signal_set signals(main_ioc, SIGINT, SIGTERM);
  srv->start();
  adm->start();
  auto admin_guard = asio::make_work_guard(admin_ioc);
  std::thread admin_thread([&] {
    util::name_this_thread("admin");
    admin_ioc.run();
  });
  m.ready.open("listening");

  asio::steady_timer reload_timer(main_ioc);
  asio::co_spawn(main_ioc, m.reload_loop(reload_timer), asio::detached);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (!ec)
      log->info("received {}, shutting down (grace period {}ms)",
                sig == SIGTERM ? "SIGTERM" : "SIGINT", m.cfg.shutdown_grace_period.count());
    reload_timer.cancel();
  });
  main_ioc.run();

  // Leave the peer set first (delete the own Lease) so peers stop sending us requests,
  // then drain.
  m.control->stop(
      std::min<std::chrono::milliseconds>(m.cfg.shutdown_grace_period, std::chrono::seconds(5)));
  srv->shutdown(m.cfg.shutdown_grace_period);
  adm->stop();
  admin_guard.reset();
  admin_thread.join();
  log->info("stopped");
  return 0;
}

}  // namespace mvproxy::app
