// End-to-end: the built fake-apiserver driven by the real kubectl and curl, to show
// they cannot tell it from kube-apiserver for everything mvproxy touches.

#include "kubectl_version.hpp"
#include "test_process.hpp"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>

namespace {

using mvproxy::test::process;
using mvproxy::test::run_command;
using mvproxy::test::temp_dir;
using mvproxy::test::wait_until;
using nlohmann::json;

const std::string binary = std::string(MVPROXY_BIN_DIR) + "/fake-apiserver";

json fixture(const std::string& name) {
  return json::parse(
      mvproxy::test::read_file(std::string(MVPROXY_FIXTURES_DIR) + "/discovery/" + name));
}

// What `kubectl api-resources` lists: every resource (no subresources) of every
// group/version, once per group.
size_t expected_api_resources(const std::string& aggregated_file) {
  std::set<std::string> seen;
  const json core = fixture("legacy-api-v1-resourcelist-v1.21.json");
  const json groups = fixture(aggregated_file);
  for (const auto& r : core["resources"])
    if (r["name"].get<std::string>().find('/') == std::string::npos)
      seen.insert("/" + r["name"].get<std::string>());
  for (const auto& g : groups["items"])
    for (const auto& v : g["versions"])
      for (const auto& r : v["resources"])
        seen.insert(g["metadata"]["name"].get<std::string>() + "/" +
                    r["resource"].get<std::string>());
  return seen.size();
}

// A response field from `curl -i` output, its name matched case-insensitively: over
// HTTP/2 (curl's default with the stand-in) names are lower case.
std::optional<std::string> header_value(const std::string& curl_i, const std::string& name) {
  std::istringstream in(curl_i);
  for (std::string line; std::getline(in, line) && line != "\r";) {
    auto colon = line.find(':');
    if (colon != name.size() ||
        !std::equal(name.begin(), name.end(), line.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        }))
      continue;
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    if (!value.empty() && value.back() == '\r') value.pop_back();
    return value;
  }
  return std::nullopt;
}

size_t count_lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

class FakeApiserver : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (run_command("command -v kubectl").exit_code != 0) return;
    pki_ = new temp_dir();
    mvproxy::test::make_pki(pki_->path(), {"old", "new", "legacy"});
    auto v = run_command("kubectl version --client 2>&1 | head -1");
    std::printf("kubectl client: %s", v.output.c_str());
  }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
  }

  void SetUp() override {
    if (!pki_) GTEST_SKIP() << "kubectl is not on PATH: the end-to-end tests need the real client";
    std::string p = pki_->path().string();
    log_ = work_.path() / "requests.jsonl";
    server_ = std::make_unique<process>(
        std::vector<std::string>{
            binary,
            "--instance",
            "name=old,profile=v1.30,cert=" + p + "/old.crt,key=" + p + "/old.key",
            "--instance",
            "name=new,profile=v1.31,cert=" + p + "/new.crt,key=" + p + "/new.key",
            "--instance",
            "name=legacy,profile=v1.21-legacy,cert=" + p + "/legacy.crt,key=" + p + "/legacy.key",
            "--client-ca-file",
            p + "/ca.crt",
            "--requestheader-client-ca-file",
            p + "/front-proxy-ca.crt",
            "--requestheader-allowed-names",
            "front-proxy-client",
            "--token-auth-file",
            p + "/tokens.csv",
            "--deny-users",
            "mallory",
            "--deny-groups",
            "denied-group",
            "--request-log",
            log_.string(),
            "--control-address",
            "127.0.0.1:0"},
        work_.path() / "server.log");
    auto ready = server_->wait_for_output(
        "instance old listening on 127.0.0.1:(\\d+)\\ninstance new listening on 127.0.0.1:(\\d+)\\n"
        "instance legacy listening on 127.0.0.1:(\\d+)\\ncontrol listening on "
        "127.0.0.1:(\\d+)\\nready\\n");
    ASSERT_TRUE(ready) << server_->output();
    old_ = (*ready)[1];
    new_ = (*ready)[2];
    legacy_ = (*ready)[3];
    control_ = (*ready)[4];
  }

  std::string kubectl(const std::string& port, const std::string& args,
                      const std::string& kubeconfig = "admin.conf") const {
    return "kubectl --kubeconfig=" + pki_->path().string() + "/" + kubeconfig +
           " --server=https://127.0.0.1:" + port +
           " --cache-dir=" + (work_.path() / "cache").string() + " " + args;
  }
  std::string curl(const std::string& args, const std::string& cert = "admin") const {
    std::string p = pki_->path().string();
    std::string c = "curl -sS --cacert " + p + "/ca.crt ";
    if (!cert.empty()) c += "--cert " + p + "/" + cert + ".crt --key " + p + "/" + cert + ".key ";
    return c + args;
  }
  std::string control(const std::string& method, const std::string& path) const {
    return run_command("curl -sS -X " + method + " http://127.0.0.1:" + control_ + path).output;
  }

  static temp_dir* pki_;
  temp_dir work_;
  std::filesystem::path log_;
  std::unique_ptr<process> server_;
  std::string old_, new_, legacy_, control_;
};

temp_dir* FakeApiserver::pki_ = nullptr;

TEST_F(FakeApiserver, ApiResourcesMatchTheFixtures) {
  auto old_r = run_command(kubectl(old_, "api-resources --no-headers"));
  ASSERT_EQ(old_r.exit_code, 0) << old_r.output;
  EXPECT_EQ(count_lines(old_r.output),
            expected_api_resources("aggregated-apis-v2-allapis-v1.30-dev-c25b1ef.json"));
  auto new_r = run_command(kubectl(new_, "api-resources --no-headers"));
  ASSERT_EQ(new_r.exit_code, 0) << new_r.output;
  EXPECT_EQ(count_lines(new_r.output),
            expected_api_resources("aggregated-apis-v2-allapis-v1.31-dev-0209a4c.json"));
}

TEST_F(FakeApiserver, OldAndNewDifferAsTheirFixtures) {
  auto old_v = run_command(kubectl(old_, "api-versions")).output;
  auto new_v = run_command(kubectl(new_, "api-versions")).output;
  EXPECT_NE(old_v.find("resource.k8s.io/v1alpha2\n"), std::string::npos) << old_v;
  EXPECT_EQ(new_v.find("resource.k8s.io/v1alpha2\n"), std::string::npos) << new_v;
  EXPECT_NE(new_v.find("resource.k8s.io/v1alpha3\n"), std::string::npos);
  EXPECT_EQ(old_v.find("resource.k8s.io/v1alpha3\n"), std::string::npos);
  EXPECT_NE(old_v.find("flowcontrol.apiserver.k8s.io/v1beta2\n"), std::string::npos);
  EXPECT_EQ(new_v.find("flowcontrol.apiserver.k8s.io/v1beta2\n"), std::string::npos);

  // The old server answers a group/version it lacks with kube-apiserver's own 404.
  auto r = run_command(curl("-w '\\n%{http_code}' https://127.0.0.1:" + old_ +
                            "/apis/resource.k8s.io/v1alpha3/resourceclaims"));
  EXPECT_EQ(
      r.output,
      "{\"apiVersion\":\"v1\",\"code\":404,\"details\":{},\"kind\":\"Status\",\"message\":\"the "
      "server could not find the requested resource\",\"metadata\":{},\"reason\":\"NotFound\","
      "\"status\":\"Failure\"}\n404");
  r = run_command(curl("-w '\\n%{http_code}' https://127.0.0.1:" + new_ +
                       "/apis/resource.k8s.io/v1alpha3/namespaces/default/resourceclaims"));
  EXPECT_NE(r.output.find("ResourceClaimList"), std::string::npos) << r.output;
  EXPECT_NE(run_command(kubectl(old_, "version")).output.find("Server Version: v1.30.0"),
            std::string::npos);
  EXPECT_NE(run_command(kubectl(new_, "version")).output.find("Server Version: v1.31.0"),
            std::string::npos);
}

TEST_F(FakeApiserver, CreateGetListDeleteSharedAcrossInstances) {
  auto c = run_command(kubectl(old_, "create configmap cfg --from-literal=k=v"));
  ASSERT_EQ(c.exit_code, 0) << c.output;
  EXPECT_EQ(c.output, "configmap/cfg created\n");
  // Written through old, read through new: one shared store.
  auto g = run_command(kubectl(new_, "get configmap cfg -o jsonpath={.data.k}"));
  EXPECT_EQ(g.output, "v");
  auto l = run_command(kubectl(new_, "get configmaps"));
  EXPECT_NE(l.output.find("NAME"), std::string::npos) << l.output;
  EXPECT_NE(l.output.find("cfg"), std::string::npos);
  auto lab = run_command(kubectl(old_, "label configmap cfg tier=web"));
  EXPECT_EQ(lab.exit_code, 0) << lab.output;
  EXPECT_EQ(run_command(kubectl(new_, "get configmaps -l tier=web -o name")).output,
            "configmap/cfg\n");
  EXPECT_EQ(run_command(kubectl(new_, "get configmaps -l tier!=web -o name")).output, "");
  auto dup = run_command(kubectl(new_, "create configmap cfg"));
  EXPECT_NE(dup.exit_code, 0);
  EXPECT_NE(dup.output.find("configmaps \"cfg\" already exists"), std::string::npos) << dup.output;
  auto d = run_command(kubectl(new_, "delete configmap cfg"));
  EXPECT_EQ(d.output, "configmap \"cfg\" deleted\n");
  auto gone = run_command(kubectl(old_, "get configmap cfg"));
  EXPECT_NE(gone.exit_code, 0);
  EXPECT_NE(gone.output.find("Error from server (NotFound): configmaps \"cfg\" not found"),
            std::string::npos)
      << gone.output;
}

TEST_F(FakeApiserver, WatchSeesChangesMadeThroughAnotherInstance) {
  process watch({"sh", "-c", kubectl(old_, "get leases -n kube-system -w -o name")},
                work_.path() / "watch.log");
  // The watch is open once the server logged it.
  ASSERT_TRUE(wait_until(
      [&] {
        return mvproxy::test::read_file(log_).find("\"query\":\"resourceVersion=") !=
                   std::string::npos ||
               mvproxy::test::read_file(log_).find("watch=true") != std::string::npos;
      },
      std::chrono::seconds(20)))
      << mvproxy::test::read_file(log_);
  std::string lease =
      R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"peer-a"},"spec":{"holderIdentity":"a"}})";
  std::string file = (work_.path() / "lease.json").string();
  { std::ofstream(file) << lease; }
  // create -f validates through the server's OpenAPI v3 (fieldValidation support).
  auto c = run_command(kubectl(new_, "create -n kube-system -f " + file));
  ASSERT_EQ(c.exit_code, 0) << c.output;
  EXPECT_TRUE(watch.wait_for_output("lease.coordination.k8s.io/peer-a")) << watch.output();
}

TEST_F(FakeApiserver, WhoAmIForCertificateTokenAndFrontProxy) {
  auto cert = run_command(kubectl(old_, "auth whoami -o jsonpath={.status.userInfo.username}"));
  EXPECT_EQ(cert.output, "kubernetes-admin");
  auto jane = run_command(kubectl(old_, "auth whoami -o json", "jane.conf"));
  auto jj = json::parse(jane.output);
  EXPECT_EQ(jj["status"]["userInfo"]["groups"], (json{"developers", "qa", "system:authenticated"}));
  auto token = run_command(
      kubectl(new_, "auth whoami -o jsonpath={.status.userInfo.username}", "token.conf"));
  EXPECT_EQ(token.output, "bob");

  std::string review =
      "-X POST -H 'Content-Type: application/json' -d '{}' https://127.0.0.1:" + old_ +
      "/apis/authentication.k8s.io/v1/selfsubjectreviews -H 'X-Remote-User: alice' "
      "-H 'X-Remote-Group: g1' -H 'X-Remote-Group: g2'";
  auto front = json::parse(run_command(curl(review, "front-proxy-client")).output);
  EXPECT_EQ(front["status"]["userInfo"]["username"], "alice");
  EXPECT_EQ(front["status"]["userInfo"]["groups"], (json{"g1", "g2", "system:authenticated"}));
  // The same headers from a client certificate of the cluster CA are ignored...
  auto plain = json::parse(run_command(curl(review, "admin")).output);
  EXPECT_EQ(plain["status"]["userInfo"]["username"], "kubernetes-admin");
  // ...and a front-proxy-client certificate from another CA authenticates nobody.
  auto intruder = json::parse(run_command(curl(review, "intruder")).output);
  EXPECT_EQ(intruder["code"], 401);
  EXPECT_EQ(intruder["reason"], "Unauthorized");
  // Anonymous callers get health and /version only, as with kubeadm's defaults: RBAC
  // refuses them the rest (403); a bearer token that names nobody is a 401.
  EXPECT_EQ(run_command(curl("https://127.0.0.1:" + old_ + "/readyz", "")).output, "ok");
  EXPECT_EQ(
      run_command(curl("-o /dev/null -w '%{http_code}' https://127.0.0.1:" + old_ + "/api", ""))
          .output,
      "403");
  EXPECT_EQ(run_command(curl("-o /dev/null -w '%{http_code}' -H 'Authorization: Bearer bogus' "
                             "https://127.0.0.1:" +
                                 old_ + "/api",
                             ""))
                .output,
            "401");

  // Impersonation is honoured, as kubectl --as expects.
  auto as = run_command(kubectl(old_, "auth whoami --as=carol --as-group=auditors -o json"));
  ASSERT_EQ(as.exit_code, 0) << as.output;
  auto asj = json::parse(as.output);
  EXPECT_EQ(asj["status"]["userInfo"]["username"], "carol");
  EXPECT_EQ(asj["status"]["userInfo"]["groups"], (json{"auditors", "system:authenticated"}));

  // Headers that matter to a proxy are logged as they arrived.
  run_command(
      curl("-H 'x-kubernetes-peer-proxied: true' -H 'Impersonate-User: carol' "
           "-H 'Authorization: Bearer mvproxy-test-token-bob' https://127.0.0.1:" +
               new_ + "/version",
           ""));
  // The request log saw who called, through which certificate.
  auto lines = mvproxy::test::read_file(log_);
  EXPECT_NE(lines.find("\"subject_cn\":\"front-proxy-client\""), std::string::npos);
  EXPECT_NE(lines.find("\"x-remote-user\":\"alice\""), std::string::npos);
  EXPECT_NE(lines.find("\"user\":\"bob\""), std::string::npos);
  EXPECT_NE(lines.find("\"authorization\":true"), std::string::npos);
  EXPECT_NE(lines.find("\"x-kubernetes-peer-proxied\":\"true\""), std::string::npos);
  EXPECT_NE(lines.find("\"impersonate-user\":\"carol\""), std::string::npos);
  EXPECT_NE(lines.find("\"impersonated_user\":\"carol\""), std::string::npos);
  EXPECT_NE(lines.find("\"x-remote-group\":[\"g1\",\"g2\"]"), std::string::npos);
  for (size_t start = 0, nl; (nl = lines.find('\n', start)) != std::string::npos; start = nl + 1)
    EXPECT_NO_THROW(json::parse(lines.substr(start, nl - start)));
}

TEST_F(FakeApiserver, DenyListAnswers403) {
  auto t = run_command("kubectl --kubeconfig=" + pki_->path().string() +
                       "/token.conf --server=https://127.0.0.1:" + old_ +
                       " --token=mvproxy-test-token-denied get pods");
  EXPECT_NE(t.output.find(
                "Error from server (Forbidden): pods is forbidden: User \"mallory\" cannot list "
                "resource \"pods\" in API group \"\" in the namespace \"default\""),
            std::string::npos)
      << t.output;
}

TEST_F(FakeApiserver, ExecEchoAndCat) {
  auto run = run_command(kubectl(old_, "run box --image=busybox"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  auto echo = run_command(kubectl(new_, "exec box -- echo hello world"));
  EXPECT_EQ(echo.exit_code, 0) << echo.output;
  EXPECT_EQ(echo.output, "hello world\n");
  auto cat = run_command("printf 'one\\ntwo\\n' | " + kubectl(old_, "exec -i box -- cat"));
  EXPECT_EQ(cat.exit_code, 0) << cat.output;
  EXPECT_EQ(cat.output, "one\ntwo\n");
  auto missing = run_command(kubectl(old_, "exec nosuchpod -- echo hi"));
  EXPECT_NE(missing.output.find("pods \"nosuchpod\" not found"), std::string::npos)
      << missing.output;
  auto fails = run_command(kubectl(old_, "exec box -- false"));
  EXPECT_EQ(fails.exit_code, 1) << fails.output;
  // A SPDY upgrade without X-Stream-Protocol-Version is refused as kubelet does.
  // (Upgrades are HTTP/1.1's: curl would negotiate HTTP/2 and drop the Upgrade.)
  auto spdy = run_command(
      curl("--http1.1 -X POST -H 'Connection: Upgrade' -H 'Upgrade: SPDY/3.1' "
           "'https://127.0.0.1:" +
           old_ + "/api/v1/namespaces/default/pods/box/exec?command=echo&stdout=true'"));
  EXPECT_NE(spdy.output.find("X-Stream-Protocol-Version is required"), std::string::npos)
      << spdy.output;
  auto v1 = run_command(
      curl("--http1.1 -X POST -H 'Connection: Upgrade' -H 'Upgrade: SPDY/3.1' "
           "-H 'X-Stream-Protocol-Version: channel.k8s.io' -w '%{http_code}' "
           "'https://127.0.0.1:" +
           old_ + "/api/v1/namespaces/default/pods/box/exec?command=echo&stdout=true'"));
  EXPECT_NE(v1.output.find("unable to negotiate protocol"), std::string::npos) << v1.output;
  EXPECT_EQ(v1.output.substr(v1.output.size() - 3), "403") << v1.output;
}

// kubectl 1.27-1.29 exec over SPDY/3.1 (their default; 1.30+ use WebSocket).
const std::string kubectl_127 = "/usr/lib/google-cloud-sdk/bin/kubectl.1.27";

TEST_F(FakeApiserver, ExecOverSpdyWithKubectl127) {
  if (!std::filesystem::exists(kubectl_127))
    GTEST_SKIP() << kubectl_127 << " is missing: SPDY exec needs a kubectl older than 1.30";
  auto version = mvproxy::test::report_kubectl_version(kubectl_127, "kubectl for SPDY exec");
  ASSERT_EQ(version.rfind("v1.27.", 0), 0u) << version;
  // The fixture's command line with this binary in place of the PATH's kubectl.
  auto k127 = [&](const std::string& port, const std::string& args) {
    return kubectl_127 + kubectl(port, args).substr(std::string("kubectl").size());
  };
  auto run = run_command(k127(old_, "run box --image=busybox"));
  ASSERT_EQ(run.exit_code, 0) << run.output;

  auto echo = run_command(k127(new_, "exec box -- echo hello world"));
  EXPECT_EQ(echo.exit_code, 0) << echo.output;
  EXPECT_EQ(echo.output, "hello world\n");
  auto cat = run_command("printf 'one\\ntwo\\n' | " + k127(old_, "exec -i box -- cat"));
  EXPECT_EQ(cat.exit_code, 0) << cat.output;
  EXPECT_EQ(cat.output, "one\ntwo\n");
  auto fails = run_command(k127(old_, "exec box -- false"));
  EXPECT_EQ(fails.exit_code, 1) << fails.output;
  auto missing = run_command(k127(new_, "exec box -- nosuchcommand"));
  EXPECT_EQ(missing.exit_code, 127) << missing.output;
  EXPECT_NE(missing.output.find("nosuchcommand: command not found"), std::string::npos)
      << missing.output;

  // Each was a SPDY upgrade (POST; WebSocket exec is a GET) answered 101 by the
  // instance it was sent to.
  std::vector<std::pair<std::string, std::string>> execs;
  std::istringstream log(mvproxy::test::read_file(log_));
  for (std::string line; std::getline(log, line);) {
    auto j = json::parse(line);
    if (j["path"] != "/api/v1/namespaces/default/pods/box/exec") continue;
    EXPECT_EQ(j["method"], "POST") << line;
    EXPECT_EQ(j["status"], 101) << line;
    execs.emplace_back(j["instance"], j["query"]);
  }
  ASSERT_EQ(execs.size(), 4u);
  EXPECT_EQ(execs[0].first, "new");
  EXPECT_NE(execs[0].second.find("command=echo"), std::string::npos) << execs[0].second;
  EXPECT_EQ(execs[1].first, "old");
  EXPECT_NE(execs[1].second.find("stdin=true"), std::string::npos) << execs[1].second;
  EXPECT_EQ(execs[2].first, "old");
  EXPECT_EQ(execs[3].first, "new");
}

TEST_F(FakeApiserver, FaultInjection) {
  std::string version = "https://127.0.0.1:" + old_ + "/version";
  EXPECT_EQ(run_command(curl(version)).exit_code, 0);
  // An open watch on the instance is cut when it stops, as when an apiserver restarts.
  process watch(
      {"sh", "-c",
       curl("-N https://127.0.0.1:" + old_ + "/api/v1/namespaces/default/configmaps?watch=true")},
      work_.path() / "curl-watch.log");
  ASSERT_TRUE(wait_until([&] {
    return json::parse(control("GET", "/instances"))[0]["connections"] == 1;
  })) << control("GET", "/instances");
  control("POST", "/instances/old/stop");
  EXPECT_TRUE(watch.wait_exit(std::chrono::seconds(5)));
  auto refused = run_command(curl(version));
  EXPECT_EQ(refused.exit_code, 7) << refused.output;  // couldn't connect
  EXPECT_EQ(run_command(curl("https://127.0.0.1:" + new_ + "/version")).exit_code, 0);
  auto state = json::parse(control("GET", "/instances"));
  EXPECT_EQ(state[0]["running"], false);
  control("POST", "/instances/old/start");
  auto back = run_command(kubectl(old_, "get namespaces -o name"));
  EXPECT_EQ(back.exit_code, 0) << back.output;
  EXPECT_NE(back.output.find("namespace/kube-system"), std::string::npos);

  control("POST", "/instances/old/fail?code=503");
  auto failing = run_command(curl("-w '\\n%{http_code}' " + version));
  EXPECT_NE(failing.output.find("\"reason\":\"ServiceUnavailable\""), std::string::npos)
      << failing.output;
  EXPECT_EQ(failing.output.substr(failing.output.size() - 3), "503");
  control("POST", "/instances/old/heal");
  EXPECT_EQ(run_command(curl("-o /dev/null -w '%{http_code}' " + version)).output, "200");

  control("POST", "/instances/old/latency?ms=300");
  auto slow = run_command(curl("-o /dev/null -w '%{time_total}' " + version));
  EXPECT_GE(std::stod(slow.output), 0.3);
  control("POST", "/instances/old/heal");

  control("POST", "/instances/old/profile?name=v1.31");
  EXPECT_NE(run_command(curl(version)).output.find("\"gitVersion\":\"v1.31.0\""),
            std::string::npos);
  auto bad = control("POST", "/instances/old/profile?name=v0.1");
  EXPECT_NE(bad.find("unknown profile"), std::string::npos) << bad;
}

TEST_F(FakeApiserver, LegacyProfileLikeAnOldApiserver) {
  std::string apis = "https://127.0.0.1:" + legacy_ + "/apis";
  auto r = run_command(
      curl("-i -H 'Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
           "application/json' " +
           apis));
  EXPECT_EQ(header_value(r.output, "Content-Type"), "application/json") << r.output;
  EXPECT_NE(r.output.find("\"kind\":\"APIGroupList\""), std::string::npos);
  EXPECT_EQ(run_command(curl("-o /dev/null -w '%{http_code}' https://127.0.0.1:" + legacy_ +
                             "/apis/batch/v1/namespaces/default/jobs"))
                .output,
            "404");
  EXPECT_EQ(run_command(curl("-o /dev/null -w '%{http_code}' https://127.0.0.1:" + legacy_ +
                             "/apis/batch/v1beta1/namespaces/default/cronjobs"))
                .output,
            "200");
}

TEST_F(FakeApiserver, DiscoveryEtagAndNotModified) {
  std::string accept =
      "-H 'Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList' ";
  auto first = run_command(curl("-i " + accept + "https://127.0.0.1:" + old_ + "/api"));
  EXPECT_EQ(header_value(first.output, "Content-Type"),
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
      << first.output;
  EXPECT_EQ(header_value(first.output, "Vary"), "Accept");
  auto etag_field = header_value(first.output, "ETag");
  ASSERT_TRUE(etag_field) << first.output;
  std::string etag = *etag_field;
  auto again =
      run_command(curl("-o /dev/null -w '%{http_code}' " + accept + "-H 'If-None-Match: " + etag +
                       "' https://127.0.0.1:" + old_ + "/api"));
  EXPECT_EQ(again.output, "304");
}

TEST_F(FakeApiserver, SigtermExitsZeroAndBadFlagsExitTwo) {
  server_->signal(SIGTERM);
  EXPECT_EQ(server_->wait_exit(std::chrono::seconds(5)), 0);
  auto bad = run_command(binary + " --bogus");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(count_lines(bad.output), 1u) << bad.output;
  auto missing = run_command(binary +
                             " --instance name=a,profile=v1.30,cert=/nope.crt,key=/nope.key "
                             "--client-ca-file " +
                             pki_->path().string() +
                             "/ca.crt "
                             "--requestheader-client-ca-file " +
                             pki_->path().string() + "/front-proxy-ca.crt");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.output.find("/nope.crt"), std::string::npos) << missing.output;
}

}  // namespace
