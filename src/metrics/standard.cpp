#include "mvproxy/metrics/standard.hpp"

namespace mvproxy::metrics {

standard_metrics::standard_metrics(registry& r)
    : requests_total(r.add_counter(
          "mvproxy_requests_total",
          "Requests served, by route (local, peer id, merged) and HTTP code.", {"route", "code"})),
      request_duration_seconds(r.add_histogram(
          "mvproxy_request_duration_seconds",
          "Time from the request head to the end of the response, by route.", {"route"})),
      requests_in_flight(r.add_gauge("mvproxy_requests_in_flight",
                                     "Requests currently being served (watches included).")
                             .with({})),
      upstream_connections(r.add_gauge("mvproxy_upstream_connections",
                                       "Connections to upstreams, by target and state.",
                                       {"target", "state"})),
      upstream_errors_total(r.add_counter("mvproxy_upstream_errors_total",
                                          "Failures reaching an upstream, by target and type.",
                                          {"target", "type"})),
      rerouted_request_total(r.add_counter(
          "apiserver_rerouted_request_total",
          "Total number of requests that were proxied to a peer kube apiserver because the "
          "local apiserver was not capable of serving it",
          {"code", "group", "version", "resource"})),
      peer_proxy_errors_total(r.add_counter(
          "apiserver_peer_proxy_errors_total",
          "Total number of errors encountered while proxying requests to a peer kube apiserver",
          {"type", "group", "version", "resource"})),
      peer_discovery_sync_errors_total(
          r.add_counter("apiserver_peer_discovery_sync_errors_total",
                        "Total number of errors encountered while syncing discovery information "
                        "from a peer kube-apiserver",
                        {"type"})),
      peer_aggregated_cache_hits_total(
          r.add_counter(
               "aggregator_discovery_peer_aggregated_cache_hits_total",
               "Number of times the peer-aggregated discovery document was served from cache")
              .with({})),
      peer_aggregated_cache_misses_total(
          r.add_counter("aggregator_discovery_peer_aggregated_cache_misses_total",
                        "Number of times the peer-aggregated discovery document had to be rebuilt")
              .with({})),
      nopeer_requests_total(r.add_counter("aggregator_discovery_nopeer_requests_total",
                                          "Number of discovery requests with profile=nopeer")
                                .with({})) {}

}  // namespace mvproxy::metrics
