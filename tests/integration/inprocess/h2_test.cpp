// HTTP/2 clients (ALPN h2) through the in-process proxy, driven by real clients (curl,
// h2load, h2/h2_probe.py): each stream reaches the HTTP/1.1 upstream as an ordinary
// request (Host, identity headers, its body framed by length or as chunks), bodies of
// megabytes pass intact both ways under flow control, streams run concurrently on one
// connection, a reset stream ends its upstream connection, a drain sends GOAWAY while
// the stream in flight completes, an idle connection gets GOAWAY, and a client that
// does not answer PING is closed. Bad input and floods: h2_abuse_test.cpp.

#include <fstream>
#include <set>

#include "h2_fixture.hpp"

namespace mvproxy::test {
namespace {

// Bytes that show a reordered or dropped block (not one repeated byte).
std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 4093) % 26);
  return s;
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class h2 : public h2_test_base {};

TEST_F(h2, get_reaches_the_upstream_as_http11_with_host_and_identity) {
  start();
  upstream_.on("/api/v1/namespaces", [](upstream_conn& c, const recorded&) {
    c.respond(200, R"({"kind":"NamespaceList"})",
              {{"Content-Type", "application/json"}, {"Connection", "keep-alive"}});
  });
  auto r = curl("-D - -w '\\n%{http_version} %{http_code}' -H 'X-Remote-User: system:admin'",
                "/api/v1/namespaces?limit=1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(R"({"kind":"NamespaceList"})"), std::string::npos) << r.output;
  EXPECT_TRUE(r.output.ends_with("\n2 200")) << r.output;
  EXPECT_NE(r.output.find("content-type: application/json"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("connection:"), std::string::npos) << r.output;

  auto reqs = upstream_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].target, "/api/v1/namespaces?limit=1");
  EXPECT_EQ(reqs[0].all("Host"), std::vector<std::string>{"127.0.0.1:" + std::to_string(port())});
  EXPECT_EQ(reqs[0].all("X-Remote-User"), std::vector<std::string>{"kubernetes-admin"});
  EXPECT_EQ(reqs[0].all("X-Remote-Group"), std::vector<std::string>{"system:masters"});
  EXPECT_EQ(reqs[0].client_cn, "front-proxy-client");
  for (auto& [name, value] : reqs[0].headers) EXPECT_NE(name.front(), ':') << name;
  EXPECT_FALSE(reqs[0].has("Transfer-Encoding"));
  EXPECT_FALSE(reqs[0].has("Content-Length"));
  std::string line;
  EXPECT_TRUE(wait_until([&] { return access_line_with("/api/v1/namespaces", &line); }, 5s));
  EXPECT_NE(line.find(" 200 "), std::string::npos) << line;
  EXPECT_NE(line.find("proto=HTTP/2.0"), std::string::npos) << line;
}

TEST_F(h2, post_with_content_length_keeps_it) {
  start();
  auto r = curl("-o /dev/null -w '%{http_version} %{http_code}' --data-binary 'hello world'",
                "/api/v1/namespaces/default/configmaps");
  EXPECT_EQ(r.output, "2 200");
  auto reqs = upstream_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].body, "hello world");
  EXPECT_EQ(reqs[0].get("Content-Length"), "11");
  EXPECT_FALSE(reqs[0].has("Transfer-Encoding"));
}

TEST_F(h2, post_without_content_length_goes_upstream_chunked) {
  start();
  // -T - from a pipe: curl cannot know the length, so it sends none.
  auto r = run_command("printf 'streamed body' | curl -sS --http2 --max-time 30 --cacert " +
                       pki("ca.crt") + " -X POST -T - -o /dev/null -w '%{http_version} " +
                       "%{http_code}' '" + url("/api/v1/namespaces/default/events") + "'");
  EXPECT_EQ(r.output, "2 200");
  auto reqs = upstream_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].body, "streamed body");
  EXPECT_EQ(reqs[0].get("Transfer-Encoding"), "chunked");
  EXPECT_FALSE(reqs[0].has("Content-Length"));
}

TEST_F(h2, large_download_is_intact) {
  start();
  // Shared with the upstream's handler threads, which may outlive the test body.
  auto body = std::make_shared<const std::string>(pattern(8 << 20));  // 32 windows of 256 KiB
  const std::string& big = *body;
  upstream_.on("/big", [body](upstream_conn& c, const recorded&) { c.respond(200, *body); });
  upstream_.on("/chunked-big", [body](upstream_conn& c, const recorded&) {
    c.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (std::size_t off = 0; off < body->size(); off += 100'000) {
      auto part = std::string_view(*body).substr(off, 100'000);
      char size[32];
      std::snprintf(size, sizeof size, "%zx\r\n", part.size());
      c.write(size + std::string(part) + "\r\n");
    }
    c.write("0\r\n\r\n");
  });
  for (std::string path : {"/big", "/chunked-big"}) {
    auto out = sync_.path() / "download";
    auto r = curl("-o " + out.string() + " -w '%{http_version} %{http_code}'", path);
    EXPECT_EQ(r.output, "2 200") << path;
    auto got = slurp(out);
    EXPECT_EQ(got.size(), big.size()) << path;
    EXPECT_TRUE(got == big) << path << ": the body differs";
  }
  expect_still_serving();
}

TEST_F(h2, large_upload_is_intact_with_and_without_a_length) {
  start();
  const std::string big = pattern(8 << 20);
  auto file = sync_.path() / "upload";
  std::ofstream(file, std::ios::binary) << big;
  auto fmt = std::string(" -o /dev/null -w '%{http_version} %{http_code}'");
  auto with_length = curl("--data-binary @" + file.string() + fmt, "/upload/length");
  EXPECT_EQ(with_length.output, "2 200");
  auto without =
      run_command("curl -sS --http2 --max-time 30 --cacert " + pki("ca.crt") + " -X POST -T -" +
                  fmt + " '" + url("/upload/chunked") + "' < " + file.string());
  EXPECT_EQ(without.output, "2 200");
  auto reqs = upstream_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].get("Content-Length"), std::to_string(big.size()));
  EXPECT_EQ(reqs[1].get("Transfer-Encoding"), "chunked");
  for (auto& q : reqs) {
    EXPECT_EQ(q.body.size(), big.size()) << q.target;
    EXPECT_TRUE(q.body == big) << q.target << ": the body differs";
  }
}

TEST_F(h2, head_is_answered_without_a_body) {
  start();
  upstream_.on("/api/v1/pods", [](upstream_conn& c, const recorded& r) {
    if (r.method == "HEAD")
      c.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1234\r\n\r\n");
    else
      c.respond(500, "not HEAD");
  });
  auto r = curl("-I -w '%{http_version} %{http_code} %{size_download}'", "/api/v1/pods");
  EXPECT_NE(r.output.find("content-length: 1234"), std::string::npos) << r.output;
  EXPECT_TRUE(r.output.ends_with("2 200 0")) << r.output;
  ASSERT_EQ(upstream_.requests().size(), 1u);
  EXPECT_EQ(upstream_.requests()[0].method, "HEAD");
  expect_still_serving();  // the pooled upstream connection is still in step
}

// Ten streams at once on one connection: the upstream holds each until all ten are
// there, so they must be in flight together (HTTP/1.1 upstream: one connection each).
TEST_F(h2, concurrent_streams_on_one_connection_run_together) {
  start();
  auto most = std::make_shared<std::atomic<int>>(0);  // streams in flight together, at most
  auto in_flight = std::make_shared<std::atomic<int>>(0);
  upstream_.on("/together", [most, in_flight](upstream_conn& c, const recorded&) {
    int now = ++*in_flight;
    for (int m = *most; now > m && !most->compare_exchange_weak(m, now);) {
    }
    wait_until([&] { return most->load() >= 10; }, 5s);
    c.respond(200, "together");
  });
  auto r = run_command("h2load -n 10 -c 1 -m 10 '" + url("/together") + "'");
  EXPECT_NE(r.output.find("10 succeeded"), std::string::npos) << r.output;
  EXPECT_EQ(most->load(), 10) << "streams were not in flight together";
  EXPECT_EQ(upstream_saw("/together"), 10u);
  EXPECT_TRUE(wait_until([&] { return access_lines().size() >= 10; }, 5s));
  std::set<std::string> conns;
  for (auto& l : access_lines()) {
    auto at = l.find(" conn=");
    conns.insert(l.substr(at, l.find(' ', at + 1) - at));
  }
  EXPECT_EQ(conns.size(), 1u) << "more than one client connection";
}

// The client cancels a watch (RST_STREAM CANCEL) and keeps the connection: the upstream
// connection of the watch closes at once, and the connection serves the next stream.
TEST_F(h2, reset_watch_stream_closes_its_upstream_at_once) {
  if (!probe_unavailable().empty()) GTEST_SKIP() << probe_unavailable();
  start();
  auto watch = serve_quiet_watch();
  auto result = probe_async("reset_watch", sync_.path().string());
  ASSERT_TRUE(wait_for_file(sync_.path() / "reset")) << result.get().dump();
  auto reset = std::chrono::steady_clock::now();
  EXPECT_TRUE(watch->watching.load());
  EXPECT_TRUE(wait_until([&] { return watch->saw_close.load(); }, 2s))
      << "the upstream watch connection stayed open after the stream was reset";
  EXPECT_LT(std::chrono::steady_clock::now() - reset, 2s);
  EXPECT_EQ(proxy_.server->open_connections(), 1u);  // the client connection stays
  touch(sync_.path() / "finish");
  auto j = result.get();
  ASSERT_FALSE(j.contains("error")) << j.dump();
  EXPECT_EQ(stream_of(j, "watch")["status"], 200) << j.dump();
  EXPECT_EQ(stream_of(j, "after")["status"], 200) << j.dump();
  EXPECT_EQ(stream_of(j, "after")["body"], "ok") << j.dump();
  EXPECT_TRUE(j["goaway"].is_null()) << j.dump();
  EXPECT_TRUE(wait_until(
      [&] {
        return metrics_.upstream_connections.with({"local", "active"}).value() == 0;
      },
      2s));
  expect_still_serving();
}

// Shutdown with a stream in flight: GOAWAY names it as the last stream taken, a stream
// opened after the GOAWAY is not taken (never reaches the upstream), and the one in
// flight completes before the connection closes.
TEST_F(h2, drain_sends_goaway_and_completes_the_stream_in_flight) {
  if (!probe_unavailable().empty()) GTEST_SKIP() << probe_unavailable();
  start();
  struct slow {
    std::atomic<bool> in_flight{false}, release{false};
  };
  auto state = std::make_shared<slow>();
  upstream_.on("/slow", [state](upstream_conn& c, const recorded&) {
    state->in_flight = true;
    wait_until([&] { return state->release.load(); }, 10s);
    c.respond(200, "finished after the GOAWAY");
  });
  auto result = probe_async("drain", sync_.path().string());
  ASSERT_TRUE(wait_until([&] { return state->in_flight.load(); }, 10s)) << result.get().dump();
  auto stopper = std::async(std::launch::async,
                            [&] { proxy_.server->shutdown(std::chrono::milliseconds(10'000)); });
  bool goaway = wait_for_file(sync_.path() / "goaway");
  state->release = true;
  auto j = result.get();
  stopper.get();
  ASSERT_TRUE(goaway) << j.dump();
  ASSERT_FALSE(j.contains("error")) << j.dump();
  ASSERT_TRUE(j["goaway"].is_object()) << j.dump();
  EXPECT_EQ(j["goaway"]["error"], h2_no_error);
  EXPECT_EQ(j["goaway"]["last_stream"], j["first"]) << j.dump();
  EXPECT_EQ(j["synced"], true) << j.dump();
  auto first = stream_of(j, "first");
  EXPECT_EQ(first["status"], 200) << j.dump();
  EXPECT_EQ(first["body"], "finished after the GOAWAY") << j.dump();
  EXPECT_EQ(first["ended"], true) << j.dump();
  auto late = stream_of(j, "late");
  EXPECT_TRUE(late["status"].is_null()) << "a stream after GOAWAY was served: " << j.dump();
  EXPECT_EQ(j["closed"], true) << j.dump();
  EXPECT_EQ(upstream_saw("/slow"), 1u);
  EXPECT_EQ(upstream_.requests().size(), 1u) << "the late stream reached the upstream";
  EXPECT_EQ(proxy_.server->open_connections(), 0u);
}

// No stream open for the idle timeout: GOAWAY (NO_ERROR, naming the last stream
// served), then the connection closes, as Go's server after IdleTimeout. No PING: no
// stream is open.
TEST_F(h2, idle_connection_gets_goaway_after_the_idle_timeout) {
  if (!probe_unavailable().empty()) GTEST_SKIP() << probe_unavailable();
  proxy::limits lim;
  lim.keepalive_idle_timeout = 400ms;
  lim.http2_ping_interval = 200ms;  // the keep-alive check runs every half of it
  start(lim);
  auto j = probe("idle");
  ASSERT_FALSE(j.contains("error")) << j.dump();
  EXPECT_EQ(stream_of(j, "stream")["status"], 200) << j.dump();
  ASSERT_TRUE(j["goaway"].is_object()) << j.dump();
  EXPECT_EQ(j["goaway"]["error"], h2_no_error);
  EXPECT_EQ(j["goaway"]["last_stream"], j["stream"]);
  EXPECT_EQ(j["closed"], true) << j.dump();
  EXPECT_GE(j["ended_after"].get<double>(), 0.3) << j.dump();
  EXPECT_LT(j["ended_after"].get<double>(), 3.0) << j.dump();
  EXPECT_EQ(j["server_pings"], 0) << j.dump();
  EXPECT_TRUE(wait_until([&] { return proxy_.server->open_connections() == 0; }, 2s));
}

// A quiet watch: after the PING interval of silence the server PINGs; a client that
// does not answer within the PING timeout is taken for dead, and its connection and
// the watch's upstream connection are closed.
TEST_F(h2, quiet_watch_whose_client_does_not_answer_ping_is_closed) {
  if (!probe_unavailable().empty()) GTEST_SKIP() << probe_unavailable();
  proxy::limits lim;
  lim.http2_ping_interval = 300ms;
  lim.http2_ping_timeout = 300ms;
  start(lim);
  auto watch = serve_quiet_watch();
  auto j = probe("watch_pings_unanswered");
  ASSERT_FALSE(j.contains("error")) << j.dump();
  EXPECT_GE(j["server_pings"].get<int>(), 1) << j.dump();
  EXPECT_EQ(j["closed"], true) << j.dump();
  // Silence for interval + timeout (600 ms), seen at the next check (every 150 ms).
  EXPECT_GE(j["ended_after"].get<double>(), 0.4) << j.dump();
  EXPECT_LT(j["ended_after"].get<double>(), 3.0) << j.dump();
  EXPECT_TRUE(wait_until([&] { return watch->saw_close.load(); }, 2s));
  expect_still_serving();
}

// The same watch with a client that answers: the stream and the connection stay open
// past many PING intervals (the probe holds them 2 s).
TEST_F(h2, quiet_watch_whose_client_answers_ping_stays_open) {
  if (!probe_unavailable().empty()) GTEST_SKIP() << probe_unavailable();
  proxy::limits lim;
  lim.http2_ping_interval = 300ms;
  lim.http2_ping_timeout = 300ms;
  start(lim);
  auto watch = serve_quiet_watch();
  auto j = probe("watch_pings_answered", "2");
  ASSERT_FALSE(j.contains("error")) << j.dump();
  EXPECT_GE(j["server_pings"].get<int>(), 2) << j.dump();
  EXPECT_EQ(j["closed"], false) << j.dump();
  EXPECT_TRUE(j["goaway"].is_null()) << j.dump();
  EXPECT_TRUE(stream_of(j, "stream")["rst"].is_null()) << j.dump();
  // The probe has exited: now the watch ends.
  EXPECT_TRUE(wait_until([&] { return watch->saw_close.load(); }, 2s));
}

}  // namespace
}  // namespace mvproxy::test
