// The Prometheus registry's text format and the admin endpoints (pure).

#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "mvproxy/admin/endpoints.hpp"
#include "mvproxy/metrics/registry.hpp"
#include "mvproxy/metrics/standard.hpp"

namespace mvproxy {
namespace {

TEST(metrics_format, values) {
  const std::vector<std::pair<double, std::string>> table = {
      {0, "0"},         {1, "1"},           {2.5, "2.5"},        {1e6, "1e+06"},
      {0.005, "0.005"}, {INFINITY, "+Inf"}, {-INFINITY, "-Inf"}, {NAN, "NaN"},
      {-3, "-3"}};
  for (auto& [v, text] : table) EXPECT_EQ(metrics::format_value(v), text) << v;
}

TEST(metrics_format, escaping) {
  EXPECT_EQ(metrics::escape_label_value(R"(a"b\c)"
                                        "\n"),
            R"(a\"b\\c\n)");
  EXPECT_EQ(metrics::escape_help("x\\y\nz\"q"), "x\\\\y\\nz\"q");
}

TEST(metrics_registry, renders_counters_gauges_histograms_in_registration_order) {
  metrics::registry r;
  auto& c = r.add_counter("t_requests_total", "Requests.", {"route", "code"});
  auto& g = r.add_gauge("t_in_flight", "In flight.");
  auto& h = r.add_histogram("t_duration_seconds", "Latency.", {"route"}, {0.1, 1});
  r.add_gauge_callback("t_since_sync_seconds", "Since sync.", {"server"}, [] {
    return std::vector<metrics::sample>{{{"b"}, 2}, {{"a"}, 1.5}};
  });
  c.with({"local", "200"}).inc();
  c.with({"local", "200"}).inc(2);
  c.with({"peer-a", "503"}).inc();
  g.with({}).inc();
  h.with({"local"}).observe(0.05);
  h.with({"local"}).observe(0.1);  // le is inclusive
  h.with({"local"}).observe(5);
  EXPECT_EQ(r.render(),
            "# HELP t_requests_total Requests.\n"
            "# TYPE t_requests_total counter\n"
            "t_requests_total{route=\"local\",code=\"200\"} 3\n"
            "t_requests_total{route=\"peer-a\",code=\"503\"} 1\n"
            "# HELP t_in_flight In flight.\n"
            "# TYPE t_in_flight gauge\n"
            "t_in_flight 1\n"
            "# HELP t_duration_seconds Latency.\n"
            "# TYPE t_duration_seconds histogram\n"
            "t_duration_seconds_bucket{route=\"local\",le=\"0.1\"} 2\n"
            "t_duration_seconds_bucket{route=\"local\",le=\"1\"} 2\n"
            "t_duration_seconds_bucket{route=\"local\",le=\"+Inf\"} 3\n"
            "t_duration_seconds_sum{route=\"local\"} 5.15\n"
            "t_duration_seconds_count{route=\"local\"} 3\n"
            "# HELP t_since_sync_seconds Since sync.\n"
            "# TYPE t_since_sync_seconds gauge\n"
            "t_since_sync_seconds{server=\"a\"} 1.5\n"
            "t_since_sync_seconds{server=\"b\"} 2\n");
}

TEST(metrics_registry, bad_inputs) {
  metrics::registry r;
  auto& c = r.add_counter("t_total", "x", {"a"});
  EXPECT_THROW(c.with({}), std::invalid_argument);
  EXPECT_THROW(c.with({"1", "2"}), std::invalid_argument);
  EXPECT_THROW(r.add_histogram("t_h", "x", {}, {1, 0.5}), std::invalid_argument);
  EXPECT_THROW(r.add_histogram("t_h", "x", {}, {1, 1}), std::invalid_argument);
}

TEST(metrics_registry, concurrent_increments_are_not_lost) {
  metrics::registry r;
  auto& c = r.add_counter("t_total", "x", {"w"});
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      auto& child = c.with({"same"});
      for (int i = 0; i < 10000; ++i) child.inc();
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(c.with({"same"}).value(), 40000);
}

TEST(metrics_standard, upstream_names_are_registered) {
  metrics::registry r;
  metrics::standard_metrics m(r);
  auto text = r.render();
  for (const char* name :
       {"mvproxy_requests_total", "mvproxy_request_duration_seconds", "mvproxy_requests_in_flight",
        "mvproxy_upstream_connections", "apiserver_rerouted_request_total",
        "apiserver_peer_proxy_errors_total", "apiserver_peer_discovery_sync_errors_total",
        "aggregator_discovery_peer_aggregated_cache_hits_total",
        "aggregator_discovery_peer_aggregated_cache_misses_total",
        "aggregator_discovery_nopeer_requests_total"})
    EXPECT_NE(text.find(std::string("# TYPE ") + name + " "), std::string::npos) << name;
}

TEST(admin_endpoints, table) {
  metrics::registry r;
  r.add_counter("t_total", "x");
  admin::readiness ready;
  ready.require("listening");
  ready.require("discovery");
  admin::endpoints e(r, ready);
  e.add("/debug/peers", [] { return admin::response{200, "application/json", "[]"}; });
  struct row {
    std::string method, target;
    unsigned status;
    std::string body_prefix;
  };
  const std::vector<row> table = {
      {"GET", "/healthz", 200, "ok"},
      {"GET", "/livez", 200, "ok"},
      {"GET", "/readyz", 503, "not ready: waiting for: discovery, listening"},
      {"GET", "/metrics", 200, "# HELP t_total x"},
      {"GET", "/debug/peers", 200, "[]"},
      {"GET", "/healthz?verbose=1", 200, "ok"},
      {"HEAD", "/livez", 200, "ok"},
      // Bad inputs.
      {"GET", "/nope", 404, "not found"},
      {"POST", "/healthz", 405, "method not allowed"},
      {"GET", "/metrics/", 404, "not found"},
  };
  for (auto& t : table) {
    auto res = e.handle(t.method, t.target);
    EXPECT_EQ(res.status, t.status) << t.method << " " << t.target;
    EXPECT_EQ(res.body.rfind(t.body_prefix, 0), 0u) << t.target << ": " << res.body;
  }
  EXPECT_EQ(e.handle("GET", "/metrics").content_type, "text/plain; version=0.0.4; charset=utf-8");
  ready.open("listening");
  EXPECT_EQ(e.handle("GET", "/readyz").body, "not ready: waiting for: discovery");
  ready.open("discovery");
  EXPECT_EQ(e.handle("GET", "/readyz").status, 200u);
}

}  // namespace
}  // namespace mvproxy
