// HTTP/2 to upstreams: an in-process proxy ("front") whose local upstream is another
// in-process proxy ("back", which serves h2 as a peer sidecar does) in front of a fake
// apiserver. The front's requests go over one multiplexed HTTP/2 connection, with
// bodies, streaming and the fallback to HTTP/1.1; a dead HTTP/2 connection is found by
// PING. The access lines of both proxies are captured, so the back's say which
// protocol the front spoke to it.

#include <thread>

#include "h2_fixture.hpp"

namespace mvproxy::test {
namespace {

using response = bhttp::response<bhttp::string_body>;

class h2_upstream : public h2_test_base {
 protected:
  void TearDown() override {
    front_.stop();
    back_.stop();
    h2_test_base::TearDown();
  }
  void start_chain(bool back_http2 = true, proxy::limits front_lim = {}) {
    back_.start(upstream_.url(), back_metrics_, {}, nullptr, back_http2);
    const auto url = "https://127.0.0.1:" + std::to_string(back_.port());
    front_.start(url, front_metrics_, front_lim);
  }
  double h2_connections() {
    return front_metrics_.upstream_connections.with({"local", "http2"}).value();
  }
  // The back proxy's access lines (it is the one that heard from the front).
  int access_lines_with(const std::string& part) {
    int n = 0;
    for (auto& line : access_->last_formatted())
      if (line.find(part) != std::string::npos) ++n;
    return n;
  }
  response get(const std::string& path) {
    client c(front_.port(), shared_pki(), "jane");
    return c.get(path);
  }

  metrics::registry front_registry_, back_registry_;
  metrics::standard_metrics front_metrics_{front_registry_}, back_metrics_{back_registry_};
  inprocess_proxy back_, front_;
};

TEST_F(h2_upstream, concurrent_requests_share_one_multiplexed_connection) {
  start_chain();
  ASSERT_EQ(get("/api/v1/namespaces").result_int(), 200);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      client c(front_.port(), shared_pki(), "jane");
      for (int i = 0; i < 10; ++i)
        if (c.get("/api/v1/namespaces/default/pods").result_int() == 200) ++ok;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 80);
  // One per target and worker: the proxy runs two workers.
  EXPECT_LE(h2_connections(), 2);
  EXPECT_GE(h2_connections(), 1);
  EXPECT_TRUE(wait_until([&] { return access_lines_with("proto=HTTP/2.0") == 81; }, 5s));
  // The identity crossed the hop as on HTTP/1.1.
  auto reqs = upstream_.requests();
  ASSERT_FALSE(reqs.empty());
  EXPECT_EQ(reqs.back().get("X-Remote-User"), "jane");
}

TEST_F(h2_upstream, bodies_of_known_and_unknown_length_cross_whole) {
  start_chain();
  std::string big(300 * 1024, 'x');  // more than a stream's window
  for (std::size_t i = 0; i < big.size(); i += 997) big[i] = static_cast<char>('a' + i % 26);
  client c(front_.port(), shared_pki(), "jane");
  c.send("POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\nContent-Length: " +
         std::to_string(big.size()) + "\r\n\r\n" + big);
  EXPECT_EQ(c.read_response().result_int(), 200);
  c.send(
      "POST /api/v1/namespaces/default/secrets HTTP/1.1\r\nHost: x\r\n"
      "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  EXPECT_EQ(c.read_response().result_int(), 200);
  auto reqs = upstream_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].body, big);
  EXPECT_EQ(reqs[1].body, "hello world");
  EXPECT_TRUE(wait_until([&] { return access_lines_with("proto=HTTP/2.0") == 2; }, 5s));
}

TEST_F(h2_upstream, a_watch_streams_event_by_event) {
  std::promise<void> first_seen;
  auto seen = first_seen.get_future();
  upstream_.on("/api/v1/watch/pods", [&](upstream_conn& c, const recorded&) {
    c.write(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n7\r\nevent-1\r\n");
    seen.wait_for(std::chrono::seconds(10));
    c.write("7\r\nevent-2\r\n0\r\n\r\n");
  });
  start_chain();
  client c(front_.port(), shared_pki(), "jane");
  c.send("GET /api/v1/watch/pods HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string got;
  char buf[4096];
  auto read_until = [&](const std::string& what) {
    while (got.find(what) == std::string::npos) {
      beast::error_code ec;
      auto n = c.stream().read_some(asio::buffer(buf), ec);
      if (ec) return false;
      got.append(buf, n);
    }
    return true;
  };
  ASSERT_TRUE(read_until("event-1")) << got;
  EXPECT_EQ(got.find("event-2"), std::string::npos) << "the first event came on its own";
  first_seen.set_value();
  ASSERT_TRUE(read_until("0\r\n\r\n")) << got;
  EXPECT_NE(got.find("event-2"), std::string::npos);
  EXPECT_TRUE(wait_until([&] { return access_lines_with("proto=HTTP/2.0") == 1; }, 5s));
}

TEST_F(h2_upstream, an_upstream_that_offers_only_http1_gets_http1) {
  start_chain(false);
  EXPECT_EQ(get("/api/v1/namespaces").result_int(), 200);
  EXPECT_EQ(get("/api/v1/namespaces").result_int(), 200);
  EXPECT_EQ(h2_connections(), 0);
  EXPECT_EQ(access_lines_with("proto=HTTP/2.0"), 0);
}

TEST_F(h2_upstream, disable_upstream_http2_speaks_http1_to_an_h2_upstream) {
  proxy::limits lim;
  lim.upstream_http2 = false;
  start_chain(true, lim);
  EXPECT_EQ(get("/api/v1/namespaces").result_int(), 200);
  EXPECT_EQ(h2_connections(), 0);
  EXPECT_EQ(access_lines_with("proto=HTTP/2.0"), 0);
  // The client's hop and the front's (each line is written after its response).
  EXPECT_TRUE(wait_until([&] { return access_lines_with("proto=HTTP/1.1") >= 2; }, 5s));
}

// A TLS server that agrees to h2 and then says nothing: a frozen upstream.
class silent_h2_server {
 public:
  silent_h2_server() : ctx_(asio::ssl::context::tls_server), acceptor_(ioc_) {
    auto pki = shared_pki();
    ctx_.use_certificate_chain_file((pki / "apiserver.crt").string());
    ctx_.use_private_key_file((pki / "apiserver.key").string(), asio::ssl::context::pem);
    SSL_CTX_set_alpn_select_cb(
        ctx_.native_handle(),
        [](SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char*,
           unsigned int, void*) {
          static const unsigned char h2[] = "h2";
          *out = h2;
          *outlen = 2;
          return SSL_TLSEXT_ERR_OK;
        },
        nullptr);
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.bind(ep);
    acceptor_.listen();
    thread_ = std::thread([this] {
      beast::error_code ec;
      auto sock = acceptor_.accept(ec);
      if (ec) return;
      auto s = std::make_unique<asio::ssl::stream<tcp::socket>>(std::move(sock), ctx_);
      s->handshake(asio::ssl::stream_base::server, ec);
      accepted_ = std::move(s);  // held open, never read or written
    });
  }
  ~silent_h2_server() {
    beast::error_code ec;
    acceptor_.close(ec);
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    thread_.join();
  }
  std::string url() const {
    return "https://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }

 private:
  asio::io_context ioc_;
  asio::ssl::context ctx_;
  tcp::acceptor acceptor_;
  std::unique_ptr<asio::ssl::stream<tcp::socket>> accepted_;
  std::thread thread_;
};

TEST_F(h2_upstream, a_connection_that_stops_answering_is_found_by_ping) {
  silent_h2_server silent;
  proxy::limits lim;
  lim.upstream_http2_read_idle_timeout = std::chrono::milliseconds(200);
  lim.upstream_http2_ping_timeout = std::chrono::milliseconds(300);
  front_.start(silent.url(), front_metrics_, lim);
  const auto began = std::chrono::steady_clock::now();
  auto r = get("/api/v1/namespaces");
  const auto took = std::chrono::steady_clock::now() - began;
  EXPECT_EQ(r.result_int(), 502) << r.body();
  // Found by the PING (0.2 s + 0.3 s), not by the 120 s response-head timeout.
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_EQ(front_metrics_.upstream_errors_total.with({"local", "ping-timeout"}).value(), 1);
}

}  // namespace
}  // namespace mvproxy::test
