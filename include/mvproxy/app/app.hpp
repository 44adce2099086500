#pragma once
// The daemon: builds TLS contexts, metrics, the proxy listener and the admin listener
// from a validated config, serves until SIGTERM/SIGINT, then drains and exits.
// Modules that come later (discovery sync, peers) attach through the accessors
// before run(): a readiness gate, admin handlers, metrics.

#include <memory>

#include "mvproxy/admin/endpoints.hpp"
#include "mvproxy/config/config.hpp"
#include "mvproxy/metrics/registry.hpp"
#include "mvproxy/metrics/standard.hpp"
#include "mvproxy/proxy/server.hpp"

namespace mvproxy::app {

class app {
 public:
  // Everything that can fail on bad input (certificates, keys, addresses) fails here,
  // before any socket is opened: tls::error or std::invalid_argument.
  explicit app(config::config cfg);
  ~app();
  app(const app&) = delete;
  app& operator=(const app&) = delete;

  metrics::registry& registry();
  metrics::standard_metrics& metrics();
  admin::readiness& readiness();
  admin::endpoints& endpoints();
  const proxy::upstream_target& local_target() const;

  // Binds both listeners, logs "listening on ..." and "admin listening on ...", serves
  // until SIGTERM or SIGINT, then shuts down within the grace period. Returns the exit
  // code (0 after a clean shutdown, 1 when a listener cannot be bound).
  int run();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace mvproxy::app
