// An HTTP/2 client connection (docs/architecture.md, "HTTP/2"): nghttp2 parses and
// frames; a read loop feeds it, a write loop drains it, and every stream whose head is
// complete gets an exchange of its own.

#include "mvproxy/proxy/h2_connection.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <random>

#include "h2_internal.hpp"

namespace mvproxy::proxy {

namespace {

nghttp2_session_callbacks* make_callbacks() {
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_session_callbacks_new(&cb);
  return cb;
}

}  // namespace

h2_connection::h2_connection(worker& w, tls_stream& client, const caller_info& caller,
                             std::uint64_t id)
    : worker_(w),
      shared_(w.shared),
      client_(client),
      caller_(caller),
      id_(id),
      write_signal_(w.ioc),
      exchanges_done_(w.ioc),
      keepalive_(w.ioc) {}

h2_connection::~h2_connection() {
  streams_.clear();  // before the session: their data sources point into it
  nghttp2_session_del(session_);
}

void h2_connection::start_session() {
  nghttp2_session_callbacks* cb = make_callbacks();
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  nghttp2_session_callbacks_set_error_callback2(cb, on_error);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  // Request bodies are acknowledged as they are relayed, not as they arrive: a stream
  // holds at most its window of unrelayed bytes.
  nghttp2_option_set_no_auto_window_update(opt, 1);
  apply_flood_limits(opt, shared_.options.lim.max_head_bytes);
  nghttp2_session_server_new2(&session_, cb, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cb);
  const auto& lim = shared_.options.lim;
  auto settings = server_settings(lim.http2_max_streams);
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                        connection_window(lim.http2_max_streams));
}

asio::awaitable<void> h2_connection::run() {
  client_.expires_never();  // the handshake's deadline; idleness is keepalive_loop's
  start_session();
  want_write();
  auto ex = co_await asio::this_coro::executor;
  asio::co_spawn(ex, write_loop(), asio::detached);
  asio::co_spawn(ex, keepalive_loop(), asio::detached);
  co_await read_loop();
  // Reading is over: whatever still runs ends now, then the last frames go out.
  end_all();
  while (running_ > 0) co_await wait_signal();
  closing_ = true;
  keepalive_.cancel();
  want_write();
  while (writing_) co_await wait_signal();
}

asio::awaitable<void> h2_connection::wait_signal() {
  exchanges_done_.expires_at(clock::time_point::max());
  co_await exchanges_done_.async_wait(use_tuple);
}

asio::awaitable<void> h2_connection::read_loop() {
  for (;;) {
    if (finished()) co_return;
    char* buf = worker_.scratch.data();
    auto [ec, n] = co_await client_.read_some(buf, relay_read_bytes);
    if (n > 0) {
      last_read_ = clock::now();
      ping_out_ = false;
      auto r = nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(buf), n);
      want_write();  // acknowledgements, window updates, a GOAWAY for a protocol error
      if (r < 0) {
        shared_.log->info("conn={} HTTP/2 connection error: {}", id_,
                          nghttp2_strerror(static_cast<int>(r)));
        // nghttp2 queues no GOAWAY for the errors it returns (floods among them); the
        // client is told why before the connection closes (RFC 9113 §5.4.1).
        const bool flood = r == NGHTTP2_ERR_FLOODED || r == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS;
        if (r != NGHTTP2_ERR_BAD_CLIENT_MAGIC)
          nghttp2_session_terminate_session(
              session_, flood ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
        co_return;
      }
    }
    if (ec) co_return;
  }
}

asio::awaitable<void> h2_connection::write_loop() {
  for (;;) {
    write_wanted_ = false;
    if (!transport_failed_) {
      // (Not one condition with the co_await: GCC 12 miscompiles that coroutine.)
      const bool flushed = co_await flush();
      if (!flushed) {
        transport_failed_ = true;
        client_.cancel();
      }
    }
    if (finished()) client_.cancel();  // nothing more to read: the read loop ends
    if (closing_) break;
    if (write_wanted_) continue;
    write_signal_.expires_at(clock::time_point::max());
    co_await write_signal_.async_wait(use_tuple);
  }
  writing_ = false;
  exchanges_done_.cancel();
}

asio::awaitable<bool> h2_connection::flush() {
  co_return co_await write_frames(session_, client_, worker_.scratch.data(),
                                  shared_.options.lim.write_timeout);
}

asio::awaitable<bool> write_frames(nghttp2_session* session, tls_stream& to, char* buf,
                                   clock::duration write_timeout) {
  for (;;) {
    std::size_t len = 0;
    for (;;) {
      const std::uint8_t* data = nullptr;
      auto n =
          static_cast<std::size_t>(std::max<ssize_t>(0, nghttp2_session_mem_send(session, &data)));
      if (n == 0) break;
      if (len + n > relay_read_bytes) {
        // Full: what was gathered goes first, then this frame as it is.
        to.expires_after(write_timeout);
        if (len > 0) {
          if (co_await to.write(buf, len)) co_return false;
        }
        len = 0;
        to.expires_after(write_timeout);
        if (co_await to.write(data, n)) co_return false;
        continue;
      }
      std::memcpy(buf + len, data, n);
      len += n;
    }
    if (len == 0) co_return true;
    to.expires_after(write_timeout);
    auto ec = co_await to.write(buf, len);
    to.expires_never();
    if (ec) co_return false;
  }
}

// A token bucket of stream resets: 1000 at once, then 33 a second (nghttp2's defaults
// for the same limit, which stays on behind this one at twice the rate).
bool h2_connection::take_reset_token() {
  const auto now = clock::now();
  reset_tokens_ = std::min(
      h2_reset_burst,
      reset_tokens_ + h2_reset_rate * std::chrono::duration<double>(now - reset_refill_).count());
  reset_refill_ = now;
  if (reset_tokens_ < 1) return false;
  reset_tokens_ -= 1;
  return true;
}

void h2_connection::want_write() {
  write_wanted_ = true;
  write_signal_.cancel();
}

bool h2_connection::finished() const {
  return transport_failed_ ||
         (nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0);
}

// Clients keep HTTP/2 connections for hours; a quiet one with streams open is pinged,
// and one that does not answer is closed (client-go does the same from its side).
asio::awaitable<void> h2_connection::keepalive_loop() {
  const auto& lim = shared_.options.lim;
  for (;;) {
    keepalive_.expires_after(lim.http2_ping_interval / 2);
    auto [ec] = co_await keepalive_.async_wait(use_tuple);
    if (ec || closing_ || transport_failed_) co_return;
    auto now = clock::now();
    if (streams_.empty() && now - idle_since_ >= lim.keepalive_idle_timeout) {
      close_if_idle();  // idle: GOAWAY, as Go's server after IdleTimeout
      continue;
    }
    if (ping_out_ && now - last_read_ >= lim.http2_ping_interval + lim.http2_ping_timeout) {
      shared_.log->info(
          "conn={} HTTP/2: no answer to PING in {}s, closing", id_,
          std::chrono::duration_cast<std::chrono::seconds>(lim.http2_ping_timeout).count());
      transport_failed_ = true;
      client_.cancel();
      co_return;
    }
    if (!ping_out_ && !streams_.empty() && now - last_read_ >= lim.http2_ping_interval) {
      nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr);
      ping_out_ = true;
      want_write();
    }
  }
}

void h2_connection::close_if_idle() {
  if (closing_ || !session_) return;
  // GOAWAY names the last stream taken: the client retries later ones elsewhere (and
  // streams that arrive before it is sent are refused, in serve_stream).
  goaway_last_id_ = std::min(goaway_last_id_, nghttp2_session_get_last_proc_stream_id(session_));
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, goaway_last_id_, NGHTTP2_NO_ERROR, nullptr, 0);
  for (auto& [id, s] : streams_)
    if (s->exchange_) s->exchange_->stop_waiting();
  want_write();
}

void h2_connection::terminate() {
  terminating_ = true;
  close_if_idle();
  end_all();
}

void h2_connection::end_all() {
  for (auto& [id, s] : streams_) {
    if (s->exchange_) s->exchange_->terminate();
    if (s->relay_from_) s->relay_from_->cancel();
    s->closed_ = true;
    s->wake();
  }
}

// Counted in running_ by on_frame_recv, which spawned it.
asio::awaitable<void> h2_connection::serve_stream(h2_stream* s) {
  exchange ex(worker_, *s, caller_, id_);
  s->exchange_ = &ex;
  // Started posted (on_frame_recv), after the rest of that read was parsed: this
  // stream's own RST_STREAM, or a GOAWAY that came to be queued.
  if (s->closed_) {
    // The client reset the stream before its exchange began (HEADERS and RST_STREAM
    // read together, as in a rapid-reset flood): nobody waits for an answer, so the
    // request does not go upstream.
  } else if (s->id_ > goaway_last_id_ || nghttp2_session_want_read(session_) == 0) {
    // Past our GOAWAY's last stream, or the session is being torn down (nghttp2 takes
    // new streams until its GOAWAY is sent): refused unprocessed, the client retries.
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s->id_, NGHTTP2_REFUSED_STREAM);
    s->responded_ = true;
  } else if (s->too_large_) {
    co_await ex.refuse(reply_for(reply_kind::head_too_large));
  } else if (!s->req_.reason().empty()) {
    co_await ex.refuse(reply_for(reply_kind::bad_request, s->req_.reason()));
  } else {
    co_await ex.run();
  }
  s->exchange_ = nullptr;
  s->running_ = false;
  if (!s->responded_ && !s->closed_)
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s->id_, NGHTTP2_INTERNAL_ERROR);
  if (!s->in_.empty() && !s->closed_) {
    // A body nobody will read: give its window back, and drop what else arrives.
    nghttp2_session_consume(session_, s->id_, s->in_.size());
    std::string().swap(s->in_);
  }
  if (s->closed_) streams_.erase(s->id_);
  // --goaway-chance: a client sent GOAWAY now and then reconnects, likely elsewhere.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const double chance = shared_.options.lim.goaway_chance;
  if (chance > 0 && std::uniform_real_distribution<double>(0, 1)(rng) < chance) close_if_idle();
  want_write();
  if (--running_ == 0) exchanges_done_.cancel();
}

}  // namespace mvproxy::proxy
