// An HTTP/2 connection: nghttp2 parses and frames; a read loop feeds it, a write loop
// drains it, and every stream whose request is complete gets a coroutine of its own
// (http2_stream.cpp). Settings as kube-apiserver's (secure_serving.go): 250 concurrent
// streams, 256 KiB stream windows and frames, a connection window for all 250.

#include "http2_session.hpp"

#include <array>
#include <cstdio>

namespace fake_apiserver {
namespace {

constexpr uint32_t max_concurrent_streams = 250;
constexpr uint32_t stream_window = 256 * 1024;
constexpr size_t write_gather_bytes = 64 * 1024;

http2_connection& self(void* user) { return *static_cast<http2_connection*>(user); }

}  // namespace

net::awaitable<void> serve_http2(std::shared_ptr<server> srv, std::shared_ptr<instance_state> inst,
                                 tls_stream& stream, std::shared_ptr<connection_handle> handle,
                                 connection_info conn) {
  auto c = std::make_shared<http2_connection>(std::move(srv), std::move(inst), stream, handle,
                                              std::move(conn));
  auto previous = std::move(handle->cut);
  handle->cut = [raw = c.get()] { raw->cut(); };
  co_await c->run();
  handle->cut = std::move(previous);
}

http2_connection::http2_connection(std::shared_ptr<server> srv,
                                   std::shared_ptr<instance_state> inst, tls_stream& stream,
                                   std::shared_ptr<connection_handle> handle, connection_info conn)
    : srv_(std::move(srv)),
      inst_(std::move(inst)),
      stream_(stream),
      handle_(std::move(handle)),
      conn_(std::move(conn)),
      write_signal_(srv_->ioc_),
      idle_(srv_->ioc_),
      grace_(srv_->ioc_) {}

http2_connection::~http2_connection() {
  streams_.clear();
  nghttp2_session_del(session_);
}

void http2_connection::start_session() {
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  // Window updates are automatic: request body bytes are consumed as they are read.
  nghttp2_session_server_new(&session_, cb, this);
  nghttp2_session_callbacks_del(cb);
  const std::array<nghttp2_settings_entry, 3> settings{{
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, stream_window},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, stream_window},
  }};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  nghttp2_session_set_local_window_size(
      session_, NGHTTP2_FLAG_NONE, 0, static_cast<int32_t>(stream_window * max_concurrent_streams));
}

net::awaitable<void> http2_connection::run() {
  auto self = shared_from_this();
  start_session();
  want_write();
  net::co_spawn(stream_.get_executor(), write_loop(), net::detached);
  co_await read_loop();
  // Reading is over: stream work ends (handle_->closed wakes its waits), then the last
  // frames go out and the write loop ends.
  end_streams();
  while (running_ > 0) co_await wait_idle();
  closing_ = true;
  grace_.cancel();
  want_write();
  while (writing_) co_await wait_idle();
}

net::awaitable<void> http2_connection::wait_idle() {
  idle_.expires_at(net::steady_timer::time_point::max());
  co_await idle_.async_wait(use_tuple);
}

void http2_connection::end_streams() {
  handle_->closed = true;
  for (auto& [id, s] : streams_) s->closed = true;
  for (auto* t : handle_->timers) t->cancel();
}

net::awaitable<void> http2_connection::read_loop() {
  std::array<uint8_t, 16 * 1024> buf;
  for (;;) {
    auto [ec, n] = co_await stream_.async_read_some(net::buffer(buf), use_tuple);
    if (n > 0) {
      auto r = nghttp2_session_mem_recv(session_, buf.data(), n);
      if (r < 0) {
        // nghttp2 queues no GOAWAY for the errors it returns: the client is told why.
        if (r != NGHTTP2_ERR_BAD_CLIENT_MAGIC)
          nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);
        want_write();
        co_return;
      }
      want_write();  // SETTINGS and PING acknowledgements, window updates
    }
    if (ec || finished()) co_return;
  }
}

net::awaitable<void> http2_connection::write_loop() {
  auto self = shared_from_this();
  for (;;) {
    write_wanted_ = false;
    if (!write_failed_) {
      // (Not one condition with the co_await: GCC 12 miscompiles that coroutine.)
      const bool flushed = co_await flush();
      if (!flushed) {
        write_failed_ = true;
        close_socket();  // ends the read loop
      }
    }
    // Both sides done (a GOAWAY went out, or the client's was answered): the read
    // loop is ended by closing the connection.
    if (finished() && !closing_) close_socket();
    if (closing_) break;
    if (write_wanted_) continue;
    write_signal_.expires_at(net::steady_timer::time_point::max());
    co_await write_signal_.async_wait(use_tuple);
  }
  writing_ = false;
  idle_.cancel();
}

// Writes every frame nghttp2 has ready, gathered into writes of up to 64 KiB.
net::awaitable<bool> http2_connection::flush() {
  std::string buf;
  for (;;) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) co_return false;
    if (n > 0) buf.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    if (buf.empty()) co_return true;
    if (n == 0 || buf.size() >= write_gather_bytes) {
      auto [ec, written] = co_await net::async_write(stream_, net::buffer(buf), use_tuple);
      if (ec) co_return false;
      buf.clear();
    }
  }
}

void http2_connection::want_write() {
  write_wanted_ = true;
  write_signal_.cancel();
}

bool http2_connection::finished() const {
  return nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0;
}

void http2_connection::close_socket() {
  boost::system::error_code ec;
  auto& socket = beast::get_lowest_layer(stream_).socket();
  socket.shutdown(tcp::socket::shutdown_both, ec);
  socket.close(ec);
}

void http2_connection::cut() {
  if (closing_ || !session_) return;
  nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
  want_write();
  // A client that does not read cannot hold the connection open.
  grace_.expires_after(std::chrono::seconds(1));
  grace_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec && !self->closing_) self->close_socket();
  });
}

int http2_connection::on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame,
                                       void* user) {
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto s = std::make_shared<stream_state>();
  s->id = frame->hd.stream_id;
  nghttp2_session_set_stream_user_data(session, s->id, s.get());
  self(user).streams_[s->id] = std::move(s);
  return 0;
}

int http2_connection::on_header(nghttp2_session* session, const nghttp2_frame* frame,
                                const uint8_t* name, size_t namelen, const uint8_t* value,
                                size_t valuelen, uint8_t, void*) {
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;  // trailers are ignored
  auto* s = static_cast<stream_state*>(
      nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
  if (!s) return 0;
  std::string n(reinterpret_cast<const char*>(name), namelen);
  std::string v(reinterpret_cast<const char*>(value), valuelen);
  if (n == ":method") {
    s->req.method = v;
  } else if (n == ":path") {
    auto q = v.find('?');
    s->req.path = v.substr(0, q);
    s->req.query = q == std::string::npos ? "" : v.substr(q + 1);
  } else if (n == ":authority") {
    // Go's server turns :authority into Request.Host; for the handler it is "host".
    s->req.headers.emplace(s->req.headers.begin(), "host", v);
  } else if (!n.empty() && n[0] != ':') {
    s->req.headers.emplace_back(std::move(n), std::move(v));  // names arrive lower-case
  }
  return 0;
}

int http2_connection::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (!end_stream || (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA))
    return 0;
  auto& c = self(user);
  auto it = c.streams_.find(frame->hd.stream_id);
  if (it == c.streams_.end()) return 0;
  c.request_complete(it->second);  // the whole request is in: its handling starts
  return 0;
}

int http2_connection::on_data_chunk(nghttp2_session*, uint8_t, int32_t stream_id,
                                    const uint8_t* data, size_t len, void* user) {
  auto& c = self(user);
  auto it = c.streams_.find(stream_id);
  if (it == c.streams_.end()) return 0;
  stream_state& s = *it->second;
  if (s.too_large || s.req.body.size() + len > request_body_limit) {
    s.too_large = true;
    s.req.body.clear();
    return 0;
  }
  s.req.body.append(reinterpret_cast<const char*>(data), len);
  return 0;
}

int http2_connection::on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t, void* user) {
  auto& c = self(user);
  auto it = c.streams_.find(stream_id);
  if (it == c.streams_.end()) return 0;
  it->second->closed = true;
  if (it->second->wake) it->second->wake->cancel();
  c.streams_.erase(it);  // a coroutine still serving it holds its own reference
  return 0;
}

ssize_t http2_connection::read_body(nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                                    uint32_t* data_flags, nghttp2_data_source* source, void*) {
  auto* s = static_cast<stream_state*>(source->ptr);
  if (s->out.empty()) {
    if (!s->out_end) return NGHTTP2_ERR_DEFERRED;  // a watch between events
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return 0;
  }
  const std::string& front = s->out.front();
  size_t n = std::min(length, front.size() - s->out_offset);
  front.copy(reinterpret_cast<char*>(buf), n, s->out_offset);
  s->out_offset += n;
  if (s->out_offset == front.size()) {
    s->out.pop_front();
    s->out_offset = 0;
  }
  if (s->out.empty() && s->out_end) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

}  // namespace fake_apiserver
