#include "mvproxy/probe/metrics.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using mvproxy::probe::probe_metrics;
using mvproxy::probe::resource_ref;
using mvproxy::probe::verb;

bool contains(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

TEST(ProbeMetrics, SeriesAndLabels) {
  mvproxy::metrics::registry r;
  probe_metrics m(r);
  resource_ref claims{"resource.k8s.io", "v1alpha3", "resourceclaims", true};
  resource_ref pods{"", "v1", "pods", true};
  m.observe("old", &claims, verb::list, 200, 0.004, 1700000000.5);
  m.observe("old", &claims, verb::list, 503, 0.002, 1700000009);  // not a success
  m.observe("new", &pods, verb::get, 0, 10, 1700000010);          // no answer
  m.observe("new", nullptr, verb::discovery, 200, 0.001, 1700000011);
  m.set_resources("old", 84);
  m.set_listed(claims, true);
  m.set_listed(pods, false);
  auto text = r.render();
  for (const char* line : {
           "# TYPE mvproxy_probe_requests_total counter",
           "mvproxy_probe_requests_total{sidecar=\"old\",group=\"resource.k8s.io\",version="
           "\"v1alpha3\","
           "resource=\"resourceclaims\",verb=\"list\",code=\"200\"} 1",
           "mvproxy_probe_requests_total{sidecar=\"old\",group=\"resource.k8s.io\",version="
           "\"v1alpha3\","
           "resource=\"resourceclaims\",verb=\"list\",code=\"503\"} 1",
           "mvproxy_probe_requests_total{sidecar=\"new\",group=\"\",version=\"v1\",resource="
           "\"pods\","
           "verb=\"get\",code=\"error\"} 1",
           "mvproxy_probe_requests_total{sidecar=\"new\",group=\"\",version=\"\",resource=\"\","
           "verb=\"discovery\",code=\"200\"} 1",
           "# TYPE mvproxy_probe_request_duration_seconds histogram",
           "mvproxy_probe_request_duration_seconds_count{sidecar=\"old\",verb=\"list\"} 2",
           "mvproxy_probe_request_duration_seconds_count{sidecar=\"new\",verb=\"discovery\"} 1",
           "# TYPE mvproxy_probe_resources gauge",
           "mvproxy_probe_resources{sidecar=\"old\"} 84",
           "mvproxy_probe_listed{group=\"resource.k8s.io\",version=\"v1alpha3\",resource="
           "\"resourceclaims\"} 1",
           "mvproxy_probe_listed{group=\"\",version=\"v1\",resource=\"pods\"} 0",
           "# TYPE mvproxy_probe_last_success_timestamp_seconds gauge",
           "mvproxy_probe_last_success_timestamp_seconds{sidecar=\"old\",group=\"resource.k8s.io\","
           "version=\"v1alpha3\",resource=\"resourceclaims\"} 1700000000.5",
       }) {
    EXPECT_TRUE(contains(text, line)) << line << "\n" << text;
  }
  // Failures and discovery reads leave the last-success gauge alone.
  EXPECT_FALSE(contains(text, "mvproxy_probe_last_success_timestamp_seconds{sidecar=\"new\""));
}

}  // namespace
