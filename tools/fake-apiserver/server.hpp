#pragma once
// The I/O shell: one TLS listener per instance over one shared store, the plain-HTTP
// control listener for fault injection, and the request log. One io_context thread,
// so the store and instance state need no locks. A connection speaks HTTP/1.1
// (http_session.cpp) or HTTP/2 (http2_session.cpp), as ALPN decided; both hand every
// request to server::dispatch (dispatch.cpp).

#include "api.hpp"
#include "options.hpp"
#include "request_log.hpp"
#include "tls.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace fake_apiserver {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;

inline constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

inline std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Request bodies above this are refused (HTTP/1.1: the connection ends; HTTP/2: 413).
constexpr size_t request_body_limit = 64 * 1024 * 1024;

// Lets /stop reach live connections: `cut` ends the connection (closes an HTTP/1.1
// socket; GOAWAY then close for HTTP/2), and every waiting timer is woken.
struct connection_handle {
  std::function<void()> cut;
  std::set<net::steady_timer*> timers;  // latency delays, watches
  bool closed = false;
};

// Registers a timer with its connection for as long as it waits.
class wake_on_cut {
 public:
  wake_on_cut(connection_handle& h, net::steady_timer& t) : h_(h), t_(t) { h_.timers.insert(&t_); }
  ~wake_on_cut() { h_.timers.erase(&t_); }
  wake_on_cut(const wake_on_cut&) = delete;
  wake_on_cut& operator=(const wake_on_cut&) = delete;

 private:
  connection_handle& h_;
  net::steady_timer& t_;
};

// Who is on the other end of a connection, for every request it carries.
struct connection_info {
  client_cert cert;
  uint64_t id = 0;    // the request log's "conn"
  std::string proto;  // the request log's "proto": "HTTP/1.1", "HTTP/2.0"
};

// What dispatch made of a request: the handler's answer and its log entry (written by
// the caller once the status is final), or `cut` when the connection ended meanwhile.
struct dispatched {
  api_result result;
  request_record record;
  bool cut = false;
};

struct instance_state {
  std::string name;
  std::shared_ptr<const api_profile> profile;
  std::unique_ptr<net::ssl::context> tls;
  unsigned short port = 0;
  std::shared_ptr<tcp::acceptor> acceptor;  // null while stopped
  int fail_code = 0;
  int latency_ms = 0;
  std::set<connection_handle*> connections;
};

// The Status an instance answers with while /fail is in effect.
response injected_failure(int code);

class http2_connection;

class server : public std::enable_shared_from_this<server> {
 public:
  // Throws std::runtime_error (one line, naming the file) on unusable files.
  server(net::io_context& ioc, const options& opts);

  // Binds every listener and starts serving; returns the lines to print.
  std::vector<std::string> start();

  // Control API: method + target ("/instances/old/stop") → response.
  response control(const std::string& method, const std::string& target);

 private:
  std::shared_ptr<const api_profile> profile(const std::string& name);
  void listen(const std::shared_ptr<instance_state>& inst);
  void stop(instance_state& inst);

  net::awaitable<void> accept_loop(std::shared_ptr<instance_state> inst,
                                   std::shared_ptr<tcp::acceptor> acceptor);
  friend class http2_connection;
  net::awaitable<void> session(std::shared_ptr<instance_state> inst, tcp::socket socket);
  net::awaitable<void> serve_http1(std::shared_ptr<instance_state> inst, tls_stream& stream,
                                   connection_handle& handle, connection_info conn);
  // The request handling both protocols share: latency, authentication, the API.
  net::awaitable<dispatched> dispatch(std::shared_ptr<instance_state> inst,
                                      const connection_info& conn, api_request& areq,
                                      connection_handle& handle);
  net::awaitable<void> serve_watch(tls_stream& stream, unsigned http_version, watch_plan plan,
                                   connection_handle& handle);
  net::awaitable<void> watch_events(tls_stream& stream, const watch_plan& plan,
                                    connection_handle& handle, std::deque<std::string>& pending,
                                    net::steady_timer& wake);
  net::awaitable<void> wait_for_hangup(tls_stream& stream);
  net::awaitable<void> serve_exec(tls_stream& stream, const http::request<http::string_body>& req,
                                  const exec_plan& plan, const std::string& pod_name);
  net::awaitable<void> control_loop(std::shared_ptr<tcp::acceptor> acceptor);
  net::awaitable<void> control_session(tcp::socket socket);

  net::io_context& ioc_;
  std::filesystem::path fixtures_dir_;
  ca_bundle client_ca_;
  ca_bundle requestheader_ca_;
  auth_config auth_;
  object_store store_;
  api_handler api_;
  request_log log_;
  std::map<std::string, std::shared_ptr<const api_profile>> profiles_;
  std::vector<std::shared_ptr<instance_state>> instances_;
  std::string control_address_;
  uint64_t next_connection_id_ = 0;
};

}  // namespace fake_apiserver
