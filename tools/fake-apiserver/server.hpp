#pragma once

#include <deque>
// The I/O shell: one TLS listener per instance over one shared store, the plain-HTTP
// control listener for fault injection, and the request log. One io_context thread,
// so the store and instance state need no locks.

#include "api.hpp"
#include "options.hpp"
#include "request_log.hpp"
#include "tls.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <filesystem>
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

// Lets /stop reach live connections: close the socket, wake a waiting watch.
struct connection_handle {
  tls_stream* stream = nullptr;
  net::steady_timer* wake = nullptr;
  bool closed = false;
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
  net::awaitable<void> session(std::shared_ptr<instance_state> inst, tcp::socket socket);
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
};

}  // namespace fake_apiserver
