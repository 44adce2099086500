// The mvproxy process as an operator sees it: refusing bad flags before listening,
// draining on SIGTERM, reloading renewed certificates.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/harness.hpp"

namespace mvproxy::test {
namespace {

std::string flags_with(const std::string& extra) {
  auto p = shared_pki();
  return mvproxy_process::binary() + " --tls-cert-file=" + (p / "apiserver.crt").string() +
         " --tls-private-key-file=" + (p / "apiserver.key").string() +
         " --upstream-ca-file=" + (p / "ca.crt").string() +
         " --proxy-client-cert-file=" + (p / "front-proxy-client.crt").string() +
         " --proxy-client-key-file=" + (p / "front-proxy-client.key").string() +
         " --feature-gates=UnknownVersionInteroperabilityProxy=false --secure-port=0"
         " --admin-address=127.0.0.1:0 " +
         extra;
}

TEST(lifecycle, bad_flags_exit_2_with_one_line_before_listening) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--secure-port=abc", "--secure-port"},
      {"--no-such-flag=1", "no-such-flag"},
      {"--tls-private-key-file=" + (shared_pki() / "jane.key").string(), "key"},
      {"--upstream-ca-file=/nonexistent/ca.crt", "/nonexistent/ca.crt"},
  };
  for (auto& [flag, mention] : cases) {
    SCOPED_TRACE(flag);
    auto r = run_command(flags_with(flag));
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_EQ(r.output.rfind("mvproxy: ", 0), 0u) << r.output;
    EXPECT_NE(r.output.find(mention), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("listening"), std::string::npos);
  }
}

// An address already taken is a bad flag too: one line naming the flag and the address.
TEST(lifecycle, an_address_in_use_exits_2_naming_the_flag) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string port = std::to_string(ntohs(addr.sin_port));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--bind-address=127.0.0.1 --secure-port=" + port,
       "--bind-address/--secure-port 127.0.0.1:" + port},
      {"--admin-address=127.0.0.1:" + port, "--admin-address 127.0.0.1:" + port},
  };
  for (auto& [flag, mention] : cases) {
    SCOPED_TRACE(flag);
    auto r = run_command(flags_with(flag));
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_NE(r.output.find("mvproxy: " + mention + ": Address already in use"), std::string::npos)
        << r.output;
  }
  ::close(fd);
}

TEST(lifecycle, help_and_version_exit_0) {
  auto h = run_command(mvproxy_process::binary() + " --help");
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.output.find("--upstream"), std::string::npos);
  auto v = run_command(mvproxy_process::binary() + " --version");
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.output.find(MVPROXY_VERSION), std::string::npos) << v.output;
}

TEST(lifecycle, sigterm_lets_a_request_in_flight_finish_and_ends_a_watch_cleanly) {
  temp_dir dir;
  fake_upstream upstream(shared_pki());
  std::atomic<bool> slow_started{false}, watch_started{false};
  upstream.on("/slow", [&](upstream_conn& c, const recorded&) {
    slow_started = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(700));  // the request "in flight"
    c.respond(200, "finished");
  });
  upstream.on("/watch", [&](upstream_conn& c, const recorded&) {
    c.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nevent\r\n");
    watch_started = true;
    char b[16];
    beast::error_code ec;
    c.read_some(b, sizeof b, ec);  // open until mvproxy goes away
    c.close_after = true;
  });
  mvproxy_process proxy(shared_pki(), dir.path(), upstream.url(), {"--shutdown-grace-period=2s"});

  client watcher(proxy.port(), shared_pki());
  watcher.send("GET /watch HTTP/1.1\r\nHost: k\r\n\r\n");
  ASSERT_TRUE(wait_until([&] { return watch_started.load(); }));
  client idle(proxy.port(), shared_pki());
  EXPECT_EQ(idle.get("/api").result_int(), 200);

  client slow(proxy.port(), shared_pki());
  slow.send("GET /slow HTTP/1.1\r\nHost: k\r\n\r\n");
  ASSERT_TRUE(wait_until([&] { return slow_started.load(); }));
  auto t0 = std::chrono::steady_clock::now();
  proxy.proc().signal(SIGTERM);

  auto r = slow.read_response();
  EXPECT_EQ(r.result_int(), 200);
  EXPECT_EQ(r.body(), "finished");
  EXPECT_EQ(r["Connection"], "close");
  EXPECT_TRUE(idle.closed_by_peer(std::chrono::seconds(2)));  // idle keep-alive closed at once

  // The watch outlives the grace period and is then ended with its last chunk.
  auto w = watcher.read_response();
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(w.result_int(), 200);
  EXPECT_EQ(w.body(), "event");
  EXPECT_GE(waited, std::chrono::milliseconds(1500));
  EXPECT_EQ(proxy.proc().wait_exit(std::chrono::seconds(10)), 0) << proxy.output();
  EXPECT_NE(proxy.output().find("received SIGTERM"), std::string::npos);

  // Nothing listens any more.
  beast::error_code ec;
  asio::io_context ioc;
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), proxy.port()), ec);
  EXPECT_TRUE(ec);
}

std::string served_cn(std::uint16_t port) {
  asio::io_context ioc;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ssl_socket s(ioc, ctx);
  s.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  s.handshake(asio::ssl::stream_base::client);
  X509* cert = SSL_get1_peer_certificate(s.native_handle());
  auto cn = cn_of(cert);
  X509_free(cert);
  return cn;
}

TEST(lifecycle, renewed_serving_certificate_is_used_by_new_connections) {
  temp_dir dir;
  fake_upstream upstream(shared_pki());
  // A private copy of the serving pair that the test can "renew".
  auto cert = dir.path() / "serving.crt", key = dir.path() / "serving.key";
  std::filesystem::copy_file(shared_pki() / "apiserver.crt", cert);
  std::filesystem::copy_file(shared_pki() / "apiserver.key", key);
  mvproxy_process proxy(
      shared_pki(), dir.path(), upstream.url(),
      {"--tls-cert-file=" + cert.string(), "--tls-private-key-file=" + key.string()});
  EXPECT_EQ(served_cn(proxy.port()), "kube-apiserver");
  client before(proxy.port(), shared_pki());
  // Renew: key first, then certificate (a half-renewed pair must not be picked up).
  std::filesystem::copy_file(shared_pki() / "peer.key", key,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(shared_pki() / "peer.crt", cert,
                             std::filesystem::copy_options::overwrite_existing);
  EXPECT_TRUE(
      wait_until([&] { return served_cn(proxy.port()) == "peer"; }, std::chrono::seconds(10)))
      << proxy.output();
  EXPECT_EQ(before.get("/api").result_int(), 200);  // the open connection is untouched
  EXPECT_NE(proxy.output().find("reloaded"), std::string::npos);
}

}  // namespace
}  // namespace mvproxy::test
