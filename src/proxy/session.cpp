#include "mvproxy/proxy/session.hpp"

#include <openssl/err.h>
#include <openssl/rand.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <cstring>
#include <random>

#include "mvproxy/util/status.hpp"
#include "session_internal.hpp"

namespace mvproxy::proxy {

namespace {

// The sweeper's period: fine enough for the shortest configured timeout.
clock::duration sweep_interval(const limits& lim) {
  auto shortest = std::min({lim.handshake_timeout, lim.head_timeout, lim.keepalive_idle_timeout,
                            lim.upstream_connect_timeout, lim.upstream_response_timeout,
                            lim.stream_idle_timeout, lim.write_timeout});
  return std::clamp<clock::duration>(shortest / 8, std::chrono::milliseconds(10),
                                     std::chrono::seconds(1));
}

// The randomness of a new audit ID: OpenSSL's generator, as Go's uuid.New() reads
// crypto/rand. IDs need to be unique, not secret, so should it ever fail a per-thread
// generator seeded from the system's entropy stands in.
http::uuid_bytes audit_id_random() {
  http::uuid_bytes b;
  if (RAND_bytes(b.data(), static_cast<int>(b.size())) == 1) return b;
  thread_local std::mt19937_64 fallback{std::random_device{}()};
  for (std::size_t i = 0; i < b.size(); i += 8) {
    auto r = fallback();
    std::memcpy(b.data() + i, &r, 8);
  }
  return b;
}

}  // namespace

worker::worker(shared_state& s)
    : shared(s),
      sweeper(ioc, sweep_interval(s.options.lim)),
      pool(s.options.lim, &s.metrics.upstream_connections),
      scratch(scratch_headroom + relay_read_bytes + scratch_tail),
      coalesce(coalesce_bytes) {}

worker::request_series& worker::series_for(const std::string& route, int status) {
  for (auto& s : series)
    if (s.status == status && s.route == route) return s;
  auto& m = shared.metrics;
  if (series.size() >= 256) series.clear();  // routes x codes is small; stay bounded anyway
  return series.emplace_back(request_series{route, status,
                                            &m.requests_total.with({route, std::to_string(status)}),
                                            &m.request_duration_seconds.with({route})});
}

session::session(worker& w, asio::ip::tcp::socket socket, std::shared_ptr<tls::server_context> ctx)
    : worker_(w),
      shared_(w.shared),
      tls_ctx_(std::move(ctx)),
      client_(std::move(socket), tls_ctx_->context().native_handle(), &w.sweeper),
      id_(shared_.next_id.fetch_add(1, std::memory_order_relaxed)),
      scanner_(shared_.options.lim.max_head_bytes) {
  registration_ = worker_.sessions.insert(worker_.sessions.end(), this);
  shared_.live_sessions.fetch_add(1);
}

session::~session() {
  worker_.sessions.erase(registration_);
  shared_.live_sessions.fetch_sub(1);
}

void session::close_if_idle() {
  if (idle_) client_.cancel();
  if (view_wait_) view_wait_->cancel();  // a waiting long-poll answers now
}

void session::terminate() {
  terminating_ = true;
  client_.cancel();
  if (view_wait_) view_wait_->cancel();
  if (current_upstream_) current_upstream_->stream.cancel();
}

asio::awaitable<void> session::run() {
  const auto& lim = shared_.options.lim;
  client_.expires_after(lim.handshake_timeout);
  auto ec = co_await client_.handshake(true);
  if (ec) {
    shared_.log->debug("conn={} TLS handshake failed: {}", id_, ec.message());
    client_.close();
    co_return;
  }
  auto caller = tls_ctx_->classify(client_.native_handle());
  ERR_clear_error();  // verification leaves errors behind; tls_stream expects none
  caller_kind_ = caller.kind;
  trusted_peer_ = caller.kind == tls::caller_kind::trusted_peer;
  if (caller.kind == tls::caller_kind::user)
    identity_ = http::identity_from_certificate(caller.certificate.get());
  shared_.log->debug("conn={} caller={}{}", id_, static_cast<int>(caller.kind),
                     identity_ ? " user=" + identity_->user : std::string());
  bool first = true;
  while (!terminating_ && co_await serve_one(first)) first = false;
  close_client();
}

void session::close_client() {
  // close_notify goes out if the socket takes it at once; nobody waits for the answer.
  client_.shutdown_and_close();
}

asio::awaitable<session::head_result> session::read_head(bool first, std::size_t& head_size,
                                                         std::string_view& reason) {
  const auto& lim = shared_.options.lim;
  scanner_.reset();
  idle_ = client_buf_.empty();
  client_.expires_after(first || !idle_ ? lim.head_timeout : lim.keepalive_idle_timeout);
  for (;;) {
    if (!client_buf_.empty()) {
      auto scan = scanner_.feed(client_buf_);
      switch (scan.state) {
        case http::head_state::complete:
          head_size = scan.head_size;
          co_return head_result::complete;
        case http::head_state::bad:
          reason = scan.reason;
          co_return head_result::bad;
        case http::head_state::too_large:
          reason = scan.reason;
          co_return head_result::too_large;
        case http::head_state::need_more:
          break;
      }
    }
    if (idle_ && worker_.draining) co_return head_result::closed;
    char* buf = worker_.scratch.data();
    auto [ec, n] = co_await client_.read_some(buf, 16 * 1024);
    client_buf_.append(buf, n);
    if (n > 0 && idle_) {
      idle_ = false;
      if (!first) client_.expires_after(lim.head_timeout);
    }
    if (ec)
      co_return ec == beast::error::timeout && !idle_ ? head_result::timeout : head_result::closed;
  }
}

asio::awaitable<bool> session::serve_one(bool first) {
  const auto& lim = shared_.options.lim;
  std::size_t head_size = 0;
  std::string_view reason;
  auto r = co_await read_head(first, head_size, reason);
  exchange ex;
  switch (r) {
    case head_result::complete:
      break;
    case head_result::closed:
      co_return false;
    case head_result::timeout:
      shared_.log->debug("conn={} request head not complete in time, closing", id_);
      co_return false;
    case head_result::bad:
      co_await send_local_reply(reply_for(reply_kind::bad_request, reason), false, ex);
      finish(ex);
      co_return false;
    case head_result::too_large:
      co_await send_local_reply(reply_for(reply_kind::head_too_large), false, ex);
      finish(ex);
      co_return false;
  }

  request_parser parser(static_cast<std::uint32_t>(lim.max_head_bytes + 1));
  auto fed = parser.feed(client_buf_.data(), head_size);
  client_buf_.erase(0, head_size);
  if (fed.ec || !parser.is_header_done()) {
    co_await send_local_reply(
        reply_for(reply_kind::bad_request, fed.ec ? fed.ec.message() : "incomplete head"), false,
        ex);
    finish(ex);
    co_return false;
  }
  auto& req = parser.get();
  ex.method = req.method_string();
  ex.path = req.target();
  ex.audit_id = http::audit_id_for(req, audit_id_random);
  in_flight counted(shared_.metrics.requests_in_flight);
  bool keep = http::is_upgrade_request(req) ? co_await forward_upgrade(parser, ex)
                                            : co_await forward(parser, ex);
  finish(ex);
  // A long head or body left a large buffer behind: give it back.
  if (client_buf_.empty() && client_buf_.capacity() > 4096) std::string().swap(client_buf_);
  co_return keep && !worker_.draining && !terminating_;
}

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
        int code = rp->get().result_int();
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
  ex.status = res.result_int();
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

asio::awaitable<void> session::send_local_reply(const local_reply& r, bool keep_alive,
                                                exchange& ex) {
  dispatch::answer a;
  a.status = static_cast<unsigned>(r.code);
  a.content_type = "application/json";
  a.headers = {{"Cache-Control", "no-cache, private"}};
  if (r.retry_after) a.headers.emplace_back("Retry-After", "1");
  a.text = util::status_json(r.code, r.message);
  co_await send_answer(a, false, keep_alive, ex);
}

asio::awaitable<void> session::send_answer(const dispatch::answer& a, bool head_request,
                                           bool keep_alive, exchange& ex) {
  bhttp::response_header<> res;
  res.result(a.status);
  res.version(11);
  if (!a.content_type.empty()) res.set(bhttp::field::content_type, a.content_type);
  for (auto& [k, v] : a.headers) res.set(k, v);
  auto body = a.body();
  if (a.status != 304) res.set(bhttp::field::content_length, std::to_string(body.size()));
  if (!keep_alive) res.set(bhttp::field::connection, "close");
  http::add_audit_id(res, ex.audit_id);
  if (head_request || a.status == 304) body = {};
  ex.status = static_cast<int>(a.status);
  ex.bytes += body.size();
  client_.expires_after(shared_.options.lim.write_timeout);
  co_await write_message(client_, http::serialize_head(res), body);
}

void session::finish(exchange& ex) {
  auto elapsed = clock::now() - ex.start;
  double seconds = std::chrono::duration<double>(elapsed).count();
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count();
  if (ex.rerouted)
    shared_.metrics.rerouted_request_total
        .with({std::to_string(ex.status), ex.group, ex.version, ex.resource})
        .inc();
  auto& series = worker_.series_for(ex.route, ex.status);
  series.total->inc();
  series.duration->observe(seconds);
  // Integer formatting of the duration: a float format is the costliest part of the line.
  // The audit ID goes last: a client's may contain spaces.
  shared_.access->info("{} {} {} route={} bytes={} duration={}.{:06}s conn={} audit-id={}",
                       ex.method, ex.path, ex.status, ex.route, ex.bytes, us / 1'000'000,
                       us % 1'000'000, id_, http::audit_id_for_log(ex.audit_id));
}

}  // namespace mvproxy::proxy
