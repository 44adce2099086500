// Relaying bytes for the connection's exchange (docs/architecture.md, "Relay"): a body
// from one stream to the other through the worker's scratch buffer, re-framed as
// chunks where needed; a response relayed to the client while the client is watched
// for leaving.

#include <cstring>

#include "session_internal.hpp"

namespace mvproxy::proxy {

template <class Parser>
asio::awaitable<relay_end> session::relay_body(tls_stream& from, tls_stream& to, Parser& p,
                                               std::string& pending, std::string_view prefix,
                                               bool chunked_out, bool watch_client,
                                               std::uint64_t& bytes, bool& prefix_sent) {
  const auto& lim = shared_.options.lim;
  const auto read_timeout = watch_client ? lim.stream_idle_timeout : lim.write_timeout;
  struct disarm {
    session& s;
    ~disarm() {
      s.disarm_client_watch();
      s.relay_from_ = nullptr;
    }
  } disarm_at_end{*this};
  client_left_ = false;
  if (watch_client) relay_from_ = &from;
  char* const base = worker_.scratch.data() + scratch_headroom;
  bool starved = false;  // the bytes at hand end inside a chunk line: read more first
  bool first_wait = true;
  bool from_ended = false;
  for (;;) {
    std::size_t have = 0;
    if (!pending.empty()) {
      have = std::min(pending.size(), relay_read_bytes);
      std::memcpy(base, pending.data(), have);
      pending.erase(0, have);
    }
    if ((have == 0 || starved) && !p.is_done()) {
      if (have == relay_read_bytes)
        co_return relay_end::from_failed;  // a chunk line that never ends
      auto r = from.try_read(base + have, relay_read_bytes - have);
      if (r.would_block) {
        // We wait: the scratch is not ours meanwhile (the writes and poll_client() below
        // use it, other sessions too), so the bytes at hand go back to `pending` and
        // the loop takes them up again after the wait.
        if (have > 0) pending.insert(0, base, have);
        // Nothing more yet: the head goes out now (a watch's client sees its response
        // begin).
        if (!prefix.empty()) {
          to.expires_after(lim.write_timeout);
          if (co_await to.write(prefix.data(), prefix.size())) co_return relay_end::to_failed;
          prefix = {};
          prefix_sent = true;
        }
        from.expires_after(read_timeout);
        if (watch_client && !watch_) {
          client_.expires_never();  // each write to the client sets its own deadline
          if (!poll_client()) co_return relay_end::client_gone;
          arm_client_watch();
        }
        if (first_wait) {
          // Likely a long wait (a watch after its head): hold no buffers meanwhile.
          // Later waits of a busy stream leave that to the sweeper.
          from.release_buffers();
          to.release_buffers();
          first_wait = false;
        }
        auto [wec] = co_await from.socket().async_wait(asio::socket_base::wait_read, use_tuple);
        if (client_left_) co_return relay_end::client_gone;
        if (from.timed_out() || wec || terminating_) co_return relay_end::from_failed;
        continue;
      }
      if (r.ec && is_eof(r.ec) && p.need_eof()) {
        // The body ends with the connection (neither length nor chunks).
        error_code ec;
        p.put_eof(ec);
        from_ended = true;
      } else if (r.ec) {
        co_return relay_end::from_failed;
      }
      have += r.bytes;
    }
    auto f = p.feed(base, have);
    if (f.ec) co_return relay_end::from_failed;
    starved = false;
    if (f.consumed < have) {
      // After the body: the next message's bytes. Inside it: an incomplete chunk line.
      pending.insert(0, base + f.consumed, have - f.consumed);
      starved = !p.is_done();
    }
    const bool done = p.is_done();
    char* start = base;
    std::size_t len = f.body;
    bytes += f.body;
    if (chunked_out && f.body > 0) {
      std::size_t k = http::chunk_prefix(base, f.body);
      start -= k;
      len += k;
      std::memcpy(start + len, http::chunk_suffix.data(), http::chunk_suffix.size());
      len += http::chunk_suffix.size();
    }
    if (chunked_out && done) {
      std::memcpy(start + len, http::last_chunk.data(), http::last_chunk.size());
      len += http::last_chunk.size();
    }
    if (len > 0 || !prefix.empty()) {
      to.expires_after(lim.write_timeout);
      error_code wec;
      if (!prefix.empty()) {
        wec = co_await write_message(to, prefix, std::string_view(start, len));
        prefix = {};
        prefix_sent = true;
      } else {
        wec = co_await to.write(start, len);
      }
      if (wec) co_return relay_end::to_failed;
    }
    if (done) co_return relay_end::done;
    if (from_ended) co_return relay_end::from_failed;
  }
}

bool session::poll_client() {
  for (;;) {
    char* buf = worker_.scratch.data();  // free: the session waits on the upstream
    auto r = client_.try_read(buf, 4096);
    if (r.would_block) return true;
    if (r.ec) return false;
    client_buf_.append(buf, r.bytes);
    // A client that streams bytes at us mid-response is not read further.
    if (client_buf_.size() > shared_.options.lim.max_head_bytes) return true;
  }
}

void session::arm_client_watch() {
  watch_ = std::make_shared<client_watch>();
  watch_->owner = this;
  client_.socket().async_wait(asio::socket_base::wait_read, [w = watch_](error_code ec) {
    session* self = w->owner;
    if (!self || ec) return;
    self->watch_.reset();
    if (!self->poll_client()) {
      self->client_left_ = true;
      if (self->relay_from_) self->relay_from_->cancel();
    } else if (self->client_buf_.size() <= self->shared_.options.lim.max_head_bytes) {
      self->arm_client_watch();
    }
  });
}

void session::disarm_client_watch() {
  if (!watch_) return;
  watch_->owner = nullptr;
  watch_.reset();
  client_.cancel();  // the only wait pending on the client socket now
}

asio::awaitable<error_code> session::write_message(tls_stream& to, std::string_view head,
                                                   std::string_view body) {
  auto& c = worker_.coalesce;
  if (head.size() + body.size() <= c.size()) {
    std::memcpy(c.data(), head.data(), head.size());
    if (!body.empty()) std::memcpy(c.data() + head.size(), body.data(), body.size());
    co_return co_await to.write(c.data(), head.size() + body.size());
  }
  if (auto ec = co_await to.write(head.data(), head.size())) co_return ec;
  if (body.empty()) co_return error_code();
  co_return co_await to.write(body.data(), body.size());
}

asio::awaitable<relay_end> session::send_body(tls_stream& to, std::string_view head,
                                              bool chunked_out) {
  std::uint64_t bytes = 0;
  bool head_sent = false;
  co_return co_await relay_body(client_, to, *parser_, client_buf_, head, chunked_out, false,
                                bytes, head_sent);
}

asio::awaitable<relay_end> session::relay_response(const response_start& start,
                                                   http::response_relay_parser& rp,
                                                   upstream_connection& up, std::uint64_t& bytes) {
  std::string head = framed_head(start);
  if (start.final_head) {
    client_.expires_after(shared_.options.lim.write_timeout);
    co_return co_await client_.write(head.data(), head.size()) ? relay_end::to_failed
                                                               : relay_end::done;
  }
  // Chunked stays chunked (re-framed here, so a response can always be ended on a
  // chunk boundary); a length stays as it is; a body that ends with the connection
  // ends with the client's too.
  const bool chunked_out = start.chunked && !http10_;
  bool head_sent = false;
  auto end = co_await relay_body(up.stream, client_, rp, up.buffer, head, chunked_out, true, bytes,
                                 head_sent);
  // Grace period over: a chunked response (a watch) ends with its last chunk, so the
  // client sees a clean end and re-establishes it elsewhere.
  if (end == relay_end::from_failed && terminating_ && chunked_out && head_sent) {
    client_.expires_after(std::chrono::seconds(1));
    co_await client_.write(http::last_chunk.data(), http::last_chunk.size());
  }
  co_return end;
}

}  // namespace mvproxy::proxy
