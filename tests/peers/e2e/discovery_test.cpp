// Peer-aggregated discovery end to end (SPEC §5): every discovery view through either
// sidecar is the union of both apiservers, byte-identical from both, cached with ETag
// and 304, following a version switch within one sync interval.

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "cluster.hpp"

namespace mvproxy::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::string v2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
const std::string v2beta1 =
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

json fixture(const std::string& name) {
  return json::parse(read_file(std::string(MVPROXY_FIXTURES_DIR) + "/discovery/" + name));
}

// group/resource names `kubectl api-resources` lists for a set of aggregated fixtures
// (the core group from the legacy resource list the stand-in uses).
std::set<std::string> resource_names(const std::vector<std::string>& files) {
  std::set<std::string> out;
  // (Each document in a variable: a range-for over a temporary's member dangles.)
  const json core = fixture("legacy-api-v1-resourcelist-v1.21.json");
  for (auto& r : core["resources"])
    if (r["name"].get<std::string>().find('/') == std::string::npos)
      out.insert("/" + r["name"].get<std::string>());
  for (auto& f : files) {
    const json doc = fixture(f);
    for (auto& g : doc["items"])
      for (auto& v : g["versions"])
        for (auto& r : v["resources"])
          out.insert(g["metadata"]["name"].get<std::string>() + "/" +
                     r["resource"].get<std::string>());
  }
  return out;
}

using merged_discovery = old_and_new_sidecars;

TEST_F(merged_discovery, identical_bytes_and_etag_from_both_sidecars_and_304_on_repeat) {
  for (auto& accept : {v2, v2beta1, std::string("application/json")}) {
    for (auto& path : {"/apis", "/api"}) {
      auto a = c_->curl(c_->at("old").url() + path, "admin", {"Accept: " + accept});
      auto b = c_->curl(c_->at("new").url() + path, "admin", {"Accept: " + accept});
      ASSERT_EQ(a.code, 200) << path << " " << accept;
      ASSERT_EQ(b.code, 200);
      EXPECT_EQ(a.body, b.body) << path << " " << accept;
      auto etag = header_value(a.headers, "ETag");
      EXPECT_EQ(etag, header_value(b.headers, "ETag"));
      EXPECT_EQ(etag.size(), 130u) << etag;  // quoted upper-case hex SHA-512
      EXPECT_EQ(header_value(a.headers, "Vary"), "Accept");
      EXPECT_EQ(header_value(a.headers, "Content-Type"), accept);
      auto again = c_->curl(c_->at("old").url() + path, "admin",
                            {"Accept: " + accept, "If-None-Match: " + etag});
      EXPECT_EQ(again.code, 304);
      EXPECT_TRUE(again.body.empty());
    }
  }
  // The union: both resource.k8s.io versions, where each apiserver has one.
  auto doc = json::parse(c_->curl(c_->at("old").url() + "/apis", "admin", {"Accept: " + v2}).body);
  std::set<std::string> versions;
  for (auto& g : doc["items"])
    if (g["metadata"]["name"] == "resource.k8s.io")
      for (auto& v : g["versions"]) versions.insert(v["version"].get<std::string>());
  EXPECT_EQ(versions, (std::set<std::string>{"v1alpha2", "v1alpha3"}));
  auto metrics = c_->at("old").admin("/metrics");
  EXPECT_NE(metrics.find("aggregator_discovery_peer_aggregated_cache_hits_total"),
            std::string::npos);
}

TEST_F(merged_discovery, nopeer_gives_the_local_apiservers_own_view) {
  auto r = c_->curl(c_->at("old").url() + "/apis", "admin", {"Accept: " + v2 + ";profile=nopeer"});
  ASSERT_EQ(r.code, 200);
  auto doc = json::parse(r.body);
  for (auto& g : doc["items"])
    if (g["metadata"]["name"] == "resource.k8s.io")
      for (auto& v : g["versions"]) EXPECT_NE(v["version"], "v1alpha3");
  EXPECT_NE(c_->at("old").admin("/metrics").find("aggregator_discovery_nopeer_requests_total"),
            std::string::npos);
}

TEST_F(merged_discovery, kubectl_sees_the_union_through_either_sidecar) {
  auto expected = resource_names({"aggregated-apis-v2-allapis-v1.30-dev-c25b1ef.json",
                                  "aggregated-apis-v2-allapis-v1.31-dev-0209a4c.json"});
  for (auto id : {"old", "new"}) {
    // -o name is not offered by api-resources for all versions; list every group/version
    // with its resources through the discovery the sidecar serves, as kubectl reads it.
    auto r = c_->kubectl(c_->at(id).url(), "api-resources --no-headers -o name");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::set<std::string> seen;
    std::istringstream in(r.output);
    for (std::string line; std::getline(in, line);) {
      auto dot = line.find('.');
      seen.insert(dot == std::string::npos ? "/" + line
                                           : line.substr(dot + 1) + "/" + line.substr(0, dot));
    }
    EXPECT_EQ(seen, expected) << id;
  }
  // And kubectl resolves a new-only version through the old sidecar without --raw.
  auto get = c_->kubectl(c_->at("old").url(), "get resourceclaims.v1alpha3.resource.k8s.io");
  EXPECT_EQ(get.exit_code, 0) << get.output;
  // api-versions: the union (old and new have one resource.k8s.io version each).
  auto versions = c_->kubectl(c_->at("old").url(), "api-versions");
  EXPECT_NE(versions.output.find("resource.k8s.io/v1alpha2"), std::string::npos);
  EXPECT_NE(versions.output.find("resource.k8s.io/v1alpha3"), std::string::npos);
}

TEST_F(merged_discovery, kubectl_127_with_v2beta1_and_legacy_clients_see_the_union_too) {
  const char* k127 = "/usr/lib/google-cloud-sdk/bin/kubectl.1.27";
  if (!std::filesystem::exists(k127))
    GTEST_SKIP() << "no kubectl 1.27 (asks for v2beta1) at " << k127;
  auto r = run_command(std::string(k127) + " --kubeconfig " + c_->pki("admin.conf") + " --server " +
                       c_->at("old").url() + " api-versions");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("resource.k8s.io/v1alpha3"), std::string::npos) << r.output;
  auto legacy = c_->curl(c_->at("old").url() + "/apis", "admin", {"Accept: application/json"});
  EXPECT_NE(legacy.body.find("\"kind\":\"APIGroupList\""), std::string::npos);
  EXPECT_NE(legacy.body.find("resource.k8s.io/v1alpha3"), std::string::npos);
  // Per-group legacy discovery of a new-only group version is routed to the peer.
  auto gv = c_->curl(c_->at("old").url() + "/apis/resource.k8s.io/v1alpha3");
  EXPECT_EQ(gv.code, 200);
  EXPECT_NE(gv.body.find("resourceclaims"), std::string::npos);
}

TEST_F(merged_discovery, a_version_switch_shows_within_one_sync_interval) {
  // "Downgrade" new to v1.30: v1alpha3 disappears from the merged view.
  ASSERT_EQ(c_->api().control("new", "profile?name=v1.30").exit_code, 0);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_until(
      [&] {
        auto b = c_->curl(c_->at("old").url() + "/apis", "admin", {"Accept: " + v2}).body;
        return b.find("v1alpha3") == std::string::npos;
      },
      5s));
  // One sync interval (500ms) plus the fetch and the poll.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);
}

// Merged discovery names every group of the cluster: only a caller the apiserver lets
// read discovery gets it. No credentials, a bogus token, a certificate of another CA:
// the apiserver's own 401, relayed; a known user gets the merge.
TEST_F(merged_discovery, only_for_callers_the_apiserver_lets_read_discovery) {
  for (auto& path : {"/apis", "/api", "/apis/resource.k8s.io"}) {
    SCOPED_TRACE(path);
    const auto url = c_->at("old").url() + path;
    // As on a kubeadm apiserver: no credentials is system:anonymous, whom RBAC refuses
    // discovery (403); credentials that authenticate nobody are a 401.
    auto anonymous = c_->curl(url, "");
    EXPECT_EQ(anonymous.code, 403) << anonymous.body;
    EXPECT_NE(anonymous.body.find("\"kind\":\"Status\""), std::string::npos) << anonymous.body;
    EXPECT_EQ(c_->curl(url, "", {"Authorization: Bearer bogus"}).code, 401);
    EXPECT_EQ(c_->curl(url, "intruder").code, 401);
    EXPECT_EQ(c_->curl(url, "", {"Authorization: Bearer mvproxy-test-token-bob"}).code, 200);
    EXPECT_EQ(c_->curl(url, "jane").code, 200);
  }
  // Anonymous callers reach the apiserver as system:anonymous on both routes, so what it
  // grants them (health, /version) works through the sidecar, as a load balancer's
  // health check needs, and what it refuses is its own 403.
  const auto old_url = c_->at("old").url();
  EXPECT_EQ(c_->curl(old_url + "/readyz", "").code, 200);
  EXPECT_EQ(c_->curl(old_url + "/version", "").code, 200);
  EXPECT_EQ(c_->curl(old_url + "/api/v1/namespaces", "").code, 403);
  const std::string new_only = "/apis/resource.k8s.io/v1alpha3/namespaces/default/resourceclaims";
  auto peer_route = c_->curl(old_url + new_only, "");
  EXPECT_EQ(peer_route.code, 403) << peer_route.body;
  EXPECT_NE(peer_route.body.find("system:anonymous"), std::string::npos) << peer_route.body;
  EXPECT_EQ(c_->served(new_only).back()["instance"], "new");
  // A certificate from another CA, with no other credential: kube-apiserver's 401.
  EXPECT_EQ(c_->curl(old_url + "/readyz", "intruder").code, 401);
  // kubectl with a bogus token fails as it would against the apiserver.
  auto bogus = run_command("kubectl --kubeconfig " + c_->pki("token.conf") + " --cache-dir " +
                           (c_->dir() / "bogus-cache").string() + " --server " +
                           c_->at("old").url() + " --token bogus api-versions");
  EXPECT_NE(bogus.exit_code, 0) << bogus.output;
  // The apiserver saw each check as the caller would have been seen.
  bool saw_bob = false;
  for (auto& e : c_->served("/apis"))
    if (e.value("user", json()).is_string() && e["user"] == "bob") saw_bob = true;
  EXPECT_TRUE(saw_bob);
}

// /apis/<group> agrees with /apis: through the old sidecar, resource.k8s.io lists the
// versions of both apiservers.
TEST_F(merged_discovery, group_document_agrees_with_apis) {
  auto r = c_->curl(c_->at("old").url() + "/apis/resource.k8s.io");
  ASSERT_EQ(r.code, 200) << r.body;
  auto j = json::parse(r.body);
  std::set<std::string> versions;
  for (auto& v : j["versions"]) versions.insert(v["version"].get<std::string>());
  EXPECT_TRUE(versions.count("v1alpha2")) << r.body;
  EXPECT_TRUE(versions.count("v1alpha3")) << r.body;
  auto direct = c_->curl(c_->api().url("old") + "/apis/resource.k8s.io");
  EXPECT_EQ(direct.body.find("v1alpha3"), std::string::npos) << direct.body;  // the old one alone
  // Byte-identical from both sidecars.
  EXPECT_EQ(c_->curl(c_->at("new").url() + "/apis/resource.k8s.io").body, r.body);
}

// OpenAPI v3 through the old sidecar: the index lists the new-only group-version, its
// document is served by the new apiserver, and kubectl apply validates against it (no
// --validate=false needed).
TEST_F(merged_discovery, openapi_v3_of_a_new_only_group_version_through_the_old_sidecar) {
  const auto url = c_->at("old").url();
  auto index = c_->curl(url + "/openapi/v3");
  ASSERT_EQ(index.code, 200) << index.body;
  auto j = json::parse(index.body);
  ASSERT_TRUE(j["paths"].contains("apis/resource.k8s.io/v1alpha3")) << index.body;
  EXPECT_TRUE(j["paths"].contains("apis/resource.k8s.io/v1alpha2"));
  auto direct = c_->curl(c_->api().url("old") + "/openapi/v3");
  EXPECT_EQ(direct.body.find("resource.k8s.io/v1alpha3"), std::string::npos);
  EXPECT_EQ(c_->curl(url + "/openapi/v3", "").code, 403);  // authorized like discovery
  auto rel = j["paths"]["apis/resource.k8s.io/v1alpha3"]["serverRelativeURL"].get<std::string>();
  auto gv = c_->curl(url + rel);
  EXPECT_EQ(gv.code, 200) << gv.body;
  auto served = c_->served("/openapi/v3/apis/resource.k8s.io/v1alpha3");
  ASSERT_FALSE(served.empty());
  EXPECT_EQ(served.back()["instance"], "new");

  std::ofstream(c_->dir() / "claim.json")
      << R"({"apiVersion":"resource.k8s.io/v1alpha3","kind":"ResourceClaim",)"
      << R"("metadata":{"name":"validated","namespace":"default"},"spec":{}})";
  auto applied = c_->kubectl(url, "apply -f " + (c_->dir() / "claim.json").string());
  EXPECT_EQ(applied.exit_code, 0) << applied.output;
}

// A peer sidecar that is gone stays in discovery with its last view while it is a
// member (static mode: configured); its resources answer 503, never 404 or absent.
TEST(merged_discovery_static, a_killed_peer_stays_in_discovery_and_its_resources_answer_503) {
  std::string why;
  if (!cluster::can_run(why)) GTEST_SKIP() << why;
  cluster c;
  c.start("old", "static", {"old", "new"});
  c.start("new", "static", {"old", "new"});
  ASSERT_TRUE(c.wait_peers("old", 1)) << c.at("old").admin("/debug/peers");
  const std::string new_only = "/apis/resource.k8s.io/v1alpha3/namespaces/default/resourceclaims";
  ASSERT_EQ(c.curl(c.at("old").url() + new_only).code, 200);
  c.stop("new");  // SIGTERM; its static entry stays
  auto r = c.curl(c.at("old").url() + new_only);
  EXPECT_EQ(r.code, 503) << r.body;
  auto apis = c.curl(c.at("old").url() + "/apis", "admin", {"Accept: " + v2});
  EXPECT_NE(apis.body.find("v1alpha3"), std::string::npos) << "v1alpha3 vanished from discovery";
  auto listed = c.kubectl(c.at("old").url(), "api-resources --api-group=resource.k8s.io");
  EXPECT_NE(listed.output.find("resourceclaims"), std::string::npos) << listed.output;
}

}  // namespace
}  // namespace mvproxy::test
