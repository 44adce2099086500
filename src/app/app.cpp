#include "mvproxy/app/app.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <thread>

#include "mvproxy/admin/server.hpp"
#include "mvproxy/app/logging.hpp"
#include "mvproxy/tls/provider.hpp"
#include "mvproxy/util/host_port.hpp"

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

}  // namespace

struct app::impl {
  explicit impl(config::config c)
      : cfg(std::move(c)),
        metrics(registry),
        endpoints(registry, ready),
        tls(tls::server_files{cfg.tls_cert_file, cfg.tls_private_key_file, cfg.client_ca_file,
                              cfg.requestheader_client_ca_file, cfg.requestheader_allowed_names},
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
  }

  asio::awaitable<void> reload_loop(asio::steady_timer& timer) {
    auto log = logger("tls");
    for (;;) {
      timer.expires_after(std::chrono::seconds(2));
      auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      auto r = tls.reload_if_changed();
      if (r.reloaded) log->info("certificates changed on disk: reloaded, new connections use them");
      if (!r.error.empty()) log->warn("certificates changed but were not usable, keeping the old ones: {}", r.error);
    }
  }

  config::config cfg;
  metrics::registry registry;
  metrics::standard_metrics metrics;
  admin::readiness ready;
  admin::endpoints endpoints;
  tls::provider tls;
  proxy::server_options options;
  tcp::endpoint admin_at;
};

app::app(config::config cfg) : impl_(std::make_unique<impl>(std::move(cfg))) {}
app::~app() = default;

metrics::registry& app::registry() { return impl_->registry; }
metrics::standard_metrics& app::metrics() { return impl_->metrics; }
admin::readiness& app::readiness() { return impl_->ready; }
admin::endpoints& app::endpoints() { return impl_->endpoints; }
const proxy::upstream_target& app::local_target() const { return impl_->options.local; }
void app::set_router(proxy::router r) { impl_->options.route = std::move(r); }

int app::run() {
  auto& m = *impl_;
  auto log = logger("main");
  std::unique_ptr<proxy::server> srv;
  asio::io_context admin_ioc{1};
  std::unique_ptr<admin::server> adm;
  try {
    srv = std::make_unique<proxy::server>(m.options, m.tls, m.metrics);
    adm = std::make_unique<admin::server>(admin_ioc, m.admin_at, m.endpoints);
  } catch (const boost::system::system_error& e) {
    log->error("cannot listen: {}", e.what());
    return 1;
  }
  log->info("listening on {} ({} workers, upstream {})", describe(srv->local_endpoint()),
            m.options.workers, m.cfg.upstream);
  log->info("admin listening on {}", describe(adm->local_endpoint()));

  // Signals are handled here, on the main thread, so no worker ever blocks on them.
  asio::io_context main_ioc{1};
  asio::signal_set signals(main_ioc, SIGINT, SIGTERM);
  srv->start();
  adm->start();
  auto admin_guard = asio::make_work_guard(admin_ioc);
  std::thread admin_thread([&] { admin_ioc.run(); });
  m.ready.open("listening");

  asio::steady_timer reload_timer(main_ioc);
  asio::co_spawn(main_ioc, m.reload_loop(reload_timer), asio::detached);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (!ec) log->info("received {}, shutting down (grace period {}ms)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                       m.cfg.shutdown_grace_period.count());
    reload_timer.cancel();
  });
  main_ioc.run();

  srv->shutdown(m.cfg.shutdown_grace_period);
  adm->stop();
  admin_guard.reset();
  admin_thread.join();
  log->info("stopped");
  return 0;
}

}  // namespace mvproxy::app
