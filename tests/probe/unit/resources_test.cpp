#include "mvproxy/probe/resources.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "mvproxy/discovery/render.hpp"
#include "test_process.hpp"

namespace {

using mvproxy::probe::apply_filter;
using mvproxy::probe::build_model;
using mvproxy::probe::discovery_documents;
using mvproxy::probe::first_item;
using mvproxy::probe::item_ref;
using mvproxy::probe::item_target;
using mvproxy::probe::list_target;
using mvproxy::probe::listable_resources;
using mvproxy::probe::resource_list_targets;
using mvproxy::probe::resource_ref;

std::string fixture(const std::string& name) {
  auto body = mvproxy::test::read_file(std::string(MVPROXY_FIXTURES_DIR) + "/discovery/" + name);
  if (body.empty()) throw std::runtime_error("missing fixture " + name);
  return body;
}

std::vector<std::string> names(const std::vector<resource_ref>& rs) {
  std::vector<std::string> out;
  for (const auto& r : rs) out.push_back(r.name());
  return out;
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// An aggregated /api as a sidecar renders it: the core group from the captured v1.21
// resource list, whose pods/status-style entries become subresources.
std::string aggregated_core() {
  discovery_documents legacy;
  legacy.api = fixture("legacy-api-versions-v1.21.json");
  legacy.apis = R"({"kind":"APIGroupList","apiVersion":"v1","groups":[]})";
  legacy.resource_lists["v1"] = fixture("legacy-api-v1-resourcelist-v1.21.json");
  auto model = build_model(legacy);
  if (!model.ok()) throw std::runtime_error(model.error);
  return mvproxy::discovery::render_aggregated_api(*model.value,
                                                   mvproxy::discovery::aggregated_version::v2);
}

discovery_documents aggregated(const std::string& apis_fixture) {
  discovery_documents d;
  d.api = aggregated_core();
  d.api_aggregated = true;
  d.apis = fixture(apis_fixture);
  d.apis_aggregated = true;
  return d;
}

TEST(ProbeResources, ResourceNamesAreKubectlsFullSpelling) {
  EXPECT_EQ((resource_ref{"", "v1", "pods", true}.name()), "pods.v1");
  EXPECT_EQ((resource_ref{"resource.k8s.io", "v1alpha3", "resourceclaims", true}.name()),
            "resourceclaims.v1alpha3.resource.k8s.io");
}

TEST(ProbeResources, AggregatedMergedDiscoveryOfANewServer) {
  auto docs = aggregated("aggregated-apis-v2-allapis-v1.31-dev-0209a4c.json");
  auto targets = resource_list_targets(docs);
  ASSERT_TRUE(targets.ok()) << targets.error;
  EXPECT_TRUE(targets.value->empty());  // nothing more to read
  auto model = build_model(docs);
  ASSERT_TRUE(model.ok()) << model.error;
  auto rs = names(listable_resources(*model.value));
  EXPECT_TRUE(has(rs, "pods.v1"));
  EXPECT_TRUE(has(rs, "namespaces.v1"));
  EXPECT_TRUE(has(rs, "deployments.v1.apps"));
  EXPECT_TRUE(has(rs, "resourceclaims.v1alpha3.resource.k8s.io"));
  EXPECT_FALSE(has(rs, "resourceclaims.v1alpha2.resource.k8s.io"));  // v1.30 only
  // Without the list verb: nothing to LIST.
  EXPECT_FALSE(has(rs, "selfsubjectreviews.v1.authentication.k8s.io"));
  EXPECT_FALSE(has(rs, "tokenreviews.v1.authentication.k8s.io"));
  // Subresources are not resources of their own.
  for (const auto& r : rs) EXPECT_EQ(r.find('/'), std::string::npos) << r;
  // The core group comes first, in discovery order.
  EXPECT_EQ(rs.front().substr(rs.front().rfind('.') + 1), "v1");
}

TEST(ProbeResources, ScopeComesFromDiscovery) {
  auto model = build_model(aggregated("aggregated-apis-v2-allapis-v1.30-dev-c25b1ef.json"));
  ASSERT_TRUE(model.ok()) << model.error;
  auto rs = listable_resources(*model.value);
  auto find = [&](const std::string& n) {
    return *std::find_if(rs.begin(), rs.end(),
                         [&](const resource_ref& r) { return r.name() == n; });
  };
  EXPECT_TRUE(find("pods.v1").namespaced);
  EXPECT_FALSE(find("namespaces.v1").namespaced);
  EXPECT_FALSE(find("nodes.v1").namespaced);
  EXPECT_TRUE(find("resourceclaims.v1alpha2.resource.k8s.io").namespaced);
}

TEST(ProbeResources, LegacyDiscoveryNeedsEachResourceList) {
  discovery_documents d;
  d.api = fixture("legacy-api-versions-v1.21.json");
  d.apis = fixture("legacy-apis-grouplist-v1.21.json");
  auto targets = resource_list_targets(d);
  ASSERT_TRUE(targets.ok()) << targets.error;
  EXPECT_EQ(targets.value->front(), "/api/v1");
  EXPECT_TRUE(has(*targets.value, "/apis/apps/v1"));
  EXPECT_TRUE(has(*targets.value, "/apis/coordination.k8s.io/v1"));
  EXPECT_TRUE(has(*targets.value, "/apis/coordination.k8s.io/v1beta1"));
  // Preferred version first within a group.
  auto v1 =
      std::find(targets.value->begin(), targets.value->end(), "/apis/apiregistration.k8s.io/v1");
  auto v1beta1 = std::find(targets.value->begin(), targets.value->end(),
                           "/apis/apiregistration.k8s.io/v1beta1");
  EXPECT_LT(v1, v1beta1);

  // Lists that could not be read are left out; the rest is probed.
  d.resource_lists["v1"] = fixture("legacy-api-v1-resourcelist-v1.21.json");
  d.resource_lists["apps/v1"] = fixture("legacy-apis-apps-v1-resourcelist-v1.21.json");
  d.resource_lists["coordination.k8s.io/v1"] =
      fixture("legacy-apis-coordination.k8s.io-v1-resourcelist-v1.21.json");
  auto model = build_model(d);
  ASSERT_TRUE(model.ok()) << model.error;
  auto rs = names(listable_resources(*model.value));
  EXPECT_TRUE(has(rs, "pods.v1"));
  EXPECT_TRUE(has(rs, "deployments.v1.apps"));
  EXPECT_TRUE(has(rs, "leases.v1.coordination.k8s.io"));
  EXPECT_FALSE(has(rs, "leases.v1beta1.coordination.k8s.io"));
  for (const auto& r : rs) EXPECT_EQ(r.find('/'), std::string::npos) << r;
}

TEST(ProbeResources, UnreadableDocumentsAreErrors) {
  discovery_documents d;
  d.api = "<html>";
  d.apis = "{}";
  EXPECT_FALSE(resource_list_targets(d).ok());
  EXPECT_EQ(build_model(d).error.rfind("/api: ", 0), 0u) << build_model(d).error;
  d.api = fixture("legacy-api-versions-v1.21.json");
  d.apis = "not json";
  EXPECT_EQ(resource_list_targets(d).error.rfind("/apis: ", 0), 0u);
  d.apis = R"({"kind":"APIGroupList","apiVersion":"v1","groups":[]})";
  d.resource_lists["v1"] = "[]";
  EXPECT_EQ(build_model(d).error.rfind("/api/v1: ", 0), 0u) << build_model(d).error;
  d.apis_aggregated = true;
  d.apis = "{\"kind\":\"nope\"}";
  EXPECT_EQ(build_model(d).error.rfind("/api", 0), 0u);
}

TEST(ProbeResources, AggregatedContentType) {
  EXPECT_TRUE(mvproxy::probe::is_aggregated_content_type(
      "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"));
  EXPECT_FALSE(mvproxy::probe::is_aggregated_content_type("application/json"));
}

TEST(ProbeResources, FilterTakesKubectlSpellings) {
  std::vector<resource_ref> all = {{"", "v1", "pods", true},
                                   {"apps", "v1", "deployments", true},
                                   {"resource.k8s.io", "v1alpha2", "resourceclaims", true},
                                   {"resource.k8s.io", "v1alpha3", "resourceclaims", true},
                                   {"", "v1", "namespaces", false}};
  struct row {
    std::vector<std::string> filter;
    std::vector<std::string> kept;
  };
  for (const auto& c : std::vector<row>{
           {{}, names(all)},
           {{"pods"}, {"pods.v1"}},
           {{"pods.v1"}, {"pods.v1"}},
           {{"deployments"}, {}},  // a group's resource needs its group
           {{"deployments.apps"}, {"deployments.v1.apps"}},
           {{"resourceclaims.resource.k8s.io"},
            {"resourceclaims.v1alpha2.resource.k8s.io", "resourceclaims.v1alpha3.resource.k8s.io"}},
           {{"resourceclaims.v1alpha3.resource.k8s.io", "namespaces"},
            {"resourceclaims.v1alpha3.resource.k8s.io", "namespaces.v1"}},
       }) {
    EXPECT_EQ(names(apply_filter(all, c.filter)), c.kept) << ::testing::PrintToString(c.filter);
  }
}

TEST(ProbeResources, Targets) {
  resource_ref pods{"", "v1", "pods", true};
  resource_ref claims{"resource.k8s.io", "v1alpha3", "resourceclaims", true};
  resource_ref nodes{"", "v1", "nodes", false};
  resource_ref classes{"resource.k8s.io", "v1alpha3", "resourceclasses", false};
  struct row {
    std::string got, want;
  };
  for (const auto& c : std::vector<row>{
           {list_target(pods, ""), "/api/v1/pods?limit=1"},
           {list_target(pods, "kube-system"), "/api/v1/namespaces/kube-system/pods?limit=1"},
           {list_target(claims, ""), "/apis/resource.k8s.io/v1alpha3/resourceclaims?limit=1"},
           {list_target(claims, "default"),
            "/apis/resource.k8s.io/v1alpha3/namespaces/default/resourceclaims?limit=1"},
           {list_target(nodes, "kube-system"), "/api/v1/nodes?limit=1"},  // cluster-scoped
           {list_target(classes, "x"), "/apis/resource.k8s.io/v1alpha3/resourceclasses?limit=1"},
           {item_target(pods, {"kube-system", "etcd-a"}),
            "/api/v1/namespaces/kube-system/pods/etcd-a"},
           {item_target(nodes, {"", "node-a"}), "/api/v1/nodes/node-a"},
           {item_target(claims, {"default", "c1"}),
            "/apis/resource.k8s.io/v1alpha3/namespaces/default/resourceclaims/c1"},
           // A name from the server cannot reshape the path.
           {item_target(nodes, {"", "a/b?c d"}), "/api/v1/nodes/a%2Fb%3Fc%20d"},
           {item_target(classes, {"", "gpu.example.com"}),
            "/apis/resource.k8s.io/v1alpha3/resourceclasses/gpu.example.com"},
       }) {
    EXPECT_EQ(c.got, c.want);
  }
}

TEST(ProbeResources, FirstItemOfAList) {
  struct row {
    std::string body;
    std::optional<std::pair<std::string, std::string>> want;  // namespace, name
  };
  for (
      const auto& c : std::vector<row>{
          {R"({"kind":"PodList","items":[{"metadata":{"name":"p","namespace":"ns"}}]})",
           std::pair<std::string, std::string>{"ns", "p"}},
          {R"({"kind":"PartialObjectMetadataList","items":[{"metadata":{"name":"n1"}},{"metadata":{"name":"n2"}}]})",
           std::pair<std::string, std::string>{"", "n1"}},
          {R"({"kind":"PodList","items":[]})", std::nullopt},
          {R"({"kind":"PodList","items":null})", std::nullopt},
          {R"({"kind":"PodList"})", std::nullopt},
          {R"({"items":[42]})", std::nullopt},
          {R"({"items":[{"metadata":"x"}]})", std::nullopt},
          {R"({"items":[{"metadata":{"name":""}}]})", std::nullopt},
          {R"({"items":[{"metadata":{"name":7}}]})", std::nullopt},
          {"[]", std::nullopt},
          {"not json", std::nullopt},
          {"", std::nullopt},
      }) {
    auto got = first_item(c.body);
    ASSERT_EQ(got.has_value(), c.want.has_value()) << c.body;
    if (got) {
      EXPECT_EQ(got->namespace_, c.want->first) << c.body;
      EXPECT_EQ(got->name, c.want->second) << c.body;
    }
  }
}

}  // namespace
