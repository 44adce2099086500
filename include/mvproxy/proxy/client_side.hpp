#pragma once
// What a request's exchange sees of its client: the request, and ways to answer it.
// An HTTP/1.1 connection (session) is one today; an HTTP/2 stream can be another. The
// exchange never touches the client's socket or its framing: chunk lines, Connection:
// close and the 100 Continue line are the client side's.

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "mvproxy/http/relay.hpp"
#include "mvproxy/proxy/tls_stream.hpp"
#include "mvproxy/proxy/upstream.hpp"

namespace mvproxy::proxy {

// How relaying a body ended: `from` failed to deliver it (closed early, timed out) or
// sent what is not HTTP (a bad chunk line: from_malformed), `to` did not take it, or the
// client went away while we waited.
enum class relay_end { done, from_failed, from_malformed, to_failed, client_gone };

// A response head as the exchange hands it over: the status line and the end-to-end
// fields, each line CRLF-terminated, without the blank line and without framing or
// connection fields (the client side adds its own). The client side may take `head`.
struct response_start {
  std::string head;
  bool chunked = false;     // the upstream framed the body as chunks: its length is unknown
  bool keep_alive = true;   // the connection may serve another request after this one
  bool final_head = false;  // the whole response is the head (HEAD, 204, 304, empty body)
};

class client_side {
 public:
  virtual ~client_side() = default;

  // The request head as received; the exchange rewrites it for the next hop.
  virtual boost::beast::http::request_header<>& request() = 0;
  virtual bool wants_keep_alive() const = 0;
  // Part of the request body has not been read yet.
  virtual bool body_pending() const = 0;
  // The request body's length was not announced (it arrives as chunks).
  virtual bool body_chunked() const = 0;
  // An HTTP/1.0 client: it cannot read chunks, so such a body ends with the connection.
  virtual bool http10() const = 0;
  // "HTTP/1.1", "HTTP/2.0" (as Go's Request.Proto), for the access line.
  virtual std::string_view protocol() const = 0;

  // Tells a client that asked for it (Expect: 100-continue) to send its body; false
  // when the client is gone.
  virtual boost::asio::awaitable<bool> send_continue() = 0;
  // Writes `head` (the request head for the upstream, empty when already sent) and
  // then the request body to `to`, framed as chunks when `chunked_out`.
  virtual boost::asio::awaitable<relay_end> send_body(byte_stream& to, std::string_view head,
                                                      bool chunked_out) = 0;

  // A whole response made here.
  virtual boost::asio::awaitable<bool> write_response(response_start& start,
                                                      std::string_view body) = 0;
  // An upstream's response: `start`, then the body `rp` parses from `up`. `bytes`
  // counts the body bytes delivered. While it streams, a client that leaves ends it.
  virtual boost::asio::awaitable<relay_end> relay_response(response_start& start,
                                                           http::response_relay_parser& rp,
                                                           upstream_connection& up,
                                                           std::uint64_t& bytes) = 0;
  // 101 Switching Protocols: writes `start` and joins the client to `up` until either
  // ends or it idles out. Only an HTTP/1.1 connection can.
  virtual boost::asio::awaitable<void> tunnel(response_start& start, upstream_connection& up) = 0;

  // How long send_body may wait for the client's next body bytes and relay_response
  // for the upstream's: the exchange sets it from the request's kind (--request-timeout
  // for an ordinary request, the stream limit for a long-running one).
  void read_idle_timeout(std::chrono::milliseconds t) { read_idle_ = t; }

 protected:
  std::chrono::milliseconds read_idle_{60'000};
};

}  // namespace mvproxy::proxy
