#pragma once
// What session's source files share (session.cpp: the connection and its requests;
// session_forward.cpp: a request through its plan's targets; session_relay.cpp: bodies
// and response heads; session_tunnel.cpp: upgrades; session_wait.cpp: waits on the
// cluster view; worker.cpp). Private to src/proxy.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "mvproxy/proxy/session.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on Asio's coroutine frames (sized
// operator delete of awaitable_frame_base) when it inlines deeply, as here at -O2.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace mvproxy::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// One read's worth of relayed bytes; a head and body up to this size leave as one write.
constexpr std::size_t relay_read_bytes = 64 * 1024;
constexpr std::size_t coalesce_bytes = 16 * 1024;

struct session::exchange {
  std::string method = "-";
  std::string path = "-";
  // Audit-ID: the client's or a new one (http::audit_id_for); sent on every hop and
  // on the response. Empty only when the head could not be parsed.
  std::string audit_id;
  int status = 0;
  std::string route = "local";
  std::uint64_t bytes = 0;
  clock::time_point start = clock::now();
  // Set when the request went (or should have gone) to a peer: counted in
  // apiserver_rerouted_request_total{code,group,version,resource}.
  bool rerouted = false;
  std::string group, version, resource;
  // An HTTP/1.0 client cannot read chunked framing (RFC 9112 §6.1): a chunked response
  // reaches it de-chunked, delimited by closing the connection.
  bool client_http10 = false;
};

struct session::tunnel_state {
  explicit tunnel_state(const asio::any_io_executor& ex) : watchdog(ex) {}
  clock::time_point last_activity = clock::now();
  int running = 2;
  asio::steady_timer watchdog;
};

// Counts a request to a peer in flight for as long as it is being served.
struct peer_in_flight {
  explicit peer_in_flight(const std::shared_ptr<view::peer_runtime>& r) : r_(r) {
    if (r_) r_->in_flight().fetch_add(1, std::memory_order_relaxed);
  }
  ~peer_in_flight() {
    if (r_) r_->in_flight().fetch_sub(1, std::memory_order_relaxed);
  }
  peer_in_flight(const peer_in_flight&) = delete;
  peer_in_flight& operator=(const peer_in_flight&) = delete;
  std::shared_ptr<view::peer_runtime> r_;
};

// Counts a request in flight for exactly as long as it is being served.
struct in_flight {
  explicit in_flight(metrics::gauge& g) : g_(g) { g_.inc(); }
  ~in_flight() { g_.dec(); }
  in_flight(const in_flight&) = delete;
  in_flight& operator=(const in_flight&) = delete;
  metrics::gauge& g_;
};

inline bool is_eof(const error_code& ec) {
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
}

}  // namespace mvproxy::proxy
