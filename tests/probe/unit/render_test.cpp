#include "mvproxy/probe/render.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using mvproxy::probe::counts;
using mvproxy::probe::format_counts;
using mvproxy::probe::format_percent;
using mvproxy::probe::ledger;
using mvproxy::probe::live_view;
using mvproxy::probe::outcome;
using mvproxy::probe::render_live;
using mvproxy::probe::render_summary_json;
using mvproxy::probe::render_summary_text;
using mvproxy::probe::resource_ref;
using mvproxy::probe::verb;

const ledger::clock::time_point t0{};
const resource_ref pods{"", "v1", "pods", true};
const resource_ref claims2{"resource.k8s.io", "v1alpha2", "resourceclaims", true};
const resource_ref claims3{"resource.k8s.io", "v1alpha3", "resourceclaims", true};

// Lines with runs of spaces collapsed, so expectations name cells, not padding.
std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::string collapsed;
    for (char c : line) {
      if (c == ' ' && !collapsed.empty() && collapsed.back() == ' ') continue;
      collapsed += c;
    }
    out.push_back(collapsed);
  }
  return out;
}

// An upgrade caught mid-way: "old" lists v1alpha2, "new" does not; v1alpha3 failed
// once through old; v1alpha2 is gone through new.
ledger mid_upgrade() {
  ledger l({"old", "new"}, 60s);
  l.set_discovered(0, {pods, claims2, claims3});
  l.set_discovered(1, {pods, claims3});
  l.record_discovery(0, 200, 0.001, t0);
  l.record_discovery(1, 200, 0.001, t0);
  for (std::size_t s : {0, 1}) {
    l.record(s, 0, verb::list, 200, 0.004, t0);
    l.record(s, 0, verb::get, 200, 0.002, t0);
  }
  l.record(0, 1, verb::list, 200, 0.003, t0);
  l.record(1, 1, verb::list, 404, 0.001, t0 + 1s);
  l.record(1, 1, verb::list, 404, 0.001, t0 + 2s);
  l.record(0, 2, verb::list, 503, 0.010, t0 + 1s);
  l.record(0, 2, verb::list, 200, 0.020, t0 + 2s);
  l.record(1, 2, verb::list, 200, 0.006, t0 + 2s);
  l.note_failure(0, "LIST resourceclaims.v1alpha3.resource.k8s.io: HTTP 503", t0 + 1s);
  l.note_failure(1, "LIST resourceclaims.v1alpha2.resource.k8s.io: HTTP 404", t0 + 2s);
  return l;
}

TEST(ProbeRender, Percent) {
  struct row {
    double share;
    const char* want;
  };
  for (const auto& c : std::vector<row>{{1, "100%"},
                                        {0, "0%"},
                                        {0.5, "50%"},
                                        {0.975, "97.5%"},
                                        {2.0 / 3, "66.6%"},
                                        {0.9999, "99.9%"},  // never rounded up to 100%
                                        {0.001, "0.1%"},
                                        {0.0004, "0%"},
                                        {1.5, "100%"},
                                        {-1, "0%"}}) {
    EXPECT_EQ(format_percent(c.share), c.want) << c.share;
  }
}

TEST(ProbeRender, Counts) {
  counts c;
  EXPECT_EQ(format_counts(c), "-");
  c.add(outcome::ok);
  EXPECT_EQ(format_counts(c), "1/1");
  c.add(outcome::transport_error);
  c.add(outcome::not_found);
  c.add(outcome::server_error);
  c.add(outcome::server_error);
  c.add(outcome::other);
  EXPECT_EQ(format_counts(c), "1/6 404:1 5xx:2 other:1 error:1");
}

TEST(ProbeRender, SummaryText) {
  auto text = render_summary_text(mid_upgrade(), 3s);
  EXPECT_EQ(lines(text),
            (std::vector<std::string>{
                "mvproxy probe summary: 3s, 2 sidecars, 3 resources, 12 requests, 9 ok",
                "RESOURCE old new",
                "(discovery) 1/1 1/1",
                "pods.v1 2/2 2/2",
                "resourceclaims.v1alpha2.resource.k8s.io 1/1 0/2 404:2*",
                "resourceclaims.v1alpha3.resource.k8s.io 1/2 5xx:1 1/1",
                "* not in that sidecar's merged discovery at the end",
                "latency mean/max: old 6.7ms/20.0ms new 2.5ms/6.0ms",
                "last failure via old: LIST resourceclaims.v1alpha3.resource.k8s.io: HTTP 503",
                "last failure via new: LIST resourceclaims.v1alpha2.resource.k8s.io: HTTP 404",
                "result: 3 of 12 requests failed (404: 2, 5xx: 1, other: 0, error: 0)",
            }))
      << text;
  // Columns line up: every row's second column starts where "old" does.
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  std::getline(in, line);
  auto column = line.find("old");
  for (int i = 0; i < 4 && std::getline(in, line); ++i) {
    EXPECT_EQ(line[column - 1], ' ') << line;
    EXPECT_NE(line[column], ' ') << line;
  }
}

TEST(ProbeRender, SummaryWhenAllIsWell) {
  ledger l({"a"}, 60s);
  l.set_discovered(0, {pods});
  l.record_discovery(0, 200, 0.001, t0);
  l.record(0, 0, verb::list, 200, 0.001, t0);
  auto out = lines(render_summary_text(l, 65s));
  EXPECT_EQ(out.front(), "mvproxy probe summary: 1m5s, 1 sidecars, 1 resources, 2 requests, 2 ok");
  EXPECT_EQ(out.back(), "result: every request succeeded");
  ledger none({"a"}, 60s);
  EXPECT_EQ(lines(render_summary_text(none, 1s)).back(), "result: no request was made");
}

TEST(ProbeRender, SummaryJson) {
  auto j = nlohmann::json::parse(render_summary_json(mid_upgrade(), 3s));
  EXPECT_EQ(j["duration_seconds"], 3.0);
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["requests"]["total"], 12);
  EXPECT_EQ(j["requests"]["ok"], 9);
  EXPECT_EQ(j["sidecars"], nlohmann::json({"old", "new"}));
  EXPECT_EQ(j["discovery"]["old"]["resources"], 3);
  EXPECT_EQ(j["discovery"]["new"]["resources"], 2);
  EXPECT_EQ(j["last_failure"]["old"], "LIST resourceclaims.v1alpha3.resource.k8s.io: HTTP 503");
  ASSERT_EQ(j["resources"].size(), 3u);
  const auto& claims = j["resources"][2];
  EXPECT_EQ(claims["name"], "resourceclaims.v1alpha3.resource.k8s.io");
  EXPECT_EQ(claims["group"], "resource.k8s.io");
  EXPECT_EQ(claims["version"], "v1alpha3");
  EXPECT_EQ(claims["resource"], "resourceclaims");
  EXPECT_EQ(claims["namespaced"], true);
  const auto& via_old = claims["sidecars"]["old"];
  EXPECT_EQ(via_old["total"], 2);
  EXPECT_EQ(via_old["ok"], 1);
  EXPECT_EQ(via_old["server_error"], 1);
  EXPECT_EQ(via_old["availability"], 0.5);
  EXPECT_EQ(via_old["list"]["total"], 2);
  EXPECT_EQ(via_old["get"]["total"], 0);
  EXPECT_TRUE(via_old["get"]["availability"].is_null());
  EXPECT_EQ(via_old["in_discovery"], true);
  EXPECT_DOUBLE_EQ(via_old["latency_max_seconds"].get<double>(), 0.02);
  EXPECT_EQ(j["resources"][1]["sidecars"]["new"]["in_discovery"], false);
  EXPECT_EQ(j["resources"][1]["sidecars"]["new"]["not_found"], 2);
}

TEST(ProbeRender, LiveTableOnATerminal) {
  auto l = mid_upgrade();
  auto text = render_live(l, t0 + 3s, 3s, live_view{true, 0, false});
  EXPECT_EQ(text.rfind("\x1b[H\x1b[2J", 0), 0u);  // redrawn from the top
  auto out = lines(text.substr(7));
  EXPECT_EQ(out, (std::vector<std::string>{
                     "mvproxy probe elapsed 3s requests 12, 3 failed 3 resources x 2 sidecars "
                     "(cells: last 1m0s)",
                     "RESOURCE old new",
                     "(discovery) 100% 100%",
                     "(answers) 6 6",
                     "(slowest) 20.0ms 6.0ms",
                     // Rows below 100% first, in discovery order; then the rest.
                     "resourceclaims.v1alpha2.resource.k8s.io 100% 0%*",
                     "resourceclaims.v1alpha3.resource.k8s.io 50% 100%",
                     "pods.v1 100% 100%",
                     "* not in that sidecar's merged discovery - not asked in the window",
                     "last failure via old (2s ago): LIST resourceclaims.v1alpha3.resource.k8s.io: "
                     "HTTP 503",
                     "last failure via new (1s ago): LIST resourceclaims.v1alpha2.resource.k8s.io: "
                     "HTTP 404",
                 }))
      << text;
}

TEST(ProbeRender, LiveTableWindowAndRowLimit) {
  auto l = mid_upgrade();
  // 61.5 s on: only answers from t0+2s are in the window.
  auto out = lines(render_live(l, t0 + 61500ms, 61s, live_view{true, 1, false}).substr(7));
  EXPECT_EQ(out[2], "(discovery) - -");
  EXPECT_EQ(out[3], "(answers) 1 2");
  EXPECT_EQ(out[4], "(slowest) 20.0ms 6.0ms");
  EXPECT_EQ(out[5], "resourceclaims.v1alpha2.resource.k8s.io - 0%*");
  EXPECT_EQ(out[6], "(2 resources not shown, none below 100% in the window)");
  auto cramped = lines(render_live(l, t0 + 3s, 3s, live_view{true, 1, false}).substr(7));
  EXPECT_EQ(cramped[6], "(2 resources not shown, some below 100%: make the terminal taller)");
  // Failures older than the window are no longer shown.
  EXPECT_EQ(
      out.back(),
      "last failure via new (59s ago): LIST resourceclaims.v1alpha2.resource.k8s.io: HTTP 404");
}

TEST(ProbeRender, LiveBlockForALogIsShort) {
  auto l = mid_upgrade();
  auto text = render_live(l, t0 + 3s, 3s, live_view{false, 0, true});
  EXPECT_EQ(text.find('\x1b'), std::string::npos);  // no terminal codes in a log
  auto out = lines(text);
  EXPECT_EQ(out[1], "RESOURCE old new");
  EXPECT_EQ(out[5], "resourceclaims.v1alpha2.resource.k8s.io 100% 0%*");
  EXPECT_EQ(out[6], "resourceclaims.v1alpha3.resource.k8s.io 50% 100%");
  EXPECT_EQ(out[7], "(1 resource not shown, none below 100% in the window)");

  ledger healthy({"a"}, 60s);
  healthy.set_discovered(0, {pods});
  healthy.record(0, 0, verb::list, 200, 0.001, t0);
  auto calm = lines(render_live(healthy, t0 + 1s, 1s, live_view{false, 0, true}));
  // Header, titles, the three sidecar rows, "not shown", legend.
  EXPECT_EQ(calm, (std::vector<std::string>{
                      "mvproxy probe elapsed 1s requests 1, 0 failed 1 resources x 1 sidecars "
                      "(cells: last 1m0s)",
                      "RESOURCE a",
                      "(discovery) -",
                      "(answers) 1",
                      "(slowest) 1.0ms",
                      "(1 resource not shown, none below 100% in the window)",
                      "* not in that sidecar's merged discovery - not asked in the window",
                  }));
}

}  // namespace
