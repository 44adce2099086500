// Relaying bytes for the connection's exchange (docs/architecture.md, "Relay"): a body
// from one stream to the other through the worker's scratch buffer, re-framed as
// chunks where needed; a response relayed to the client while the client is watched
// for leaving.

#include <cstring>

#include "session_internal.hpp"

namespace mvproxy::proxy {

template <class Parser>
asio::awaitable<relay_end> session::relay_body(relay_run& r, Parser& p) {
  struct disarm {
    session& s;
    ~disarm() {
      s.disarm_client_watch();
      s.relay_from_ = nullptr;
    }
  } disarm_at_end{*this};
  client_left_ = false;
  if (r.watch_client) relay_from_ = &r.from;
  char* const base = worker_.scratch.data() + scratch_headroom;
  bool starved = false;  // the bytes at hand end inside a chunk line: read more first
  bool from_ended = false;
  for (;;) {
    std::size_t have = 0;
    if (!r.pending.empty()) {
      have = std::min(r.pending.size(), relay_read_bytes);
      std::memcpy(base, r.pending.data(), have);
      r.pending.erase(0, have);
    }
    if ((have == 0 || starved) && !p.is_done()) {
      if (have == relay_read_bytes) co_return relay_end::from_malformed;  // an endless chunk line
      auto got = r.from.try_read(base + have, relay_read_bytes - have);
      if (got.would_block) {
        // We wait: the scratch is not ours meanwhile (the writes and poll_client() use
        // it, other sessions too), so the bytes at hand go back to `pending` and the
        // loop takes them up again after the wait.
        if (have > 0) r.pending.insert(0, base, have);
        if (auto end = co_await wait_for_bytes(r)) co_return *end;
        continue;
      }
      if (got.ec && is_eof(got.ec) && p.need_eof()) {
        // The body ends with the connection (neither length nor chunks).
        error_code ec;
        p.put_eof(ec);
        from_ended = true;
      } else if (got.ec) {
        co_return relay_end::from_failed;
      }
      have += got.bytes;
    }
    auto f = p.feed(base, have);
    if (f.ec) co_return relay_end::from_malformed;
    starved = false;
    if (f.consumed < have) {
      // After the body: the next message's bytes. Inside it: an incomplete chunk line.
      r.pending.insert(0, base + f.consumed, have - f.consumed);
      starved = !p.is_done();
    }
    const bool done = p.is_done();
    r.bytes += f.body;
    auto out = frame_in_place(base, f.body, r.chunked_out, done);
    if (!out.empty() || !r.head.empty()) {
      if (co_await write_out(r, out)) co_return relay_end::to_failed;
    }
    if (done) co_return relay_end::done;
    if (from_ended) co_return relay_end::from_failed;
  }
}

// Nothing to read yet. The head goes out now (a watch's client sees its response
// begin); then the wait, with the client watched while an upstream is waited on.
asio::awaitable<std::optional<relay_end>> session::wait_for_bytes(relay_run& r) {
  if (!r.head.empty()) {
    if (co_await write_out(r, {})) co_return relay_end::to_failed;
  }
  r.from.expires_after(read_idle_);  // the exchange's choice for this request
  if (r.watch_client && !watch_) {
    client_.expires_never();  // each write to the client sets its own deadline
    if (!poll_client()) co_return relay_end::client_gone;
    arm_client_watch();
  }
  if (r.first_wait) {
    // Likely a long wait (a watch after its head): hold no buffers meanwhile. Later
    // waits of a busy stream leave that to the sweeper.
    r.from.release_buffers();
    r.to.release_buffers();
    r.first_wait = false;
  }
  auto wec = co_await r.from.wait_readable();
  if (client_left_) co_return relay_end::client_gone;
  if (r.from.timed_out() || wec || terminating_) co_return relay_end::from_failed;
  co_return std::nullopt;
}

// `data` to `r.to`, after the head while it has not gone out (one record when small).
asio::awaitable<error_code> session::write_out(relay_run& r, std::string_view data) {
  r.to.expires_after(shared_.options.lim.write_timeout);
  if (r.head.empty()) co_return co_await r.to.write(data.data(), data.size());
  auto ec = co_await write_message(r.to, r.head, data);
  r.head = {};
  r.head_sent = true;
  co_return ec;
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

asio::awaitable<error_code> session::write_message(byte_stream& to, std::string_view head,
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

asio::awaitable<relay_end> session::send_body(byte_stream& to, std::string_view head,
                                              bool chunked_out) {
  std::uint64_t bytes = 0;
  relay_run r{client_, to, client_buf_, head, chunked_out, false, bytes};
  co_return co_await relay_body(r, *parser_);
}

asio::awaitable<relay_end> session::relay_response(response_start& start,
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
  relay_run r{up.stream, client_, up.buffer, head, chunked_out, true, bytes};
  auto end = co_await relay_body(r, rp);
  // A response body that is not HTTP is cut short like any other.
  if (end == relay_end::from_malformed) end = relay_end::from_failed;
  // Grace period over: a chunked response (a watch) ends with its last chunk, so the
  // client sees a clean end and re-establishes it elsewhere.
  // An upstream that cut its response otherwise: the connection is reset, not closed
  // cleanly, so not even a close-delimited body can pass for complete.
  if (end == relay_end::from_failed && !terminating_) reset_on_close_ = true;
  if (end == relay_end::from_failed && terminating_ && chunked_out && r.head_sent) {
    client_.expires_after(std::chrono::seconds(1));
    co_await client_.write(http::last_chunk.data(), http::last_chunk.size());
  }
  co_return end;
}

}  // namespace mvproxy::proxy
