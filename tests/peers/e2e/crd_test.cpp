// CustomResourceDefinitions through mvproxy sidecars with real clients: kubectl applies
// a CRD, waits for it to be Established and uses its custom resources through both
// sidecars (every apiserver serves every CRD); kpt's `live apply`, which creates its
// ResourceGroup CRD and inventory objects, works through a sidecar end to end.

#include <gtest/gtest.h>

#include <fstream>

#include "cluster.hpp"

namespace mvproxy::test {
namespace {

using namespace std::chrono_literals;

const char* const aggregated_accept =
    "Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
const char* const kpt_binary = "/usr/lib/google-cloud-sdk/bin/kpt";

const char* const widget_crd = R"(apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wd]
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
    subresources:
      status: {}
)";

void write(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

class crd : public old_and_new_sidecars {
 protected:
  void SetUp() override {
    old_and_new_sidecars::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    std::cout << "kubectl: " << run_command("kubectl version --client 2>&1 | head -1").output;
  }
  // Until the sidecar's own discovery (read from its apiserver) has the group-version.
  bool discovered(const std::string& id, const std::string& gv) {
    return wait_until([&] { return c_->curl(c_->at(id).url() + "/apis/" + gv).code == 200; }, 10s);
  }
  command_result kubectl(const std::string& id, const std::string& args) {
    return c_->kubectl(c_->at(id).url(), args);
  }
};

TEST_F(crd, kubectl_uses_a_crd_through_both_sidecars) {
  auto file = c_->dir() / "widget-crd.yaml";
  write(file, widget_crd);
  auto applied = kubectl("old", "apply -f " + file.string());
  ASSERT_EQ(applied.exit_code, 0) << applied.output;
  auto established =
      kubectl("old", "wait --for condition=established --timeout=20s crd/widgets.example.com");
  ASSERT_EQ(established.exit_code, 0) << established.output;
  for (const char* id : {"old", "new"}) ASSERT_TRUE(discovered(id, "example.com/v1")) << id;

  auto resources = kubectl("new", "api-resources --api-group=example.com");
  ASSERT_EQ(resources.exit_code, 0) << resources.output;
  EXPECT_NE(resources.output.find("widgets"), std::string::npos) << resources.output;
  EXPECT_NE(resources.output.find("Widget"), std::string::npos) << resources.output;

  // A watch through "new" sees the widget created through "old".
  process watch({"kubectl", "--kubeconfig", c_->pki("admin.conf"), "--cache-dir",
                 (c_->dir() / "kube-cache-watch").string(), "--server", c_->at("new").url(), "get",
                 "widgets", "--watch", "--output-watch-events", "-o", "json"},
                c_->dir() / "watch.log");
  auto w1 = c_->dir() / "w1.yaml";
  write(w1, "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: 1\n");
  auto made = kubectl("old", "create -f " + w1.string());
  ASSERT_EQ(made.exit_code, 0) << made.output;
  EXPECT_TRUE(
      watch.wait_for_output(R"("type": ?"ADDED",\s*"object": ?\{[\s\S]*"name": ?"w1")", 20s))
      << watch.output();
  watch.stop();

  auto w2 = c_->dir() / "w2.yaml";
  write(w2, "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w2\n");
  auto made2 = kubectl("new", "apply -f " + w2.string());
  ASSERT_EQ(made2.exit_code, 0) << made2.output;
  for (const char* id : {"old", "new"}) {
    auto got = kubectl(id, "get wd -o name");
    EXPECT_EQ(got.exit_code, 0) << got.output;
    EXPECT_EQ(got.output, "widget.example.com/w1\nwidget.example.com/w2\n") << id;
  }
  auto one = kubectl("new", "get widget w1 -o jsonpath={.spec.size}");
  EXPECT_EQ(one.output, "1") << one.output;
  auto removed = kubectl("new", "delete widget w1");
  EXPECT_EQ(removed.exit_code, 0) << removed.output;
  EXPECT_EQ(kubectl("old", "get widgets -o name").output, "widget.example.com/w2\n");

  // Deleting the CRD takes its group out of discovery and its objects with it.
  auto gone = kubectl("old", "delete crd widgets.example.com");
  ASSERT_EQ(gone.exit_code, 0) << gone.output;
  for (const char* id : {"old", "new"})
    EXPECT_TRUE(wait_until(
        [&] { return c_->curl(c_->at(id).url() + "/apis/example.com/v1").code == 404; }, 10s))
        << id;
  // The sidecars serve discovery from their model of their apiserver, read every 500 ms
  // here: the group leaves their aggregated /apis within a sync.
  for (const char* id : {"old", "new"})
    EXPECT_TRUE(wait_until(
        [&] {
          auto apis = c_->curl(c_->at(id).url() + "/apis", "admin", {aggregated_accept});
          return apis.code == 200 && apis.body.find("\"example.com\"") == std::string::npos;
        },
        10s))
        << id;
  auto after = kubectl("new", "api-resources --api-group=example.com");
  EXPECT_EQ(after.output.find("widgets"), std::string::npos) << after.output;
  EXPECT_EQ(c_->curl(c_->api().url("old") + "/apis/example.com/v1/widgets").code, 404);
}

TEST_F(crd, kpt_live_apply_through_a_sidecar) {
  if (!std::filesystem::exists(kpt_binary)) GTEST_SKIP() << "no kpt at " << kpt_binary;
  std::cout << "kpt: " << run_command(std::string(kpt_binary) + " version").output;
  // A kubeconfig whose server is the sidecar: kpt has no --server flag.
  std::string conf = read_file(c_->dir() / "admin.conf");
  const std::string direct = "https://127.0.0.1:6443";
  ASSERT_NE(conf.find(direct), std::string::npos) << conf;
  conf.replace(conf.find(direct), direct.size(), c_->at("old").url());
  auto kubeconfig = c_->dir() / "sidecar.conf";
  write(kubeconfig, conf);
  auto pkg = c_->dir() / "pkg";
  write(pkg / "namespace.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kpt-demo\n");
  write(pkg / "configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: kpt-demo\n"
        "data:\n  color: blue\n");
  auto kpt = [&](const std::string& args) {
    return run_command("cd " + c_->dir().string() + " && HOME=" + c_->dir().string() + " " +
                       kpt_binary + " " + args + " --kubeconfig " + kubeconfig.string());
  };
  auto init = kpt("live init " + pkg.string() + " --namespace kpt-demo");
  ASSERT_EQ(init.exit_code, 0) << init.output;
  auto install = kpt("live install-resource-group");
  ASSERT_EQ(install.exit_code, 0) << install.output;
  auto apply = kpt("live apply " + pkg.string() + " --reconcile-timeout=30s --output=events");
  ASSERT_EQ(apply.exit_code, 0) << apply.output;
  EXPECT_NE(apply.output.find("apply result: 2 attempted, 2 successful, 0 skipped, 0 failed"),
            std::string::npos)
      << apply.output;
  EXPECT_NE(apply.output.find("reconcile result: 2 attempted, 2 successful, 0 skipped, 0 failed, "
                              "0 timed out"),
            std::string::npos)
      << apply.output;

  auto cm = kubectl("new", "get configmap settings -n kpt-demo -o jsonpath={.data.color}");
  EXPECT_EQ(cm.output, "blue") << cm.output;
  auto inventory = kubectl("new", "get resourcegroups.kpt.dev -n kpt-demo -o name");
  EXPECT_EQ(inventory.exit_code, 0) << inventory.output;
  EXPECT_NE(inventory.output.find("resourcegroup.kpt.dev/"), std::string::npos) << inventory.output;
  auto status = kpt("live status " + pkg.string() + " --poll-until=current --timeout=30s");
  EXPECT_EQ(status.exit_code, 0) << status.output;
  EXPECT_NE(status.output.find("Current"), std::string::npos) << status.output;

  // kpt is client-go: it negotiated HTTP/2 with the sidecar (unless told HTTP/1.1 only).
  const char* h1 = std::getenv("MVPROXY_TEST_HTTP1");
  EXPECT_TRUE(c_->at("old").proc().wait_for_output(
      "access: \\S+ /api/v1/namespaces/kpt-demo/configmaps\\S* \\d+ route=\\S+ .* "
      "proto=" +
          std::string(h1 && *h1 ? "HTTP/1.1" : "HTTP/2.0"),
      5s))
      << c_->at("old").proc().output();

  auto destroy = kpt("live destroy " + pkg.string());
  ASSERT_EQ(destroy.exit_code, 0) << destroy.output;
  EXPECT_NE(destroy.output.find("delete result: 2 attempted, 2 successful"), std::string::npos)
      << destroy.output;
  EXPECT_NE(kubectl("new", "get configmap settings -n kpt-demo").exit_code, 0);
  EXPECT_TRUE(
      wait_until([&] { return kubectl("new", "get namespace kpt-demo").exit_code != 0; }, 10s));
}

}  // namespace
}  // namespace mvproxy::test
