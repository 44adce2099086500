#pragma once
// What the admin address answers (SPEC §7), as a pure function of the request line:
// /healthz and /livez (the process serves), /readyz (serving and, once the app says
// so, synced), /metrics (Prometheus text), plus handlers other modules add (for
// example /debug/peers).

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "mvproxy/metrics/registry.hpp"

namespace mvproxy::admin {

struct response {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Ready once every gate the app registered has opened. The app opens "listening" when
// the main listener accepts; the discovery sync opens its own gate after its first sync.
class readiness {
 public:
  void require(const std::string& gate);  // adds a closed gate
  void open(const std::string& gate);
  bool ready() const;
  std::string not_ready_reason() const;  // e.g. "waiting for: discovery"

 private:
  mutable std::mutex mutex_;
  std::map<std::string, bool> gates_;
};

class endpoints {
 public:
  endpoints(const metrics::registry& registry, const readiness& ready);
  // Adds (or replaces) a GET handler for an exact path.
  void add(std::string path, std::function<response()> handler);
  response handle(std::string_view method, std::string_view target) const;

 private:
  const metrics::registry& registry_;
  const readiness& ready_;
  std::map<std::string, std::function<response()>, std::less<>> extra_;
};

}  // namespace mvproxy::admin
