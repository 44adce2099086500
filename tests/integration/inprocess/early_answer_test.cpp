// Every refusal is a Status the client can read: a header field too large for the
// relay (431), a request body whose chunk framing is broken (400), and the upstream's
// own early answer to a request whose body it will not read (413, relayed, not a 502).

#include "h2_fixture.hpp"

namespace mvproxy::test {
namespace {

using response = bhttp::response<bhttp::string_body>;

void expect_status(const response& r, int code, const std::string& message_part) {
  EXPECT_EQ(r.result_int(), code);
  EXPECT_EQ(r[bhttp::field::content_type], "application/json");
  auto j = json::parse(r.body(), nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.body();
  EXPECT_EQ(j["kind"], "Status");
  EXPECT_EQ(j["code"], code);
  EXPECT_NE(j["message"].get<std::string>().find(message_part), std::string::npos) << r.body();
}

// An apiserver that refuses a large body as kube-apiserver does (its 3 MiB request limit):
// it reads the head and some of the body, answers 413 and closes without reading the
// rest, as Go's server does. One connection at a time, on the acceptor's thread.
class refusing_upstream {
 public:
  refusing_upstream() : ctx_(asio::ssl::context::tls_server) {
    ctx_.use_certificate_chain_file((shared_pki() / "apiserver.crt").string());
    ctx_.use_private_key_file((shared_pki() / "apiserver.key").string(), asio::ssl::context::pem);
    thread_ = std::thread([this] { serve(); });
  }
  ~refusing_upstream() {
    stopped_ = true;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    thread_.join();
  }
  std::string url() const {
    return "https://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }
  std::atomic<int> answered{0};

 private:
  void serve() {
    while (!stopped_) {
      tcp::socket sock(ioc_);
      beast::error_code ec;
      acceptor_.accept(sock, ec);
      if (ec) return;
      set_io_timeout(sock, std::chrono::seconds(10));
      ssl_socket s(std::move(sock), ctx_);
      s.handshake(asio::ssl::stream_base::server, ec);
      std::string got;
      char buf[16 * 1024];
      // The head and at least 64 KiB of the body, then no more.
      while (!ec && (got.find("\r\n\r\n") == std::string::npos || got.size() < 64 * 1024))
        got.append(buf, s.read_some(asio::buffer(buf), ec));
      if (ec) continue;
      const std::string body =
          R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":"too large","reason":"RequestEntityTooLarge","code":413})";
      asio::write(s,
                  asio::buffer("HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: "
                               "application/json\r\nConnection: close\r\nContent-Length: " +
                               std::to_string(body.size()) + "\r\n\r\n" + body),
                  ec);
      ++answered;
      // As Go's server ends a connection whose request body it did not read
      // (closeWriteAndWait): close_notify and FIN, then, after its rstAvoidanceDelay of
      // 500 ms, the close that resets the connection (the body is still unread). Closed
      // at once, the kernel would throw away the answer not yet sent with the reset.
      SSL_shutdown(s.native_handle());
      ::shutdown(s.next_layer().native_handle(), SHUT_WR);
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      s.next_layer().close(ec);
    }
  }
  asio::io_context ioc_;
  asio::ssl::context ctx_;
  tcp::acceptor acceptor_{ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  std::atomic<bool> stopped_{false};
  std::thread thread_;
};

class refusals : public h2_test_base {
 protected:
  void SetUp() override {
    h2_test_base::SetUp();
    start();
  }
};

// Beast keeps a field's length in 16 bits: a field of 64 KiB or more used to close the
// connection with no answer. The head limit (1 MiB) is what the client is told about.
TEST_F(refusals, a_header_field_of_64_KiB_is_answered_431_and_63_KiB_passes) {
  {
    client c(port(), shared_pki(), "jane");
    auto r = c.get("/api/v1/pods", {{"X-Big", std::string(63 * 1024, 'a')}});
    EXPECT_EQ(r.result_int(), 200);
    EXPECT_EQ(upstream_.requests().back().get("X-Big").size(), 63u * 1024);
  }
  for (std::size_t size : {std::size_t{65534}, std::size_t{64 * 1024}, std::size_t{200 * 1024}}) {
    SCOPED_TRACE(size);
    client c(port(), shared_pki(), "jane");
    auto r = c.get("/api/v1/pods", {{"X-Big", std::string(size, 'a')}});
    expect_status(r, 431, "request header fields too large");
    EXPECT_TRUE(c.closed_by_peer());
  }
  EXPECT_EQ(upstream_saw("/api/v1/pods"), 1u);  // the 63 KiB one only
}

// A chunk size that is no hex number: nothing of the response has begun, so the client
// gets a 400 Status and the connection closes (its framing is lost). Whether the bad
// line came at once or after a chunk already went upstream, no request reaches it whole.
TEST_F(refusals, a_bad_chunk_size_in_a_request_body_is_answered_400) {
  const std::string head =
      "POST /api/v1/namespaces/a/configmaps HTTP/1.1\r\nHost: k\r\n"
      "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (const std::string& body :
       {std::string("zz\r\n{}\r\n0\r\n\r\n"), std::string("2\r\n{}\r\n-1\r\nx\r\n0\r\n\r\n"),
        std::string("2\r\n{}\r\n2;\x01\r\n{}\r\n0\r\n\r\n")}) {
    SCOPED_TRACE(body);
    client c(port(), shared_pki(), "jane");
    c.send(head + body);
    expect_status(c.read_response(), 400, "malformed chunked request body");
    EXPECT_TRUE(c.closed_by_peer());
  }
  EXPECT_EQ(upstream_saw("/api/v1/namespaces/a/configmaps"), 0u);
  std::string line;
  EXPECT_TRUE(wait_until([&] { return access_line_with("configmaps 400 ", &line); }));
  expect_still_serving();
}

// The upstream answers 413 after reading part of an 8 MiB body, and closes: the client
// gets that 413 (a permanent error), not a 502 "writing the request body" (a retryable
// gateway fault), over both protocols.
TEST_F(refusals, the_upstreams_early_answer_to_a_large_body_is_relayed) {
  refusing_upstream refusing;
  proxy_.stop();
  proxy_.start(refusing.url(), metrics_);
  const auto big = sync_.path() / "big.json";
  std::ofstream(big) << std::string(8 << 20, ' ');
  const std::string at = url("/api/v1/x");
  for (const char* proto : {"--http1.1", "--http2"}) {
    SCOPED_TRACE(proto);
    auto r = run_command("curl -sS --max-time 30 --cacert " + pki("ca.crt") + " --cert " +
                         pki("admin.crt") + " --key " + pki("admin.key") + " " + proto +
                         " -X POST -H 'Content-Type: application/json' --data-binary @" +
                         big.string() + " -w ' %{http_code}' '" + at + "'");
    EXPECT_NE(r.output.find("RequestEntityTooLarge"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(" 413"), std::string::npos) << r.output;
  }
  EXPECT_EQ(refusing.answered.load(), 2);
  EXPECT_EQ(metrics_.upstream_errors_total.with({"local", "broken"}).value(), 0);
  EXPECT_TRUE(wait_until([&] { return access_line_with("POST /api/v1/x 413 "); }));
}

}  // namespace
}  // namespace mvproxy::test
