// Apiservers restarting under running sidecars, as in a rolling upgrade: a sidecar
// re-reads its apiserver before routing by it again, a restart never surfaces as a
// failure, a change reaches every sidecar at once (pushed, not polled), and a peer
// that cannot serve a request hands it back instead of answering 404.

#include <gtest/gtest.h>

#include <sstream>

#include "cluster.hpp"

namespace mvproxy::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::string new_only = "/apis/resource.k8s.io/v1alpha3/namespaces/default/resourceclaims";
const std::string old_only = "/apis/resource.k8s.io/v1alpha2/namespaces/default/resourceclaims";
const std::string both = "/api/v1/namespaces/default/configmaps";

class restart : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string why;
    if (!cluster::can_run(why)) GTEST_SKIP() << why;
    c_ = std::make_unique<cluster>();
  }
  // The shipped discovery sync interval: what happens fast here is pushed, not polled.
  void start(const std::vector<std::string>& ids) {
    for (auto& id : ids) c_->start(id, GetParam(), ids, {"--discovery-sync-interval=10s"});
    for (auto& id : ids)
      ASSERT_TRUE(c_->wait_peers(id, ids.size() - 1))
          << id << ": " << c_->at(id).admin("/debug/peers");
  }
  void control(const std::string& instance, const std::string& action) {
    auto r = c_->api().control(instance, action);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  // n concurrent GETs (curl --parallel, one connection each); the status codes.
  std::vector<int> burst(const std::string& url, int n) {
    std::string cmd = "curl -s -Z --parallel-max " + std::to_string(n) + " --cacert " +
                      (c_->dir() / "ca.crt").string() + " --cert " +
                      (c_->dir() / "admin.crt").string() + " --key " +
                      (c_->dir() / "admin.key").string();
    for (int i = 0; i < n; ++i) cmd += " -o /dev/null -w '%{http_code}\\n' '" + url + "'";
    std::istringstream out(run_command("(" + cmd + " 2>/dev/null)").output);
    std::vector<int> codes;
    for (int code; out >> code;) codes.push_back(code);
    return codes;
  }
  static std::string summary(const std::vector<int>& codes) {
    std::map<int, int> n;
    for (int c : codes) ++n[c];
    std::string s;
    for (auto& [code, count] : n) s += std::to_string(code) + "x" + std::to_string(count) + " ";
    return s;
  }
  void expect_all(const std::vector<int>& codes, int want, std::size_t n, const std::string& what) {
    EXPECT_EQ(codes.size(), n) << what;
    EXPECT_EQ(static_cast<std::size_t>(std::count(codes.begin(), codes.end(), want)), codes.size())
        << what << ": " << summary(codes);
  }
  json peers_doc(const std::string& id) {
    return json::parse(c_->at(id).admin("/debug/peers"), nullptr, false);
  }
  std::unique_ptr<cluster> c_;
};

// "new" (v1.31) restarts as v1.30 under its sidecar, with 16 upstream connections
// pooled. Its sidecar must not route by the discovery it read before the restart
// (which says v1alpha3 is served here): v1alpha3 goes to new2 the moment "new" is back,
// and no pooled connection the restart closed turns into a 5xx.
TEST_P(restart, apiserver_back_as_another_version_is_reread_before_routing) {
  start({"old", "new", "new2"});
  const auto url = c_->at("new").url();
  expect_all(burst(url + both, 16), 200, 16, "warm-up");

  control("new", "stop");
  expect_all(burst(url + both, 16), 200, 16, "apiserver down: served by a peer");
  expect_all(burst(url + new_only, 8), 200, 8, "apiserver down: v1alpha3 by new2");
  control("new", "profile?name=v1.30");
  control("new", "start");
  // At once, concurrently, nothing waited for.
  expect_all(burst(url + new_only, 16), 200, 16, "v1alpha3 right after the restart");
  expect_all(burst(url + old_only, 16), 200, 16, "v1alpha2 right after the restart");
  expect_all(burst(url + both, 16), 200, 16, "configmaps right after the restart");

  // Nothing asked "new" for v1alpha3 once it no longer served it: no apiserver 404.
  for (auto& e : c_->served(new_only)) EXPECT_NE(e["status"], 404) << e.dump();
  // The sidecar sees its apiserver up again within its probe interval (100 ms while
  // it refuses): the bursts above may all have been served by peers before that.
  json doc;
  EXPECT_TRUE(wait_until(
      [&] {
        doc = peers_doc("new");
        return doc["local"]["apiserver"] == "up";
      },
      5s))
      << doc.dump(2);
}

// The same restart with pooled connections and no change of version: a burst right
// after the apiserver is back gets no 5xx (each closed connection is noticed before
// use, or retried on a fresh connection).
TEST_P(restart, pooled_connections_closed_by_a_restart_never_fail_a_request) {
  start({"old", "new"});
  const auto url = c_->at("old").url();
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    expect_all(burst(url + both, 16), 200, 16, "warm-up");
    control("old", "stop");
    control("old", "start");
    expect_all(burst(url + both, 16), 200, 16, "after the restart");
  }
  auto metrics = c_->at("old").admin("/metrics");
  EXPECT_NE(metrics.find("mvproxy_local_apiserver_transitions_total{state=\"unconfirmed\"}"),
            std::string::npos)
      << metrics;
}

// With --discovery-sync-interval=10s, a change of what "old" serves reaches the other
// sidecar's routing in under a second: pushed (long-poll of /mvproxy/v1/state).
TEST_P(restart, a_change_reaches_the_other_sidecar_in_under_a_second) {
  start({"old", "new"});
  auto serves_v1alpha3 = [&](const json& doc) {
    for (auto& p : doc["peers"])
      if (p["id"] == "old" && p.contains("groupVersions"))
        for (auto& gv : p["groupVersions"])
          if (gv == "resource.k8s.io/v1alpha3") return p.value("apiserver", "") == "up";
    return false;
  };
  ASSERT_FALSE(serves_v1alpha3(peers_doc("new")));
  control("old", "stop");
  control("old", "profile?name=v1.31");
  control("old", "start");
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_until([&] { return serves_v1alpha3(peers_doc("new")); }, 5s))
      << peers_doc("new").dump(2);
  auto took = std::chrono::steady_clock::now() - t0;
  std::printf(
      "propagation to the other sidecar: %lld ms\n",
      static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
  EXPECT_LT(took, 1s);
  // And a v1alpha3 request through "new" goes wherever: both serve it now.
  expect_all(burst(c_->at("new").url() + new_only, 4), 200, 4, "v1alpha3 through new");
}

// Both capable peers hand the request back (their apiservers are down): each is asked
// once, then the client gets a 503 Status with Retry-After — never a loop, never a 404.
TEST_P(restart, a_request_every_peer_hands_back_ends_in_one_503) {
  start({"old", "new", "new2"});
  control("new", "stop");
  control("new2", "stop");
  auto r = c_->curl(c_->at("old").url() + new_only);
  EXPECT_EQ(r.code, 503) << r.body;
  EXPECT_NE(header_value(r.headers, "Retry-After"), "") << r.headers;
  EXPECT_NE(r.body.find("\"kind\":\"Status\""), std::string::npos) << r.body;
  // One try per candidate: each peer was asked exactly once and handed it back (as a
  // capable peer, or — when old already knew its apiserver was down — to be sure).
  auto metrics = c_->at("old").admin("/metrics");
  for (const char* peer : {"new", "new2"}) {
    auto series =
        std::string("mvproxy_upstream_errors_total{target=\"") + peer + "\",type=\"handed-back\"} ";
    auto at = metrics.find(series);
    ASSERT_NE(at, std::string::npos) << series << "\n" << metrics << c_->at("old").proc().output();
    EXPECT_EQ(std::atoi(metrics.c_str() + at + series.size()), 1) << series;
  }
  // An apiserver comes back: served again (in Lease mode once its sidecar renews the
  // Lease that lapsed while the apiserver was down).
  control("new", "start");
  EXPECT_TRUE(wait_until([&] { return c_->curl(c_->at("old").url() + new_only).code == 200; }, 5s));
  control("new2", "start");
}

// CRDs are served by every apiserver from the shared store: their group-versions are
// never routed to a peer, and a deleted one stays excluded for the grace period (so a
// peer's stale discovery cannot bring it back). Here a CRD claims resource.k8s.io's
// v1alpha3, which only "new" serves built in: while the CRD exists, "old" serves it
// itself and its sidecar never sends it to "new"; the CRD's peer view is stale.
TEST(crd_exclusion, a_crds_group_version_is_never_routed_to_a_peer_until_the_grace_ends) {
  std::string why;
  if (!cluster::can_run(why)) GTEST_SKIP() << why;
  cluster c;
  c.start("old", "lease", {}, {"--peer-exclusion-grace-period=2s"});
  c.start("new", "lease", {}, {"--peer-exclusion-grace-period=2s"});
  ASSERT_TRUE(c.wait_peers("old", 1)) << c.at("old").admin("/debug/peers");
  // The request log of the stand-in says which apiserver answered.
  auto served_by = [&](const std::string& instance) {
    std::size_t n = 0;
    for (auto& e : c.served(new_only)) n += e.value("instance", "") == instance;
    return n;
  };
  ASSERT_EQ(c.curl(c.at("old").url() + new_only).code, 200);
  ASSERT_EQ(served_by("new"), 1u) << "before the CRD, a peer serves what old lacks";
  const std::string crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
  auto made = c.curl(c.api().url("old") + crds, "admin", {}, "POST",
                     R"({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",)"
                     R"("metadata":{"name":"resourceclaims.resource.k8s.io"},"spec":{"group":)"
                     R"("resource.k8s.io","scope":"Namespaced","names":{"plural":"resourceclaims",)"
                     R"("kind":"ResourceClaim"},"versions":[{"name":"v1alpha3","served":true,)"
                     R"("storage":true,"schema":{"openAPIV3Schema":{"type":"object",)"
                     R"("x-kubernetes-preserve-unknown-fields":true}}}]}})");
  ASSERT_EQ(made.code, 201) << made.body;
  // Once the sidecar has read the CRD (the test sidecars read every 500 ms), "old"
  // serves the group-version itself.
  ASSERT_TRUE(wait_until(
      [&] {
        auto before = served_by("old");
        return c.curl(c.at("old").url() + new_only).code == 200 && served_by("old") > before;
      },
      5s));
  auto by_new = served_by("new"), by_old = served_by("old");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(c.curl(c.at("old").url() + new_only).code, 200);
  EXPECT_EQ(served_by("old"), by_old + 5);
  EXPECT_EQ(served_by("new"), by_new) << "a CRD's group-version went to a peer";
  auto doc = nlohmann::json::parse(c.at("old").admin("/debug/peers"));
  for (auto& gv : doc["peers"][0]["groupVersions"]) EXPECT_NE(gv, "resource.k8s.io/v1alpha3");
  // Deleted: still excluded for the grace period (old no longer serves it: 404), then
  // routed to "new" again.
  ASSERT_EQ(
      c.curl(c.api().url("old") + crds + "/resourceclaims.resource.k8s.io", "admin", {}, "DELETE")
          .code,
      200);
  auto deleted = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_until([&] { return c.curl(c.at("old").url() + new_only).code == 404; }, 2s));
  EXPECT_EQ(served_by("new"), by_new) << "routed to a peer within the grace period";
  ASSERT_TRUE(wait_until([&] { return c.curl(c.at("old").url() + new_only).code == 200; }, 10s));
  EXPECT_GE(std::chrono::steady_clock::now() - deleted, 1500ms);
  EXPECT_EQ(served_by("new"), by_new + 1);
}

INSTANTIATE_TEST_SUITE_P(membership, restart, ::testing::Values("lease", "static"));

}  // namespace
}  // namespace mvproxy::test
