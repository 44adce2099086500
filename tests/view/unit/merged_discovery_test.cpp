#include "mvproxy/view/merged_discovery.hpp"

#include <gtest/gtest.h>

#include <set>

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "mvproxy/discovery/parse.hpp"
#include "mvproxy/discovery/render.hpp"
#include "mvproxy/metrics/registry.hpp"

namespace mvproxy::view {
namespace {

using discovery::discovery_format;

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(MVPROXY_FIXTURES_DIR) + "/discovery/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

discovery::server_model_ptr model_from(const std::string& aggregated_fixture) {
  auto doc = discovery::parse_aggregated(fixture(aggregated_fixture));
  EXPECT_TRUE(doc.ok()) << doc.error;
  return std::make_shared<const discovery::server_model>(
      discovery::make_server_model({}, std::move(doc.value->groups)));
}

TEST(merged_discovery, null_until_local_synced) {
  merged_discovery md;
  cluster_view v;
  v.own_id = "a";
  EXPECT_EQ(md.get(v, discovery_root::apis, discovery_format::aggregated_v2), nullptr);
}

TEST(merged_discovery, unions_local_and_healthy_synced_peers_and_caches) {
  metrics::registry reg;
  auto& hits =
      reg.add_counter("aggregator_discovery_peer_aggregated_cache_hits_total", "h").with({});
  auto& misses =
      reg.add_counter("aggregator_discovery_peer_aggregated_cache_misses_total", "m").with({});
  merged_discovery md(&hits, &misses);
  auto old_model = model_from("aggregated-apis-v2-allapis-v1.30-dev-c25b1ef.json");
  auto new_model = model_from("aggregated-apis-v2-allapis-v1.31-dev-0209a4c.json");

  cluster_view a;  // the old server's sidecar, id "a"
  a.own_id = "a";
  a.local = old_model;
  peer_info b;
  b.endpoint = {"b", "127.0.0.1", 1, "b_1"};
  b.model = new_model;
  b.runtime = std::make_shared<peer_runtime>("b");
  a.peers.push_back(b);

  auto doc = md.get(a, discovery_root::apis, discovery_format::aggregated_v2);
  ASSERT_NE(doc, nullptr);
  EXPECT_EQ(doc->content_type,
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
  EXPECT_EQ(doc->etag, discovery::etag_for(doc->body));
  // The union holds what only v1.30 serves and what only v1.31 serves.
  auto merged = discovery::parse_aggregated(doc->body);
  ASSERT_TRUE(merged.ok()) << merged.error;
  discovery::server_model m(std::move(merged.value->groups));
  EXPECT_TRUE(m.serves("resource.k8s.io", "v1alpha2", "resourceclaims"));  // v1.30 only
  EXPECT_TRUE(m.serves("resource.k8s.io", "v1alpha3", "resourceclaims"));  // v1.31 only
  EXPECT_TRUE(m.serves("apps", "v1", "deployments"));

  // The other sidecar (id "b", local = new) renders byte-identical documents.
  merged_discovery md_b;
  cluster_view bv;
  bv.own_id = "b";
  bv.local = new_model;
  peer_info pa;
  pa.endpoint = {"a", "127.0.0.1", 2, "a_1"};
  pa.model = old_model;
  pa.runtime = std::make_shared<peer_runtime>("a");
  bv.peers.push_back(pa);
  for (auto root : {discovery_root::api, discovery_root::apis})
    for (auto f : {discovery_format::legacy, discovery_format::aggregated_v2,
                   discovery_format::aggregated_v2beta1}) {
      auto x = md.get(a, root, f);
      auto y = md_b.get(bv, root, f);
      ASSERT_TRUE(x && y);
      EXPECT_EQ(x->body, y->body);
      EXPECT_EQ(x->etag, y->etag);
    }

  // Served from cache while the inputs are the same.
  auto again = md.get(a, discovery_root::apis, discovery_format::aggregated_v2);
  EXPECT_EQ(again.get(), doc.get());
  auto text = reg.render();
  EXPECT_NE(text.find("aggregator_discovery_peer_aggregated_cache_misses_total 1"),
            std::string::npos)
      << text;

  // An ejected peer, or one whose apiserver is down, stays in the merge with its last
  // discovery (its resources answer 503; they do not vanish from discovery).
  for (int i = 0; i < 3; ++i) a.peers[0].runtime->on_failure(std::chrono::steady_clock::now());
  a.peers[0].apiserver = routing::apiserver_state::down;
  auto still = md.get(a, discovery_root::apis, discovery_format::aggregated_v2);
  EXPECT_EQ(still.get(), doc.get());
  EXPECT_EQ(md.describe_inputs(a), "a,b");
  // It leaves with its membership.
  a.peers.clear();
  auto local_only = md.get(a, discovery_root::apis, discovery_format::aggregated_v2);
  EXPECT_EQ(local_only->body,
            discovery::render_aggregated_apis(*old_model, discovery::aggregated_version::v2));
  EXPECT_EQ(md.describe_inputs(a), "a");
}

// GET /apis/<group> agrees with /apis: the versions every server serves, from one merge.
TEST(merged_discovery, group_document_is_the_merged_group) {
  merged_discovery md;
  cluster_view a;
  a.own_id = "a";
  a.local = model_from("aggregated-apis-v2-allapis-v1.30-dev-c25b1ef.json");
  peer_info b;
  b.endpoint = {"b", "127.0.0.1", 1, "b_1"};
  b.model = model_from("aggregated-apis-v2-allapis-v1.31-dev-0209a4c.json");
  a.peers.push_back(b);
  auto doc = md.get_group(a, "resource.k8s.io");
  ASSERT_NE(doc, nullptr);
  auto j = nlohmann::json::parse(doc->body);
  EXPECT_EQ(j["kind"], "APIGroup");
  std::set<std::string> versions;
  for (auto& v : j["versions"]) versions.insert(v["version"].get<std::string>());
  EXPECT_TRUE(versions.count("v1alpha2")) << doc->body;
  EXPECT_TRUE(versions.count("v1alpha3")) << doc->body;
  EXPECT_EQ(md.get_group(a, "resource.k8s.io").get(), doc.get());  // rendered once
  EXPECT_EQ(md.get_group(a, "nosuch.example.com"), nullptr);
  cluster_view unsynced;
  EXPECT_EQ(md.get_group(unsynced, "apps"), nullptr);
}

}  // namespace
}  // namespace mvproxy::view
