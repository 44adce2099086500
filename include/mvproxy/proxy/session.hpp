#pragma once
// One client connection: TLS handshake, caller classification, then request heads one
// after another (keep-alive, pipelining), each served by an exchange that sees this
// connection as its client_side; drain and terminate. Lives entirely on its worker's
// io_context.

#include <spdlog/logger.h>

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <list>
#include <optional>
#include <string>
#include <vector>

#include "mvproxy/http/framing.hpp"
#include "mvproxy/http/headers.hpp"
#include "mvproxy/http/relay.hpp"
#include "mvproxy/proxy/client_side.hpp"
#include "mvproxy/proxy/exchange.hpp"
#include "mvproxy/proxy/local_reply.hpp"
#include "mvproxy/proxy/server.hpp"
#include "mvproxy/proxy/tls_stream.hpp"
#include "mvproxy/proxy/worker.hpp"

namespace mvproxy::proxy {

class exchange;
class h2_connection;

// The HTTP/1.1 codec of one client connection, and the client side of the exchange it
// is serving (one at a time: HTTP/1.1 has no multiplexing).
class session final : public client_side {
 public:
  session(worker& w, boost::asio::ip::tcp::socket socket, std::shared_ptr<tls::server_context> ctx);
  ~session() override;
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  boost::asio::awaitable<void> run();
  // Drain: a connection waiting for its next request is closed now; a busy one after
  // its current response.
  void close_if_idle();
  // Grace period over: end what is in flight (chunked responses are ended cleanly).
  void terminate();

  // client_side, for the request being served.
  boost::beast::http::request_header<>& request() override;
  bool wants_keep_alive() const override;
  bool body_pending() const override;
  bool body_chunked() const override;
  bool http10() const override { return http10_; }
  std::string_view protocol() const override { return http10_ ? "HTTP/1.0" : "HTTP/1.1"; }
  boost::asio::awaitable<bool> send_continue() override;
  boost::asio::awaitable<relay_end> send_body(byte_stream& to, std::string_view head,
                                              bool chunked_out) override;
  boost::asio::awaitable<bool> write_response(response_start& start,
                                              std::string_view body) override;
  boost::asio::awaitable<relay_end> relay_response(response_start& start,
                                                   http::response_relay_parser& rp,
                                                   upstream_connection& up,
                                                   std::uint64_t& bytes) override;
  boost::asio::awaitable<void> tunnel(response_start& start, upstream_connection& up) override;

 private:
  using request_parser = http::request_relay_parser;
  enum class head_result { complete, closed, timeout, bad, too_large };

  boost::asio::awaitable<head_result> read_head(bool first, std::size_t& head_size,
                                                std::string_view& reason);
  boost::asio::awaitable<bool> serve_one(bool first);
  // The connection once ALPN chose h2. Its own coroutine: a local h2_connection would
  // take room in every session's frame, HTTP/1.1 ones and their idle watches too.
  boost::asio::awaitable<void> run_h2();
  // A request that could not be read: answered and logged; the connection ends.
  boost::asio::awaitable<void> refuse(const local_reply& r);
  // `start` framed for this connection: Transfer-Encoding, Connection, the blank line.
  // Takes start.head.
  std::string framed_head(response_start& start);
  // Writes a head and a body as one record when they are small.
  boost::asio::awaitable<error_code> write_message(byte_stream& to, std::string_view head,
                                                   std::string_view body);
  // A body from `from` to `to` through the worker's scratch buffer, `head` written
  // first (with the first body bytes when they are at hand), re-framed as chunks when
  // `chunked_out`. With `watch_client`, `from` is an upstream and the client is
  // watched for leaving while we wait on it.
  struct relay_run {
    byte_stream& from;
    byte_stream& to;
    std::string& pending;   // read from `from`, not yet parsed
    std::string_view head;  // not yet written
    bool chunked_out = false;
    bool watch_client = false;
    std::uint64_t& bytes;  // body bytes relayed
    bool head_sent = false;
    bool first_wait = true;
  };
  template <class Parser>
  boost::asio::awaitable<relay_end> relay_body(relay_run& r, Parser& p);
  boost::asio::awaitable<std::optional<relay_end>> wait_for_bytes(relay_run& r);
  boost::asio::awaitable<error_code> write_out(relay_run& r, std::string_view data);
  // While a response streams, the client is watched by a plain wait on its socket
  // (no coroutine, no buffer): if it closes, the upstream wait is cancelled and the
  // relay ends. Bytes it sends are kept as the start of its next request.
  struct client_watch {
    session* owner = nullptr;  // null once nobody listens (the wait's handler outlives it)
  };
  void arm_client_watch();
  void disarm_client_watch();
  // Reads what the client sent: false when it is gone. Also releases the client's
  // OpenSSL read buffer while nothing is pending.
  bool poll_client();
  struct tunnel_state;
  boost::asio::awaitable<void> pump(tls_stream& from, tls_stream& to, bool from_client,
                                    tunnel_state& st);
  boost::asio::awaitable<void> idle_watch(upstream_connection& up, tunnel_state& st);
  void close_client();

  worker& worker_;
  shared_state& shared_;
  std::shared_ptr<tls::server_context> tls_ctx_;  // before client_: it owns the SSL_CTX
  tls_stream client_;
  std::uint64_t id_;
  std::list<session*>::iterator registration_;
  std::string client_buf_;  // read from the client, not yet used (a head, pipelined bytes)
  http::head_scanner scanner_;
  caller_info caller_;
  bool idle_ = true;          // waiting for the first byte of a request head
  bool terminating_ = false;  // grace period over
  // The request being served and its exchange.
  request_parser* parser_ = nullptr;
  exchange* current_ = nullptr;
  bool http10_ = false;
  bool close_after_ = false;     // a response said Connection: close
  bool reset_on_close_ = false;  // a response was cut upstream: end with a reset
  std::shared_ptr<client_watch> watch_;
  bool client_left_ = false;
  byte_stream* relay_from_ = nullptr;  // the upstream a watched relay waits on
  h2_connection* h2_ = nullptr;        // ALPN chose HTTP/2: the connection is its
};

}  // namespace mvproxy::proxy
