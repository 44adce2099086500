#include "mvproxy/probe/metrics.hpp"

namespace mvproxy::probe {

probe_metrics::probe_metrics(metrics::registry& r)
    : requests_(r.add_counter("mvproxy_probe_requests_total",
                              "Probe requests by sidecar, resource, verb and HTTP code "
                              "(code \"error\": no answer).",
                              {"sidecar", "group", "version", "resource", "verb", "code"})),
      duration_(r.add_histogram("mvproxy_probe_request_duration_seconds",
                                "Probe request latency, connect to last byte.",
                                {"sidecar", "verb"})),
      resources_(r.add_gauge("mvproxy_probe_resources",
                             "Listable resources in the sidecar's merged discovery at its last "
                             "successful read.",
                             {"sidecar"})),
      last_success_(r.add_gauge("mvproxy_probe_last_success_timestamp_seconds",
                                "Unix time of the last 2xx answer for the resource through the "
                                "sidecar (any verb).",
                                {"sidecar", "group", "version", "resource"})),
      listed_(r.add_gauge("mvproxy_probe_listed",
                          "1 while some sidecar's discovery lists the resource; 0 once none does "
                          "(a version the upgrade removed: its 404s are right).",
                          {"group", "version", "resource"})) {}

void probe_metrics::observe(const std::string& sidecar, const resource_ref* resource, verb v,
                            unsigned status, double seconds, double unix_seconds) {
  std::string code = status == 0 ? "error" : std::to_string(status);
  std::string_view group = resource ? std::string_view(resource->group) : "";
  std::string_view version = resource ? std::string_view(resource->version) : "";
  std::string_view name = resource ? std::string_view(resource->resource) : "";
  requests_.with({sidecar, group, version, name, verb_name(v), code}).inc();
  duration_.with({sidecar, verb_name(v)}).observe(seconds);
  if (resource && classify(status) == outcome::ok) {
    last_success_.with({sidecar, group, version, name}).set(unix_seconds);
  }
}

void probe_metrics::set_listed(const resource_ref& resource, bool listed) {
  listed_.with({resource.group, resource.version, resource.resource}).set(listed ? 1.0 : 0.0);
}

void probe_metrics::set_resources(const std::string& sidecar, std::size_t n) {
  resources_.with({sidecar}).set(static_cast<double>(n));
}

}  // namespace mvproxy::probe
