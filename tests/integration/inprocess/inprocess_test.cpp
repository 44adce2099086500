// The proxy server run in-process with short limits, for timing cases that would take
// minutes with the daemon's defaults: slowloris heads, idle keep-alive, tunnel idle.

#include <gtest/gtest.h>

#include "proxy_fixture.hpp"

namespace mvproxy::test {
namespace {

class inprocess : public ::testing::Test {
 protected:
  void start(proxy::limits lim = {}) { proxy_.start(upstream_, metrics_, lim); }
  void TearDown() override { proxy_.stop(); }
  std::uint16_t port() const { return proxy_.port(); }

  fake_upstream upstream_{shared_pki()};
  metrics::registry registry_;
  metrics::standard_metrics metrics_{registry_};
  inprocess_proxy proxy_;
};

TEST_F(inprocess, slowloris_head_is_cut_at_the_head_timeout) {
  proxy::limits lim;
  lim.head_timeout = std::chrono::milliseconds(500);
  start(lim);
  client c(port(), shared_pki());
  auto t0 = std::chrono::steady_clock::now();
  c.send("GET /api HTTP/1.1\r\nHost: k\r\n");  // never finished
  c.send("X-A: 1\r\n");
  EXPECT_TRUE(c.closed_by_peer(std::chrono::seconds(5)));
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, std::chrono::milliseconds(400));
  EXPECT_LT(took, std::chrono::seconds(3));
  EXPECT_TRUE(upstream_.requests().empty());
}

TEST_F(inprocess, idle_keep_alive_connection_is_closed_after_the_idle_timeout) {
  proxy::limits lim;
  lim.keepalive_idle_timeout = std::chrono::milliseconds(300);
  start(lim);
  client c(port(), shared_pki());
  EXPECT_EQ(c.get("/api").result_int(), 200);
  EXPECT_TRUE(c.closed_by_peer(std::chrono::seconds(5)));
  EXPECT_TRUE(wait_until([&] { return proxy_.server->open_connections() == 0; }));
}

TEST_F(inprocess, slow_stream_survives_while_bytes_flow_past_the_idle_timeout) {
  proxy::limits lim;
  lim.stream_idle_timeout = std::chrono::milliseconds(400);
  lim.request_timeout = lim.stream_idle_timeout;  // /trickle and /stall are ordinary
  start(lim);
  upstream_.on("/trickle", [](upstream_conn& c, const recorded&) {
    c.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 6; ++i) {  // 1.2 s in all, never 400 ms without a byte
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      c.write("1\r\nx\r\n");
    }
    c.write("0\r\n\r\n");
  });
  upstream_.on("/stall", [](upstream_conn& c, const recorded&) {
    c.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    c.close_after = true;
  });
  client c(port(), shared_pki());
  auto r = c.get("/trickle");
  EXPECT_EQ(r.body(), "xxxxxx");
  client s(port(), shared_pki());
  s.send("GET /stall HTTP/1.1\r\nHost: k\r\n\r\n");
  EXPECT_THROW(s.read_response(), boost::system::system_error);  // cut, not completed
}

TEST_F(inprocess, pooled_connections_are_counted_in_metrics) {
  start({});
  client c(port(), shared_pki());
  EXPECT_EQ(c.get("/api").result_int(), 200);
  // The request is counted after its response went out: wait for it too.
  EXPECT_TRUE(wait_until([&] {
    return metrics_.upstream_connections.with({"local", "idle"}).value() == 1 &&
           metrics_.upstream_connections.with({"local", "active"}).value() == 0 &&
           metrics_.requests_total.with({"local", "200"}).value() == 1;
  }));
  EXPECT_EQ(metrics_.requests_total.with({"local", "200"}).value(), 1);
}

// Every relay path once, in-process, so sanitizer builds cover them without the binary.
TEST_F(inprocess, bodies_streams_and_tunnels_then_shutdown_ends_a_watch) {
  start({});
  const std::string big(3 << 20, 'b');
  upstream_.on("/big", [&](upstream_conn& c, const recorded&) { c.respond(200, big); });
  upstream_.on("/exec", [](upstream_conn& c, const recorded&) {
    c.write("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n");
    char buf[4096];
    for (;;) {
      beast::error_code ec;
      auto n = c.read_some(buf, sizeof buf, ec);
      if (n) c.write(std::string_view(buf, n));
      if (ec) break;
    }
    c.close_after = true;
  });
  upstream_.on("/refuse", [](upstream_conn& c, const recorded&) { c.respond(403, "no"); });
  std::atomic<bool> watching{false};
  upstream_.on("/watch", [&](upstream_conn& c, const recorded&) {
    c.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nev\r\n");
    watching = true;
    char b[8];
    beast::error_code ec;
    c.read_some(b, sizeof b, ec);
    c.close_after = true;
  });
  client c(port(), shared_pki(), "jane");
  EXPECT_EQ(c.get("/big").body().size(), big.size());
  c.send("POST /x HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  EXPECT_EQ(c.read_response().result_int(), 200);
  EXPECT_EQ(upstream_.requests().back().body, "abc");

  client t(port(), shared_pki());
  t.send("GET /exec HTTP/1.1\r\nHost: k\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n");
  bhttp::response_parser<bhttp::empty_body> p;
  bhttp::read_header(t.stream(), t.buffer(), p);
  EXPECT_EQ(p.get().result_int(), 101);
  t.send("echo me");
  std::string got(7, '\0');
  asio::read(t.stream(), asio::buffer(got));
  EXPECT_EQ(got, "echo me");

  client r(port(), shared_pki());
  r.send("GET /refuse HTTP/1.1\r\nHost: k\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  EXPECT_EQ(r.read_response().result_int(), 403);
  EXPECT_TRUE(r.closed_by_peer());

  client w(port(), shared_pki());
  w.send("GET /watch HTTP/1.1\r\nHost: k\r\n\r\n");
  ASSERT_TRUE(wait_until([&] { return watching.load(); }));
  std::thread stopper([&] { proxy_.server->shutdown(std::chrono::milliseconds(200)); });
  auto res = w.read_response();  // ended cleanly with its last chunk
  EXPECT_EQ(res.body(), "ev");
  stopper.join();
  EXPECT_EQ(proxy_.server->open_connections(), 0u);
}

}  // namespace
}  // namespace mvproxy::test
