// One HTTP/2 stream as the client side of its exchange: the request body handed on
// as the client sends it (its window given back as it is relayed), the response body
// queued for nghttp2 and taken as the client's window allows, with at most
// h2_out_high_water bytes waiting, so a slow reader slows the upstream, not memory.

#include "h2_internal.hpp"

namespace mvproxy::proxy {

namespace {

constexpr std::size_t h2_out_high_water = 64 * 1024;

}  // namespace

h2_stream::h2_stream(h2_connection& conn, std::int32_t id)
    : conn_(conn), id_(id), wake_(conn.worker_.ioc) {}

void h2_stream::wake() { wake_.cancel(); }

asio::awaitable<void> h2_stream::wait() {
  wake_.expires_at(clock::time_point::max());
  co_await wake_.async_wait(use_tuple);
}

asio::awaitable<bool> h2_stream::wait_until(clock::time_point deadline) {
  if (clock::now() >= deadline) co_return false;
  wake_.expires_at(deadline);
  auto [ec] = co_await wake_.async_wait(use_tuple);
  co_return ec == asio::error::operation_aborted;  // woken, not expired
}

asio::awaitable<bool> h2_stream::send_continue() {
  if (closed_) co_return false;
  const nghttp2_nv nv{const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(":status")),
                      const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>("100")), 7, 3,
                      NGHTTP2_NV_FLAG_NONE};
  nghttp2_submit_headers(conn_.session_, NGHTTP2_FLAG_NONE, id_, nullptr, &nv, 1, nullptr);
  conn_.want_write();
  co_return true;
}

asio::awaitable<relay_end> h2_stream::send_body(byte_stream& to, std::string_view head,
                                                bool chunked_out) {
  const auto write_timeout = conn_.shared_.options.lim.write_timeout;
  // DATA must keep coming: a client silent for read_idle_ loses its stream, as an
  // HTTP/1.1 client its connection.
  auto deadline = clock::now() + read_idle_;
  if (!head.empty()) {
    to.expires_after(write_timeout);
    if (co_await to.write(head.data(), head.size())) co_return relay_end::to_failed;
  }
  char* const base = conn_.worker_.scratch.data() + scratch_headroom;
  for (;;) {
    if (in_.empty() && !in_done_) {
      if (closed_) co_return relay_end::client_gone;  // reset before its end
      if (!co_await wait_until(deadline)) co_return relay_end::from_failed;
      continue;
    }
    deadline = clock::now() + read_idle_;
    // The scratch is ours until the write first waits (it copies what it must).
    const std::size_t n = std::min(in_.size(), relay_read_bytes);
    std::memcpy(base, in_.data(), n);
    in_.erase(0, n);
    const bool done = in_done_ && in_.empty();
    auto out = frame_in_place(base, n, chunked_out, done);
    to.expires_after(write_timeout);
    if (!out.empty()) {
      if (co_await to.write(out.data(), out.size())) co_return relay_end::to_failed;
    }
    if (n > 0) {
      // Relayed: the client may send that much more.
      nghttp2_session_consume(conn_.session_, id_, n);
      conn_.want_write();
    }
    if (in_.empty() && in_.capacity() > 16 * 1024) std::string().swap(in_);
    if (done) co_return relay_end::done;
  }
}

bool h2_stream::submit(response_start& start, bool has_body) {
  auto fields = http::h2_response_fields(start.head);
  std::vector<nghttp2_nv> nva;
  nva.reserve(fields.size());
  for (auto& [name, value] : fields) {
    nva.push_back({reinterpret_cast<std::uint8_t*>(name.data()),
                   reinterpret_cast<std::uint8_t*>(value.data()), name.size(), value.size(),
                   NGHTTP2_NV_FLAG_NONE});
  }
  nghttp2_data_provider provider{};
  provider.source.ptr = this;
  provider.read_callback = read_data;
  // nghttp2 copies the fields; the body is read from out_ as the window allows.
  int rv = nghttp2_submit_response(conn_.session_, id_, nva.data(), nva.size(),
                                   has_body ? &provider : nullptr);
  responded_ = rv == 0;
  conn_.want_write();
  return responded_;
}

asio::awaitable<bool> h2_stream::write_response(response_start& start, std::string_view body) {
  if (closed_) co_return false;
  out_.assign(body.data(), body.size());
  out_done_ = true;
  co_return submit(start, !body.empty());
}

asio::awaitable<relay_end> h2_stream::relay_response(response_start& start,
                                                     http::response_relay_parser& rp,
                                                     upstream_connection& up,
                                                     std::uint64_t& bytes) {
  if (closed_ || !submit(start, !start.final_head)) co_return relay_end::client_gone;
  if (start.final_head) co_return relay_end::done;
  struct unwatch {
    h2_stream& s;
    ~unwatch() { s.relay_from_ = nullptr; }
  } unwatch_at_end{*this};
  relay_from_ = &up.stream;  // a reset cancels the wait on it
  auto end = co_await pump_response(rp, up, bytes);
  // A response body that is not HTTP is cut short like any other.
  if (end == relay_end::from_malformed) end = relay_end::from_failed;
  if (end == relay_end::from_failed && !closed_) {
    if (conn_.terminating_) {
      // Grace period over: the stream ends cleanly, so the client re-watches elsewhere.
      out_done_ = true;
      nghttp2_session_resume_data(conn_.session_, id_);
    } else {
      // The upstream broke mid-body: the client must not take it for the whole body.
      nghttp2_submit_rst_stream(conn_.session_, NGHTTP2_FLAG_NONE, id_, NGHTTP2_INTERNAL_ERROR);
    }
    conn_.want_write();
  }
  co_return end;
}

// Upstream body bytes into out_, as the client takes them.
asio::awaitable<relay_end> h2_stream::pump_response(http::response_relay_parser& rp,
                                                    upstream_connection& up, std::uint64_t& bytes) {
  char* const base = conn_.worker_.scratch.data() + scratch_headroom;
  bool starved = false;  // up.buffer ends inside a chunk line: read more first
  bool first_wait = true;
  for (;;) {
    while (out_pending() >= h2_out_high_water && !closed_) co_await wait();
    if (closed_) co_return relay_end::client_gone;
    if (up.buffer.empty() || starved) {
      if (up.buffer.size() >= relay_read_bytes) co_return relay_end::from_failed;
      auto r = up.stream.try_read(base, relay_read_bytes - up.buffer.size());
      if (r.would_block) {
        if (first_wait) {
          up.stream.release_buffers();  // likely a long wait: a watch between events
          first_wait = false;
        }
        up.stream.expires_after(read_idle_);  // the exchange's choice for this request
        auto wec = co_await up.stream.wait_readable();
        if (closed_) co_return relay_end::client_gone;
        if (up.stream.timed_out() || wec || conn_.terminating_) co_return relay_end::from_failed;
        continue;
      }
      if (r.ec && is_eof(r.ec) && rp.need_eof()) {
        error_code ec;
        rp.put_eof(ec);  // the body ends with the connection
      } else if (r.ec) {
        co_return relay_end::from_failed;
      }
      up.buffer.append(base, r.bytes);
      starved = false;
    }
    const std::size_t have = std::min(up.buffer.size(), relay_read_bytes);
    up.buffer.copy(base, have);
    up.buffer.erase(0, have);
    auto f = rp.feed(base, have);
    if (f.ec) co_return relay_end::from_failed;
    if (f.consumed < have) {
      up.buffer.insert(0, base + f.consumed, have - f.consumed);
      starved = !rp.is_done();
    }
    out_.append(base, f.body);
    bytes += f.body;
    if (rp.is_done()) out_done_ = true;
    if (f.body > 0 || out_done_) {
      nghttp2_session_resume_data(conn_.session_, id_);
      conn_.want_write();
    }
    if (out_done_) co_return relay_end::done;
  }
}

asio::awaitable<void> h2_stream::tunnel(response_start&, upstream_connection&) {
  // HTTP/2 requests carry no Upgrade (nghttp2 refuses it), so no exchange gets here;
  // clients open an HTTP/1.1 connection for exec, attach and port-forward.
  co_return;
}

ssize_t h2_stream::read_data(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                             std::uint32_t* flags, nghttp2_data_source* src, void*) {
  auto* s = static_cast<h2_stream*>(src->ptr);
  // Drained, a quiet watch keeps no buffer.
  const auto r = take_data(s->out_, s->out_off_, buf, length, s->out_done_, flags, 4096);
  if (r == NGHTTP2_ERR_DEFERRED) return r;
  s->wake();  // room for more
  return r;
}

}  // namespace mvproxy::proxy
