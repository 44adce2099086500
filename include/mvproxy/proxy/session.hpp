#pragma once
// One client connection: TLS handshake, caller classification, then requests one after
// another (keep-alive), each relayed to an upstream and streamed back, or an upgrade
// tunnelled. Lives entirely on its worker's io_context.

#include <spdlog/logger.h>

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <list>
#include <optional>
#include <vector>

#include "mvproxy/http/framing.hpp"
#include "mvproxy/http/headers.hpp"
#include "mvproxy/proxy/server.hpp"

namespace mvproxy::proxy {

// Read-only after start, shared by every worker.
struct shared_state {
  server_options options;
  tls::provider& tls;
  metrics::standard_metrics& metrics;
  std::shared_ptr<spdlog::logger> log;
  std::shared_ptr<spdlog::logger> access;
  std::atomic<std::uint64_t> next_id{1};
  std::atomic<std::size_t> live_sessions{0};
};

class session;

struct worker {
  worker(shared_state& s)
      : shared(s), pool(s.options.lim, &s.metrics.upstream_connections) {}
  shared_state& shared;
  boost::asio::io_context ioc{1};
  upstream_pool pool;
  std::list<session*> sessions;  // for drain/terminate
  bool draining = false;
};

class session {
 public:
  session(worker& w, boost::asio::ip::tcp::socket socket, std::shared_ptr<tls::server_context> ctx);
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  boost::asio::awaitable<void> run();
  // Drain: a connection waiting for its next request is closed now; a busy one after
  // its current response.
  void close_if_idle();
  // Grace period over: end what is in flight (chunked responses are ended cleanly).
  void terminate();

 private:
  using request_parser = boost::beast::http::request_parser<boost::beast::http::buffer_body>;
  using response_parser = boost::beast::http::response_parser<boost::beast::http::buffer_body>;
  enum class head_result { complete, closed, timeout, bad, too_large };

  struct exchange;  // per-request bookkeeping for logs and metrics

  boost::asio::awaitable<head_result> read_head(bool first, std::size_t& head_size,
                                                std::string_view& reason);
  boost::asio::awaitable<bool> serve_one(bool first);
  boost::asio::awaitable<bool> forward(request_parser& parser, exchange& ex);
  boost::asio::awaitable<bool> forward_upgrade(request_parser& parser, exchange& ex);
  boost::asio::awaitable<void> send_status(int code, std::string message, bool retry_after,
                                           bool keep_alive, exchange& ex);
  boost::asio::awaitable<void> send_answer(const dispatch::answer& a, bool head_request,
                                           bool keep_alive, exchange& ex);
  dispatch::plan plan_for(request_parser& parser, exchange& ex);
  // The upstream for plan target `i`, and the request headers that go with it.
  const upstream_target& prepare_target(const dispatch::plan& plan, std::size_t i,
                                        upstream_target& storage,
                                        boost::beast::http::request_header<>& req, exchange& ex);
  void note_peer_failure(const dispatch::plan& plan, std::size_t i, failure kind);
  boost::asio::awaitable<bool> relay_response(response_parser& rp, upstream_connection& up,
                                              bool head_request, bool keep_alive, exchange& ex);
  boost::asio::awaitable<void> tunnel(upstream_connection& up);
  struct tunnel_state;
  boost::asio::awaitable<void> pump(ssl_stream& from, ssl_stream& to, bool from_client,
                                    tunnel_state& st);
  boost::asio::awaitable<void> idle_watch(upstream_connection& up, tunnel_state& st);
  enum class body_result { done, client_failed, upstream_failed };
  boost::asio::awaitable<body_result> relay_request_body(
      request_parser& parser,
      boost::beast::http::request_serializer<boost::beast::http::buffer_body>& sr,
      upstream_connection& up);
  boost::asio::awaitable<void> close_client();
  void finish(exchange& ex);

  worker& worker_;
  shared_state& shared_;
  ssl_stream client_;
  std::shared_ptr<tls::server_context> tls_ctx_;
  std::uint64_t id_;
  std::list<session*>::iterator registration_;
  boost::beast::flat_buffer client_buf_;
  std::vector<char> relay_buf_;
  http::head_scanner scanner_;
  bool trusted_peer_ = false;
  std::optional<http::client_identity> identity_;
  bool idle_ = true;          // waiting for the first byte of a request head
  bool terminating_ = false;  // grace period over
  upstream_connection* current_upstream_ = nullptr;
};

}  // namespace mvproxy::proxy
