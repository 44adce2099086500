#pragma once
// The probe's Prometheus series, in a metrics::registry that `--metrics-address`
// serves. Updating them is plain arithmetic; nothing here opens a socket.

#include <string>

#include "mvproxy/metrics/registry.hpp"
#include "mvproxy/probe/ledger.hpp"

namespace mvproxy::probe {

class probe_metrics {
 public:
  explicit probe_metrics(metrics::registry& r);

  // One answered (status > 0) or failed (status 0) request. `resource` is null for
  // discovery reads. `unix_seconds` is the wall clock, for the last-success gauge.
  void observe(const std::string& sidecar, const resource_ref* resource, verb v, unsigned status,
               double seconds, double unix_seconds);
  void set_resources(const std::string& sidecar, std::size_t n);
  // Whether any sidecar's discovery lists the resource now. A version the upgrade
  // removed stays probed (and answers 404) but is listed nowhere: the alerts leave it out.
  void set_listed(const resource_ref& resource, bool listed);

 private:
  metrics::counter_family& requests_;
  metrics::histogram_family& duration_;
  metrics::gauge_family& resources_;
  metrics::gauge_family& last_success_;
  metrics::gauge_family& listed_;
};

}  // namespace mvproxy::probe
