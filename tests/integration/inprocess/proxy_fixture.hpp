#pragma once
// The proxy server run in-process in front of a fake_upstream, with the shared test
// PKI and the limits a test asks for. Owned by each fixture after its upstream and
// metrics, so the server stops before what its sessions use goes away. With a
// planner, requests follow its plans, and peers are reached with the cluster CA (the
// PKI's "peer" certificate is a peer sidecar's) under the default peer server name.

#include <chrono>
#include <memory>

#include "../common/harness.hpp"
#include "mvproxy/metrics/standard.hpp"
#include "mvproxy/proxy/server.hpp"
#include "mvproxy/tls/provider.hpp"

namespace mvproxy::test {

struct inprocess_proxy {
  void start(const fake_upstream& upstream, metrics::standard_metrics& metrics,
             proxy::limits lim = {}, dispatch::planner* planner = nullptr) {
    start(upstream.url(), metrics, lim, planner);
  }
  // In front of any upstream (one a test serves itself).
  void start(const std::string& upstream_url, metrics::standard_metrics& metrics,
             proxy::limits lim = {}, dispatch::planner* planner = nullptr) {
    auto pki = shared_pki();
    tls = std::make_unique<tls::provider>(
        tls::server_files{(pki / "apiserver.crt").string(),
                          (pki / "apiserver.key").string(),
                          (pki / "ca.crt").string(),
                          (pki / "front-proxy-ca.crt").string(),
                          {"front-proxy-client"}},
        tls::client_files{(pki / "ca.crt").string(), (pki / "front-proxy-client.crt").string(),
                          (pki / "front-proxy-client.key").string()},
        planner ? std::optional<tls::client_files>(tls::client_files{
                      (pki / "ca.crt").string(), (pki / "front-proxy-client.crt").string(),
                      (pki / "front-proxy-client.key").string()})
                : std::nullopt);
    proxy::server_options o;
    o.listen = tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0);
    o.workers = 2;
    o.lim = lim;
    o.planner = planner;  // none: everything goes to the local upstream
    o.local = proxy::parse_upstream_url(upstream_url, "local");
    o.local_trouble = [this] { ++local_troubles; };
    server = std::make_unique<proxy::server>(o, *tls, metrics);
    server->start();
  }
  void stop() {
    if (server) server->shutdown(std::chrono::milliseconds(100));
  }
  std::uint16_t port() const { return server->local_endpoint().port(); }

  // How often the data plane asked for a probe of the local apiserver.
  std::atomic<int> local_troubles{0};
  std::unique_ptr<tls::provider> tls;
  std::unique_ptr<proxy::server> server;
};

}  // namespace mvproxy::test
