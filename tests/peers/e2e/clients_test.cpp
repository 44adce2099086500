// Real clients other than the dispatcher's kubectl, through the sidecars: Debian's
// python3-kubernetes watching (it sends watch=True), kubectl 1.33 creating with
// protobuf bodies, and kubectl explain of a kind only the new apiserver serves.
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

#include "cluster.hpp"
#include "kubectl_version.hpp"

namespace mvproxy::test {
namespace {

using namespace std::chrono_literals;

const std::string python = "/usr/bin/python3";
const std::string kubectl_dir = "/usr/lib/google-cloud-sdk/bin/";

bool has_python_client() { return run_command(python + " -c 'import kubernetes'").exit_code == 0; }

class clients : public old_and_new_sidecars {
 protected:
  // The Python watcher against `server`, printing one line per event.
  std::unique_ptr<process> watch(const std::string& server, const std::vector<std::string>& what,
                                 const std::string& log) {
    std::vector<std::string> argv = {
        python, std::string(MVPROXY_SOURCE_DIR) + "/tests/peers/e2e/clients/watch.py",
        c_->pki("admin.conf"), server};
    argv.insert(argv.end(), what.begin(), what.end());
    return std::make_unique<process>(argv, c_->dir() / log);
  }
};

// The Python client's watch through the old sidecar: of configmaps (served locally) and
// of a new-only resource (sent to the peer). Both see an object created afterwards.
TEST_F(clients, python_client_watches_through_the_sidecar_on_both_routes) {
  if (!has_python_client()) GTEST_SKIP() << "Debian python3-kubernetes is not installed";
  const auto url = c_->at("old").url();
  auto core = watch(url, {"core", "default"}, "watch-core.log");
  auto custom = watch(url, {"custom", "default", "resource.k8s.io", "v1alpha3", "resourceclaims"},
                      "watch-custom.log");
  ASSERT_TRUE(core->wait_for_output("watching")) << core->output();
  ASSERT_TRUE(custom->wait_for_output("watching")) << custom->output();
  std::cout << core->output().substr(0, core->output().find('\n')) << "\n";

  auto cm = c_->kubectl(url, "create configmap watched-cm --from-literal=a=b");
  ASSERT_EQ(cm.exit_code, 0) << cm.output;
  auto claim = c_->curl(url + "/apis/resource.k8s.io/v1alpha3/namespaces/default/resourceclaims",
                        "admin", {}, "POST",
                        R"({"apiVersion":"resource.k8s.io/v1alpha3","kind":"ResourceClaim",)"
                        R"("metadata":{"name":"watched-claim"},"spec":{}})");
  ASSERT_EQ(claim.code, 201) << claim.body;

  EXPECT_TRUE(core->wait_for_output("ADDED watched-cm")) << core->output();
  EXPECT_TRUE(custom->wait_for_output("ADDED watched-claim")) << custom->output();
  // Each watch reached the apiserver as a watch (watch=True), the custom one on "new".
  bool core_watch = false, custom_watch = false;
  for (auto& e : c_->served("/api/v1/namespaces/default/configmaps"))
    if (e.value("query", "").find("watch=True") != std::string::npos && e["instance"] == "old")
      core_watch = true;
  for (auto& e : c_->served("/apis/resource.k8s.io/v1alpha3/namespaces/default/resourceclaims"))
    if (e.value("query", "").find("watch=True") != std::string::npos && e["instance"] == "new")
      custom_watch = true;
  EXPECT_TRUE(core_watch);
  EXPECT_TRUE(custom_watch);
}

// kubectl 1.33 sends typed creates as protobuf: through either sidecar they succeed and
// the objects read back as sent.
TEST_F(clients, kubectl_133_protobuf_creates_through_the_sidecars) {
  const std::string k133 = kubectl_dir + "kubectl.1.33";
  if (!std::filesystem::exists(k133)) GTEST_SKIP() << "no " << k133;
  auto version = run_command(k133 + " version --client -o json");
  std::cout << "client " << k133 << " " << version.output.substr(0, 120) << "\n";
  for (const char* id : {"old", "new"}) {
    SCOPED_TRACE(id);
    const std::string base =
        k133 + " --kubeconfig " + c_->pki("admin.conf") + " --server " + c_->at(id).url() + " ";
    const std::string ns = std::string("pb-") + id;
    auto made = run_command(base + "create namespace " + ns);
    EXPECT_EQ(made.exit_code, 0) << made.output;
    auto cm = run_command(base + "-n " + ns + " create configmap pb --from-literal=k=v");
    EXPECT_EQ(cm.exit_code, 0) << cm.output;
    auto got = run_command(base + "-n " + ns + " get configmap pb -o jsonpath={.data.k}");
    EXPECT_EQ(got.output, "v");
  }
  // The apiserver saw protobuf bodies: kubectl 1.33 sent them, the sidecars relayed them.
  std::size_t creates = 0;
  for (auto& e : c_->served("/api/v1/namespaces"))
    if (e["method"] == "POST" && e["status"] == 201) ++creates;
  EXPECT_EQ(creates, 4u);
}

// kubectl explain of a kind only the new apiserver serves, through the old sidecar:
// kubectl 1.29+ read OpenAPI v3, whose merged index names it and whose document comes
// from the new apiserver. kubectl 1.27-1.28 read /openapi/v2, which is not merged
// (docs/architecture.md): through the old sidecar they explain what the old apiserver
// serves, as they would against it.
TEST_F(clients, kubectl_explain_of_a_new_only_kind_through_the_old_sidecar) {
  auto explain = [&](const std::string& k, const std::string& what) {
    auto r = run_command(k + " --kubeconfig " + c_->pki("admin.conf") + " --cache-dir " +
                         (c_->dir() / "explain-cache").string() + " --server " +
                         c_->at("old").url() + " explain " + what);
    std::filesystem::remove_all(c_->dir() / "explain-cache");
    return r;
  };
  for (std::string k :
       {std::string("kubectl"), kubectl_dir + "kubectl.1.29", kubectl_dir + "kubectl.1.33"}) {
    if (k != "kubectl" && !std::filesystem::exists(k)) continue;
    SCOPED_TRACE(k);
    auto r = explain(k, "resourceclaims.spec --api-version=resource.k8s.io/v1alpha3");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("KIND:       ResourceClaim"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("VERSION:    v1alpha3"), std::string::npos) << r.output;
  }
  auto served = c_->served("/openapi/v3/apis/resource.k8s.io/v1alpha3");
  ASSERT_FALSE(served.empty());
  for (auto& e : served) EXPECT_EQ(e["instance"], "new");

  const std::string k127 = kubectl_dir + "kubectl.1.27";
  if (!std::filesystem::exists(k127)) GTEST_SKIP() << "no " << k127;
  auto old_kind = explain(k127, "resourceclaims.spec --api-version=resource.k8s.io/v1alpha2");
  EXPECT_EQ(old_kind.exit_code, 0) << old_kind.output;
  EXPECT_NE(old_kind.output.find("VERSION:    v1alpha2"), std::string::npos) << old_kind.output;
  auto v2 = c_->served("/openapi/v2");
  ASSERT_FALSE(v2.empty());
  EXPECT_EQ(v2.back()["instance"], "old");
}

}  // namespace
}  // namespace mvproxy::test

namespace mvproxy::test {
namespace {

// Which HTTP version each real client speaks with a sidecar, from the sidecar's access
// line: kubectl (client-go) negotiates h2 as with kube-apiserver, on both routes (local,
// and the peer's resource); the Python client (urllib3) speaks HTTP/1.1. (kpt's h2 is
// checked in crd_test.cpp.)
// With MVPROXY_TEST_HTTP1 the sidecars offer HTTP/1.1 only, and everyone uses it.
TEST_F(clients, each_client_speaks_the_protocol_it_negotiates_on_both_routes) {
  const bool h1_only = std::getenv("MVPROXY_TEST_HTTP1") && *std::getenv("MVPROXY_TEST_HTTP1");
  const std::string h2 = h1_only ? "HTTP/1.1" : "HTTP/2.0";
  auto& old_sidecar = c_->at("old");
  const auto url = old_sidecar.url();
  auto seen = [&](const std::string& request_line, const std::string& proto) {
    return old_sidecar.proc()
        .wait_for_output(
            "access: " + request_line + " \\d+ route=\\S+ .* proto=" + proto + " conn=", 5s)
        .has_value();
  };
  report_kubectl_version("kubectl", "kubectl (the dispatcher)");
  auto cms = c_->kubectl(url, "get configmaps -n kube-public");
  ASSERT_EQ(cms.exit_code, 0) << cms.output;
  EXPECT_TRUE(seen("GET /api/v1/namespaces/kube-public/configmaps\\S*", h2))
      << old_sidecar.proc().output();
  auto claims = c_->kubectl(url, "get resourceclaims.v1alpha3.resource.k8s.io -n kube-public");
  ASSERT_EQ(claims.exit_code, 0) << claims.output;
  EXPECT_TRUE(
      seen("GET /apis/resource.k8s.io/v1alpha3/namespaces/kube-public/resourceclaims\\S*", h2))
      << old_sidecar.proc().output();

  if (has_python_client()) {
    // The Python client of the watch test, listing namespaces once.
    auto py = run_command(python + " -c \"import kubernetes as k; k.config.load_kube_config('" +
                          c_->pki("admin.conf") +
                          "'); c = k.client.Configuration.get_default_copy(); c.host = '" + url +
                          "'; print(len(k.client.CoreV1Api(k.client.ApiClient(c))"
                          ".list_namespace().items))\"");
    EXPECT_EQ(py.exit_code, 0) << py.output;
    EXPECT_TRUE(seen("GET /api/v1/namespaces", "HTTP/1.1")) << old_sidecar.proc().output();
  }
}

// What the sidecars speak to their apiservers, from the stand-in's request log: HTTP/2,
// as client-go to kube-apiserver, on both hops of the peer route (old sidecar -> new
// sidecar -> new apiserver), and several requests share one connection. With
// MVPROXY_TEST_HTTP1 (--disable-upstream-http2) it is HTTP/1.1 throughout.
TEST_F(clients, the_sidecars_speak_http2_to_their_apiservers_and_peers) {
  const bool h1_only = std::getenv("MVPROXY_TEST_HTTP1") && *std::getenv("MVPROXY_TEST_HTTP1");
  const std::string want = h1_only ? "HTTP/1.1" : "HTTP/2.0";
  const auto url = c_->at("old").url();
  const std::string local = "/api/v1/namespaces/kube-public/configmaps";
  const std::string peer = "/apis/resource.k8s.io/v1alpha3/namespaces/kube-public/resourceclaims";
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(c_->curl(url + local, "admin").code, 200);
    ASSERT_EQ(c_->curl(url + peer, "admin").code, 200);
  }
  auto check = [&](const std::string& path, const std::string& instance) {
    std::set<int> conns;
    int n = 0;
    for (auto& e : c_->served(path)) {
      if (e["instance"] != instance) continue;
      ++n;
      EXPECT_EQ(e.value("proto", ""), want) << e.dump();
      conns.insert(e.value("conn", 0));
    }
    EXPECT_EQ(n, 3) << path;
    if (!h1_only) EXPECT_EQ(conns.size(), 1u) << path << ": one multiplexed connection";
  };
  check(local, "old");
  check(peer, "new");
}

}  // namespace
}  // namespace mvproxy::test
