// Relaying bytes (docs/architecture.md, "Relay"): a body from one stream to the other
// through the worker's scratch buffer, re-framed as chunks where needed; a response
// head read from an upstream; the response relayed to the client while the client is
// watched for leaving.

#include <cstring>

#include "session_internal.hpp"

namespace mvproxy::proxy {

template <class Parser>
asio::awaitable<session::relay_end> session::relay_body(tls_stream& from, tls_stream& to, Parser& p,
                                                        std::string& pending,
                                                        std::string_view prefix, bool chunked_out,
                                                        bool watch_client, std::uint64_t& bytes,
                                                        bool& prefix_sent) {
  const auto& lim = shared_.options.lim;
  const auto read_timeout = watch_client ? lim.stream_idle_timeout : lim.write_timeout;
  struct disarm {
    session& s;
    ~disarm() { s.disarm_client_watch(); }
  } disarm_at_end{*this};
  client_left_ = false;
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

// The request side's instantiation is used by session_forward.cpp.
template asio::awaitable<session::relay_end> session::relay_body<http::request_relay_parser>(
    tls_stream&, tls_stream&, http::request_relay_parser&, std::string&, std::string_view, bool,
    bool, std::uint64_t&, bool&);

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
      if (self->current_upstream_) self->current_upstream_->stream.cancel();
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

asio::awaitable<error_code> session::read_response_head(
    upstream_connection& up, std::optional<response_parser>& rp, bool head_request,
    std::string* relayed_head, bool stop_at_continue, std::size_t* received) {
  const auto& lim = shared_.options.lim;
  up.stream.expires_after(lim.upstream_response_timeout);
  for (;;) {
    if (!rp) {
      rp.emplace(static_cast<std::uint32_t>(lim.max_head_bytes));
      if (head_request) rp->skip(true);
      if (relayed_head) {
        relayed_head->clear();
        rp->write_head_to(relayed_head);
      }
    }
    if (!up.buffer.empty()) {
      auto f = rp->feed(up.buffer.data(), up.buffer.size(), true);
      if (f.ec) co_return f.ec;
      up.buffer.erase(0, f.consumed);
      if (rp->is_header_done()) {
        // Interim answers (102, 103) are not relayed; 101 is the caller's to judge.
        const auto code = static_cast<int>(rp->get().result_int());
        if (code >= 100 && code < 200 && code != 101 && !(stop_at_continue && code == 100)) {
          rp.reset();
          continue;
        }
        co_return error_code();
      }
    }
    char* buf = worker_.scratch.data();
    auto [ec, n] = co_await up.stream.read_some(buf, relay_read_bytes);
    if (received) *received += n;
    if (ec) co_return ec;
    up.buffer.append(buf, n);
  }
}

asio::awaitable<bool> session::relay_response(response_parser& rp, upstream_connection& up,
                                              bool head_request, bool keep_alive, exchange& ex,
                                              std::string* relayed_head) {
  auto& res = rp.get();
  const bool chunked = rp.chunked();
  ex.status = static_cast<int>(res.result_int());
  // Chunked stays chunked (re-framed here, so a response can always be ended on a
  // chunk boundary); a length stays as it is; a body that ends with the connection
  // ends with the client's too.
  const bool chunked_out = chunked && !head_request && !ex.client_http10;
  std::string head;
  if (relayed_head) {
    head = std::move(*relayed_head);
    if (!rp.connection_tokens().empty()) http::remove_fields(head, rp.connection_tokens());
    http::add_audit_id(head, ex.audit_id);
    if (chunked && !ex.client_http10) head += "Transfer-Encoding: chunked\r\n";
    if (!keep_alive) head += "Connection: close\r\n";
    head += "\r\n";
  } else {
    http::strip_hop_by_hop(res, false);
    http::add_audit_id(res, ex.audit_id);
    res.version(11);
    if (chunked && !ex.client_http10) res.set(bhttp::field::transfer_encoding, "chunked");
    if (!keep_alive) res.set(bhttp::field::connection, "close");
    head = http::serialize_head(res);
  }
  if (rp.is_done()) {
    client_.expires_after(shared_.options.lim.write_timeout);
    co_return !co_await client_.write(head.data(), head.size());
  }
  bool head_sent = false;
  auto end = co_await relay_body(up.stream, client_, rp, up.buffer, head, chunked_out, true,
                                 ex.bytes, head_sent);
  if (end == relay_end::done) co_return true;
  if (end == relay_end::from_failed) {
    // Grace period over: a chunked response (a watch) ends with its last chunk, so
    // the client sees a clean end and re-establishes it elsewhere.
    if (terminating_ && chunked_out && head_sent) {
      client_.expires_after(std::chrono::seconds(1));
      co_await client_.write(http::last_chunk.data(), http::last_chunk.size());
    }
    shared_.log->debug("conn={} upstream response ended early", id_);
  } else if (end == relay_end::client_gone) {
    shared_.log->debug("conn={} client went away during the response", id_);
  }
  co_return false;
}

}  // namespace mvproxy::proxy
