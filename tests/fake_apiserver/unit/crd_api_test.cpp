// The handler serving CustomResourceDefinitions as kube-apiserver does: a created CRD
// is Established and its group-versions appear in every discovery view (with new
// ETags); its custom resources get CRUD, list, watch, patch and /status; deleting it
// takes both away.

#include "api.hpp"

#include <gtest/gtest.h>

namespace fake_apiserver {
namespace {

using nlohmann::json;

const std::string crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
const std::string widgets = "/apis/example.com/v1/namespaces/default/widgets";
const char* const widget_crd = R"({
  "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
  "metadata": {"name": "widgets.example.com"},
  "spec": {"group": "example.com", "scope": "Namespaced",
    "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]},
    "versions": [{"name": "v1", "served": true, "storage": true,
      "schema": {"openAPIV3Schema": {"type": "object",
                                     "x-kubernetes-preserve-unknown-fields": true}},
      "subresources": {"status": {}}}]}})";
const char* const aggregated_v2 =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

class CrdApiTest : public ::testing::TestWithParam<std::string> {
 protected:
  CrdApiTest() : api_(store_, auth_) {
    profile_ = api_profile::load(GetParam(), MVPROXY_FIXTURES_DIR);
  }

  api_result call(const std::string& method, const std::string& target,
                  const std::string& body = "", header_list headers = {}) {
    api_request r;
    r.method = method;
    auto q = target.find('?');
    r.path = target.substr(0, q);
    r.query = q == std::string::npos ? "" : target.substr(q + 1);
    r.body = body;
    r.headers = std::move(headers);
    r.user = {"admin", "", {"system:masters", "system:authenticated"}, {}};
    return api_.handle(*profile_, r);
  }
  json body(const api_result& r) { return json::parse(r.resp.body); }
  std::string etag(const api_result& r) {
    for (const auto& [n, v] : r.resp.headers)
      if (n == "ETag") return v;
    return "";
  }
  // The example.com entry of aggregated /apis (null when absent).
  json aggregated_group() {
    auto doc = body(call("GET", "/apis", "", {{"accept", aggregated_v2}}));
    for (const auto& g : doc["items"])
      if (g["metadata"]["name"] == "example.com") return g;
    return nullptr;
  }

  auth_config auth_;
  object_store store_;
  api_handler api_;
  std::shared_ptr<const api_profile> profile_;
};

TEST_P(CrdApiTest, ACreatedCrdIsEstablishedAndDiscovered) {
  auto before = call("GET", "/apis", "", {{"accept", aggregated_v2}});
  EXPECT_EQ(call("GET", "/apis/example.com/v1").resp.status, 404);
  auto made = call("POST", crds, widget_crd);
  ASSERT_EQ(made.resp.status, 201) << made.resp.body;
  EXPECT_EQ(body(made)["status"]["conditions"][1]["type"], "Established");
  EXPECT_EQ(body(made)["status"]["conditions"][1]["status"], "True");

  auto after = call("GET", "/apis", "", {{"accept", aggregated_v2}});
  EXPECT_NE(etag(after), etag(before));
  {
    auto g = aggregated_group();
    ASSERT_FALSE(g.is_null());
    const auto& r = g["versions"][0]["resources"][0];
    EXPECT_EQ(g["versions"][0]["version"], "v1");
    EXPECT_EQ(r["resource"], "widgets");
    EXPECT_EQ(r["singularResource"], "widget");
    EXPECT_EQ(r["responseKind"]["kind"], "Widget");
    EXPECT_EQ(r["scope"], "Namespaced");
    EXPECT_EQ(r["shortNames"], json::array({"wd"}));
    EXPECT_EQ(r["subresources"][0]["subresource"], "status");
    auto v2beta1 = body(call(
        "GET", "/apis", "",
        {{"accept", "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"}}));
    EXPECT_EQ(v2beta1["items"].back()["metadata"]["name"], "example.com");
  }
  auto legacy = body(call("GET", "/apis", "", {{"accept", "application/json"}}));
  EXPECT_EQ(legacy["groups"].back()["name"], "example.com");
  EXPECT_EQ(body(call("GET", "/apis/example.com"))["preferredVersion"]["version"], "v1");
  auto list = body(call("GET", "/apis/example.com/v1"));
  EXPECT_EQ(list["resources"][0]["name"], "widgets");
  EXPECT_EQ(list["resources"][1]["name"], "widgets/status");
  auto openapi = body(call("GET", "/openapi/v3"));
  EXPECT_TRUE(openapi["paths"].contains("apis/example.com/v1"));
  EXPECT_EQ(call("GET", "/openapi/v3/apis/example.com/v1").resp.status, 200);
}

TEST_P(CrdApiTest, CustomResourcesHaveCrudPatchStatusAndWatch) {
  ASSERT_EQ(call("POST", crds, widget_crd).resp.status, 201);
  auto rv = store_.resource_version();
  auto made = call("POST", widgets, R"({"apiVersion":"example.com/v1","kind":"Widget",
      "metadata":{"name":"w"},"spec":{"size":1}})");
  ASSERT_EQ(made.resp.status, 201) << made.resp.body;
  EXPECT_EQ(body(made)["metadata"]["namespace"], "default");
  EXPECT_EQ(body(call("GET", widgets + "/w"))["kind"], "Widget");
  auto list = body(call("GET", widgets));
  EXPECT_EQ(list["kind"], "WidgetList");
  EXPECT_EQ(list["items"].size(), 1u);

  auto merged = call("PATCH", widgets + "/w", R"({"spec":{"size":2}})",
                     {{"content-type", "application/merge-patch+json"}});
  EXPECT_EQ(body(merged)["spec"]["size"], 2);
  auto strategic = call("PATCH", widgets + "/w", R"({"spec":{"size":3}})",
                        {{"content-type", "application/strategic-merge-patch+json"}});
  EXPECT_EQ(strategic.resp.status, 415) << "custom resources have no patch strategies";
  auto applied = call("PATCH", widgets + "/v?fieldManager=kpt", R"({"apiVersion":"example.com/v1",
      "kind":"Widget","metadata":{"name":"v"},"spec":{"size":5}})",
                      {{"content-type", "application/apply-patch+yaml"}});
  EXPECT_EQ(applied.resp.status, 201) << applied.resp.body;
  auto status = call("PUT", widgets + "/w/status",
                     R"({"metadata":{"name":"w"},"spec":{"size":9},"status":{"ready":true}})");
  ASSERT_EQ(status.resp.status, 200) << status.resp.body;
  EXPECT_EQ(body(status)["status"]["ready"], true);
  EXPECT_EQ(body(status)["spec"]["size"], 2) << "/status leaves spec alone";

  auto watch = call("GET", widgets + "?watch=true&resourceVersion=" + std::to_string(rv));
  ASSERT_TRUE(watch.watch);
  ASSERT_FALSE(watch.watch->initial_lines.empty());
  auto first = json::parse(watch.watch->initial_lines[0]);
  EXPECT_EQ(first["type"], "ADDED");
  EXPECT_EQ(first["object"]["kind"], "Widget");
  EXPECT_EQ(first["object"]["apiVersion"], "example.com/v1");
  EXPECT_EQ(call("DELETE", widgets + "/w").resp.status, 200);
  EXPECT_EQ(call("GET", widgets + "/w").resp.status, 404);
}

TEST_P(CrdApiTest, DeletingTheCrdTakesItsResourcesAndDiscoveryAway) {
  auto before = etag(call("GET", "/apis", "", {{"accept", aggregated_v2}}));
  ASSERT_EQ(call("POST", crds, widget_crd).resp.status, 201);
  ASSERT_EQ(call("POST", widgets, R"({"metadata":{"name":"w"}})").resp.status, 201);
  auto deleted = call("DELETE", crds + "/widgets.example.com");
  ASSERT_EQ(deleted.resp.status, 200) << deleted.resp.body;
  EXPECT_TRUE(store_.list({"example.com", "widgets"}, "").empty());
  EXPECT_EQ(call("GET", widgets).resp.status, 404);
  EXPECT_EQ(call("GET", "/apis/example.com/v1").resp.status, 404);
  EXPECT_TRUE(aggregated_group().is_null());
  EXPECT_EQ(etag(call("GET", "/apis", "", {{"accept", aggregated_v2}})), before)
      << "the same set of groups, the same document";
}

TEST_P(CrdApiTest, AnInvalidCrdIsRefusedAndServesNothing) {
  json crd = json::parse(widget_crd);
  crd["spec"]["names"].erase("plural");
  auto r = call("POST", crds, crd.dump());
  EXPECT_EQ(r.resp.status, 422);
  EXPECT_EQ(body(r)["details"]["causes"][0]["field"], "metadata.name");
  EXPECT_TRUE(store_.list({"apiextensions.k8s.io", "customresourcedefinitions"}, "").empty());
  // An update that breaks a stored CRD is refused as well.
  ASSERT_EQ(call("POST", crds, widget_crd).resp.status, 201);
  auto broken = call("PATCH", crds + "/widgets.example.com", R"({"spec":{"scope":"Galaxy"}})",
                     {{"content-type", "application/merge-patch+json"}});
  EXPECT_EQ(broken.resp.status, 422) << broken.resp.body;
  EXPECT_EQ(call("GET", widgets).resp.status, 200);
}

TEST_P(CrdApiTest, ABuiltInShadowsACrdOfTheSameResource) {
  // A CRD claiming a built-in group/version/resource adds nothing there: the built-in
  // handler answers first in kube-apiserver's chain.
  auto crd = json::parse(widget_crd);
  crd["metadata"]["name"] = "leases.coordination.k8s.io";
  crd["spec"]["group"] = "coordination.k8s.io";
  crd["spec"]["names"] = {{"plural", "leases"}, {"kind", "NotALease"}};
  ASSERT_EQ(call("POST", crds, crd.dump()).resp.status, 201);
  auto list = body(call("GET", "/apis/coordination.k8s.io/v1"));
  int leases = 0;
  for (const auto& r : list["resources"])
    if (r["name"] == "leases") {
      ++leases;
      EXPECT_EQ(r["kind"], "Lease");
    }
  EXPECT_EQ(leases, 1);
}

INSTANTIATE_TEST_SUITE_P(profiles, CrdApiTest, ::testing::Values("v1.30", "v1.31"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& c : n)
                             if (c == '.' || c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace fake_apiserver
