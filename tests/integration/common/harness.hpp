#pragma once
// Integration harness: a fake upstream apiserver (a small Beast TLS server that records
// what reached it and answers as each test scripts), a TLS test client that can send
// raw bytes, and a launcher for the real mvproxy binary on port 0.

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test_process.hpp"

namespace mvproxy::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::ip::tcp;
using ssl_socket = asio::ssl::stream<tcp::socket>;

inline void set_io_timeout(tcp::socket& s, std::chrono::milliseconds t) {
  timeval tv{static_cast<time_t>(t.count() / 1000),
             static_cast<suseconds_t>((t.count() % 1000) * 1000)};
  setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(s.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

inline std::string cn_of(X509* cert) {
  if (!cert) return {};
  char buf[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
  return buf;
}

// What the fake upstream received: one entry per request.
struct recorded {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  // in order, as received
  std::string body;
  std::string client_cn;  // CN of the client certificate mvproxy presented
  int connection = 0;     // which upstream connection (1, 2, ...)

  std::vector<std::string> all(std::string_view name) const {
    std::vector<std::string> out;
    for (auto& [k, v] : headers)
      if (beast::iequals(k, name)) out.push_back(v);
    return out;
  }
  std::string get(std::string_view name) const {
    auto v = all(name);
    return v.empty() ? std::string() : v.front();
  }
  bool has(std::string_view name) const { return !all(name).empty(); }
};

// A connection of the fake upstream, handed to handlers to answer on.
class upstream_conn {
 public:
  explicit upstream_conn(ssl_socket& s) : s_(s) {}
  void write(std::string_view bytes) { asio::write(s_, asio::buffer(bytes)); }
  std::size_t read_some(char* buf, std::size_t n, beast::error_code& ec) {
    return s_.read_some(asio::buffer(buf, n), ec);
  }
  void respond(int status, std::string body,
               std::vector<std::pair<std::string, std::string>> headers = {}) {
    std::string out = "HTTP/1.1 " + std::to_string(status) + " X\r\n";
    for (auto& [k, v] : headers) out += k + ": " + v + "\r\n";
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    write(out);
  }
  bool close_after = false;  // set by a handler to end this connection after it

 private:
  ssl_socket& s_;
};

class fake_upstream {
 public:
  using handler = std::function<void(upstream_conn&, const recorded&)>;

  explicit fake_upstream(const std::filesystem::path& pki, std::string cert = "apiserver")
      : ctx_(asio::ssl::context::tls_server),
        acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        port_(acceptor_.local_endpoint().port()) {
    ctx_.use_certificate_chain_file((pki / (cert + ".crt")).string());
    ctx_.use_private_key_file((pki / (cert + ".key")).string(), asio::ssl::context::pem);
    ctx_.load_verify_file((pki / "front-proxy-ca.crt").string());
    ctx_.set_verify_mode(asio::ssl::verify_peer);  // requested; recorded, not required
    SSL_CTX_set_verify(ctx_.native_handle(), SSL_VERIFY_PEER,
                       [](int, X509_STORE_CTX*) { return 1; });
    acceptor_thread_ = std::thread([this] { accept_loop(); });
  }
  ~fake_upstream() { stop(); }

  // Kept from construction: still the port after stop() (refused) and restart().
  std::uint16_t port() const { return port_; }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port()); }

  // Handler for targets starting with `prefix` (longest prefix wins); default: 200 "ok".
  void on(std::string prefix, handler h) {
    std::lock_guard lock(mutex_);
    handlers_[std::move(prefix)] = std::move(h);
  }
  std::vector<recorded> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  // Client connections (1, 2, ...): counted on across restart(), never reset.
  int connections() const { return connections_.load(); }
  int closed_connections() const { return closed_.load(); }

  void stop() {
    if (stopped_.exchange(true)) return;
    // shutdown() wakes the blocked accept(); closing the descriptor alone would not.
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    if (acceptor_thread_.joinable()) acceptor_thread_.join();
    beast::error_code ec;
    acceptor_.close(ec);
    {
      std::lock_guard lock(mutex_);
      for (auto* s : open_) ::shutdown(s->native_handle(), SHUT_RDWR);
    }
    for (auto& t : threads_) t.join();
  }

  // As an apiserver restarts: every connection closed (FIN, no response to anything in
  // flight), then listening again on the same port. Until then the port refuses.
  void restart() {
    stop();
    threads_.clear();
    acceptor_.open(tcp::v4());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
    acceptor_.listen();
    stopped_ = false;
    acceptor_thread_ = std::thread([this] { accept_loop(); });
  }

 private:
  void accept_loop() {
    for (;;) {
      beast::error_code ec;
      tcp::socket s(ioc_);
      acceptor_.accept(s, ec);
      if (ec || stopped_) return;
      threads_.emplace_back([this, sock = std::move(s)]() mutable { serve(std::move(sock)); });
    }
  }

  // mvproxy's own control-plane calls (discovery reads, as system:mvproxy) are answered
  // with an empty aggregated discovery document and kept out of what tests count:
  // requests(), connections() and closed_connections() see client traffic only.
  static bool own_call(const bhttp::request<bhttp::string_body>& m) {
    auto it = m.find("X-Remote-User");
    return it != m.end() && it->value() == "system:mvproxy";
  }
  static void answer_own_call(upstream_conn& c) {
    c.respond(
        200,
        R"({"kind":"APIGroupDiscoveryList","apiVersion":"apidiscovery.k8s.io/v2","metadata":{},"items":[]})",
        {{"Content-Type", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"}});
  }

  void serve(tcp::socket sock) {
    int index = 0;  // assigned at the first client request
    ssl_socket s(std::move(sock), ctx_);
    {
      std::lock_guard lock(mutex_);
      open_.push_back(&s.next_layer());
      // Accepted just before stop() shut the open ones down: not left to linger.
      if (stopped_) ::shutdown(s.next_layer().native_handle(), SHUT_RDWR);
    }
    set_io_timeout(s.next_layer(), std::chrono::seconds(30));
    beast::error_code ec;
    s.handshake(asio::ssl::stream_base::server, ec);
    std::string cn;
    if (!ec) {
      X509* peer = SSL_get1_peer_certificate(s.native_handle());
      cn = cn_of(peer);
      X509_free(peer);
    }
    beast::flat_buffer buf;
    while (!ec && !stopped_) {
      bhttp::request_parser<bhttp::string_body> p;
      p.body_limit(boost::none);
      p.header_limit(4 << 20);
      bhttp::read(s, buf, p, ec);
      if (ec) break;
      auto& m = p.get();
      if (index == 0 && own_call(m)) {
        upstream_conn oc(s);
        try {
          answer_own_call(oc);
        } catch (const std::exception&) {
          break;
        }
        continue;
      }
      if (index == 0) index = ++connections_;
      recorded r;
      r.method = m.method_string();
      r.target = m.target();
      for (auto& f : m) r.headers.emplace_back(f.name_string(), f.value());
      r.body = m.body();
      r.client_cn = cn;
      r.connection = index;
      handler h;
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(r);
        std::size_t best = 0;
        for (auto& [prefix, fn] : handlers_)
          if (r.target.compare(0, prefix.size(), prefix) == 0 && prefix.size() >= best) {
            best = prefix.size();
            h = fn;
          }
      }
      upstream_conn c(s);
      // Anything a handler does may fail when mvproxy goes away; that ends the conn.
      try {
        // The tunnel handler hands the rest of the socket's bytes over with `buf`.
        if (h)
          h(c, r);
        else
          c.respond(200, "ok", {{"Content-Type", "text/plain"}});
      } catch (const std::exception&) {
        break;
      }
      if (c.close_after) break;
    }
    {
      std::lock_guard lock(mutex_);
      open_.erase(std::find(open_.begin(), open_.end(), &s.next_layer()));
    }
    beast::error_code ignored;
    s.next_layer().close(ignored);
    if (index != 0) ++closed_;
  }

  asio::io_context ioc_;
  asio::ssl::context ctx_;
  tcp::acceptor acceptor_;
  std::uint16_t port_;
  std::thread acceptor_thread_;
  std::vector<std::thread> threads_;
  mutable std::mutex mutex_;
  std::map<std::string, handler> handlers_;
  std::vector<recorded> requests_;
  std::vector<tcp::socket*> open_;
  std::atomic<int> connections_{0};
  std::atomic<int> closed_{0};
  std::atomic<bool> stopped_{false};
};

// A TLS client to mvproxy, optionally presenting one of the PKI's client certificates.
class client {
 public:
  client(std::uint16_t port, const std::filesystem::path& pki, const std::string& cert = "",
         std::chrono::milliseconds io_timeout = std::chrono::seconds(10))
      : ctx_(make_context(pki, cert)), s_(ioc_, ctx_) {
    s_.set_verify_mode(asio::ssl::verify_peer);
    s_.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    set_io_timeout(s_.next_layer(), io_timeout);
    s_.handshake(asio::ssl::stream_base::client);
  }

  void send(std::string_view raw) { asio::write(s_, asio::buffer(raw)); }

  // Reads one response (head and whole body).
  bhttp::response<bhttp::string_body> read_response(bool head_request = false) {
    bhttp::response_parser<bhttp::string_body> p;
    p.body_limit(boost::none);
    if (head_request) p.skip(true);
    bhttp::read(s_, buf_, p);
    return p.release();
  }

  bhttp::response<bhttp::string_body> get(
      const std::string& target, std::vector<std::pair<std::string, std::string>> headers = {}) {
    std::string raw = "GET " + target + " HTTP/1.1\r\nHost: kubernetes\r\n";
    for (auto& [k, v] : headers) raw += k + ": " + v + "\r\n";
    send(raw + "\r\n");
    return read_response();
  }

  // True when the server closed the connection (EOF or reset) within the deadline.
  bool closed_by_peer(std::chrono::milliseconds within = std::chrono::seconds(5)) {
    set_io_timeout(s_.next_layer(), within);
    char c;
    beast::error_code ec;
    for (;;) {
      // Drain anything still buffered (a response) until the connection ends.
      if (buf_.size()) buf_.consume(buf_.size());
      s_.read_some(asio::buffer(&c, 1), ec);
      if (ec)
        return ec != asio::error::would_block && ec != asio::error::try_again &&
               ec != asio::error::timed_out;
    }
  }

  ssl_socket& stream() { return s_; }

  // Goes away as a client process does: a TLS close_notify, then FIN, without waiting
  // for the server's close_notify. One run of the io_context writes the alert (the
  // shutdown then waits to read); the socket is closed under that read.
  void close_notify_then_fin() {
    s_.async_shutdown([](beast::error_code) {});
    ioc_.restart();
    ioc_.run_one_for(std::chrono::seconds(2));
    beast::error_code ec;
    s_.next_layer().shutdown(tcp::socket::shutdown_send, ec);
    s_.next_layer().close(ec);
    ioc_.restart();
    ioc_.poll();  // the aborted read ends the shutdown operation
  }

  // Goes away abruptly: SO_LINGER 0, so close() sends a TCP RST and no close_notify.
  void reset() {
    beast::error_code ec;
    s_.next_layer().set_option(asio::socket_base::linger(true, 0), ec);
    s_.next_layer().close(ec);
  }

  // The certificate must be in the context before the stream (its SSL) is made.
  static asio::ssl::context make_context(const std::filesystem::path& pki,
                                         const std::string& cert) {
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.load_verify_file((pki / "ca.crt").string());
    if (!cert.empty()) {
      ctx.use_certificate_chain_file((pki / (cert + ".crt")).string());
      ctx.use_private_key_file((pki / (cert + ".key")).string(), asio::ssl::context::pem);
    }
    return ctx;
  }
  beast::flat_buffer& buffer() { return buf_; }

 private:
  asio::io_context ioc_;
  asio::ssl::context ctx_;
  ssl_socket s_;
  beast::flat_buffer buf_;
};

// The real binary on port 0 in front of `upstream_url`.
class mvproxy_process {
 public:
  static std::string binary() { return std::string(MVPROXY_BIN_DIR) + "/mvproxy"; }

  mvproxy_process(const std::filesystem::path& pki, const std::filesystem::path& workdir,
                  const std::string& upstream_url, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {
        binary(),
        "--tls-cert-file=" + (pki / "apiserver.crt").string(),
        "--tls-private-key-file=" + (pki / "apiserver.key").string(),
        "--client-ca-file=" + (pki / "ca.crt").string(),
        "--requestheader-client-ca-file=" + (pki / "front-proxy-ca.crt").string(),
        "--requestheader-allowed-names=front-proxy-client",
        "--upstream=" + upstream_url,
        "--upstream-ca-file=" + (pki / "ca.crt").string(),
        "--proxy-client-cert-file=" + (pki / "front-proxy-client.crt").string(),
        "--proxy-client-key-file=" + (pki / "front-proxy-client.key").string(),
        "--feature-gates=UnknownVersionInteroperabilityProxy=false",
        "--bind-address=127.0.0.1",
        "--secure-port=0",
        "--admin-address=127.0.0.1:0",
        "--workers=2",
        "--shutdown-grace-period=5s",
    };
    for (auto& e : extra) argv.push_back(e);
    log_ = workdir / "mvproxy.log";
    proc_ = std::make_unique<process>(argv, log_);
    auto main = proc_->wait_for_output("(?:\"|: )listening on 127\\.0\\.0\\.1:(\\d+)");
    auto admin = proc_->wait_for_output("admin listening on 127\\.0\\.0\\.1:(\\d+)");
    if (!main || !admin) throw std::runtime_error("mvproxy did not start: " + proc_->output());
    port_ = static_cast<std::uint16_t>(std::stoi((*main)[1]));
    admin_port_ = static_cast<std::uint16_t>(std::stoi((*admin)[1]));
  }

  std::uint16_t port() const { return port_; }
  std::uint16_t admin_port() const { return admin_port_; }
  process& proc() { return *proc_; }
  std::string output() const { return proc_->output(); }

  // GET on the admin address with curl; returns the body (or curl's error).
  command_result admin_get(const std::string& path) const {
    return run_command("curl -sS --max-time 5 http://127.0.0.1:" + std::to_string(admin_port_) +
                       path);
  }

 private:
  std::unique_ptr<process> proc_;
  std::filesystem::path log_;
  std::uint16_t port_ = 0, admin_port_ = 0;
};

// A PKI shared by every test of one executable (making one costs ~1 s).
inline const std::filesystem::path& shared_pki() {
  static temp_dir dir;
  static bool made = [] {
    make_pki(dir.path(), {"peer"});
    return true;
  }();
  (void)made;
  return dir.path();
}

}  // namespace mvproxy::test
