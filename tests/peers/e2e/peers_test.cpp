// Peer proxying end to end (SPEC §3, §4, §6): a client that lands on a sidecar whose
// apiserver does not serve what it asks for is answered by a peer, over mutual TLS, as
// itself, in both membership modes; and each of upstream's peer-proxy handler cases.

#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <iostream>

#include "cluster.hpp"
#include "kubectl_version.hpp"

namespace mvproxy::test {
namespace {

// Pod p1 in default, created through `url`: an exec target.
http_result create_pod_p1(cluster& c, const std::string& url) {
  return c.curl(url + "/api/v1/namespaces/default/pods", "admin", {}, "POST",
                R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p1"},)"
                R"("spec":{"containers":[{"name":"c","image":"x"}]}})");
}

using namespace std::chrono_literals;
using nlohmann::json;

const std::string new_only = "/apis/resource.k8s.io/v1alpha3/namespaces/default/resourceclaims";
const std::string old_only = "/apis/resource.k8s.io/v1alpha2/namespaces/default/resourceclaims";

std::string claim(const std::string& version, const std::string& name) {
  return R"({"apiVersion":"resource.k8s.io/)" + version +
         R"(","kind":"ResourceClaim","metadata":{"name":")" + name +
         R"(","namespace":"default"},"spec":{}})";
}

class peer_proxy : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string why;
    if (!cluster::can_run(why)) GTEST_SKIP() << why;
    static bool printed = false;
    if (!printed) {
      printed = true;
      std::printf("kubectl: %s",
                  run_command("kubectl version --client 2>&1 | head -1").output.c_str());
    }
    c_ = std::make_unique<cluster>();
    mode_ = GetParam();
  }
  void start(const std::vector<std::string>& ids) {
    for (auto& id : ids) c_->start(id, mode_, ids);
    for (auto& id : ids)
      ASSERT_TRUE(c_->wait_peers(id, ids.size() - 1))
          << id << ": " << c_->at(id).admin("/debug/peers");
  }
  std::unique_ptr<cluster> c_;
  std::string mode_;
};

TEST_P(peer_proxy,
       new_only_resource_via_the_old_sidecar_is_served_by_the_new_apiserver_as_the_caller) {
  start({"old", "new"});
  auto old_url = c_->at("old").url();
  // Directly, the old apiserver does not know it.
  auto direct = c_->kubectl(c_->api().url("old"), "get resourceclaims.v1alpha3.resource.k8s.io");
  EXPECT_NE(direct.exit_code, 0);
  EXPECT_NE(direct.output.find("doesn't have a resource type"), std::string::npos) << direct.output;

  // Through the old sidecar: create, get, list, watch, delete all work.
  std::ofstream(c_->dir() / "claim.json") << claim("v1alpha3", "one");
  auto created =
      c_->kubectl(old_url, "create --validate=false -f " + (c_->dir() / "claim.json").string());
  ASSERT_EQ(created.exit_code, 0) << created.output;
  auto got = c_->kubectl(old_url, "get resourceclaims.v1alpha3.resource.k8s.io one -o name");
  EXPECT_EQ(got.exit_code, 0) << got.output;
  EXPECT_NE(got.output.find("resourceclaim.resource.k8s.io/one"), std::string::npos);

  process watch(
      {"kubectl", "--kubeconfig", c_->pki("admin.conf"), "--server", old_url, "get",
       "resourceclaims.v1alpha3.resource.k8s.io", "-w", "--output-watch-events", "-o", "name"},
      c_->dir() / "watch.out");
  ASSERT_TRUE(watch.wait_for_output("one"));
  // A change made through the new apiserver directly reaches the watcher over the hop.
  auto other =
      c_->curl(c_->api().url("new") + new_only, "admin", {}, "POST", claim("v1alpha3", "two"));
  ASSERT_EQ(other.code, 201) << other.body;
  ASSERT_TRUE(watch.wait_for_output("two", 5s)) << watch.output();
  watch.stop();

  auto list = c_->kubectl(old_url, "get resourceclaims.v1alpha3.resource.k8s.io -o name");
  EXPECT_NE(list.output.find("/two"), std::string::npos) << list.output;
  auto deleted = c_->kubectl(old_url, "delete resourceclaims.v1alpha3.resource.k8s.io one");
  EXPECT_EQ(deleted.exit_code, 0) << deleted.output;

  // The stand-in saw each of them at the NEW instance, marked peer-proxied, over the
  // proxy client certificate, as the original user.
  auto log = c_->served(new_only);
  ASSERT_FALSE(log.empty());
  std::set<std::string> methods;
  for (auto& e : log) {
    if (e["headers"].value("x-kubernetes-peer-proxied", "") != "true") continue;  // the direct POST
    EXPECT_EQ(e["instance"], "new");
    EXPECT_EQ(e["client_cert"]["subject_cn"], "front-proxy-client");
    EXPECT_EQ(e["user"], "kubernetes-admin");
    methods.insert(
        e["method"].get<std::string>() +
        (e["query"].get<std::string>().find("watch=") != std::string::npos ? "-watch" : ""));
  }
  for (auto m : {"POST", "GET", "GET-watch", "DELETE"}) EXPECT_TRUE(methods.count(m)) << m;
  for (auto& e : c_->served(new_only)) EXPECT_NE(e["instance"], "old");

  // Counted as rerouted.
  auto metrics = c_->at("old").admin("/metrics");
  EXPECT_NE(metrics.find("apiserver_rerouted_request_total{code=\"201\",group=\"resource.k8s.io\","
                         "version=\"v1alpha3\",resource=\"resourceclaims\"}"),
            std::string::npos);
}

TEST_P(peer_proxy, old_only_resource_via_the_new_sidecar_is_served_by_the_old_apiserver) {
  start({"old", "new"});
  auto r = c_->curl(c_->at("new").url() + old_only, "admin", {}, "POST",
                    claim("v1alpha2", "legacy-claim"));
  EXPECT_EQ(r.code, 201) << r.body;
  auto list = c_->curl(c_->at("new").url() + old_only);
  EXPECT_EQ(list.code, 200);
  EXPECT_NE(list.body.find("legacy-claim"), std::string::npos);
  for (auto& e : c_->served(old_only)) EXPECT_EQ(e["instance"], "old");
}

TEST_P(peer_proxy, what_both_serve_stays_local_and_what_nobody_serves_gets_the_local_404) {
  start({"old", "new"});
  auto both = c_->curl(c_->at("old").url() + "/api/v1/namespaces/default/configmaps");
  EXPECT_EQ(both.code, 200);
  auto nobody = c_->curl(c_->at("old").url() + "/apis/example.com/v1/widgets");
  EXPECT_EQ(nobody.code, 404);
  EXPECT_NE(nobody.body.find("the server could not find the requested resource"),
            std::string::npos);
  for (auto& e : c_->served("/api/v1/namespaces/default/configmaps"))
    EXPECT_EQ(e["instance"], "old");
  for (auto& e : c_->served("/apis/example.com")) EXPECT_EQ(e["instance"], "old");
}

TEST_P(peer_proxy, a_plain_clients_peer_headers_change_nothing_and_another_ca_is_no_peer) {
  start({"old", "new"});
  auto url = c_->at("old").url();
  // A plain client saying it was peer-proxied is still routed (and not served the 404).
  auto r = c_->curl(url + new_only, "admin",
                    {"x-kubernetes-peer-proxied: true", "X-Remote-User: mallory"});
  EXPECT_EQ(r.code, 200) << r.body;
  // Its spoofed X-Remote-User reached nobody.
  auto who = c_->curl(url + "/apis/authentication.k8s.io/v1/selfsubjectreviews", "jane",
                      {"X-Remote-User: system:admin", "X-Remote-Group: system:masters"}, "POST",
                      R"({"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"})");
  EXPECT_EQ(who.code, 201) << who.body;
  EXPECT_NE(who.body.find("\"username\":\"jane\""), std::string::npos) << who.body;
  EXPECT_EQ(who.body.find("system:masters"), std::string::npos) << who.body;
  // The front-proxy-client CN signed by another CA is not a trusted peer: it is either
  // refused at the handshake or treated as a plain client (routed), never served locally
  // as "already proxied".
  auto intruder = c_->curl(url + new_only, "intruder", {"x-kubernetes-peer-proxied: true"});
  EXPECT_TRUE(intruder.code <= 0 || intruder.code == 200 || intruder.code == 401) << intruder.code;
  for (auto& e : c_->served(new_only)) EXPECT_EQ(e["instance"], "new");
}

TEST_P(peer_proxy, local_failover_while_the_old_apiserver_restarts) {
  start({"old", "new"});
  auto url = c_->at("old").url();
  auto pod = create_pod_p1(*c_, url);
  ASSERT_EQ(pod.code, 201) << pod.body;
  ASSERT_EQ(c_->api().control("old", "stop").exit_code, 0);
  // A resource both serve, and the identity, over the hop to the new apiserver.
  auto cms = c_->curl(url + "/api/v1/namespaces/default/configmaps");
  EXPECT_EQ(cms.code, 200) << cms.body;
  auto who = c_->kubectl(url, "auth whoami -o json");
  EXPECT_EQ(who.exit_code, 0) << who.output;
  EXPECT_NE(who.output.find("kubernetes-admin"), std::string::npos);
  auto reviews = c_->served("/apis/authentication.k8s.io/v1/selfsubjectreviews");
  ASSERT_FALSE(reviews.empty());
  EXPECT_EQ(reviews.back()["instance"], "new");
  EXPECT_EQ(reviews.back()["user"], "kubernetes-admin");
  EXPECT_EQ(reviews.back()["headers"]["x-kubernetes-peer-proxied"], "true");
  // An upgrade (exec over WebSocket) crosses the hop too, both ways (-i cat).
  auto exec = c_->kubectl(url, "exec p1 -- echo over-the-hop");
  EXPECT_EQ(exec.exit_code, 0) << exec.output;
  EXPECT_NE(exec.output.find("over-the-hop"), std::string::npos);
  auto cat = run_command("echo stdin-over-the-hop | kubectl --kubeconfig " + c_->pki("admin.conf") +
                         " --server " + url + " exec -i p1 -- cat");
  EXPECT_EQ(cat.exit_code, 0) << cat.output;
  EXPECT_NE(cat.output.find("stdin-over-the-hop"), std::string::npos);
  auto execs = c_->served("/api/v1/namespaces/default/pods/p1/exec");
  ASSERT_FALSE(execs.empty());
  for (auto& e : execs) EXPECT_EQ(e["instance"], "new");
  ASSERT_EQ(c_->api().control("old", "start").exit_code, 0);
}

// kubectl 1.27-1.29 exec over SPDY/3.1 (their default) through the sidecars: the
// sidecar only tunnels the bytes after the 101, locally and over the hop alike.
TEST_P(peer_proxy, spdy_exec_from_kubectl_1_27_local_and_over_the_hop) {
  const std::string k127 = "/usr/lib/google-cloud-sdk/bin/kubectl.1.27";
  if (!std::filesystem::exists(k127))
    GTEST_SKIP() << k127 << " is missing: SPDY exec needs a kubectl older than 1.30";
  auto version = report_kubectl_version(k127, "kubectl for SPDY exec");
  ASSERT_EQ(version.rfind("v1.27.", 0), 0u) << version;
  start({"old", "new"});
  auto url = c_->at("old").url();
  auto pod = create_pod_p1(*c_, url);
  ASSERT_EQ(pod.code, 201) << pod.body;
  auto cmd = [&](const std::string& args) {
    return k127 + " --kubeconfig " + c_->pki("admin.conf") + " --cache-dir " +
           (c_->dir() / "kube-cache-127").string() + " --server " + url + " " + args;
  };
  auto k = [&](const std::string& args) { return run_command(cmd(args)); };
  const std::string exec_path = "/api/v1/namespaces/default/pods/p1/exec";
  // Each round: echo, stdin through cat, and a failing command's exit code.
  auto round = [&](const std::string& word) {
    auto echo = k("exec p1 -- echo " + word);
    EXPECT_EQ(echo.exit_code, 0) << echo.output;
    EXPECT_EQ(echo.output, word + "\n");
    auto cat = run_command("printf 'in-" + word + "\\nline2\\n' | " + cmd("exec -i p1 -- cat"));
    EXPECT_EQ(cat.exit_code, 0) << cat.output;
    EXPECT_EQ(cat.output, "in-" + word + "\nline2\n");
    auto fails = k("exec p1 -- false");
    EXPECT_EQ(fails.exit_code, 1) << fails.output;
  };

  // Local route: the old sidecar's own apiserver serves pods/exec.
  round("spdy-local");
  auto local = c_->served(exec_path);
  ASSERT_EQ(local.size(), 3u);
  for (auto& e : local) {
    EXPECT_EQ(e["instance"], "old") << e;
    EXPECT_EQ(e["method"], "POST") << e;  // SPDY; a WebSocket exec is a GET
    EXPECT_EQ(e["status"], 101) << e;
    EXPECT_FALSE(e["headers"].contains("x-kubernetes-peer-proxied")) << e;
  }

  // Peer route: with the old apiserver down, the old sidecar sends exec over the hop
  // to the new apiserver, as the caller.
  ASSERT_EQ(c_->api().control("old", "stop").exit_code, 0);
  round("spdy-over-the-hop");
  auto all = c_->served(exec_path);
  ASSERT_EQ(all.size(), 6u);
  for (size_t i = 3; i < all.size(); ++i) {
    auto& e = all[i];
    EXPECT_EQ(e["instance"], "new") << e;
    EXPECT_EQ(e["method"], "POST") << e;
    EXPECT_EQ(e["status"], 101) << e;
    EXPECT_EQ(e["headers"].value("x-kubernetes-peer-proxied", ""), "true") << e;
    EXPECT_EQ(e["user"], "kubernetes-admin") << e;
  }
  ASSERT_EQ(c_->api().control("old", "start").exit_code, 0);
}

INSTANTIATE_TEST_SUITE_P(membership, peer_proxy, ::testing::Values("lease", "static"));

// Upstream's peer-proxy handler cases, one test each (lease mode).
class handler_cases : public peer_proxy {};

TEST_P(handler_cases, non_resource_requests_pass_through) {
  start({"old", "new"});
  auto r = c_->curl(c_->at("old").url() + "/version");
  EXPECT_EQ(r.code, 200);
  EXPECT_NE(r.body.find("v1.30"), std::string::npos) << r.body;
}

TEST_P(handler_cases, already_proxied_by_a_trusted_peer_is_served_locally) {
  start({"old", "new"});
  const std::string both = "/api/v1/namespaces/default/configmaps";
  auto r = c_->curl(c_->at("old").url() + both, "front-proxy-client",
                    {"x-kubernetes-peer-proxied: true", "X-Remote-User: kubernetes-admin",
                     "X-Remote-Group: system:masters"});
  EXPECT_EQ(r.code, 200) << r.body;
  auto log = c_->served(both);
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.back()["instance"], "old");
  EXPECT_EQ(log.back()["headers"]["x-kubernetes-peer-proxied"], "true");  // kept for the apiserver
  EXPECT_EQ(log.back()["user"], "kubernetes-admin");
}

// One hop at most, and never a guess: what the old apiserver does not serve is handed
// back to the peer that proxied it (503 + x-mvproxy-handed-back), nothing forwarded
// onward and nothing sent to the old apiserver.
TEST_P(handler_cases, already_proxied_but_not_served_here_is_handed_back) {
  start({"old", "new"});
  auto r = c_->curl(c_->at("old").url() + new_only, "front-proxy-client",
                    {"x-kubernetes-peer-proxied: true", "X-Remote-User: kubernetes-admin",
                     "X-Remote-Group: system:masters"});
  EXPECT_EQ(r.code, 503) << r.body;
  EXPECT_NE(r.headers.find("x-mvproxy-handed-back: not-served-here"), std::string::npos)
      << r.headers;
  EXPECT_TRUE(c_->served(new_only).empty());
}

TEST_P(handler_cases, served_locally) {
  start({"old", "new"});
  EXPECT_EQ(c_->curl(c_->at("old").url() + "/apis/apps/v1/namespaces/default/deployments").code,
            200);
  EXPECT_EQ(c_->served("/apis/apps/v1/namespaces/default/deployments").back()["instance"], "old");
}

TEST_P(handler_cases, no_peer_serves_it_local) {
  c_->start("old", mode_, {"old"});
  ASSERT_TRUE(wait_until([&] { return c_->at("old").ready(); }));
  auto r = c_->curl(c_->at("old").url() + new_only);
  EXPECT_EQ(r.code, 404);
  EXPECT_EQ(c_->served(new_only).back()["instance"], "old");
}

TEST_P(handler_cases, peer_unreachable_gives_503_with_retry_after) {
  start({"old", "new"});
  ::kill(c_->at("new").proc().pid(), SIGKILL);  // its Lease stays until it expires
  auto r = c_->curl(c_->at("old").url() + new_only);
  EXPECT_EQ(r.code, 503) << r.body;
  EXPECT_EQ(header_value(r.headers, "Retry-After"), "1");
  EXPECT_EQ(header_value(r.headers, "Content-Type"), "application/json");
  EXPECT_NE(r.body.find("\"kind\":\"Status\""), std::string::npos);
  EXPECT_NE(r.body.find("\"code\":503"), std::string::npos);
  auto metrics = c_->at("old").admin("/metrics");
  EXPECT_NE(metrics.find("apiserver_rerouted_request_total{code=\"503\",group=\"resource.k8s.io\","
                         "version=\"v1alpha3\",resource=\"resourceclaims\"}"),
            std::string::npos)
      << metrics;
}

INSTANTIATE_TEST_SUITE_P(upstream, handler_cases, ::testing::Values("lease"));

// Lease membership: a sidecar that dies drops out when its Lease expires and traffic
// moves to the peer that is left; a graceful stop deletes the Lease at once.
class lease_membership : public peer_proxy {};

TEST_P(lease_membership, traffic_moves_when_a_peer_dies_and_its_lease_expires) {
  start({"old", "new", "new2"});
  auto url = c_->at("old").url();
  ::kill(c_->at("new").proc().pid(), SIGKILL);
  // Before the Lease expires: a connect failure moves on to the other capable peer.
  for (int i = 0; i < 6; ++i) {
    auto r = c_->curl(url + new_only);
    EXPECT_EQ(r.code, 200) << r.body;
  }
  // After it expires (2s), the dead peer is gone from the peer list.
  ASSERT_TRUE(c_->wait_peers("old", 1, 8s)) << c_->at("old").admin("/debug/peers");
  auto doc = json::parse(c_->at("old").admin("/debug/peers"));
  EXPECT_EQ(doc["peers"][0]["id"], "new2");
  for (auto& e : c_->served(new_only)) EXPECT_NE(e["instance"], "old");
  // A graceful stop deletes the Lease: the peer leaves at once.
  c_->at("new2").proc().signal(SIGTERM);
  ASSERT_TRUE(c_->at("new2").proc().wait_exit(10s).has_value());
  ASSERT_TRUE(c_->wait_peers("old", 0, 1500ms)) << c_->at("old").admin("/debug/peers");
  // No peer left that serves it: the old apiserver's own 404.
  EXPECT_EQ(c_->curl(url + new_only).code, 404);
}

INSTANTIATE_TEST_SUITE_P(lease, lease_membership, ::testing::Values("lease"));

}  // namespace
}  // namespace mvproxy::test
