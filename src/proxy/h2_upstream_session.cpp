// An HTTP/2 connection to an upstream (see h2_upstream.hpp): nghttp2 as a client; a
// read loop feeds it, a write loop drains it, and a keepalive loop pings a quiet
// connection as client-go does (--upstream-http2-read-idle-timeout, then
// --upstream-http2-ping-timeout for the answer) and closes one that stayed unused.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <cstring>

#include "h2_internal.hpp"
#include "mvproxy/proxy/h2_upstream.hpp"

namespace mvproxy::proxy {

namespace {

// A stream may hold this much of a response the exchange has not relayed yet; the
// connection's window is never the limit (every stream has its own).
constexpr std::uint32_t upstream_stream_window = 512 * 1024;
constexpr std::int32_t upstream_connection_window = 0x7fffffff;

}  // namespace

h2_upstream_session::h2_upstream_session(worker& w, std::unique_ptr<upstream_connection> conn,
                                         const upstream_target& target, std::string authority)
    : worker_(w),
      conn_(std::move(conn)),
      tls_(*conn_->tls()),
      name_(target.name),
      target_(target),
      authority_(std::move(authority)),
      write_signal_(w.ioc),
      keepalive_(w.ioc) {
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  // Response bytes are given back to flow control as the exchange relays them.
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_max_outbound_ack(opt, 1000);
  nghttp2_option_set_max_settings(opt, 32);
  nghttp2_session_client_new2(&session_, cb, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cb);
  const std::array<nghttp2_settings_entry, 3> settings{{
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, upstream_stream_window},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, h2_max_frame},
  }};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, upstream_connection_window);
  gauge_ = worker_.pool.gauge_for_name(name_, "http2");
  if (gauge_) gauge_->inc();
}

h2_upstream_session::~h2_upstream_session() {
  nghttp2_session_del(session_);
  if (gauge_) gauge_->dec();
}

void h2_upstream_session::start() {
  tls_.expires_never();
  want_write();
  auto ex = worker_.ioc.get_executor();
  asio::co_spawn(ex, read_loop(), asio::detached);
  asio::co_spawn(ex, write_loop(), asio::detached);
  asio::co_spawn(ex, keepalive_loop(), asio::detached);
}

bool h2_upstream_session::usable() const {
  return !ended_ && !going_away_ && !idle_closing_ && streams_ < max_streams_ &&
         nghttp2_session_check_request_allowed(session_) != 0;
}

std::unique_ptr<upstream_connection> h2_upstream_session::open_stream(const std::string& key) {
  ++streams_;
  return std::make_unique<upstream_connection>(
      std::make_unique<h2_upstream_stream>(shared_from_this()), key);
}

void h2_upstream_session::close() { end(false, "closed"); }

// Every stream still open ends with an error; the loops end.
void h2_upstream_session::end(bool by_upstream, const char* why) {
  if (ended_) return;
  ended_ = true;
  closed_by_upstream_ = by_upstream;
  worker_.pool.wake_waiters(target_);  // they dial a connection of their own
  worker_.shared.log->debug("HTTP/2 connection to {} ended: {}", name_, why);
  tls_.cancel();
  write_signal_.cancel();
  keepalive_.cancel();
  auto open = open_streams_;  // a copy: on_close erases from the set
  for (auto* s : open) s->on_close(NGHTTP2_CONNECT_ERROR);
}

h2_upstream_stream* h2_upstream_session::stream_of(nghttp2_session* s, std::int32_t id) {
  return static_cast<h2_upstream_stream*>(nghttp2_session_get_stream_user_data(s, id));
}

int h2_upstream_session::on_header(nghttp2_session* s, const nghttp2_frame* frame,
                                   const std::uint8_t* name, std::size_t namelen,
                                   const std::uint8_t* value, std::size_t valuelen, std::uint8_t,
                                   void*) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  if (auto* st = stream_of(s, frame->hd.stream_id))
    st->on_field({reinterpret_cast<const char*>(name), namelen},
                 {reinterpret_cast<const char*>(value), valuelen});
  return 0;
}

int h2_upstream_session::on_frame_recv(nghttp2_session* s, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<h2_upstream_session*>(user);
  const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
      if (auto* st = stream_of(s, frame->hd.stream_id)) st->on_headers_end(end_stream);
      break;
    case NGHTTP2_DATA:
      if (end_stream) {
        if (auto* st = stream_of(s, frame->hd.stream_id)) st->on_end_stream();
      }
      break;
    case NGHTTP2_SETTINGS:
      if ((frame->hd.flags & NGHTTP2_FLAG_ACK) != 0) break;
      self->max_streams_ =
          nghttp2_session_get_remote_settings(s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
      if (!self->settings_seen_) {
        self->settings_seen_ = true;
        self->worker_.pool.wake_waiters(self->target_);  // there may be room now
      }
      break;
    case NGHTTP2_GOAWAY:
      // Streams past its last id are closed by nghttp2 (REFUSED_STREAM): unprocessed,
      // so the exchange may retry them on a new connection.
      self->going_away_ = true;
      break;
    default:
      break;
  }
  return 0;
}

int h2_upstream_session::on_data_chunk(nghttp2_session* s, std::uint8_t, std::int32_t id,
                                       const std::uint8_t* data, std::size_t len, void*) {
  if (auto* st = stream_of(s, id)) {
    st->on_data(data, len);
  } else {
    // Its exchange is gone: the bytes are dropped, their window given back.
    nghttp2_session_consume(s, id, len);
  }
  return 0;
}

int h2_upstream_session::on_stream_close(nghttp2_session* s, std::int32_t id,
                                         std::uint32_t error_code, void*) {
  if (auto* st = stream_of(s, id)) st->on_close(error_code);
  return 0;
}

asio::awaitable<void> h2_upstream_session::read_loop() {
  auto self = shared_from_this();
  while (!ended_) {
    char* buf = worker_.scratch.data();
    auto [ec, n] = co_await tls_.read_some(buf, relay_read_bytes);
    if (ended_) break;
    if (n > 0) {
      last_read_ = clock::now();
      ping_out_ = false;
      auto r = nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(buf), n);
      want_write();
      if (r < 0) {
        worker_.shared.log->info("HTTP/2 connection to {}: {}", name_,
                                 nghttp2_strerror(static_cast<int>(r)));
        end(false, "protocol error");
        break;
      }
    }
    if (ec) {
      end(true, "read failed");
      break;
    }
    if (going_away_ && streams_ == 0) {
      end(true, "GOAWAY");
      break;
    }
  }
  tls_.close();
}

asio::awaitable<void> h2_upstream_session::write_loop() {
  auto self = shared_from_this();
  while (!ended_) {
    write_wanted_ = false;
    const bool flushed = co_await flush();
    if (!flushed) {
      end(true, "write failed");
      break;
    }
    if (idle_closing_) {
      end(false, "idle");
      break;
    }
    if (write_wanted_) continue;
    write_signal_.expires_at(clock::time_point::max());
    co_await write_signal_.async_wait(use_tuple);
  }
}

asio::awaitable<bool> h2_upstream_session::flush() {
  co_return co_await write_frames(session_, tls_, worker_.scratch.data(),
                                  worker_.shared.options.lim.write_timeout);
}

void h2_upstream_session::want_write() {
  write_wanted_ = true;
  write_signal_.cancel();
}

// client-go's transport: a PING after ReadIdleTimeout without a frame, the connection
// closed when PingTimeout passes without one. A connection without streams for the
// pool's idle timeout is closed (GOAWAY first).
asio::awaitable<void> h2_upstream_session::keepalive_loop() {
  auto self = shared_from_this();
  const auto& lim = worker_.shared.options.lim;
  const auto tick =
      std::min(lim.upstream_http2_read_idle_timeout, lim.upstream_http2_ping_timeout) / 2;
  while (!ended_) {
    keepalive_.expires_after(std::max<clock::duration>(tick, std::chrono::milliseconds(100)));
    co_await keepalive_.async_wait(use_tuple);
    if (ended_) break;
    const auto now = clock::now();
    if (streams_ > 0) idle_since_ = now;
    if (streams_ == 0 && now - idle_since_ >= lim.pool_idle_timeout) {
      // GOAWAY, written by the write loop, which then ends the connection.
      idle_closing_ = true;
      nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
      want_write();
      break;
    }
    if (ping_out_ && now - last_read_ >=
                         lim.upstream_http2_read_idle_timeout + lim.upstream_http2_ping_timeout) {
      worker_.shared.log->warn("HTTP/2 connection to {}: no answer to PING in {} ms, closing",
                               name_, lim.upstream_http2_ping_timeout.count());
      worker_.shared.metrics.upstream_errors_total.with({name_, "ping-timeout"}).inc();
      end(false, "PING unanswered");
      break;
    }
    if (!ping_out_ && now - last_read_ >= lim.upstream_http2_read_idle_timeout) {
      nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr);
      ping_out_ = true;
      want_write();
    }
  }
}

}  // namespace mvproxy::proxy
