#pragma once
// An HTTP/2 client connection (ALPN "h2"), with nghttp2 as the codec. Every stream is
// the client side of its own exchange, so a request is served exactly as one on an
// HTTP/1.1 connection; what is HTTP/2's own lives here: flow control, PING, GOAWAY,
// and the limits against floods. Lives on its worker's thread, inside the session
// that accepted the connection.
//
// Files: h2_connection.cpp (the session, its callbacks, reading and writing),
// h2_stream.cpp (a stream as client_side).

#include <nghttp2/nghttp2.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "mvproxy/http/h2_fields.hpp"
#include "mvproxy/proxy/client_side.hpp"
#include "mvproxy/proxy/exchange.hpp"
#include "mvproxy/proxy/worker.hpp"

namespace mvproxy::proxy {

class h2_connection;

class h2_stream final : public client_side {
 public:
  h2_stream(h2_connection& conn, std::int32_t id);

  boost::beast::http::request_header<>& request() override { return req_.head(); }
  bool wants_keep_alive() const override { return true; }
  bool body_pending() const override { return !in_done_ || !in_.empty(); }
  bool body_chunked() const override { return req_.body_chunked(); }
  bool http10() const override { return false; }
  std::string_view protocol() const override { return "HTTP/2.0"; }
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
  friend class h2_connection;
  // Submits the response head; with `has_body`, DATA follows from out_.
  bool submit(response_start& start, bool has_body);
  boost::asio::awaitable<relay_end> pump_response(http::response_relay_parser& rp,
                                                  upstream_connection& up, std::uint64_t& bytes);
  // Wakes whatever the stream's exchange waits for (body bytes, room in out_, close).
  void wake();
  boost::asio::awaitable<void> wait();
  // The same, bounded: false when `deadline` passed first.
  boost::asio::awaitable<bool> wait_until(clock::time_point deadline);
  // The response bytes waiting for the client's window, past `out_off_`.
  std::size_t out_pending() const { return out_.size() - out_off_; }
  // nghttp2 asks for the next DATA payload.
  static ssize_t read_data(nghttp2_session* s, std::int32_t id, std::uint8_t* buf,
                           std::size_t length, std::uint32_t* flags, nghttp2_data_source* src,
                           void* user);

  h2_connection& conn_;
  std::int32_t id_;
  http::h2_request_builder req_;
  std::string in_;        // request body received, not yet relayed
  bool in_done_ = false;  // the client ended the stream
  std::string out_;       // response body not yet taken by nghttp2
  std::size_t out_off_ = 0;
  bool out_done_ = false;       // the response body is complete
  bool responded_ = false;      // a response head was submitted
  bool closed_ = false;         // nghttp2 closed the stream (done, or reset by the client)
  bool running_ = false;        // its exchange is running
  std::size_t head_bytes_ = 0;  // the header block's size so far
  bool too_large_ = false;      // over limits::max_head_bytes: 431
  boost::asio::steady_timer wake_;
  byte_stream* relay_from_ = nullptr;  // the upstream a relay waits on
  exchange* exchange_ = nullptr;
};

class h2_connection {
 public:
  h2_connection(worker& w, tls_stream& client, const caller_info& caller, std::uint64_t id);
  ~h2_connection();
  h2_connection(const h2_connection&) = delete;
  h2_connection& operator=(const h2_connection&) = delete;

  // Serves the connection until it ends; every stream's exchange has ended then.
  boost::asio::awaitable<void> run();
  // Drain: GOAWAY; streams already begun are served, no new one is taken.
  void close_if_idle();
  // Grace period over: every exchange ends now.
  void terminate();

 private:
  friend class h2_stream;
  // nghttp2's callbacks (user data: the connection).
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame*, void*);
  static int on_header(nghttp2_session*, const nghttp2_frame*, const std::uint8_t*, std::size_t,
                       const std::uint8_t*, std::size_t, std::uint8_t, void*);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame*, void*);
  static int on_data_chunk(nghttp2_session*, std::uint8_t, std::int32_t, const std::uint8_t*,
                           std::size_t, void*);
  static int on_stream_close(nghttp2_session*, std::int32_t, std::uint32_t, void*);
  static int on_error(nghttp2_session*, int, const char*, std::size_t, void*);

  void start_session();
  boost::asio::awaitable<void> read_loop();
  boost::asio::awaitable<void> write_loop();
  boost::asio::awaitable<bool> flush();
  boost::asio::awaitable<void> wait_signal();
  boost::asio::awaitable<void> keepalive_loop();
  boost::asio::awaitable<void> serve_stream(h2_stream* s);
  bool take_reset_token();
  // Frames are waiting to be written: the write loop runs.
  void want_write();
  // Nothing more to read or write: the connection ends.
  bool finished() const;
  void end_all();

  worker& worker_;
  shared_state& shared_;
  tls_stream& client_;
  const caller_info& caller_;
  std::uint64_t id_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<std::int32_t, std::unique_ptr<h2_stream>> streams_;
  int running_ = 0;  // exchanges running
  bool write_wanted_ = false;
  bool writing_ = true;            // the write loop runs
  bool transport_failed_ = false;  // a read or write failed, or PING went unanswered
  bool closing_ = false;           // every exchange has ended: the last frames go out
  bool terminating_ = false;
  clock::time_point last_read_ = clock::now();
  clock::time_point idle_since_ = clock::now();  // no stream open since
  bool ping_out_ = false;
  std::int32_t goaway_last_id_ = 0x7fffffff;  // the last stream our GOAWAY took
  double reset_tokens_ = 1000;                // see take_reset_token
  clock::time_point reset_refill_ = clock::now();
  boost::asio::steady_timer write_signal_;
  boost::asio::steady_timer exchanges_done_;
  boost::asio::steady_timer keepalive_;
};

}  // namespace mvproxy::proxy
