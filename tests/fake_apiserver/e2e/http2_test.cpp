// End-to-end: the stand-in speaks HTTP/2 as kube-apiserver does (ALPN h2 first) to
// real HTTP/2 clients — curl, nghttp, Python's h2, kubectl — and offers HTTP/1.1 only
// with --disable-http2-serving. The request log's `proto` and `conn` show how each
// request arrived.

#include "stand_in.hpp"
#include "test_process.hpp"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <set>
#include <sstream>

namespace {

using mvproxy::test::command_result;
using mvproxy::test::process;
using mvproxy::test::read_file;
using mvproxy::test::run_command;
using mvproxy::test::stand_in;
using mvproxy::test::stand_in_instance;
using mvproxy::test::stand_in_options;
using mvproxy::test::temp_dir;
using mvproxy::test::wait_until;
using nlohmann::json;

const std::string h2_client =
    std::string(MVPROXY_SOURCE_DIR) + "/tests/fake_apiserver/e2e/h2_client.py";
const std::string configmaps = "/api/v1/namespaces/default/configmaps";

bool have(const std::string& tool) { return run_command("command -v " + tool).exit_code == 0; }

// The request log's entries whose path starts with `prefix`.
std::vector<json> logged(const std::filesystem::path& log, const std::string& prefix) {
  std::vector<json> out;
  std::istringstream in(read_file(log));
  for (std::string line; std::getline(in, line);) {
    auto j = json::parse(line);
    if (j["path"].get<std::string>().rfind(prefix, 0) == 0) out.push_back(j);
  }
  return out;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

class FakeApiserverHttp2 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new temp_dir();
    mvproxy::test::make_pki(pki_->path(), {"old"});
  }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
  }

  void SetUp() override {
    if (!have("curl")) GTEST_SKIP() << "curl is not on PATH";
    if (run_command("curl --version").output.find("HTTP2") == std::string::npos)
      GTEST_SKIP() << "this curl has no HTTP/2";
    api_ = std::make_unique<stand_in>(pki_->path(), work_.path(),
                                      std::vector<stand_in_instance>{{"old", "v1.30"}});
  }

  std::string pki(const std::string& file) const { return (pki_->path() / file).string(); }
  std::string url(const std::string& path) const { return api_->url("old") + path; }
  // curl asking for HTTP/2; `args` end with the URL.
  command_result curl(const std::string& args, const std::string& cert = "admin") const {
    return run_command("curl -sS --http2 --cacert " + pki("ca.crt") + " --cert " +
                       pki(cert + ".crt") + " --key " + pki(cert + ".key") + " " + args);
  }
  command_result create_configmap(const std::string& name) const {
    return curl(
        "-X POST -H 'Content-Type: application/json' -d '{\"apiVersion\":\"v1\","
        "\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"" +
        name + "\"}}' -o /dev/null -w '%{http_code}' " + url(configmaps));
  }
  std::vector<std::string> python_h2(const std::string& mode, const std::string& path, int n = 1,
                                     int events = 1) const {
    return {"/usr/bin/python3",
            h2_client,
            "--port",
            std::to_string(api_->port("old")),
            "--cacert",
            pki("ca.crt"),
            "--cert",
            pki("admin.crt"),
            "--key",
            pki("admin.key"),
            mode,
            path,
            std::to_string(n),
            std::to_string(events)};
  }
  bool have_python_h2() const {
    return run_command("/usr/bin/python3 -c 'import h2'").exit_code == 0;
  }

  static temp_dir* pki_;
  temp_dir work_;
  std::unique_ptr<stand_in> api_;
};

temp_dir* FakeApiserverHttp2::pki_ = nullptr;

TEST_F(FakeApiserverHttp2, CurlGetListPostHeadAndErrorsOverHttp2) {
  auto version = curl("-w '\\n%{http_version} %{http_code}' " + url("/version"));
  EXPECT_NE(version.output.find("\"gitVersion\":\"v1.30.0\""), std::string::npos) << version.output;
  EXPECT_EQ(version.output.substr(version.output.find('\n') + 1), "2 200");

  auto list = curl("-w '\\n%{http_version} %{http_code}' " + url(configmaps));
  EXPECT_NE(list.output.find("\"kind\":\"ConfigMapList\""), std::string::npos) << list.output;
  EXPECT_EQ(list.output.substr(list.output.rfind('\n') + 1), "2 200");

  auto made = curl(
      "-X POST -H 'Content-Type: application/json' -w '\\n%{http_version} %{http_code}' -d "
      "'{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cfg\"},"
      "\"data\":{\"k\":\"v\"}}' " +
      url(configmaps));
  EXPECT_EQ(made.output.substr(made.output.rfind('\n') + 1), "2 201") << made.output;
  auto got = curl(url(configmaps + "/cfg"));
  EXPECT_EQ(json::parse(got.output)["data"]["k"], "v") << got.output;

  // HEAD: the GET's length, no body.
  auto head = curl("-I " + url(configmaps + "/cfg"));
  EXPECT_EQ(head.output.rfind("HTTP/2 200", 0), 0u) << head.output;
  EXPECT_NE(head.output.find("content-length: " + std::to_string(got.output.size()) + "\r\n"),
            std::string::npos)
      << head.output;

  auto missing = curl("-w '\\n%{http_version} %{http_code}' " + url(configmaps + "/nope"));
  EXPECT_NE(missing.output.find("\"message\":\"configmaps \\\"nope\\\" not found\""),
            std::string::npos)
      << missing.output;
  EXPECT_EQ(missing.output.substr(missing.output.rfind('\n') + 1), "2 404");

  // Every request was HTTP/2, each curl its own connection; the caller is known.
  auto entries = logged(api_->request_log(), "/");
  ASSERT_EQ(entries.size(), 6u);
  std::set<int> conns;
  for (const auto& e : entries) {
    EXPECT_EQ(e["proto"], "HTTP/2.0") << e;
    EXPECT_EQ(e["user"], "kubernetes-admin") << e;
    conns.insert(e["conn"].get<int>());
  }
  EXPECT_EQ(conns.size(), 6u);
  EXPECT_EQ(entries[2]["method"], "POST");
  EXPECT_EQ(entries[2]["status"], 201);
  EXPECT_EQ(entries[4]["method"], "HEAD");
}

TEST_F(FakeApiserverHttp2, RequestBodiesLargerThanTheWindowsAreRead) {
  // 3 MB: twelve times the stream window (256 KiB), so the client must wait for the
  // window updates the stand-in sends as it consumes the body.
  const std::string big(3'000'000, 'x');
  auto file = work_.path() / "big.json";
  std::ofstream(file) << json{
      {"apiVersion", "v1"},
      {"kind", "ConfigMap"},
      {"metadata", {{"name", "big"}}},
      {"data", {{"k", big}}}}.dump();
  auto made = curl("-X POST -H 'Content-Type: application/json' --data-binary @" + file.string() +
                   " -o /dev/null -w '%{http_version} %{http_code}' " + url(configmaps));
  EXPECT_EQ(made.output, "2 201");
  auto got = curl(url(configmaps + "/big"));
  EXPECT_EQ(json::parse(got.output)["data"]["k"], big);

  // Above 64 MiB a body is refused with a Status, and the connection carries on.
  auto huge = work_.path() / "huge";
  ASSERT_EQ(run_command("head -c 67200000 /dev/zero > " + huge.string()).exit_code, 0);
  auto refused = curl("-X POST -H 'Content-Type: application/json' --data-binary @" +
                      huge.string() + " -w '\\n%{http_version} %{http_code}' " + url(configmaps));
  EXPECT_NE(refused.output.find("\"reason\":\"RequestEntityTooLarge\""), std::string::npos)
      << refused.output.substr(0, 300);
  EXPECT_EQ(refused.output.substr(refused.output.rfind('\n') + 1), "2 413");
}

TEST_F(FakeApiserverHttp2, ManyConcurrentStreamsShareOneConnection) {
  if (!have("nghttp")) GTEST_SKIP() << "nghttp (nghttp2-client) is not on PATH";
  // With 500 ms of latency per request, 25 requests answered one after another would
  // take 12.5 s: served concurrently, on one connection, they take about 0.5 s.
  api_->control("old", "latency?ms=500");
  auto start = std::chrono::steady_clock::now();
  auto r = run_command("nghttp -n -m 25 --cert=" + pki("admin.crt") + " --key=" + pki("admin.key") +
                       " '" + url("/api/v1/namespaces?limit=7") + "'");
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_LT(took, std::chrono::seconds(4));
  auto entries = logged(api_->request_log(), "/api/v1/namespaces");
  ASSERT_EQ(entries.size(), 25u);
  for (const auto& e : entries) {
    EXPECT_EQ(e["proto"], "HTTP/2.0") << e;
    EXPECT_EQ(e["status"], 200) << e;
    EXPECT_EQ(e["conn"], entries[0]["conn"]) << e;
  }
}

TEST_F(FakeApiserverHttp2, FortyStreamsAtOnceAndPingAnswered) {
  if (!have_python_h2()) GTEST_SKIP() << "Debian's python3-h2 is not installed";
  process client(python_h2("get", configmaps, 40), work_.path() / "h2-get.log");
  ASSERT_EQ(client.wait_exit(), 0) << client.output();
  auto out = client.output();
  EXPECT_NE(out.find("\"alpn\": \"h2\""), std::string::npos) << out;
  auto done = out.find("{\"event\": \"done\"");
  ASSERT_NE(done, std::string::npos) << out;
  auto result = json::parse(out.substr(done, out.find('\n', done) - done));
  EXPECT_EQ(result["statuses"], json(std::vector<int>(40, 200))) << out;
  EXPECT_EQ(result["ping_acked"], true);
  auto entries = logged(api_->request_log(), configmaps);
  ASSERT_EQ(entries.size(), 40u);
  for (const auto& e : entries) EXPECT_EQ(e["conn"], entries[0]["conn"]) << e;
}

TEST_F(FakeApiserverHttp2, WatchesStreamEventsAsTheyHappen) {
  if (!have_python_h2()) GTEST_SKIP() << "Debian's python3-h2 is not installed";
  auto list = json::parse(curl(url(configmaps)).output);
  std::string rv = list["metadata"]["resourceVersion"];
  // 30 watches on one connection, each to get 3 events, then reset by the client.
  process client(python_h2("watch", configmaps + "?watch=true&resourceVersion=" + rv, 30, 3),
                 work_.path() / "h2-watch.log");
  ASSERT_TRUE(client.wait_for_output("\"event\": \"ready\"")) << client.output();
  EXPECT_NE(client.output().find("\"alpn\": \"h2\""), std::string::npos);
  for (std::string name : {"ev-1", "ev-2", "ev-3"}) {
    ASSERT_EQ(create_configmap(name).output, "201");
    // Each event reaches every watch, in a DATA frame of its own, before the next
    // object exists: events are not held back.
    ASSERT_TRUE(wait_until([&] {
      return count(client.output(),
                   "\"lines\": 1, \"types\": [\"ADDED\"], \"names\": [\"" + name + "\"]") == 30;
    })) << client.output();
  }
  EXPECT_EQ(count(client.output(), "\"event\": \"data\""), 90u) << client.output();
  // The watches were reset; the connection still serves.
  EXPECT_TRUE(client.wait_for_output("\"event\": \"after_reset\", \"status\": 200"))
      << client.output();
  EXPECT_EQ(client.wait_exit(), 0);
  EXPECT_EQ(count(client.output(), "\"event\": \"ended\""), 0u);  // open until reset
  // A change after the resets reaches nobody and harms nothing.
  EXPECT_EQ(create_configmap("ev-4").output, "201");

  auto watches = logged(api_->request_log(), configmaps);
  std::set<int> conns;
  int watch_entries = 0;
  for (const auto& e : watches) {
    if (e["query"].get<std::string>().find("watch=true") == std::string::npos) continue;
    ++watch_entries;
    EXPECT_EQ(e["proto"], "HTTP/2.0");
    conns.insert(e["conn"].get<int>());
  }
  EXPECT_EQ(watch_entries, 30);
  EXPECT_EQ(conns.size(), 1u);
  auto version = logged(api_->request_log(), "/version");
  ASSERT_EQ(version.size(), 1u);
  EXPECT_EQ(version[0]["conn"], *conns.begin());
}

TEST_F(FakeApiserverHttp2, CurlWatchStaysOpenTimesOutAndStopCutsIt) {
  process watch({"sh", "-c",
                 "curl -sS -N --http2 --cacert " + pki("ca.crt") + " --cert " + pki("admin.crt") +
                     " --key " + pki("admin.key") + " '" + url(configmaps + "?watch=true") + "'"},
                work_.path() / "curl-watch.log");
  ASSERT_TRUE(wait_until([&] { return logged(api_->request_log(), configmaps).size() == 1; }));
  ASSERT_EQ(create_configmap("seen").output, "201");
  EXPECT_TRUE(watch.wait_for_output("\"name\":\"seen\"")) << watch.output();
  EXPECT_TRUE(watch.running());  // the watch goes on
  EXPECT_EQ(logged(api_->request_log(), configmaps)[0]["proto"], "HTTP/2.0");
  // A watch that times out ends its stream cleanly (curl exits 0 with what it got).
  auto timed = curl("-N -w '\n%{http_version} %{http_code}' '" +
                    url(configmaps + "?watch=true&timeoutSeconds=1") + "'");
  EXPECT_EQ(timed.exit_code, 0) << timed.output;
  EXPECT_NE(timed.output.find("\"name\":\"seen\""), std::string::npos) << timed.output;
  EXPECT_EQ(timed.output.substr(timed.output.rfind('\n') + 1), "2 200");
  EXPECT_TRUE(watch.running());
  api_->control("old", "stop");
  EXPECT_TRUE(watch.wait_exit(std::chrono::seconds(5)));
}

TEST_F(FakeApiserverHttp2, StopSendsGoawayAndStartServesHttp2Again) {
  if (!have_python_h2()) GTEST_SKIP() << "Debian's python3-h2 is not installed";
  process client(python_h2("hold", configmaps + "?watch=true"), work_.path() / "h2-hold.log");
  ASSERT_TRUE(client.wait_for_output("\"event\": \"ready\", \"status\": 200")) << client.output();
  api_->control("old", "stop");
  // GOAWAY with NO_ERROR, then the connection closes (the watch with it).
  EXPECT_TRUE(client.wait_for_output("\"event\": \"goaway\", \"error_code\": 0"))
      << client.output();
  EXPECT_TRUE(client.wait_for_output("\"event\": \"closed\"")) << client.output();
  EXPECT_EQ(client.wait_exit(std::chrono::seconds(5)), 0);
  api_->control("old", "start");
  EXPECT_EQ(curl("-o /dev/null -w '%{http_version} %{http_code}' " + url("/version")).output,
            "2 200");
}

TEST_F(FakeApiserverHttp2, ControlActionsApplyToHttp2) {
  api_->control("old", "fail?code=503");
  auto failing = curl("-w '\\n%{http_version} %{http_code}' " + url("/version"));
  EXPECT_NE(failing.output.find("\"reason\":\"ServiceUnavailable\""), std::string::npos)
      << failing.output;
  EXPECT_EQ(failing.output.substr(failing.output.rfind('\n') + 1), "2 503");
  api_->control("old", "heal");
  api_->control("old", "latency?ms=300");
  auto slow = curl("-o /dev/null -w '%{http_version} %{time_total}' " + url("/version"));
  EXPECT_EQ(slow.output.substr(0, 2), "2 ") << slow.output;
  EXPECT_GE(std::stod(slow.output.substr(2)), 0.3);
  api_->control("old", "heal");
  api_->control("old", "profile?name=v1.31");
  EXPECT_NE(curl(url("/version")).output.find("\"gitVersion\":\"v1.31.0\""), std::string::npos);
}

TEST_F(FakeApiserverHttp2, ExecOnHttp2IsRefusedWithAStatus) {
  auto pod = curl(
      "-X POST -H 'Content-Type: application/json' -o /dev/null -w '%{http_code}' -d "
      "'{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"box\"},"
      "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}' " +
      url("/api/v1/namespaces/default/pods"));
  ASSERT_EQ(pod.output, "201");
  auto exec = curl("-X POST -w '\\n%{http_version} %{http_code}' '" +
                   url("/api/v1/namespaces/default/pods/box/exec?command=echo&stdout=true") + "'");
  auto body = json::parse(exec.output.substr(0, exec.output.rfind('\n')));
  EXPECT_EQ(body["kind"], "Status");
  EXPECT_EQ(body["reason"], "BadRequest");
  EXPECT_EQ(body["message"], "Upgrade request required");
  EXPECT_EQ(exec.output.substr(exec.output.rfind('\n') + 1), "2 400");
  auto entries = logged(api_->request_log(), "/api/v1/namespaces/default/pods/box/exec");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0]["proto"], "HTTP/2.0");
  EXPECT_EQ(entries[0]["status"], 400);
}

TEST_F(FakeApiserverHttp2, DisableHttp2ServingOffersHttp11Only) {
  auto dir = work_.path() / "h1";
  std::filesystem::create_directory(dir);
  stand_in h1(pki_->path(), dir, {{"old", "v1.30"}}, stand_in_options{true});
  auto r =
      run_command("curl -sS --http2 --cacert " + pki("ca.crt") + " --cert " + pki("admin.crt") +
                  " --key " + pki("admin.key") +
                  " -o /dev/null -w '%{http_version} %{http_code}' " + h1.url("old") + "/version");
  EXPECT_EQ(r.output, "1.1 200");
  auto entries = logged(h1.request_log(), "/version");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0]["proto"], "HTTP/1.1");
  // A client that offers only h2 is refused in the handshake (no_application_protocol),
  // as by Go's crypto/tls; one offering both gets http/1.1.
  std::string s_client =
      "echo | openssl s_client -connect 127.0.0.1:" + std::to_string(h1.port("old")) + " -alpn ";
  auto only_h2 = run_command(s_client + "h2");
  EXPECT_NE(only_h2.output.find("alert no application protocol"), std::string::npos)
      << only_h2.output;
  auto both = run_command(s_client + "h2,http/1.1");
  EXPECT_NE(both.output.find("ALPN protocol: http/1.1"), std::string::npos) << both.output;
  // The default instance, meanwhile, offers h2.
  EXPECT_EQ(curl("-o /dev/null -w '%{http_version}' " + url("/version")).output, "2");
}

TEST_F(FakeApiserverHttp2, KubectlNegotiatesHttp2) {
  if (!have("kubectl")) GTEST_SKIP() << "kubectl is not on PATH";
  auto kubectl = [&](const std::string& args) {
    return "kubectl --kubeconfig=" + pki("admin.conf") + " --server=" + api_->url("old") +
           " --cache-dir=" + (work_.path() / "cache").string() + " " + args;
  };
  process watch({"sh", "-c", kubectl("get configmaps -w -o name")},
                work_.path() / "kubectl-watch.log");
  ASSERT_TRUE(wait_until(
      [&] {
        for (const auto& e : logged(api_->request_log(), configmaps))
          if (e["query"].get<std::string>().find("watch=true") != std::string::npos) return true;
        return false;
      },
      std::chrono::seconds(20)))
      << read_file(api_->request_log());
  auto made = run_command(kubectl("create configmap cfg --from-literal=k=v"));
  ASSERT_EQ(made.exit_code, 0) << made.output;
  EXPECT_TRUE(watch.wait_for_output("configmap/cfg")) << watch.output();
  auto got = run_command(kubectl("get configmap cfg -o jsonpath={.data.k}"));
  EXPECT_EQ(got.output, "v");
  // exec still works: kubectl opens an HTTP/1.1 connection for the upgrade.
  ASSERT_EQ(run_command(kubectl("run box --image=busybox")).exit_code, 0);
  auto echo = run_command(kubectl("exec box -- echo hello"));
  EXPECT_EQ(echo.output, "hello\n");
  for (const auto& e : logged(api_->request_log(), "/")) {
    bool exec = e["path"].get<std::string>().ends_with("/exec");
    EXPECT_EQ(e["proto"], exec ? "HTTP/1.1" : "HTTP/2.0") << e;
    if (exec) {
      EXPECT_EQ(e["status"], 101) << e;
    }
  }
}

}  // namespace
