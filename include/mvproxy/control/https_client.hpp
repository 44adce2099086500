#pragma once
// mvproxy's own API calls (control plane: discovery reads, Lease writes, Lease watch):
// HTTPS/1.1 with a verified server certificate and a client certificate, one keep-alive
// connection reused between calls. Low rate, so simple; failures throw
// (boost::system::system_error or std::runtime_error) — "exceptions on the control
// plane" — and the caller's loop decides when to retry.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/verb.hpp>

namespace mvproxy::control {

struct tls_client_files {
  std::string ca_file;    // verify the server against this bundle; empty: system store
  std::string cert_file;  // client certificate; empty: none
  std::string key_file;
  // PEM in memory (kubeconfig *-data fields); used where the matching file is empty.
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
};

// Reads the files now (so renewed certificates are picked up by the next connection).
std::shared_ptr<boost::asio::ssl::context> make_client_tls_context(const tls_client_files& f);

struct http_request {
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string target;  // path + query
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type;  // set when body is not empty
};

struct http_response {
  unsigned status = 0;
  boost::beast::http::fields headers;
  std::string body;
  std::string header(std::string_view name) const;
};

class https_client {
 public:
  struct options {
    std::string host;
    std::uint16_t port = 0;
    std::string verify_name;  // name checked on the server certificate; empty: host
    std::function<std::shared_ptr<boost::asio::ssl::context>()> tls;  // per connection
    std::chrono::milliseconds timeout{10'000};  // per request (connect..last byte)
    std::vector<std::pair<std::string, std::string>> default_headers;  // on every request
  };

  https_client(boost::asio::any_io_executor ex, options o);
  ~https_client();
  https_client(const https_client&) = delete;
  https_client& operator=(const https_client&) = delete;

  // One request, whole response body in memory (discovery documents, Leases).
  boost::asio::awaitable<http_response> request(http_request r);

  // A streaming request (watch): `on_line` gets each complete newline-terminated line
  // of the body as it arrives; `on_head` the status and headers before the first line.
  // Returns when the server ends the response, or throws. Uses its own connection.
  // `idle_timeout` bounds the silence between bytes.
  boost::asio::awaitable<unsigned> stream_lines(
      http_request r, std::function<void(const http_response& head)> on_head,
      std::function<void(std::string_view line)> on_line, std::chrono::milliseconds idle_timeout);

  // Closes the kept-alive connection (e.g. after the peer restarted).
  void reset();

  // Between requests: waits on the kept-alive connection until the server closes it or
  // sends anything unasked — it went away —, `max` passes, or wake() is called.
  // Without a kept-alive connection it only waits.
  enum class watch_end { closed, timeout, woken };
  boost::asio::awaitable<watch_end> watch_connection(std::chrono::milliseconds max);
  void wake();  // on the client's executor
  const options& opts() const { return opts_; }

 private:
  struct connection;
  boost::asio::awaitable<std::unique_ptr<connection>> connect();

  boost::asio::any_io_executor ex_;
  options opts_;
  std::unique_ptr<connection> conn_;
  std::shared_ptr<boost::asio::steady_timer> watch_timer_;
};

}  // namespace mvproxy::control
