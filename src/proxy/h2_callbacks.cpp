// What nghttp2 tells an HTTP/2 connection as it parses: a stream begins, its fields,
// its head is complete (its exchange starts), body bytes, its end, its close.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

#include "h2_internal.hpp"

namespace mvproxy::proxy {

namespace {

h2_connection& self(void* user) { return *static_cast<h2_connection*>(user); }

bool is_request_head(const nghttp2_frame* frame) {
  return frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST;
}

}  // namespace

int h2_connection::on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame,
                                    void* user) {
  if (!is_request_head(frame)) return 0;
  auto& c = self(user);
  const auto id = frame->hd.stream_id;
  auto [it, inserted] = c.streams_.emplace(id, std::make_unique<h2_stream>(c, id));
  nghttp2_session_set_stream_user_data(session, id, it->second.get());
  return 0;
}

int h2_connection::on_header(nghttp2_session* session, const nghttp2_frame* frame,
                             const std::uint8_t* name, std::size_t namelen,
                             const std::uint8_t* value, std::size_t valuelen, std::uint8_t,
                             void* user) {
  if (!is_request_head(frame)) return 0;  // trailers are not relayed
  auto* s =
      static_cast<h2_stream*>(nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
  if (!s) return 0;
  // As for HTTP/1.1 heads: limits::max_head_bytes in all (name, value, 32 each as
  // HPACK counts a field).
  s->head_bytes_ += namelen + valuelen + 32;
  // A field the HTTP/1.1 head for the upstream cannot hold is too large as well.
  if (s->head_bytes_ > self(user).shared_.options.lim.max_head_bytes ||
      namelen > http::max_field_bytes || valuelen > http::max_field_bytes) {
    s->too_large_ = true;
    return 0;
  }
  s->req_.add({reinterpret_cast<const char*>(name), namelen},
              {reinterpret_cast<const char*>(value), valuelen});
  return 0;
}

int h2_connection::on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  auto& c = self(user);
  if (frame->hd.type == NGHTTP2_RST_STREAM && !c.take_reset_token()) {
    // Rapid reset (CVE-2023-44487). Ended here rather than by nghttp2's own limit,
    // which queues its GOAWAY but goes on taking streams until it is sent.
    c.shared_.log->info("conn={} HTTP/2: too many streams reset, closing", c.id_);
    nghttp2_session_terminate_session(session, NGHTTP2_INTERNAL_ERROR);
    c.goaway_last_id_ =
        std::min(c.goaway_last_id_, nghttp2_session_get_last_proc_stream_id(session));
    return 0;
  }
  auto* s =
      static_cast<h2_stream*>(nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
  if (!s) return 0;
  const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (is_request_head(frame)) {
    s->req_.finish(end_stream);
    s->in_done_ = end_stream;
    // Counted as running now: DATA parsed in this same call is the exchange's.
    s->running_ = true;
    ++c.running_;
    // Posted: co_spawn would start the exchange right here, inside nghttp2's parse of
    // the bytes in the worker's scratch, which the exchange may reuse.
    asio::post(c.worker_.ioc,
               [&c, s] { asio::co_spawn(c.worker_.ioc, c.serve_stream(s), asio::detached); });
    return 0;
  }
  if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) && end_stream) {
    s->in_done_ = true;
    s->wake();
  }
  return 0;
}

int h2_connection::on_data_chunk(nghttp2_session* session, std::uint8_t, std::int32_t id,
                                 const std::uint8_t* data, std::size_t len, void* user) {
  auto* s = static_cast<h2_stream*>(nghttp2_session_get_stream_user_data(session, id));
  if (!s || !s->running_) {
    // Nobody will relay it: the window goes back at once.
    nghttp2_session_consume(session, id, len);
    self(user).want_write();
    return 0;
  }
  s->in_.append(reinterpret_cast<const char*>(data), len);
  s->wake();
  return 0;
}

int h2_connection::on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t, void* user) {
  auto& c = self(user);
  auto it = c.streams_.find(id);
  if (it == c.streams_.end()) return 0;
  auto& s = *it->second;
  s.closed_ = true;
  if (s.relay_from_) s.relay_from_->cancel();  // a reset ends the relay now
  s.wake();
  if (!s.running_) c.streams_.erase(it);
  if (c.streams_.empty()) c.idle_since_ = clock::now();
  return 0;
}

// What nghttp2 found wrong with what the client sent, for the debug log (-v=2).
int h2_connection::on_error(nghttp2_session*, int code, const char* msg, std::size_t len,
                            void* user) {
  auto& c = self(user);
  c.shared_.log->debug("conn={} HTTP/2 protocol error ({}): {}", c.id_, nghttp2_strerror(code),
                       std::string_view(msg, len));
  return 0;
}

}  // namespace mvproxy::proxy
