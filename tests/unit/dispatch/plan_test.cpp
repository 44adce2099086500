#include "mvproxy/dispatch/plan.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "mvproxy/discovery/parse.hpp"
#include "mvproxy/metrics/registry.hpp"

namespace mvproxy::dispatch {
namespace {

namespace bhttp = boost::beast::http;

const char* const kubectl_accept =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

discovery::server_model_ptr model_from(const std::string& name) {
  std::ifstream in(std::string(MVPROXY_FIXTURES_DIR) + "/discovery/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  auto doc = discovery::parse_aggregated(ss.str());
  EXPECT_TRUE(doc.ok()) << doc.error;
  return std::make_shared<const discovery::server_model>(
      discovery::make_server_model({}, std::move(doc.value->groups)));
}

class plan_test : public ::testing::Test {
 protected:
  void SetUp() override {
    view_.own_id = "a";
    view_.local = model_from("aggregated-apis-v2-allapis-v1.30-dev-c25b1ef.json");
    view::peer_info b;
    b.endpoint = {"b", "10.0.0.2", 7443, "b_1"};
    b.model = model_from("aggregated-apis-v2-allapis-v1.31-dev-0209a4c.json");
    b.runtime = std::make_shared<view::peer_runtime>("b");
    view_.peers.push_back(b);
  }

  plan make(bhttp::verb method, std::string target,
            std::vector<std::pair<std::string, std::string>> headers = {}, inputs in = {}) {
    bhttp::request_header<> h;
    h.method(method);
    h.target(target);
    for (auto& [k, v] : headers) h.set(k, v);
    return make_plan(h, in, view_, merged_);
  }

  view::cluster_view view_;
  view::merged_discovery merged_;
};

const std::string new_only = "/apis/resource.k8s.io/v1alpha3/namespaces/default/resourceclaims";

TEST_F(plan_test, new_only_resource_goes_to_the_peer) {
  auto p = make(bhttp::verb::get, new_only + "?limit=500");
  EXPECT_EQ(p.what, plan::action::forward);
  ASSERT_EQ(p.targets.size(), 1u);
  EXPECT_EQ(p.targets[0].id, "b");
  EXPECT_EQ(p.targets[0].host, "10.0.0.2");
  EXPECT_EQ(p.targets[0].port, 7443);
  EXPECT_TRUE(p.targets[0].peer);
  EXPECT_FALSE(p.local_first);
  EXPECT_EQ(p.route, route_kind::peer);
  EXPECT_EQ(p.label(), "b");
  EXPECT_EQ(p.group, "resource.k8s.io");
  EXPECT_EQ(p.version, "v1alpha3");
  EXPECT_EQ(p.resource, "resourceclaims");
}

TEST_F(plan_test, resource_served_locally_stays_local_with_failover) {
  auto p = make(bhttp::verb::get, "/apis/apps/v1/namespaces/default/deployments");
  EXPECT_EQ(p.what, plan::action::forward);
  ASSERT_EQ(p.targets.size(), 2u);
  EXPECT_EQ(p.targets[0].id, "local");
  EXPECT_FALSE(p.targets[0].peer);
  EXPECT_EQ(p.targets[1].id, "b");
  EXPECT_TRUE(p.local_first);
  EXPECT_EQ(p.route, route_kind::local);
  EXPECT_EQ(p.label(), "local");
}

TEST_F(plan_test, nobody_serves_it_local_404) {
  auto p = make(bhttp::verb::get, "/apis/example.com/v1/widgets");
  ASSERT_EQ(p.targets.size(), 1u);
  EXPECT_EQ(p.targets[0].id, "local");
}

TEST_F(plan_test, peer_proxied_from_a_trusted_peer_is_served_locally_or_handed_back) {
  inputs trusted;
  trusted.trusted_peer = true;
  auto served = make(bhttp::verb::get, "/apis/apps/v1/namespaces/default/deployments",
                     {{"x-kubernetes-peer-proxied", "true"}}, trusted);
  ASSERT_EQ(served.targets.size(), 1u);
  EXPECT_EQ(served.targets[0].id, "local");
  // Not served here: handed back with our marker, never forwarded onward (one hop).
  auto p = make(bhttp::verb::get, new_only, {{"x-kubernetes-peer-proxied", "true"}}, trusted);
  // The reason is what the local reply's x-mvproxy-handed-back carries.
  EXPECT_EQ(p.what, plan::action::refuse);
  EXPECT_TRUE(p.targets.empty());
  EXPECT_EQ(p.route, route_kind::handed_back);
  EXPECT_EQ(p.label(), "handed-back");
  EXPECT_EQ(p.reason, "not-served-here");
  // The same header from anyone else changes nothing.
  auto q = make(bhttp::verb::get, new_only, {{"x-kubernetes-peer-proxied", "true"}});
  EXPECT_EQ(q.targets[0].id, "b");
}

TEST_F(plan_test, gate_off_and_not_synced_pass_through) {
  inputs off;
  off.feature_enabled = false;
  EXPECT_EQ(make(bhttp::verb::get, new_only, {}, off).targets[0].id, "local");
  EXPECT_EQ(make(bhttp::verb::get, "/apis", {{"Accept", kubectl_accept}}, off).what,
            plan::action::forward);
  view_.local.reset();
  EXPECT_EQ(make(bhttp::verb::get, new_only).targets[0].id, "local");
  auto d = make(bhttp::verb::get, "/apis", {{"Accept", kubectl_accept}});
  EXPECT_EQ(d.what, plan::action::forward);
  EXPECT_EQ(d.targets[0].id, "local");
}

TEST_F(plan_test, ejected_capable_peer_is_refused_as_unavailable) {
  for (int i = 0; i < 3; ++i) view_.peers[0].runtime->on_failure(std::chrono::steady_clock::now());
  auto p = make(bhttp::verb::get, new_only);
  EXPECT_EQ(p.what, plan::action::refuse);
  EXPECT_EQ(p.route, route_kind::unavailable);
  EXPECT_TRUE(p.targets.empty());
  // What the local reply's message names.
  EXPECT_EQ(p.group, "resource.k8s.io");
  EXPECT_EQ(p.version, "v1alpha3");
  EXPECT_EQ(p.resource, "resourceclaims");
  EXPECT_FALSE(p.reason.empty());
}

TEST_F(plan_test, malformed_paths_are_refused_and_never_forwarded) {
  for (std::string bad : {"/api/v1/namespaces//pods", "/api/v1/namespaces/default/../pods",
                          "/apis/apps/v1/namespaces/default/dep%6Coyments"}) {
    auto p = make(bhttp::verb::get, bad);
    EXPECT_EQ(p.what, plan::action::refuse) << bad;
    EXPECT_EQ(p.route, route_kind::malformed) << bad;
    EXPECT_FALSE(p.malformed.empty()) << bad;
    EXPECT_TRUE(p.targets.empty()) << bad;
    EXPECT_EQ(p.label(), "malformed") << bad;
  }
}

// The route's label is what the access log and the request metrics carry: its values
// must not change with the type that holds it.
TEST(plan_route, labels_keep_their_values) {
  const std::pair<route_kind, std::string_view> table[] = {
      {route_kind::local, "local"},         {route_kind::peer, "peer"},
      {route_kind::merged, "merged"},       {route_kind::unavailable, "unavailable"},
      {route_kind::malformed, "malformed"}, {route_kind::peer_state, "state"},
      {route_kind::waiting, "waiting"},     {route_kind::handed_back, "handed-back"},
  };
  for (auto& [kind, label] : table) {
    EXPECT_EQ(to_string(kind), label);
    plan p;
    p.route = kind;
    EXPECT_EQ(p.label(), label);
  }
  // A peer route is labelled with the peer it goes to first.
  plan p;
  p.route = route_kind::peer;
  p.targets.push_back({"cp-2", "10.0.0.2", 6443, true, nullptr});
  EXPECT_EQ(p.label(), "cp-2");
}

TEST_F(plan_test, merged_discovery_with_etag_vary_and_304) {
  metrics::registry reg;
  auto& nopeer = reg.add_counter("aggregator_discovery_nopeer_requests_total", "x").with({});
  inputs in;
  in.nopeer_requests = &nopeer;
  auto p = make(bhttp::verb::get, "/apis", {{"Accept", kubectl_accept}}, in);
  ASSERT_EQ(p.what, plan::action::respond);
  EXPECT_EQ(p.route, route_kind::merged);
  EXPECT_EQ(p.label(), "merged");
  EXPECT_EQ(p.response.status, 200u);
  EXPECT_EQ(p.response.content_type,
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
  std::string etag;
  bool vary = false;
  for (auto& [k, v] : p.response.headers) {
    if (k == "ETag") etag = v;
    if (k == "Vary" && v == "Accept") vary = true;
  }
  EXPECT_TRUE(vary);
  ASSERT_EQ(etag.size(), 130u);  // quoted 128 hex digits
  EXPECT_NE(p.response.body().find("v1alpha3"), std::string_view::npos);
  EXPECT_NE(p.response.body().find("v1alpha2"), std::string_view::npos);

  auto again =
      make(bhttp::verb::get, "/apis", {{"Accept", kubectl_accept}, {"If-None-Match", etag}});
  EXPECT_EQ(again.response.status, 304u);
  EXPECT_TRUE(again.response.body().empty());

  // v2beta1 for a client that asks only for it (kubectl 1.27).
  auto beta = make(
      bhttp::verb::get, "/apis",
      {{"Accept", "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"}});
  EXPECT_EQ(beta.response.content_type,
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList");
  // Plain JSON gets the merged legacy list; /api too.
  auto legacy = make(bhttp::verb::get, "/apis", {{"Accept", "application/json"}});
  EXPECT_EQ(legacy.response.content_type, "application/json");
  EXPECT_NE(legacy.response.body().find("\"kind\":\"APIGroupList\""), std::string_view::npos);
  auto api = make(bhttp::verb::get, "/api", {});
  EXPECT_EQ(api.what, plan::action::respond);
  EXPECT_NE(api.response.body().find("\"kind\":\"APIVersions\""), std::string_view::npos);

  // profile=nopeer: the local apiserver's own view, counted.
  auto np = make(
      bhttp::verb::get, "/apis",
      {{"Accept",
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;profile=nopeer"}},
      in);
  EXPECT_EQ(np.what, plan::action::forward);
  EXPECT_EQ(np.targets.size(), 1u);
  EXPECT_EQ(nopeer.value(), 1);
  // Not a read, or protobuf only: the local apiserver.
  EXPECT_EQ(make(bhttp::verb::post, "/apis", {{"Accept", kubectl_accept}}).what,
            plan::action::forward);
  EXPECT_EQ(
      make(bhttp::verb::get, "/apis", {{"Accept", "application/vnd.kubernetes.protobuf"}}).what,
      plan::action::forward);
}

TEST_F(plan_test, per_group_legacy_discovery_follows_the_group_version) {
  auto p = make(bhttp::verb::get, "/apis/resource.k8s.io/v1alpha3");
  ASSERT_EQ(p.what, plan::action::forward);
  EXPECT_EQ(p.targets[0].id, "b");
  auto q = make(bhttp::verb::get, "/apis/apps/v1");
  EXPECT_EQ(q.targets[0].id, "local");
}

// Uniform peer choice end to end: among capable healthy peers, the first target is each
// one about equally often over many plans with real random draws (the router's own
// test covers the arithmetic; this one the draw, the view and the plan together).
TEST_F(plan_test, first_peer_is_chosen_uniformly_over_many_plans) {
  for (const char* id : {"c", "d"}) {
    view::peer_info p = view_.peers.front();
    p.endpoint.id = id;
    p.runtime = std::make_shared<view::peer_runtime>(id);
    view_.peers.push_back(p);
  }
  std::mt19937_64 rng(std::random_device{}());
  std::map<std::string, int> first;
  std::string previous;
  int longest_run = 0, run = 0;
  const int n = 3000;
  for (int i = 0; i < n; ++i) {
    inputs in;
    in.random = rng();
    auto p = make(bhttp::verb::get, new_only, {}, in);
    ASSERT_EQ(p.targets.size(), 3u);
    const auto& id = p.targets.front().id;
    ++first[id];
    run = id == previous ? run + 1 : 1;
    longest_run = std::max(longest_run, run);
    previous = id;
  }
  ASSERT_EQ(first.size(), 3u);
  // Binomial(3000, 1/3): mean 1000, sd ~26; 6 sd either side.
  for (auto& [id, count] : first) {
    EXPECT_GT(count, 840) << id;
    EXPECT_LT(count, 1160) << id;
  }
  // Runs of one peer stay short (P(a run >= 18) over 3000 draws is ~2e-5).
  EXPECT_LT(longest_run, 18);
}

// A peer whose apiserver it reported down is never chosen first, however the draw
// falls: it is only the fallback after the up peers hand the request back.
TEST_F(plan_test, a_peer_with_its_apiserver_down_is_never_chosen_first) {
  view::peer_info c = view_.peers.front();
  c.endpoint.id = "c";
  c.runtime = std::make_shared<view::peer_runtime>("c");
  c.apiserver = routing::apiserver_state::down;
  view_.peers.push_back(c);
  for (std::uint64_t r = 0; r < 64; ++r) {
    inputs in;
    in.random = r;
    auto p = make(bhttp::verb::get, new_only, {}, in);
    ASSERT_EQ(p.targets.size(), 2u);
    EXPECT_EQ(p.targets.front().id, "b");
    EXPECT_EQ(p.targets.back().id, "c");
  }
}

}  // namespace
}  // namespace mvproxy::dispatch
