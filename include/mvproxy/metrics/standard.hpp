#pragma once
// The daemon's metric families (SPEC §7), registered once by the app and handed to the
// modules that update them. Upstream-named series keep kube-apiserver's names and
// labels so dashboards built for built-in MVP work unchanged.

#include "mvproxy/metrics/registry.hpp"

namespace mvproxy::metrics {

struct standard_metrics {
  explicit standard_metrics(registry& r);

  // mvproxy_* series.
  counter_family& requests_total;             // {route, code}
  histogram_family& request_duration_seconds;  // {route}
  gauge& requests_in_flight;
  gauge_family& upstream_connections;  // {target, state=idle|active}
  counter_family& upstream_errors_total;  // {target, type=connect|tls|timeout|protocol}
  // mvproxy_peers{state} and the sync ages are computed at scrape time by the control plane.

  // kube-apiserver names.
  counter_family& rerouted_request_total;           // {code, group, version, resource}
  counter_family& peer_proxy_errors_total;          // {type, group, version, resource}
  counter_family& peer_discovery_sync_errors_total;  // {type}
  counter& peer_aggregated_cache_hits_total;
  counter& peer_aggregated_cache_misses_total;
  counter& nopeer_requests_total;
};

}  // namespace mvproxy::metrics
