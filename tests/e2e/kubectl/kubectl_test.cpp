// kubectl and curl through mvproxy to the kube-apiserver stand-in: what a user sees
// must be what they see talking to the apiserver directly, with their identity intact.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <iostream>

#include "../../integration/common/harness.hpp"
#include "stand_in.hpp"

namespace mvproxy::test {
namespace {

class kubectl_e2e : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (run_command("command -v kubectl").exit_code != 0) return;
    auto v = run_command("kubectl version --client 2>&1");
    std::cout << "kubectl client: " << v.output << std::flush;
  }
  void SetUp() override {
    if (run_command("command -v kubectl").exit_code != 0) GTEST_SKIP() << "kubectl not installed";
    if (!stand_in::available())
      GTEST_SKIP() << "no " << stand_in::binary() << " (build target fake-apiserver)";
    pki = dir.path() / "pki";
    make_pki(pki, {"old"});
    api = std::make_unique<stand_in>(pki, dir.path(),
                                     std::vector<stand_in_instance>{{"old", "v1.30"}});
    proxy = std::make_unique<mvproxy_process>(pki, dir.path(), api->url("old"));
  }
  std::string via_proxy() const { return "https://127.0.0.1:" + std::to_string(proxy->port()); }
  command_result kubectl(const std::string& args, const std::string& kubeconfig = "admin.conf",
                         const std::string& server = "") {
    return run_command(kubectl_base(kubeconfig) + " --server " +
                       (server.empty() ? via_proxy() : server) + " " + args);
  }
  // A discovery cache of this fixture's own: kubectl's default one is keyed by
  // host:port, and ports come back between tests.
  std::string kubectl_base(const std::string& kubeconfig = "admin.conf") const {
    return "kubectl --kubeconfig " + (pki / kubeconfig).string() + " --cache-dir " +
           (dir.path() / "kube-cache").string();
  }
  std::vector<nlohmann::json> logged_requests() const {
    std::vector<nlohmann::json> out;
    std::istringstream in(read_file(api->request_log()));
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(nlohmann::json::parse(line));
    return out;
  }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir.path() / name) << text;
  }

  temp_dir dir;
  std::filesystem::path pki;
  std::unique_ptr<stand_in> api;
  std::unique_ptr<mvproxy_process> proxy;
};

TEST_F(kubectl_e2e, api_resources_equal_direct) {
  // The dispatcher picks the kubectl matching the server: show which one ran.
  std::cout << "kubectl through mvproxy: " << kubectl("version").output << std::flush;
  auto via = kubectl("api-resources");
  auto direct = kubectl("api-resources", "admin.conf", api->url("old"));
  ASSERT_EQ(via.exit_code, 0) << via.output;
  EXPECT_EQ(via.output, direct.output);
  EXPECT_NE(via.output.find("configmaps"), std::string::npos);
}

TEST_F(kubectl_e2e, create_get_list_delete_and_watch) {
  write(
      "cm.json",
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"e2e","namespace":"default"},"data":{"k":"v"}})");
  auto w = std::make_unique<process>(
      std::vector<std::string>{"kubectl", "--kubeconfig", (pki / "admin.conf").string(), "--server",
                               via_proxy(), "get", "configmaps", "-w", "--output-watch-events"},
      dir.path() / "watch.log");
  // The watch is open once its (empty) initial list went through the proxy.
  ASSERT_TRUE(wait_until([&] {
    for (auto& r : logged_requests())
      if (r["path"] == "/api/v1/namespaces/default/configmaps" &&
          r["query"].get<std::string>().find("watch=true") != std::string::npos)
        return true;
    return false;
  }));
  auto c = kubectl("create -f " + (dir.path() / "cm.json").string());
  ASSERT_EQ(c.exit_code, 0) << c.output;
  EXPECT_TRUE(w->wait_for_output("ADDED\\s+e2e"));
  EXPECT_EQ(kubectl("get configmap e2e -o jsonpath={.data.k}").output, "v");
  auto list = kubectl("get configmaps -o name");
  EXPECT_NE(list.output.find("configmap/e2e"), std::string::npos) << list.output;
  auto d = kubectl("delete configmap e2e");
  EXPECT_EQ(d.exit_code, 0) << d.output;
  EXPECT_TRUE(w->wait_for_output("DELETED\\s+e2e"));
  auto gone = kubectl("get configmap e2e");
  EXPECT_NE(gone.exit_code, 0);
  EXPECT_NE(gone.output.find("not found"), std::string::npos) << gone.output;
}

TEST_F(kubectl_e2e, auth_whoami_keeps_the_caller_identity) {
  auto admin = kubectl("auth whoami -o json");
  ASSERT_EQ(admin.exit_code, 0) << admin.output;
  auto a = nlohmann::json::parse(admin.output);
  EXPECT_EQ(a["status"]["userInfo"]["username"], "kubernetes-admin");
  auto groups = a["status"]["userInfo"]["groups"].dump();
  EXPECT_NE(groups.find("system:masters"), std::string::npos) << groups;
  auto token = kubectl("auth whoami -o json", "token.conf");
  ASSERT_EQ(token.exit_code, 0) << token.output;
  EXPECT_EQ(nlohmann::json::parse(token.output)["status"]["userInfo"]["username"], "bob");
}

TEST_F(kubectl_e2e, spoofed_x_remote_user_is_not_honoured) {
  std::string curl = "curl -sS --cacert " + (pki / "ca.crt").string() +
                     " -H 'X-Remote-User: system:admin' -H 'X-Remote-Group: system:masters' ";
  // Still anonymous, whom RBAC refuses: the headers made nobody an admin.
  auto anon =
      run_command(curl + "-o /dev/null -w '%{http_code}' " + via_proxy() + "/api/v1/namespaces");
  EXPECT_EQ(anon.output, "403");
  auto bob = run_command(
      curl +
      "-H 'Authorization: Bearer mvproxy-test-token-bob' -H 'Content-Type: application/json' "
      "-X POST -d '{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"SelfSubjectReview\"}' " +
      via_proxy() + "/apis/authentication.k8s.io/v1/selfsubjectreviews");
  EXPECT_EQ(nlohmann::json::parse(bob.output)["status"]["userInfo"]["username"], "bob")
      << bob.output;
}

TEST_F(kubectl_e2e, exec_echo_and_interactive_cat) {
  write("pod.json",
        R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},)"
        R"("spec":{"containers":[{"name":"c","image":"busybox"}]}})");
  ASSERT_EQ(kubectl("create -f " + (dir.path() / "pod.json").string()).exit_code, 0);
  auto echo = kubectl("exec p -- echo hello through mvproxy");
  EXPECT_EQ(echo.exit_code, 0) << echo.output;
  EXPECT_EQ(echo.output, "hello through mvproxy\n");
  auto cat = run_command("printf 'line one\\nline two\\n' | " + kubectl_base() + " --server " +
                         via_proxy() + " exec -i p -- cat");
  EXPECT_EQ(cat.exit_code, 0) << cat.output;
  EXPECT_EQ(cat.output, "line one\nline two\n");
}

TEST_F(kubectl_e2e, twenty_mib_list_is_identical_to_direct) {
  std::string payload(1000 * 1000, 'z');
  for (int i = 0; i < 21; ++i) {
    auto name = "big" + std::to_string(i);
    write(name + ".json", R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + name +
                              R"(","namespace":"default","labels":{"big":"1"}},"data":{"d":")" +
                              payload + R"("}})");
    ASSERT_EQ(kubectl("create -f " + (dir.path() / (name + ".json")).string()).exit_code, 0);
  }
  auto via =
      run_command(kubectl_base() + " --server " + via_proxy() +
                  " get configmaps -l big=1 -o json > " + (dir.path() / "via.json").string());
  auto direct =
      run_command(kubectl_base() + " --server " + api->url("old") +
                  " get configmaps -l big=1 -o json > " + (dir.path() / "direct.json").string());
  ASSERT_EQ(via.exit_code, 0) << via.output;
  auto a = read_file(dir.path() / "via.json"), b = read_file(dir.path() / "direct.json");
  EXPECT_GT(a.size(), 20u << 20);
  EXPECT_TRUE(a == b);
}

TEST_F(kubectl_e2e, smuggling_vectors_never_reach_the_apiserver) {
  const std::vector<std::string> vectors = {
      "POST /api/v1/namespaces/smuggle-1/configmaps HTTP/1.1\r\nHost: k\r\nContent-Length: "
      "4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "POST /api/v1/namespaces/smuggle-2/configmaps HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: "
      "gzip, chunked\r\n\r\n0\r\n\r\n",
      "POST /api/v1/namespaces/smuggle-3/configmaps HTTP/1.1\r\nHost: k\r\nContent-Length: "
      "1\r\nContent-Length: 50\r\n\r\nx",
      "GET /api/v1/namespaces/smuggle-4/configmaps HTTP/1.1\r\nHost: k\r\nX-A: "
      "1\r\n\tfolded\r\n\r\n",
      "GET /api/v1/namespaces/smuggle-5/configmaps HTTP/1.1\nHost: k\n\n",
  };
  for (auto& raw : vectors) {
    client c(proxy->port(), pki, "admin");
    c.send(raw);
    auto r = c.read_response();
    EXPECT_EQ(r.result_int(), 400) << raw;
    EXPECT_EQ(nlohmann::json::parse(r.body())["kind"], "Status");
  }
  kubectl("get --raw /api/v1/namespaces/default/configmaps");  // a marker request after them
  ASSERT_TRUE(wait_until([&] { return !logged_requests().empty(); }));
  for (auto& r : logged_requests())
    EXPECT_EQ(r["path"].get<std::string>().find("smuggle"), std::string::npos) << r.dump();
}

}  // namespace
}  // namespace mvproxy::test
