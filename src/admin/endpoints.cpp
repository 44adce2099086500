#include "mvproxy/admin/endpoints.hpp"

namespace mvproxy::admin {

void readiness::require(const std::string& gate) {
  std::lock_guard lock(mutex_);
  gates_.emplace(gate, false);
}

void readiness::open(const std::string& gate) {
  std::lock_guard lock(mutex_);
  gates_[gate] = true;
}

bool readiness::ready() const {
  std::lock_guard lock(mutex_);
  for (auto& [name, open] : gates_)
    if (!open) return false;
  return true;
}

std::string readiness::not_ready_reason() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (auto& [name, open] : gates_) {
    if (open) continue;
    out += out.empty() ? "waiting for: " : ", ";
    out += name;
  }
  return out;
}

endpoints::endpoints(const metrics::registry& registry, const readiness& ready)
    : registry_(registry), ready_(ready) {}

void endpoints::add(std::string path, std::function<response()> handler) {
  extra_[std::move(path)] = std::move(handler);
}

response endpoints::handle(std::string_view method, std::string_view target) const {
  std::string_view path = target.substr(0, target.find('?'));
  if (method != "GET" && method != "HEAD")
    return {405, "text/plain; charset=utf-8", "method not allowed\n"};
  if (path == "/healthz" || path == "/livez") return {200, "text/plain; charset=utf-8", "ok"};
  if (path == "/readyz") {
    if (ready_.ready()) return {200, "text/plain; charset=utf-8", "ok"};
    return {503, "text/plain; charset=utf-8", "not ready: " + ready_.not_ready_reason()};
  }
  if (path == "/metrics")
    return {200, "text/plain; version=0.0.4; charset=utf-8", registry_.render()};
  if (auto it = extra_.find(path); it != extra_.end()) return it->second();
  return {404, "text/plain; charset=utf-8", "not found\n"};
}

}  // namespace mvproxy::admin
