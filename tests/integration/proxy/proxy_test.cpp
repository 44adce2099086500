// The mvproxy binary between a TLS test client and a recording fake upstream: what
// reaches the upstream (headers, identity, bodies) and what comes back (streaming,
// upgrades, errors as Status JSON).

#include <gtest/gtest.h>
#include <ctime>
#include <nlohmann/json.hpp>
#include <regex>

#include "../common/harness.hpp"

namespace mvproxy::test {
namespace {

class proxy_test : public ::testing::Test {
 protected:
  void SetUp() override { upstream = std::make_unique<fake_upstream>(shared_pki()); }
  mvproxy_process& start(std::vector<std::string> extra = {}) {
    proxy = std::make_unique<mvproxy_process>(shared_pki(), dir.path(), upstream->url(), extra);
    return *proxy;
  }
  client connect(const std::string& cert = "") { return client(proxy->port(), shared_pki(), cert); }

  temp_dir dir;
  std::unique_ptr<fake_upstream> upstream;
  std::unique_ptr<mvproxy_process> proxy;
};

void expect_status_json(const bhttp::response<bhttp::string_body>& r, int code) {
  EXPECT_EQ(r.result_int(), code);
  EXPECT_EQ(r[bhttp::field::content_type], "application/json");
  auto j = nlohmann::json::parse(r.body());
  EXPECT_EQ(j["kind"], "Status");
  EXPECT_EQ(j["apiVersion"], "v1");
  EXPECT_EQ(j["status"], "Failure");
  EXPECT_EQ(j["code"], code);
  EXPECT_TRUE(j["message"].is_string());
}

TEST_F(proxy_test, get_is_relayed_with_the_raw_query_and_hop_by_hop_headers_removed) {
  start();
  upstream->on("/api/v1/pods", [](upstream_conn& c, const recorded&) {
    c.respond(
        200, R"({"kind":"PodList"})",
        {{"Content-Type", "application/json"}, {"X-Upstream", "yes"}, {"Keep-Alive", "timeout=5"}});
  });
  auto c = connect();
  const std::string target = "/api/v1/pods?labelSelector=app%3Dweb%2Ctier+in+(a,b)&limit=500&x=%zz";
  auto r = c.get(target, {{"Connection", "keep-alive, X-Drop-Me"},
                          {"Keep-Alive", "timeout=5"},
                          {"X-Drop-Me", "1"},
                          {"TE", "trailers"},
                          {"Accept", "application/json"}});
  EXPECT_EQ(r.result_int(), 200);
  EXPECT_EQ(r.body(), R"({"kind":"PodList"})");
  EXPECT_EQ(r["X-Upstream"], "yes");
  EXPECT_EQ(r.count("Keep-Alive"), 0u);
  auto reqs = upstream->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].target, target);  // byte for byte
  EXPECT_EQ(reqs[0].get("Accept"), "application/json");
  EXPECT_FALSE(reqs[0].has("Keep-Alive"));
  EXPECT_FALSE(reqs[0].has("X-Drop-Me"));
  EXPECT_FALSE(reqs[0].has("TE"));
  // An anonymous caller reaches the apiserver without our client certificate, so it is
  // system:anonymous there as without the sidecar (the front-proxy certificate with no
  // X-Remote-User would be a failed login, 401).
  EXPECT_EQ(reqs[0].client_cn, "");
}

TEST_F(proxy_test, client_certificate_user_becomes_x_remote_headers_and_spoofs_are_removed) {
  start();
  auto c = connect("jane");
  auto r = c.get("/api/v1/namespaces", {{"X-Remote-User", "system:admin"},
                                        {"X-Remote-Group", "system:masters"},
                                        {"x-remote-extra-scopes", "all"},
                                        {"Impersonate-User", "bob"},
                                        {"Authorization", "Bearer abc"}});
  EXPECT_EQ(r.result_int(), 200);
  auto reqs = upstream->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].all("X-Remote-User"), std::vector<std::string>{"jane"});
  EXPECT_EQ(reqs[0].all("X-Remote-Group"), (std::vector<std::string>{"developers", "qa"}));
  EXPECT_FALSE(reqs[0].has("X-Remote-Extra-Scopes"));
  EXPECT_EQ(reqs[0].get("Impersonate-User"), "bob");
  EXPECT_EQ(reqs[0].get("Authorization"), "Bearer abc");
  EXPECT_EQ(reqs[0].client_cn, "front-proxy-client");  // the proxy client certificate
}

// Without any credential the apiserver must see the caller as kube-apiserver would:
// anonymous (no client certificate on the hop). A certificate that verifies against
// no CA, with nothing else, is kube-apiserver's 401 on every path, answered here.
TEST_F(proxy_test, callers_without_credentials_stay_anonymous_and_foreign_certificates_get_401) {
  start();
  auto anonymous = connect();
  EXPECT_EQ(anonymous.get("/readyz").result_int(), 200);
  auto intruder = connect("intruder");
  auto r = intruder.get("/readyz");
  EXPECT_EQ(r.result_int(), 401);
  EXPECT_NE(r.body().find("\"reason\":\"Unauthorized\""), std::string::npos) << r.body();
  auto with_token = intruder.get("/readyz", {{"Authorization", "Bearer tok"}});
  EXPECT_EQ(with_token.result_int(), 200);  // the token may still authenticate
  auto reqs = upstream->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].client_cn, "");
  EXPECT_EQ(reqs[1].client_cn, "front-proxy-client");
  EXPECT_EQ(reqs[1].get("Authorization"), "Bearer tok");
}

TEST_F(proxy_test, anonymous_and_foreign_certificate_callers_cannot_spoof_identity) {
  start();
  for (std::string cert : {"", "intruder"}) {
    SCOPED_TRACE("cert=" + cert);
    auto c = connect(cert);
    auto r = c.get("/api", {{"X-Remote-User", "system:admin"},
                            {"X-Remote-Group", "system:masters"},
                            {"Authorization", "Bearer tok"}});
    EXPECT_EQ(r.result_int(), 200);
  }
  auto reqs = upstream->requests();
  ASSERT_EQ(reqs.size(), 2u);
  for (auto& q : reqs) {
    EXPECT_FALSE(q.has("X-Remote-User"));
    EXPECT_FALSE(q.has("X-Remote-Group"));
    EXPECT_EQ(q.get("Authorization"), "Bearer tok");
  }
}

TEST_F(proxy_test, trusted_peer_identity_headers_pass) {
  start();
  auto c = connect("front-proxy-client");
  auto r = c.get("/api/v1/pods", {{"X-Remote-User", "alice"},
                                  {"X-Remote-Group", "team"},
                                  {"x-kubernetes-peer-proxied", "true"}});
  EXPECT_EQ(r.result_int(), 200);
  auto reqs = upstream->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].get("X-Remote-User"), "alice");
  EXPECT_EQ(reqs[0].get("X-Remote-Group"), "team");
  EXPECT_EQ(reqs[0].get("x-kubernetes-peer-proxied"), "true");
}

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return s;
}

TEST_F(proxy_test, twenty_mib_response_streams_intact) {
  start();
  const std::string big = pattern(20 << 20);
  upstream->on("/big", [&](upstream_conn& c, const recorded&) { c.respond(200, big); });
  upstream->on("/bigchunked", [&](upstream_conn& c, const recorded&) {
    c.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (std::size_t off = 0; off < big.size(); off += 1 << 20) {
      char hex[32];
      std::snprintf(hex, sizeof hex, "%x\r\n", 1 << 20);
      c.write(hex);
      c.write(std::string_view(big).substr(off, 1 << 20));
      c.write("\r\n");
    }
    c.write("0\r\n\r\n");
  });
  auto c = connect();
  auto r = c.get("/big");
  EXPECT_EQ(r.result_int(), 200);
  EXPECT_EQ(r.body().size(), big.size());
  EXPECT_TRUE(r.body() == big);
  auto r2 = c.get("/bigchunked");  // same client connection: keep-alive after a big body
  EXPECT_EQ(r2.result_int(), 200);
  EXPECT_TRUE(r2.chunked());
  EXPECT_TRUE(r2.body() == big);
}

TEST_F(proxy_test, request_bodies_reach_upstream_intact) {
  start();
  const std::string body = pattern(1 << 20);
  auto c = connect();
  c.send(
      "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: k\r\nContent-Type: "
      "application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n");
  c.send(body);
  EXPECT_EQ(c.read_response().result_int(), 200);
  // Chunked, and with Expect: 100-continue (mvproxy answers the 100 itself).
  c.send(
      "PUT /api/v1/x HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: chunked\r\nExpect: "
      "100-continue\r\n\r\n");
  auto cont = c.read_response();
  EXPECT_EQ(cont.result_int(), 100);
  c.send("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  EXPECT_EQ(c.read_response().result_int(), 200);
  auto reqs = upstream->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].body.size(), body.size());
  EXPECT_TRUE(reqs[0].body == body);
  EXPECT_EQ(reqs[0].get("Content-Length"), std::to_string(body.size()));
  EXPECT_EQ(reqs[1].body, "hello world");
  EXPECT_EQ(reqs[1].get("Transfer-Encoding"), "chunked");
  EXPECT_FALSE(reqs[1].has("Expect"));
}

std::string chunk(std::string_view data) {
  char hex[32];
  std::snprintf(hex, sizeof hex, "%zx\r\n", data.size());
  return hex + std::string(data) + "\r\n";
}

TEST_F(proxy_test, watch_events_arrive_one_by_one_before_the_response_ends) {
  start();
  std::atomic<bool> first_seen{false};
  std::atomic<bool> upstream_done{false};
  upstream->on("/api/v1/pods?watch=1", [&](upstream_conn& c, const recorded&) {
    c.write(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
    c.write(chunk("{\"type\":\"ADDED\",\"n\":1}\n"));
    // The second event is only sent once the client has seen the first.
    wait_until([&] { return first_seen.load(); }, std::chrono::seconds(10));
    c.write(chunk("{\"type\":\"MODIFIED\",\"n\":2}\n") + "0\r\n\r\n");
    upstream_done = true;
  });
  auto c = connect();
  c.send("GET /api/v1/pods?watch=1 HTTP/1.1\r\nHost: k\r\n\r\n");
  bhttp::response_parser<bhttp::buffer_body> p;
  p.body_limit(boost::none);
  bhttp::read_header(c.stream(), c.buffer(), p);
  EXPECT_EQ(p.get().result_int(), 200);
  EXPECT_TRUE(p.chunked());
  std::string got;
  // Reads body pieces into `got` until `enough` says so; false on a read error.
  auto read_until = [&](auto enough) {
    char buf[256];
    while (!enough()) {
      p.get().body().data = buf;
      p.get().body().size = sizeof buf;
      beast::error_code ec;
      bhttp::read_some(c.stream(), c.buffer(), p, ec);
      if (ec && ec != bhttp::error::need_buffer) {
        ADD_FAILURE() << ec.message();
        return false;
      }
      got.append(buf, sizeof buf - p.get().body().size);
    }
    return true;
  };
  if (!read_until([&] { return got.find('\n') != std::string::npos; })) return;
  EXPECT_EQ(got, "{\"type\":\"ADDED\",\"n\":1}\n");
  EXPECT_FALSE(upstream_done.load());  // the response is still open
  first_seen = true;
  if (!read_until([&] { return p.is_done(); })) return;
  EXPECT_EQ(got, "{\"type\":\"ADDED\",\"n\":1}\n{\"type\":\"MODIFIED\",\"n\":2}\n");
}

TEST_F(proxy_test, upgrade_is_tunnelled_after_101) {
  start();
  upstream->on("/api/v1/namespaces/default/pods/p/exec", [](upstream_conn& c, const recorded& r) {
    if (r.get("Upgrade") != "SPDY/3.1") return c.respond(400, "want SPDY/3.1");
    c.write(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: "
        "SPDY/3.1\r\n\r\nhello");
    char buf[1024];
    for (;;) {  // echo until the client goes away
      beast::error_code ec;
      auto n = c.read_some(buf, sizeof buf, ec);
      if (n) c.write(std::string_view(buf, n));
      if (ec) break;
    }
    c.close_after = true;
  });
  auto c = connect("jane");
  c.send(
      "POST /api/v1/namespaces/default/pods/p/exec?command=cat&stdin=true HTTP/1.1\r\nHost: k\r\n"
      "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: "
      "v4.channel.k8s.io\r\n\r\n");
  bhttp::response_parser<bhttp::empty_body> p;
  bhttp::read_header(c.stream(), c.buffer(), p);
  EXPECT_EQ(p.get().result_int(), 101);
  EXPECT_EQ(p.get()["Upgrade"], "SPDY/3.1");
  auto read_exactly = [&](std::size_t n) {
    std::string out;
    auto from_buf = std::min(n, c.buffer().size());
    out.assign(static_cast<const char*>(c.buffer().data().data()), from_buf);
    c.buffer().consume(from_buf);
    out.resize(n);
    if (from_buf < n) asio::read(c.stream(), asio::buffer(out.data() + from_buf, n - from_buf));
    return out;
  };
  EXPECT_EQ(read_exactly(5), "hello");  // bytes right behind the 101 head
  for (std::string msg : std::vector<std::string>{"ping", std::string(100000, 'x')}) {
    c.send(msg);
    EXPECT_TRUE(read_exactly(msg.size()) == msg);
  }
  auto reqs = upstream->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].get("Connection"), "Upgrade");
  EXPECT_EQ(reqs[0].get("X-Remote-User"), "jane");
  EXPECT_EQ(reqs[0].get("X-Stream-Protocol-Version"), "v4.channel.k8s.io");
}

TEST_F(proxy_test, refused_upgrade_is_relayed_and_both_connections_closed) {
  start();
  upstream->on("/api/v1/namespaces/default/pods/p/exec", [](upstream_conn& c, const recorded&) {
    c.respond(403, R"({"kind":"Status","code":403})", {{"Content-Type", "application/json"}});
  });
  auto c = connect();
  c.send(
      "GET /api/v1/namespaces/default/pods/p/exec HTTP/1.1\r\nHost: k\r\nConnection: Upgrade\r\n"
      "Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: "
      "13\r\n\r\n");
  auto r = c.read_response();
  EXPECT_EQ(r.result_int(), 403);
  EXPECT_EQ(r.body(), R"({"kind":"Status","code":403})");
  // Anything sent now must not reach the upstream (CVE-2018-1002105).
  beast::error_code ec;
  asio::write(c.stream(),
              asio::buffer(std::string("GET /api/v1/secrets HTTP/1.1\r\nHost: k\r\n\r\n")), ec);
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_TRUE(wait_until([&] { return upstream->closed_connections() == 1; }));
  auto reqs = upstream->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/api/v1/namespaces/default/pods/p/exec");
}

TEST_F(proxy_test, upstream_down_is_503_status_with_retry_after) {
  int dead_port = upstream->port();
  upstream->stop();
  proxy = std::make_unique<mvproxy_process>(shared_pki(), dir.path(),
                                            "https://127.0.0.1:" + std::to_string(dead_port));
  auto c = connect();
  auto r = c.get("/api/v1/pods");
  expect_status_json(r, 503);
  EXPECT_EQ(r["Retry-After"], "1");
  EXPECT_EQ(nlohmann::json::parse(r.body())["reason"], "ServiceUnavailable");
  // The connection stays usable.
  EXPECT_EQ(c.get("/api").result_int(), 503);
}

TEST_F(proxy_test, upstream_certificate_not_trusted_is_502) {
  start({"--upstream-ca-file=" + (shared_pki() / "other-ca.crt").string()});
  auto c = connect();
  auto r = c.get("/api");
  expect_status_json(r, 502);
  EXPECT_NE(std::string(nlohmann::json::parse(r.body())["message"]).find("certificate"),
            std::string::npos);
  EXPECT_TRUE(upstream->requests().empty());
}

TEST_F(proxy_test, oversized_head_is_431_status) {
  start();
  auto c = connect();
  c.send("GET /api HTTP/1.1\r\nHost: k\r\nX-Big: " + std::string((1 << 20) + 10, 'a') + "\r\n\r\n");
  auto r = c.read_response();
  expect_status_json(r, 431);
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_TRUE(upstream->requests().empty());
}

TEST_F(proxy_test, ambiguous_framing_is_400_and_nothing_reaches_upstream) {
  start();
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"CL+TE",
       "POST /api HTTP/1.1\r\nHost: k\r\nContent-Length: 4\r\nTransfer-Encoding: "
       "chunked\r\n\r\n0\r\n\r\n"},
      {"TE not chunked last",
       "POST /api HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"},
      {"conflicting CL",
       "POST /api HTTP/1.1\r\nHost: k\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"},
      {"obs-fold", "GET /api HTTP/1.1\r\nHost: k\r\nX-A: a\r\n b\r\n\r\n"},
      {"bare LF", "GET /api HTTP/1.1\nHost: k\n\n"},
      {"bare CR", "GET /api HTTP/1.1\r\nHost: k\rX: y\r\n\r\n"},
      {"space before colon", "GET /api HTTP/1.1\r\nHost: k\r\nTransfer-Encoding : chunked\r\n\r\n"},
  };
  for (auto& [name, raw] : vectors) {
    SCOPED_TRACE(name);
    auto c = connect();
    c.send(raw);
    auto r = c.read_response();
    expect_status_json(r, 400);
    EXPECT_TRUE(c.closed_by_peer());
  }
  EXPECT_TRUE(upstream->requests().empty());
  EXPECT_EQ(upstream->connections(), 0);
}

TEST_F(proxy_test, keep_alive_reuses_one_upstream_connection_and_survives_a_stale_one) {
  start();
  auto c = connect();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c.get("/api").result_int(), 200);
  EXPECT_EQ(upstream->connections(), 1);
  // The upstream drops its idle connection behind mvproxy's back.
  upstream->on("/close-after", [](upstream_conn& c, const recorded&) {
    c.respond(200, "bye");
    c.close_after = true;
  });
  EXPECT_EQ(c.get("/close-after").result_int(), 200);
  EXPECT_TRUE(wait_until([&] { return upstream->closed_connections() == 1; }));
  auto r = c.get("/api");
  EXPECT_EQ(r.result_int(), 200);
  EXPECT_EQ(r.body(), "ok");
  EXPECT_EQ(upstream->connections(), 2);
}

TEST_F(proxy_test, head_request_and_no_content_responses_have_no_body) {
  start();
  upstream->on("/nocontent", [](upstream_conn& c, const recorded&) {
    c.write("HTTP/1.1 204 No Content\r\n\r\n");
  });
  upstream->on("/head", [](upstream_conn& c, const recorded&) {
    c.write("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
  });
  auto c = connect();
  EXPECT_EQ(c.get("/nocontent").result_int(), 204);
  c.send("HEAD /head HTTP/1.1\r\nHost: k\r\n\r\n");
  auto r = c.read_response(true);
  EXPECT_EQ(r.result_int(), 200);
  EXPECT_EQ(r["Content-Length"], "1234");
  EXPECT_EQ(c.get("/api").body(), "ok");  // framing still in step
}

TEST_F(proxy_test, admin_endpoints_and_promtool_accepts_metrics) {
  start();
  auto c = connect();
  c.get("/api");
  c.get("/api/v1/pods?watch=1");
  for (std::string path : {"/healthz", "/livez", "/readyz"})
    EXPECT_EQ(proxy->admin_get(path).output, "ok") << path;
  auto m = proxy->admin_get("/metrics");
  EXPECT_NE(m.output.find("mvproxy_requests_total{route=\"local\",code=\"200\"} 2"),
            std::string::npos)
      << m.output;
  EXPECT_NE(m.output.find("mvproxy_request_duration_seconds_bucket{route=\"local\",le=\"+Inf\"} 2"),
            std::string::npos);
  EXPECT_NE(m.output.find("mvproxy_requests_in_flight 0"), std::string::npos);
  EXPECT_NE(m.output.find("mvproxy_upstream_connections{target=\"local\",state=\"idle\"} 1"),
            std::string::npos);
  EXPECT_NE(m.output.find("# TYPE apiserver_rerouted_request_total counter"), std::string::npos);
  // The serving certificate's notAfter, from the certificate in use: in the future.
  std::smatch expiry;
  ASSERT_TRUE(std::regex_search(
      m.output, expiry,
      std::regex(
          R"(mvproxy_certificate_expiration_timestamp_seconds\{certificate="serving"\} ([0-9.e+]+))")))
      << m.output;
  EXPECT_GT(std::stod(expiry[1].str()), static_cast<double>(std::time(nullptr)));
  if (run_command("command -v promtool").exit_code != 0) GTEST_SKIP() << "promtool not installed";
  auto file = dir.path() / "metrics.txt";
  std::ofstream(file) << m.output;
  auto check = run_command("promtool check metrics < " + file.string());
  EXPECT_EQ(check.exit_code, 0) << check.output;
}

TEST_F(proxy_test, access_log_line_per_request) {
  start({"--log-format=json"});
  auto c = connect();
  c.get("/api/v1/pods?limit=1");
  ASSERT_TRUE(proxy->proc().wait_for_output("\"component\":\"access\""));
  auto out = proxy->output();
  std::istringstream lines(out);
  std::string line;
  int access = 0;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line);  // every line is JSON
    if (j["component"] == "access") {
      ++access;
      std::string msg = j["msg"];
      EXPECT_NE(msg.find("GET /api/v1/pods?limit=1 200 route=local bytes=2"), std::string::npos)
          << msg;
      EXPECT_NE(msg.find("duration="), std::string::npos);
    }
  }
  EXPECT_EQ(access, 1);
}

// RFC 9112 §6.1: an HTTP/1.0 client gets no Transfer-Encoding. A chunked response
// reaches it de-chunked, ended by closing the connection; HTTP/1.1 clients still get
// chunks.
TEST_F(proxy_test, an_http10_client_gets_a_chunked_response_close_delimited) {
  upstream->on("/api/v1/chunked", [](upstream_conn& c, const recorded&) {
    c.write(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
    c.write("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  });
  start();
  auto c = connect("jane");
  c.send("GET /api/v1/chunked HTTP/1.0\r\nHost: k\r\nConnection: keep-alive\r\n\r\n");
  auto r = c.read_response();
  EXPECT_EQ(r.result_int(), 200);
  EXPECT_EQ(r.count(bhttp::field::transfer_encoding), 0u);
  EXPECT_EQ(r.body(), "hello world");
  EXPECT_TRUE(c.closed_by_peer());

  auto c11 = connect("jane");
  auto r11 = c11.get("/api/v1/chunked");
  EXPECT_TRUE(r11.chunked());
  EXPECT_EQ(r11.body(), "hello world");
}

}  // namespace
}  // namespace mvproxy::test
