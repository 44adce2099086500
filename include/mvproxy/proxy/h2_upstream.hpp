#pragma once
// HTTP/2 to an upstream (the local apiserver, a peer sidecar) that offers it in ALPN:
// one multiplexed connection per target carries many exchanges at once, with PING
// health checks as client-go's transport does. Each exchange gets a stream that it
// reads and writes as HTTP/1.1 bytes (a byte_stream), so the exchange, its retries,
// hand-backs and Status errors are the same whatever the upstream speaks: the request
// head it writes is sent as HTTP/2 fields and its body as DATA; the response's HEADERS
// and DATA are read back as an HTTP/1.1 head and body.
// Lives on its worker's thread.
//
// Files: h2_upstream_session.cpp (the connection: nghttp2 client session, read and
// write loops, PING), h2_upstream_stream.cpp (one exchange's stream).

#include <nghttp2/nghttp2.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>

#include "mvproxy/proxy/byte_stream.hpp"
#include "mvproxy/proxy/tls_stream.hpp"
#include "mvproxy/proxy/upstream.hpp"

namespace mvproxy::proxy {

struct worker;
class h2_upstream_session;

class h2_upstream_stream final : public byte_stream {
 public:
  explicit h2_upstream_stream(std::shared_ptr<h2_upstream_session> session);
  ~h2_upstream_stream() override;
  h2_upstream_stream(const h2_upstream_stream&) = delete;
  h2_upstream_stream& operator=(const h2_upstream_stream&) = delete;

  read_result try_read(void* data, std::size_t size) override;
  boost::asio::awaitable<std::pair<error_code, std::size_t>> read_some(void* data,
                                                                       std::size_t size) override;
  // The request as HTTP/1.1 bytes: its head first (sent as HEADERS once complete),
  // then its body without chunk framing (DATA). Once the final response has begun, the
  // rest of the body is not sent (the upstream answered early).
  boost::asio::awaitable<error_code> write(const void* data, std::size_t size) override;
  boost::asio::awaitable<error_code> wait_readable() override;
  void expires_after(clock::duration d) override;
  void expires_never() override;
  bool timed_out() const override { return timed_out_; }
  void cancel() override;
  void release_buffers() override;
  bool input_drained() const override { return in_off_ == in_.size(); }
  // A body of unannounced length has been written whole: the stream ends.
  void end_body();

 private:
  friend class h2_upstream_session;
  boost::asio::awaitable<error_code> write_head(std::string_view data, std::size_t& used);
  void write_body(std::string_view data);
  // Waits for wake(), the deadline or cancel().
  boost::asio::awaitable<error_code> wait_event();
  void wake();
  // The response, from the session's callbacks.
  void on_field(std::string_view name, std::string_view value);
  void on_headers_end(bool end_stream);
  void on_data(const std::uint8_t* data, std::size_t len);
  void on_end_stream();
  void on_close(std::uint32_t error_code);
  // Response body bytes read by the exchange: the upstream may send that much more.
  void give_back(std::size_t n);
  static ssize_t read_body(nghttp2_session* s, std::int32_t id, std::uint8_t* buf,
                           std::size_t length, std::uint32_t* flags, nghttp2_data_source* src,
                           void* user);

  std::shared_ptr<h2_upstream_session> session_;
  std::int32_t id_ = 0;  // 0 until the head is sent
  bool open_ = false;    // nghttp2 has the stream open
  std::string head_;     // the request head until its blank line
  bool head_method_ = false;
  // The request body not yet taken by nghttp2, past out_off_.
  std::string out_;
  std::size_t out_off_ = 0;
  bool out_done_ = false;
  std::optional<std::uint64_t> out_left_;  // of an announced length
  // The response as HTTP/1.1 bytes, read past in_off_.
  std::string in_;
  std::size_t in_off_ = 0;
  std::size_t in_data_ = 0;  // DATA bytes in in_ not yet given back to flow control
  bool in_done_ = false;
  error_code in_error_;  // the stream ended before the response did
  int status_ = 0;
  std::string fields_;
  bool has_length_ = false;
  bool final_seen_ = false;
  bool chunked_ = false;
  // Waits.
  boost::asio::steady_timer wake_;
  clock::time_point deadline_ = clock::time_point::max();
  bool timed_out_ = false;
  bool waiting_ = false;
  bool cancelled_ = false;
};

class h2_upstream_session : public std::enable_shared_from_this<h2_upstream_session> {
 public:
  // `conn` has negotiated "h2"; `authority` is used when a request has no Host.
  h2_upstream_session(worker& w, std::unique_ptr<upstream_connection> conn,
                      const upstream_target& target, std::string authority);
  ~h2_upstream_session();
  h2_upstream_session(const h2_upstream_session&) = delete;
  h2_upstream_session& operator=(const h2_upstream_session&) = delete;

  void start();
  // A new stream may be opened: the connection is alive, not going away, and the
  // upstream's stream limit leaves room.
  bool usable() const;
  // The connection has ended (closed, failed, unanswered PING, GOAWAY with no stream).
  bool ended() const { return ended_; }
  // The upstream closed the connection (it restarted) rather than us giving it up.
  bool closed_by_upstream() const { return closed_by_upstream_; }
  std::unique_ptr<upstream_connection> open_stream(const std::string& key);
  // Closes the connection now; its streams end with an error.
  void close();
  // Full by the limit assumed before the upstream's SETTINGS came: they may raise it,
  // so a request waits for them rather than dialing another connection.
  bool awaiting_settings() const { return !settings_seen_ && !ended_ && streams_ >= max_streams_; }

 private:
  friend class h2_upstream_stream;
  static int on_header(nghttp2_session*, const nghttp2_frame*, const std::uint8_t*, std::size_t,
                       const std::uint8_t*, std::size_t, std::uint8_t, void*);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame*, void*);
  static int on_data_chunk(nghttp2_session*, std::uint8_t, std::int32_t, const std::uint8_t*,
                           std::size_t, void*);
  static int on_stream_close(nghttp2_session*, std::int32_t, std::uint32_t, void*);
  static h2_upstream_stream* stream_of(nghttp2_session* s, std::int32_t id);

  boost::asio::awaitable<void> read_loop();
  boost::asio::awaitable<void> write_loop();
  boost::asio::awaitable<bool> flush();
  boost::asio::awaitable<void> keepalive_loop();
  void want_write();
  void end(bool by_upstream, const char* why);

  worker& worker_;
  std::unique_ptr<upstream_connection> conn_;
  tls_stream& tls_;
  std::string name_;
  upstream_target target_;
  std::string authority_;
  nghttp2_session* session_ = nullptr;
  std::size_t streams_ = 0;                               // h2_upstream_streams alive
  std::unordered_set<h2_upstream_stream*> open_streams_;  // with an nghttp2 stream open
  std::uint32_t max_streams_ = 100;  // until the upstream's SETTINGS say (as Go's client)
  bool settings_seen_ = false;
  bool ended_ = false;
  bool closed_by_upstream_ = false;
  bool going_away_ = false;
  bool idle_closing_ = false;  // unused too long: GOAWAY goes out, then it ends
  bool write_wanted_ = false;
  clock::time_point last_read_ = clock::now();
  clock::time_point idle_since_ = clock::now();
  bool ping_out_ = false;
  boost::asio::steady_timer write_signal_;
  boost::asio::steady_timer keepalive_;
  metrics::gauge* gauge_ = nullptr;
};

}  // namespace mvproxy::proxy
