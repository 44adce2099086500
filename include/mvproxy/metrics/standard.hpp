#pragma once
// The daemon's metric families (SPEC §7), registered once by the app and handed to the
// modules that update them. Upstream-named series keep kube-apiserver's names and
// labels so dashboards built for built-in MVP work unchanged.

#include <string_view>

#include "mvproxy/metrics/registry.hpp"

namespace mvproxy::metrics {

// The `type` values of kube-apiserver's peer-proxy error series, as
// k8s.io/apiserver/pkg/util/peerproxy/metrics defines them.
// apiserver_peer_proxy_errors_total: the peer's address could not be resolved...
inline constexpr std::string_view proxy_error_endpoint_resolution = "endpoint_resolution";
// ...or the transport to it could not be built (upstream); mvproxy: it failed.
inline constexpr std::string_view proxy_error_transport = "proxy_transport";
// apiserver_peer_discovery_sync_errors_total: listing the peers' Leases failed...
inline constexpr std::string_view discovery_error_lease_list = "lease_list";
// ...a peer's Lease gave no usable host:port...
inline constexpr std::string_view discovery_error_hostport_resolution = "hostport_resolution";
// ...or reading a peer's discovery failed.
inline constexpr std::string_view discovery_error_fetch = "fetch_discovery";

struct standard_metrics {
  explicit standard_metrics(registry& r);

  // mvproxy_* series.
  counter_family& requests_total;              // {route, code}
  histogram_family& request_duration_seconds;  // {route}
  gauge& requests_in_flight;
  gauge_family& upstream_connections;  // {target, state=idle|active}
  // {target, type=connect|tls|timeout|broken|handed-back}: the exact reason, per target.
  counter_family& upstream_errors_total;
  // mvproxy_peers{state} and the sync ages are computed at scrape time by the control plane.

  // kube-apiserver names.
  counter_family& rerouted_request_total;  // {code, group, version, resource}
  // {type=endpoint_resolution|proxy_transport, group, version, resource}
  counter_family& peer_proxy_errors_total;
  // {type=lease_list|hostport_resolution|fetch_discovery}
  counter_family& peer_discovery_sync_errors_total;
  counter& peer_aggregated_cache_hits_total;
  counter& peer_aggregated_cache_misses_total;
  counter& nopeer_requests_total;
};

}  // namespace mvproxy::metrics
