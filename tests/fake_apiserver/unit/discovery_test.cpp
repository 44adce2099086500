// Profiles built from the captured fixtures: every discovery view agrees with the
// fixture it comes from, and v1.30 and v1.31 differ exactly as their fixtures do.

#include "discovery.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

namespace fake_apiserver {
namespace {

using nlohmann::json;

const std::filesystem::path fixtures = MVPROXY_FIXTURES_DIR;
const std::string v2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
const std::string v2beta1 =
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

json fixture(const std::string& name) {
  std::ifstream in(fixtures / "discovery" / name);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

std::set<std::string> group_versions(const json& aggregated) {
  std::set<std::string> out;
  for (const auto& g : aggregated["items"])
    for (const auto& v : g["versions"])
      out.insert(g["metadata"].value("name", "") + "/" + v["version"].get<std::string>());
  return out;
}

TEST(Discovery, AggregatedApisIsTheFixture) {
  for (auto [profile, file] :
       {std::pair{"v1.30", "aggregated-apis-v2-allapis-v1.30-dev-c25b1ef.json"},
        std::pair{"v1.31", "aggregated-apis-v2-allapis-v1.31-dev-0209a4c.json"}}) {
    auto p = api_profile::load(profile, fixtures);
    auto r = p->discovery("/apis", v2, "");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->content_type, v2);
    EXPECT_EQ(json::parse(r->body), fixture(file)) << profile;
    auto beta = p->discovery("/apis", v2beta1 + ",application/json", "");
    EXPECT_EQ(beta->content_type, v2beta1);
    EXPECT_EQ(json::parse(beta->body)["apiVersion"], "apidiscovery.k8s.io/v2beta1");
  }
}

TEST(Discovery, V131MatchesItsV2beta1Capture) {
  auto p = api_profile::load("v1.31", fixtures);
  auto r = p->discovery("/apis", v2beta1, "");
  EXPECT_EQ(json::parse(r->body),
            fixture("aggregated-apis-v2beta1-allapis-v1.31-dev-0209a4c.json"));
}

TEST(Discovery, ProfilesDifferAsTheirFixtures) {
  auto old_p = api_profile::load("v1.30", fixtures);
  auto new_p = api_profile::load("v1.31", fixtures);
  auto old_gv = group_versions(json::parse(old_p->discovery("/apis", v2, "")->body));
  auto new_gv = group_versions(json::parse(new_p->discovery("/apis", v2, "")->body));
  EXPECT_TRUE(old_gv.count("resource.k8s.io/v1alpha2"));
  EXPECT_FALSE(new_gv.count("resource.k8s.io/v1alpha2"));
  EXPECT_TRUE(new_gv.count("resource.k8s.io/v1alpha3"));
  EXPECT_FALSE(old_gv.count("resource.k8s.io/v1alpha3"));
  EXPECT_TRUE(old_gv.count("networking.k8s.io/v1alpha1"));
  EXPECT_TRUE(new_gv.count("networking.k8s.io/v1beta1"));
  EXPECT_TRUE(old_p->find("flowcontrol.apiserver.k8s.io", "v1beta2", "flowschemas"));
  EXPECT_FALSE(new_p->find("flowcontrol.apiserver.k8s.io", "v1beta2", "flowschemas"));
  EXPECT_EQ(old_p->version_document()["minor"], "30");
  EXPECT_EQ(new_p->version_document()["gitVersion"], "v1.31.0");
}

TEST(Discovery, LegacyViewsAgreeWithAggregated) {
  auto p = api_profile::load("v1.30", fixtures);
  auto agg = json::parse(p->discovery("/apis", v2, "")->body);
  auto list = json::parse(p->discovery("/apis", "application/json", "")->body);
  EXPECT_EQ(list["kind"], "APIGroupList");
  ASSERT_EQ(list["groups"].size(), agg["items"].size());
  for (size_t i = 0; i < agg["items"].size(); ++i) {
    const auto& g = agg["items"][i];
    const auto& lg = list["groups"][i];
    EXPECT_EQ(lg["name"], g["metadata"]["name"]);
    EXPECT_EQ(lg["preferredVersion"]["version"], g["versions"][0]["version"]);
    for (const auto& v : g["versions"]) {
      std::string path = "/apis/" + g["metadata"]["name"].get<std::string>() + "/" +
                         v["version"].get<std::string>();
      auto rl = json::parse(p->discovery(path, "", "")->body);
      size_t subresources = 0;
      for (const auto& r : v["resources"])
        subresources += r.value("subresources", json::array()).size();
      EXPECT_EQ(rl["resources"].size(), v["resources"].size() + subresources) << path;
    }
  }
}

TEST(Discovery, CoreGroupDerivedFromLegacyList) {
  auto p = api_profile::load("v1.31", fixtures);
  auto core = json::parse(p->discovery("/api", v2, "")->body);
  ASSERT_EQ(core["items"].size(), 1u);
  EXPECT_EQ(core["items"][0]["metadata"]["name"], "");
  const auto& v1 = core["items"][0]["versions"][0];
  EXPECT_EQ(v1["version"], "v1");
  auto legacy = fixture("legacy-api-v1-resourcelist-v1.21.json");
  size_t top = 0, subs = 0;
  for (const auto& r : legacy["resources"])
    (r["name"].get<std::string>().find('/') == std::string::npos ? top : subs)++;
  EXPECT_EQ(v1["resources"].size(), top);
  const json* pods = nullptr;
  for (const auto& r : v1["resources"])
    if (r["resource"] == "pods") pods = &r;
  ASSERT_TRUE(pods);
  EXPECT_EQ((*pods)["scope"], "Namespaced");
  std::set<std::string> pod_subs;
  for (const auto& s : (*pods)["subresources"]) pod_subs.insert(s["subresource"]);
  EXPECT_TRUE(pod_subs.count("exec"));
  EXPECT_TRUE(pod_subs.count("status"));
  auto versions = json::parse(p->discovery("/api", "application/json", "")->body);
  EXPECT_EQ(versions["kind"], "APIVersions");
  EXPECT_EQ(json::parse(p->discovery("/api/v1", "", "")->body)["resources"].size(), top + subs);
}

TEST(Discovery, EtagAndNotModified) {
  auto p = api_profile::load("v1.30", fixtures);
  auto first = p->discovery("/apis", v2, "");
  std::string etag;
  bool vary = false;
  for (const auto& [k, v] : first->headers) {
    if (k == "ETag") etag = v;
    if (k == "Vary" && v == "Accept") vary = true;
  }
  EXPECT_TRUE(vary);
  ASSERT_EQ(etag.size(), 130u);  // quoted SHA-512 hex
  EXPECT_EQ(etag, discovery_etag(first->body));
  auto again = p->discovery("/apis", v2, etag);
  EXPECT_EQ(again->status, 304);
  EXPECT_TRUE(again->body.empty());
  EXPECT_EQ(p->discovery("/apis", v2, "\"stale\"")->status, 200);
  // Each representation has its own ETag.
  auto legacy = p->discovery("/apis", "application/json", etag);
  EXPECT_EQ(legacy->status, 200);
}

TEST(Discovery, LegacyProfileServesOnlyCapturedLists) {
  auto p = api_profile::load("v1.21-legacy", fixtures);
  EXPECT_FALSE(p->aggregated());
  // Asked only for aggregated discovery, an old apiserver answered plain JSON.
  auto r = p->discovery("/apis", v2, "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->content_type, "application/json");
  auto list = json::parse(r->body);
  EXPECT_EQ(list["kind"], "APIGroupList");
  std::set<std::string> gvs;
  for (const auto& g : list["groups"])
    for (const auto& v : g["versions"]) gvs.insert(v["groupVersion"]);
  EXPECT_EQ(gvs, (std::set<std::string>{"apps/v1", "batch/v1beta1", "coordination.k8s.io/v1",
                                        "coordination.k8s.io/v1beta1"}));
  EXPECT_EQ(p->version_document(), fixture("version-v1.21.json"));
  EXPECT_TRUE(p->find("batch", "v1beta1", "cronjobs"));
  EXPECT_FALSE(p->find("batch", "v1", "jobs"));
  EXPECT_FALSE(p->discovery("/apis/batch/v1", "", ""));
}

TEST(Discovery, BadInputs) {
  EXPECT_THROW(api_profile::load("v9.99", fixtures), std::runtime_error);
  EXPECT_THROW(api_profile::load("v1.30", "/nonexistent"), std::runtime_error);
  auto p = api_profile::load("v1.30", fixtures);
  EXPECT_EQ(p->discovery("/apis", "application/vnd.kubernetes.protobuf", "")->status, 406);
  EXPECT_FALSE(p->discovery("/apis/nope.example.com/v1", "", ""));
  EXPECT_FALSE(p->discovery("/version", "", ""));
}

}  // namespace
}  // namespace fake_apiserver
