// Where mvproxy has to look like kube-apiserver's own Mixed Version Proxy to an
// operator, end to end: one Audit-ID for a request across the hop (both sidecars'
// access logs), upstream's label values on the upstream-named error series, and a
// single static sidecar that has no peers yet.

#include <gtest/gtest.h>

#include <regex>

#include "cluster.hpp"

namespace mvproxy::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::string new_only = "/apis/resource.k8s.io/v1alpha3/namespaces/default/resourceclaims";
const std::string new_only_gvr =
    "group=\"resource.k8s.io\",version=\"v1alpha3\",resource=\"resourceclaims\"";

std::string regex_escape(const std::string& s) {
  return std::regex_replace(s, std::regex(R"([.?*+^$()\[\]{}|\\])"), R"(\$&)");
}

// The audit ID at the end of `s`'s access line for `request_line` (access lines are
// flushed within a second); empty when none appears in time.
std::string access_audit_id(sidecar& s, const std::string& request_line) {
  auto m = s.proc().wait_for_output(
      "access: " + regex_escape(request_line) + " route=\\S+ .* audit-id=(\\S+)\n", 5s);
  return m ? (*m)[1] : std::string();
}

int count_lines(const std::string& headers, const std::string& name) {
  std::istringstream in(headers);
  int n = 0;
  for (std::string line; std::getline(in, line);)
    if (line.size() > name.size() && strncasecmp(line.c_str(), name.c_str(), name.size()) == 0 &&
        line[name.size()] == ':')
      ++n;
  return n;
}

class parity : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!cluster::can_run(why)) GTEST_SKIP() << why;
    c_ = std::make_unique<cluster>();
  }
  bool local_synced(const std::string& id) {
    return wait_until([&] {
      auto doc = json::parse(c_->at(id).admin("/debug/peers"), nullptr, false);
      return doc.is_object() && doc["local"]["synced"].get<bool>();
    });
  }
  std::unique_ptr<cluster> c_;
};

TEST_F(parity, one_audit_id_across_the_hop_in_both_sidecars_access_logs) {
  for (auto id : {"old", "new"}) c_->start(id);
  for (auto id : {"old", "new"})
    ASSERT_TRUE(c_->wait_peers(id, 1)) << c_->at(id).admin("/debug/peers");
  auto& old_side = c_->at("old");
  auto& new_side = c_->at("new");

  // The client's own ID: kept by the sidecar it reached and by the peer sidecar.
  auto given = c_->curl(old_side.url() + new_only, "admin", {"Audit-ID: e2e-hop-1"});
  EXPECT_EQ(given.code, 200) << given.body;
  EXPECT_EQ(count_lines(given.headers, "Audit-Id"), 1) << given.headers;
  EXPECT_EQ(access_audit_id(old_side, "GET " + new_only + " 200"), "e2e-hop-1")
      << old_side.proc().output();
  EXPECT_EQ(access_audit_id(new_side, "GET " + new_only + " 200"), "e2e-hop-1")
      << new_side.proc().output();

  // None given: the first sidecar makes one, and the peer sidecar logs the same one.
  auto made = c_->curl(old_side.url() + new_only + "?limit=1");
  EXPECT_EQ(made.code, 200) << made.body;
  auto id = access_audit_id(old_side, "GET " + new_only + "?limit=1 200");
  EXPECT_TRUE(std::regex_match(
      id, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << id;
  EXPECT_EQ(access_audit_id(new_side, "GET " + new_only + "?limit=1 200"), id);
}

TEST_F(parity, a_peer_that_refuses_connections_is_upstreams_endpoint_resolution) {
  // "new" is listed but never started: its address refuses connections.
  c_->start("old", "static", {"old", "new"});
  ASSERT_TRUE(local_synced("old"));
  // Nobody known serves it: the peer not read yet is asked first, then the local
  // apiserver answers.
  auto r = c_->curl(c_->at("old").url() + new_only);
  EXPECT_EQ(r.code, 404) << r.body;
  auto m = c_->at("old").admin("/metrics");
  EXPECT_NE(m.find("apiserver_peer_proxy_errors_total{type=\"endpoint_resolution\"," +
                   new_only_gvr + "} 1"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("mvproxy_upstream_errors_total{target=\"new\",type=\"connect\"} 1"),
            std::string::npos)
      << m;
  // Its discovery cannot be read either.
  EXPECT_TRUE(wait_until([&] {
    m = c_->at("old").admin("/metrics");
    return m.find("apiserver_peer_discovery_sync_errors_total{type=\"fetch_discovery\"}") !=
               std::string::npos &&
           m.find("mvproxy_discovery_sync_errors_total{server=\"new\",type=\"unreachable\"}") !=
               std::string::npos;
  })) << m;
  EXPECT_EQ(m.find("apiserver_peer_discovery_sync_errors_total{type=\"peer\"}"), std::string::npos);
  EXPECT_EQ(m.find("apiserver_peer_proxy_errors_total{type=\"connect\""), std::string::npos);
}

TEST_F(parity, a_peer_whose_certificate_does_not_verify_is_upstreams_proxy_transport) {
  c_->start("new", "static", {"old", "new"});
  c_->start("old", "static", {"old", "new"}, {"--peer-server-name=not-in-the-certificate.invalid"});
  ASSERT_TRUE(local_synced("old"));
  auto r = c_->curl(c_->at("old").url() + new_only);
  EXPECT_EQ(r.code, 404) << r.body;  // as above: asked, then the local apiserver's answer
  auto m = c_->at("old").admin("/metrics");
  EXPECT_NE(
      m.find("apiserver_peer_proxy_errors_total{type=\"proxy_transport\"," + new_only_gvr + "} 1"),
      std::string::npos)
      << m;
  EXPECT_NE(m.find("mvproxy_upstream_errors_total{target=\"new\",type=\"tls\"} 1"),
            std::string::npos)
      << m;
}

TEST_F(parity, a_single_static_sidecar_without_peers_starts_and_serves) {
  sidecar_options o;
  o.id = "old";
  o.upstream_port = c_->api().port("old");
  o.peer_discovery = "static";  // and no --peers
  sidecar single(c_->dir(), c_->dir(), o);
  EXPECT_TRUE(single.proc().wait_for_output(
      "no peers: the static list \\(--peers\\) names no other sidecar"))
      << single.proc().output();
  ASSERT_TRUE(wait_until([&] { return single.ready(); })) << single.admin("/readyz");
  auto doc = json::parse(single.admin("/debug/peers"), nullptr, false);
  ASSERT_TRUE(doc.is_object()) << single.admin("/debug/peers");
  EXPECT_TRUE(doc["peers"].empty());
  // What its apiserver serves is served; what it does not is that apiserver's 404.
  EXPECT_EQ(c_->curl(single.url() + "/api/v1/namespaces/default/configmaps").code, 200);
  auto missing = c_->curl(single.url() + new_only);
  EXPECT_EQ(missing.code, 404) << missing.body;
  EXPECT_EQ(c_->served(new_only).back()["instance"], "old");
}

}  // namespace
}  // namespace mvproxy::test
