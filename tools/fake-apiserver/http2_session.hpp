#pragma once
// HTTP/2 on an instance's TLS connection (ALPN "h2"), with nghttp2 as the codec, as
// kube-apiserver serves it (Go's x/net/http2 with kube's settings): every stream's
// request goes through server::dispatch as an HTTP/1.1 request does; watches stream
// one DATA frame per event; upgrades (exec) cannot happen on HTTP/2 and get a 400.

#include "server.hpp"

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>

// GCC 12 reports a false -Wmismatched-new-delete on Asio's coroutine frames (sized
// operator delete of awaitable_frame_base) when it inlines deeply, as here at -O2.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace fake_apiserver {

// Serves the connection until the client, a protocol error or /stop ends it.
// Stream work may outlive the session's frame when the process exits: it shares the
// server and the handle.
net::awaitable<void> serve_http2(std::shared_ptr<server> srv, std::shared_ptr<instance_state> inst,
                                 tls_stream& stream, std::shared_ptr<connection_handle> handle,
                                 connection_info conn);

class http2_connection : public std::enable_shared_from_this<http2_connection> {
 public:
  http2_connection(std::shared_ptr<server> srv, std::shared_ptr<instance_state> inst,
                   tls_stream& stream, std::shared_ptr<connection_handle> handle,
                   connection_info conn);
  ~http2_connection();
  http2_connection(const http2_connection&) = delete;
  http2_connection& operator=(const http2_connection&) = delete;

  // Returns once the connection is over and every stream's work has ended.
  net::awaitable<void> run();
  // /stop: GOAWAY, then the connection closes (at once if the GOAWAY cannot be written).
  void cut();

 private:
  struct stream_state {
    int32_t id = 0;
    api_request req;
    bool too_large = false;
    bool closed = false;                // closed or reset: nothing more may be submitted
    std::deque<std::string> out;        // body pieces not yet framed: at most one per DATA frame
    size_t out_offset = 0;              // into out.front()
    bool out_end = false;               // END_STREAM once `out` is drained
    net::steady_timer* wake = nullptr;  // a watch's timer: woken when the stream closes
  };
  using stream_ptr = std::shared_ptr<stream_state>;

  // nghttp2 callbacks; `user` is the connection.
  static int on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame, void* user);
  static int on_header(nghttp2_session* session, const nghttp2_frame* frame, const uint8_t* name,
                       size_t namelen, const uint8_t* value, size_t valuelen, uint8_t flags,
                       void* user);
  static int on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user);
  static int on_data_chunk(nghttp2_session* session, uint8_t flags, int32_t stream_id,
                           const uint8_t* data, size_t len, void* user);
  static int on_stream_close(nghttp2_session* session, int32_t stream_id, uint32_t error_code,
                             void* user);
  static ssize_t read_body(nghttp2_session* session, int32_t stream_id, uint8_t* buf, size_t length,
                           uint32_t* data_flags, nghttp2_data_source* source, void* user);

  void start_session();
  net::awaitable<void> read_loop();
  net::awaitable<void> write_loop();
  net::awaitable<bool> flush();
  net::awaitable<void> wait_idle();
  void want_write();
  bool finished() const;
  void end_streams();
  void close_socket();

  // http2_stream.cpp: one request's life.
  void request_complete(const stream_ptr& s);
  net::awaitable<void> serve_stream(stream_ptr s);
  net::awaitable<void> serve_request(const stream_ptr& s);
  net::awaitable<void> serve_watch(stream_ptr s, watch_plan plan);
  void respond(stream_state& s, const response& r, bool head);
  void submit_head(stream_state& s, int status, const header_list& fields, bool with_body);
  void send(stream_state& s, std::string piece, bool end);

  std::shared_ptr<server> srv_;
  std::shared_ptr<instance_state> inst_;
  tls_stream& stream_;  // the read and write loops' only: they end before run() does
  std::shared_ptr<connection_handle> handle_;
  connection_info conn_;
  nghttp2_session* session_ = nullptr;
  std::map<int32_t, stream_ptr> streams_;  // open streams with a request
  net::steady_timer write_signal_;
  net::steady_timer idle_;   // woken as stream work and the write loop end
  net::steady_timer grace_;  // after a cut: the time the GOAWAY has to go out
  int running_ = 0;          // stream coroutines posted and not yet ended
  bool writing_ = true;      // the write loop runs
  bool write_wanted_ = false;
  bool closing_ = false;  // reading is over: the write loop ends after its flush
  bool write_failed_ = false;
};

}  // namespace fake_apiserver
