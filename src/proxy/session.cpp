#include "mvproxy/proxy/session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <cstring>
#include <openssl/err.h>

#include "mvproxy/control/peer_state.hpp"
#include "mvproxy/util/status.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on Asio's coroutine frames (sized
// operator delete of awaitable_frame_base) when it inlines deeply, as here at -O2.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace mvproxy::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// One read's worth of relayed bytes; a head and body up to this size leave as one write.
constexpr std::size_t relay_read_bytes = 64 * 1024;
constexpr std::size_t coalesce_bytes = 16 * 1024;

struct session::exchange {
  std::string method = "-";
  std::string path = "-";
  int status = 0;
  std::string route = "local";
  std::uint64_t bytes = 0;
  clock::time_point start = clock::now();
  // Set when the request went (or should have gone) to a peer: counted in
  // apiserver_rerouted_request_total{code,group,version,resource}.
  bool rerouted = false;
  std::string group, version, resource;
};

struct session::tunnel_state {
  explicit tunnel_state(const asio::any_io_executor& ex) : watchdog(ex) {}
  clock::time_point last_activity = clock::now();
  int running = 2;
  asio::steady_timer watchdog;
};

namespace {

// Counts a request to a peer in flight for as long as it is being served.
struct peer_in_flight {
  explicit peer_in_flight(const std::shared_ptr<control::peer_runtime>& r) : r_(r) {
    if (r_) r_->in_flight().fetch_add(1, std::memory_order_relaxed);
  }
  ~peer_in_flight() {
    if (r_) r_->in_flight().fetch_sub(1, std::memory_order_relaxed);
  }
  peer_in_flight(const peer_in_flight&) = delete;
  peer_in_flight& operator=(const peer_in_flight&) = delete;
  std::shared_ptr<control::peer_runtime> r_;
};

// Counts a request in flight for exactly as long as it is being served.
struct in_flight {
  explicit in_flight(metrics::gauge& g) : g_(g) { g_.inc(); }
  ~in_flight() { g_.dec(); }
  in_flight(const in_flight&) = delete;
  in_flight& operator=(const in_flight&) = delete;
  metrics::gauge& g_;
};

bool is_eof(const error_code& ec) {
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
}

// The sweeper's period: fine enough for the shortest configured timeout.
clock::duration sweep_interval(const limits& lim) {
  auto shortest = std::min({lim.handshake_timeout, lim.head_timeout, lim.keepalive_idle_timeout,
                            lim.upstream_connect_timeout, lim.upstream_response_timeout,
                            lim.stream_idle_timeout, lim.write_timeout});
  return std::clamp<clock::duration>(shortest / 8, std::chrono::milliseconds(10),
                                     std::chrono::seconds(1));
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
  return series.emplace_back(request_series{
      route, status, &m.requests_total.with({route, std::to_string(status)}),
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
        case http::head_state::complete: head_size = scan.head_size; co_return head_result::complete;
        case http::head_state::bad: reason = scan.reason; co_return head_result::bad;
        case http::head_state::too_large: reason = scan.reason; co_return head_result::too_large;
        case http::head_state::need_more: break;
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
    if (ec) co_return ec == beast::error::timeout && !idle_ ? head_result::timeout : head_result::closed;
  }
}

asio::awaitable<bool> session::serve_one(bool first) {
  const auto& lim = shared_.options.lim;
  std::size_t head_size = 0;
  std::string_view reason;
  auto r = co_await read_head(first, head_size, reason);
  exchange ex;
  switch (r) {
    case head_result::complete: break;
    case head_result::closed: co_return false;
    case head_result::timeout:
      shared_.log->debug("conn={} request head not complete in time, closing", id_);
      co_return false;
    case head_result::bad:
      co_await send_status(400, "bad request: " + std::string(reason), false, false, ex);
      finish(ex);
      co_return false;
    case head_result::too_large:
      co_await send_status(431, "request header fields too large", false, false, ex);
      finish(ex);
      co_return false;
  }

  request_parser parser(static_cast<std::uint32_t>(lim.max_head_bytes + 1));
  auto fed = parser.feed(client_buf_.data(), head_size);
  client_buf_.erase(0, head_size);
  if (fed.ec || !parser.is_header_done()) {
    co_await send_status(400, "bad request: " + (fed.ec ? fed.ec.message() : std::string("incomplete head")),
                         false, false, ex);
    finish(ex);
    co_return false;
  }
  auto& req = parser.get();
  ex.method = req.method_string();
  ex.path = req.target();
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
                                                        std::string& pending, std::string_view prefix,
                                                        bool chunked_out, bool watch_client,
                                                        std::uint64_t& bytes, bool& prefix_sent) {
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
      if (have == relay_read_bytes) co_return relay_end::from_failed;  // a chunk line that never ends
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

asio::awaitable<error_code> session::read_response_head(upstream_connection& up,
                                                        std::optional<response_parser>& rp,
                                                        bool head_request,
                                                        std::string* relayed_head,
                                                        bool stop_at_continue,
                                                        std::size_t* received) {
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

void session::report_local_trouble() const {
  if (shared_.options.local_trouble) shared_.options.local_trouble();
}

asio::awaitable<void> session::wait_for_view(clock::time_point deadline,
                                             const std::function<bool()>& ready) {
  auto* cluster = shared_.options.cluster;
  while (cluster && !terminating_ && !worker_.draining && clock::now() < deadline) {
    auto timer = std::make_shared<asio::steady_timer>(client_.socket().get_executor());
    timer->expires_at(deadline);
    std::weak_ptr<asio::steady_timer> weak = timer;
    cluster->on_next_change([weak, ex = timer->get_executor()] {
      asio::post(ex, [weak] {
        if (auto t = weak.lock()) t->cancel();
      });
    });
    if (ready()) break;
    view_wait_ = timer;
    co_await timer->async_wait(use_tuple);
    view_wait_.reset();
  }
}

asio::awaitable<dispatch::plan> session::settle_plan(request_parser& parser, exchange& ex) {
  dispatch::plan plan = plan_for(parser, ex);
  auto* cluster = shared_.options.cluster;
  if (plan.what != dispatch::plan::action::wait || !cluster) co_return plan;
  const auto& lim = shared_.options.lim;
  const bool probe = plan.wait == routing::wait_for::probe;
  const auto deadline = clock::now() + (probe ? lim.peer_probe_wait : lim.local_recovery_wait);
  const auto probes = cluster->current()->local_probes;
  report_local_trouble();  // probe now, not at the next retry tick
  co_await wait_for_view(deadline, [&] {
    auto v = cluster->current();
    return v->local_state == routing::apiserver_state::up || (probe && v->local_probes != probes);
  });
  // What is known now decides: a client's request goes by the last local view, a
  // peer's is handed back unless the apiserver is up again.
  co_return plan_for(parser, ex, true);
}

asio::awaitable<bool> session::answer_peer_state(request_parser& parser, exchange& ex) {
  auto* cluster = shared_.options.cluster;
  std::string_view target = parser.get().target();
  auto q = target.find('?');
  auto query = control::parse_state_query(q == std::string_view::npos ? std::string_view{}
                                                                        : target.substr(q + 1));
  if (cluster) {
    co_await wait_for_view(clock::now() + query.timeout, [&] {
      return control::state_changed(query, control::own_state(*cluster->current()));
    });
  }
  dispatch::answer a;
  a.content_type = "application/json";
  a.headers.emplace_back("Cache-Control", "no-cache, private");
  a.text = cluster ? control::peer_state_json(control::own_state(*cluster->current())) : "{}";
  const bool keep = parser.keep_alive() && parser.is_done();
  co_await send_answer(a, false, keep, ex);
  co_return keep;
}

asio::awaitable<bool> session::forward(request_parser& parser, exchange& ex) {
  auto& req = parser.get();
  forward_state st;
  st.client_keep_alive = parser.keep_alive();
  st.chunked = parser.chunked();
  st.head_request = req.method() == bhttp::verb::head;
  st.has_body = !parser.is_done();
  st.idempotent = req.method() == bhttp::verb::get || st.head_request ||
                  req.method() == bhttp::verb::options;

  st.plan = co_await settle_plan(parser, ex);
  if (st.plan.what == dispatch::plan::action::peer_state)
    co_return co_await answer_peer_state(parser, ex);
  if (st.plan.what == dispatch::plan::action::respond) {
    // A body we are not going to read ends the connection after the answer.
    bool keep = st.client_keep_alive && !st.has_body;
    co_await send_answer(st.plan.response, st.head_request, keep, ex);
    co_return keep;
  }

  // We answer 100 Continue ourselves once we start reading the body, so the
  // upstream never sees the expectation (a proxy may do either; this keeps the
  // upstream exchange a plain request/response).
  if (auto it = req.find(bhttp::field::expect); it != req.end()) {
    st.expect_continue = beast::iequals(it->value(), "100-continue");
    if (st.expect_continue) req.erase(bhttp::field::expect);
  }
  http::strip_hop_by_hop(req, false);
  http::apply_identity(req, identity_ ? &*identity_ : nullptr, trusted_peer_);
  req.version(11);
  if (st.chunked) req.set(bhttp::field::transfer_encoding, "chunked");

  for (;;) {
    auto r = co_await attempt(parser, ex, st);
    if (r.what == step::done) co_return r.keep;
    if (r.what == step::retry) {
      st.fresh = true;
      st.retried = true;
      continue;
    }
    // step::next_target
    if (st.ti + 1 < st.plan.targets.size()) {
      ++st.ti;
      continue;
    }
    // Every peer handed it back as not served there: the local apiserver's answer
    // (its 404) is the truth. One that could not be reached makes it a 503 (rule 7).
    const bool has_local = std::any_of(st.plan.targets.begin(), st.plan.targets.end(),
                                       [](auto& t) { return !t.peer; });
    if (!st.unreachable && !has_local) {
      st.plan.targets.push_back({"local", {}, 0, false, nullptr});
      ++st.ti;
      continue;
    }
    ex.rerouted = true;
    const bool keep = st.client_keep_alive && parser.is_done();
    co_await send_status(503, "no apiserver that serves this request could take it: every peer "
                              "that might serve it is unreachable or handed it back",
                         true, keep, ex);
    co_return keep;
  }
}

namespace {

// The value of `name` in a head written by relay_parser::write_head_to, or empty.
std::string_view field_in_head(std::string_view head, std::string_view name) {
  std::size_t pos = 0;
  while ((pos = head.find("\r\n", pos)) != std::string_view::npos) {
    pos += 2;
    auto line = head.substr(pos, head.find("\r\n", pos) - pos);
    if (line.size() > name.size() && line[name.size()] == ':' &&
        beast::iequals(line.substr(0, name.size()), name)) {
      auto v = line.substr(name.size() + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      return v;
    }
  }
  return {};
}

}  // namespace

asio::awaitable<session::step_result> session::attempt(request_parser& parser, exchange& ex,
                                                       forward_state& st) {
  const auto& ref = st.plan.targets[st.ti];
  const upstream_target& target = prepare_target(st.plan, st.ti, st.peer_storage, parser.get(), ex);
  peer_in_flight counted_peer(ref.runtime);
  bool found_closed = false;
  auto up = st.fresh ? nullptr : worker_.pool.acquire(target, &found_closed);
  st.fresh = false;
  if (found_closed && !target.peer) report_local_trouble();
  const bool reused = up != nullptr;
  if (!up) {
    auto cr = co_await connect(target);
    if (!cr.conn) {
      if (target.peer) st.unreachable = true;
      auto a = after_connect_failure(st.plan, st.ti, target, cr, ex);
      if (!a) co_return step_result{step::next_target};
      const bool keep = st.client_keep_alive && parser.is_done();
      co_await send_status(a->code, a->message, a->retry_after, keep, ex);
      co_return step_result{step::done, keep};
    }
    up = std::move(cr.conn);
    up->count_in(worker_.pool.gauge_for(target, "active"));
  }
  current_upstream_ = up.get();
  auto reply = co_await send_and_read_head(*up, parser, st, target.peer, reused);
  current_upstream_ = nullptr;
  if (reply.client_gone || terminating_) co_return step_result{step::done, false};
  if (!reply.handed_back.empty()) {
    // Nothing reached any apiserver: the next target may take it.
    if (reply.handed_back == "apiserver-down") st.unreachable = true;
    shared_.metrics.upstream_errors_total.with({target.name, "handed-back"}).inc();
    shared_.log->info("conn={} {} handed the request back ({})", id_, target.name, reply.handed_back);
    co_return step_result{step::next_target};
  }
  if (reply.kind != failure::none) {
    if (!target.peer) report_local_trouble();
    if (reply.retryable && !st.retried) {
      shared_.log->debug("conn={} upstream connection closed before answering ({}), retrying on a "
                         "fresh connection", id_, reply.detail);
      co_return step_result{step::retry};
    }
    shared_.metrics.upstream_errors_total.with({target.name, to_string(reply.kind)}).inc();
    note_peer_failure(st.plan, st.ti, reply.kind);
    auto a = answer_for(reply.kind, target, reply.detail);
    shared_.log->warn("conn={} {}", id_, a.message);
    const bool keep = st.client_keep_alive && parser.is_done();
    co_await send_status(a.code, a.message, a.retry_after, keep, ex);
    co_return step_result{step::done, keep};
  }

  if (ref.runtime) ref.runtime->on_success();
  auto& rp = *st.rp;
  const bool keep = st.client_keep_alive && !worker_.draining && !rp.need_eof() && parser.is_done();
  current_upstream_ = up.get();
  bool ok = co_await relay_response(rp, *up, st.head_request, keep, ex, &st.relayed_head);
  current_upstream_ = nullptr;
  if (ok && rp.is_done() && rp.keep_alive() && up->buffer.empty() && up->stream.input_drained() &&
      !terminating_ && !worker_.draining && parser.is_done()) {
    if (up->buffer.capacity() > 4096) std::string().swap(up->buffer);
    worker_.pool.release(target, std::move(up));
  }
  co_return step_result{step::done, ok && keep};
}

asio::awaitable<session::upstream_reply> session::send_and_read_head(upstream_connection& up,
                                                                     request_parser& parser,
                                                                     forward_state& st, bool peer,
                                                                     bool reused) {
  const auto& lim = shared_.options.lim;
  auto& req = parser.get();
  upstream_reply out;
  // A peer decides on the head alone whether it takes the request: the body follows
  // its 100 Continue, so a hand-back leaves the body unread, for the next target.
  const bool ask_first = st.has_body && !st.body_consumed && peer;
  if (ask_first) req.set(bhttp::field::expect, "100-continue");
  else req.erase(bhttp::field::expect);
  std::string head = http::serialize_head(req);
  std::size_t received = 0;
  // A failure with nothing received: the server closed a reused connection before
  // reading (Go's transport retries then), or went away under an idempotent request.
  auto fail = [&](failure kind, std::string detail, bool written) {
    out.kind = kind;
    out.detail = std::move(detail);
    out.retryable = kind == failure::broken && received == 0 && up.buffer.empty() &&
                    !st.body_consumed && ((reused && (!written || st.idempotent)) ||
                                          (st.idempotent && !st.has_body));
  };
  if (!st.has_body || st.expect_continue || ask_first) {
    up.stream.expires_after(lim.write_timeout);
    if (auto wec = co_await up.stream.write(head.data(), head.size())) {
      fail(wec == beast::error::timeout ? failure::timeout : failure::broken,
           "writing the request: " + wec.message(), false);
      co_return out;
    }
    head.clear();
  }
  st.rp.reset();
  if (ask_first) {
    auto rec = co_await read_response_head(up, st.rp, st.head_request, &st.relayed_head, true, &received);
    if (rec) {
      fail(rec == beast::error::timeout ? failure::timeout : failure::broken,
           "waiting for 100 Continue: " + rec.message(), true);
      co_return out;
    }
    if (st.rp->get().result_int() != 100) {
      check_handed_back(out, st, peer);
      co_return out;  // a final answer before the body: relayed; the body stays unread
    }
    st.rp.reset();
  }
  if (st.has_body) {
    if (st.expect_continue) {
      static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
      client_.expires_after(lim.write_timeout);
      if (co_await client_.write(cont.data(), cont.size())) {
        out.client_gone = true;
        co_return out;
      }
      st.expect_continue = false;
    }
    st.body_consumed = true;
    std::uint64_t body_bytes = 0;
    bool head_sent = false;
    auto end = co_await relay_body(client_, up.stream, parser, client_buf_, head, st.chunked, false,
                                   body_bytes, head_sent);
    if (end == relay_end::from_failed || end == relay_end::client_gone) {
      out.client_gone = true;
      co_return out;
    }
    if (end == relay_end::to_failed) {
      fail(failure::broken, "writing the request body", true);
      co_return out;
    }
  }
  auto rec = co_await read_response_head(up, st.rp, st.head_request, &st.relayed_head, false, &received);
  if (!rec && st.rp->get().result_int() == 101) {
    fail(failure::broken, "101 Switching Protocols without an upgrade request", true);
    out.retryable = false;
  } else if (rec) {
    const bool timeout = rec == beast::error::timeout;
    fail(timeout ? failure::timeout : failure::broken,
         "reading the response: " + (timeout ? std::string("timeout awaiting response headers")
                                             : rec.message()),
         true);
  } else {
    check_handed_back(out, st, peer);
  }
  co_return out;
}

void session::check_handed_back(upstream_reply& out, const forward_state& st, bool peer) const {
  if (!peer || !st.rp || st.rp->get().result_int() != 503) return;
  auto reason = field_in_head(st.relayed_head, control::handed_back_header);
  if (!reason.empty()) out.handed_back = std::string(reason);
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
  const bool chunked_out = chunked && !head_request;
  std::string head;
  if (relayed_head) {
    head = std::move(*relayed_head);
    if (!rp.connection_tokens().empty()) http::remove_fields(head, rp.connection_tokens());
    if (chunked) head += "Transfer-Encoding: chunked\r\n";
    if (!keep_alive) head += "Connection: close\r\n";
    head += "\r\n";
  } else {
    http::strip_hop_by_hop(res, false);
    res.version(11);
    if (chunked) res.set(bhttp::field::transfer_encoding, "chunked");
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

asio::awaitable<bool> session::forward_upgrade(request_parser& parser, exchange& ex) {
  const auto& lim = shared_.options.lim;
  auto& req = parser.get();
  if (!parser.is_done()) {
    co_await send_status(400, "bad request: an upgrade request cannot carry a body", false, false, ex);
    co_return false;
  }
  dispatch::plan plan = co_await settle_plan(parser, ex);
  if (plan.what != dispatch::plan::action::forward) {
    if (plan.what == dispatch::plan::action::respond)
      co_await send_answer(plan.response, false, false, ex);
    else
      co_await send_status(400, "bad request: an upgrade request for this path", false, false, ex);
    co_return false;
  }
  http::strip_hop_by_hop(req, true);
  http::apply_identity(req, identity_ ? &*identity_ : nullptr, trusted_peer_);
  req.version(11);

  // A dedicated connection, never pooled: after a refused upgrade nothing may be
  // written on it again (CVE-2018-1002105).
  std::size_t ti = 0;
  upstream_target peer_storage;
  connect_result cr;
  const upstream_target* chosen = nullptr;
  for (;; ++ti) {
    const upstream_target& target = prepare_target(plan, ti, peer_storage, req, ex);
    cr = co_await connect(target);
    chosen = &target;
    if (cr.conn) break;
    if (auto a = after_connect_failure(plan, ti, target, cr, ex)) {
      co_await send_status(a->code, a->message, a->retry_after, false, ex);
      co_return false;
    }
  }
  const upstream_target& target = *chosen;
  peer_in_flight counted_peer(plan.targets[ti].runtime);
  if (auto& r = plan.targets[ti].runtime) r->on_success();
  auto up = std::move(cr.conn);
  up->count_in(worker_.pool.gauge_for(target, "tunnel"));
  current_upstream_ = up.get();

  std::string head = http::serialize_head(req);
  up->stream.expires_after(lim.write_timeout);
  auto wec = co_await up->stream.write(head.data(), head.size());
  std::optional<response_parser> rp;
  error_code rec;
  if (!wec) rec = co_await read_response_head(*up, rp, false, nullptr);
  if (wec || rec) {
    current_upstream_ = nullptr;
    if (terminating_) co_return false;
    auto err = wec ? wec : rec;
    failure kind = err == beast::error::timeout ? failure::timeout : failure::broken;
    shared_.metrics.upstream_errors_total.with({target.name, to_string(kind)}).inc();
    auto a = answer_for(kind, target, "upgrading: " + err.message());
    co_await send_status(a.code, a.message, a.retry_after, false, ex);
    co_return false;
  }

  if (rp->get().result() == bhttp::status::switching_protocols) {
    ex.status = 101;
    auto& res = rp->get();
    http::strip_hop_by_hop(res, true);
    res.version(11);
    std::string rhead = http::serialize_head(res);
    client_.expires_after(lim.write_timeout);
    if (!co_await client_.write(rhead.data(), rhead.size())) co_await tunnel(*up);
  } else {
    co_await relay_response(*rp, *up, false, false, ex, nullptr);
  }
  current_upstream_ = nullptr;
  co_return false;
}

asio::awaitable<void> session::tunnel(upstream_connection& up) {
  client_.expires_never();
  up.stream.expires_never();
  // Bytes that arrived right behind either head belong to the tunnel.
  if (!client_buf_.empty()) {
    if (co_await up.stream.write(client_buf_.data(), client_buf_.size())) co_return;
    client_buf_.clear();
  }
  if (!up.buffer.empty()) {
    if (co_await client_.write(up.buffer.data(), up.buffer.size())) co_return;
    up.buffer.clear();
  }
  tunnel_state st(client_.socket().get_executor());
  using namespace asio::experimental::awaitable_operators;
  co_await (pump(client_, up.stream, true, st) && pump(up.stream, client_, false, st) &&
            idle_watch(up, st));
}

asio::awaitable<void> session::pump(tls_stream& from, tls_stream& to, bool from_client,
                                    tunnel_state& st) {
  bool half_closed = false;
  for (;;) {
    // The worker's scratch holds the bytes only until they are written (or copied by
    // a write that has to wait).
    char* buf = worker_.scratch.data();
    auto [ec, n] = co_await from.read_some(buf, 16 * 1024);
    if (n > 0) {
      st.last_activity = clock::now();
      if (co_await to.write(buf, n)) break;
      st.last_activity = clock::now();
    }
    if (ec) {
      // The client finished sending: pass the half-close on and keep relaying the
      // other way until the upstream ends too.
      if (from_client && is_eof(ec)) {
        error_code ignored;
        to.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
        half_closed = true;
      }
      break;
    }
  }
  if (!half_closed) {
    from.cancel();
    to.cancel();
  }
  if (--st.running == 0) st.watchdog.cancel();
}

asio::awaitable<void> session::idle_watch(upstream_connection& up, tunnel_state& st) {
  const auto idle = shared_.options.lim.tunnel_idle_timeout;
  while (st.running > 0) {
    st.watchdog.expires_at(st.last_activity + idle);
    co_await st.watchdog.async_wait(use_tuple);
    if (st.running == 0) break;
    if (clock::now() - st.last_activity >= idle) {
      shared_.log->debug("conn={} tunnel idle for {}s, closing", id_,
                         std::chrono::duration_cast<std::chrono::seconds>(idle).count());
      client_.cancel();
      up.stream.cancel();
      break;
    }
  }
}

asio::awaitable<void> session::send_status(int code, std::string message, bool retry_after,
                                           bool keep_alive, exchange& ex) {
  bhttp::response_header<> res;
  res.result(static_cast<unsigned>(code));
  res.version(11);
  std::string body = util::status_json(code, message);
  res.set(bhttp::field::content_type, "application/json");
  res.set(bhttp::field::cache_control, "no-cache, private");
  if (retry_after) res.set(bhttp::field::retry_after, "1");
  res.set(bhttp::field::content_length, std::to_string(body.size()));
  if (!keep_alive) res.set(bhttp::field::connection, "close");
  ex.status = code;
  ex.bytes += body.size();
  client_.expires_after(shared_.options.lim.write_timeout);
  co_await write_message(client_, http::serialize_head(res), body);
}

dispatch::plan session::plan_for(request_parser& parser, exchange& ex, bool wait_expired) {
  dispatch::plan plan;
  if (shared_.options.route) plan = shared_.options.route(parser.get(), trusted_peer_, wait_expired);
  if (plan.what == dispatch::plan::action::forward && plan.targets.empty())
    plan.targets.push_back({"local", {}, 0, false, nullptr});
  ex.route = plan.label;
  // Requests a peer serves, and those no reachable peer could serve (503), count as
  // rerouted, as upstream's peer proxy counts them.
  ex.rerouted = (plan.what == dispatch::plan::action::forward && !plan.local_first) ||
                plan.label == "unavailable";
  if (ex.rerouted) {
    ex.group = plan.group;
    ex.version = plan.version;
    ex.resource = plan.resource;
  }
  return plan;
}

const upstream_target& session::prepare_target(const dispatch::plan& plan, std::size_t i,
                                                upstream_target& storage,
                                                bhttp::request_header<>& req, exchange& ex) {
  const auto& ref = plan.targets[i];
  if (!ref.peer) {
    // The header is a peer's promise that it already routed the request; a plain
    // client's copy is dropped so it cannot switch off the apiserver's own routing.
    if (!trusted_peer_) req.erase("x-kubernetes-peer-proxied");
    return shared_.options.local;
  }
  req.set("x-kubernetes-peer-proxied", "true");
  storage.name = ref.id;
  storage.host = ref.host;
  storage.port = ref.port;
  storage.server_name = shared_.options.peer_server_name;
  storage.peer = true;
  // The route the request actually takes (a next candidate, or a failover peer).
  ex.route = ref.id;
  ex.rerouted = true;
  ex.group = plan.group;
  ex.version = plan.version;
  ex.resource = plan.resource;
  return storage;
}

void session::note_peer_failure(const dispatch::plan& plan, std::size_t i, failure kind) {
  const auto& ref = plan.targets[i];
  if (!ref.peer) return;
  if (ref.runtime) ref.runtime->on_failure(clock::now());
  shared_.metrics.peer_proxy_errors_total
      .with({to_string(kind), plan.group, plan.version, plan.resource})
      .inc();
}

asio::awaitable<connect_result> session::connect(const upstream_target& target) {
  auto ctx = target.peer ? shared_.tls.peers() : shared_.tls.upstream();
  if (!ctx) co_return connect_result{nullptr, failure::tls, "no CA configured for peers (--peer-ca-file)"};
  co_return co_await connect_upstream(target, std::move(ctx), shared_.options.lim, &worker_.sweeper);
}

std::optional<failure_answer> session::after_connect_failure(const dispatch::plan& plan,
                                                             std::size_t ti,
                                                             const upstream_target& target,
                                                             const connect_result& cr,
                                                             exchange& ex) {
  shared_.metrics.upstream_errors_total.with({target.name, to_string(cr.kind)}).inc();
  note_peer_failure(plan, ti, cr.kind);
  if (!target.peer) report_local_trouble();
  // Nothing was sent: a peer route moves on to the next capable peer; a local route
  // moves on to a failover peer only while the local apiserver refuses connections (it
  // is restarting), SPEC §3 rules 5 and 8.
  const auto& ref = plan.targets[ti];
  if (ti + 1 < plan.targets.size() && (ref.peer || cr.kind == failure::refused)) {
    shared_.log->info("conn={} {} unreachable ({}), trying {}", id_, target.name,
                      to_string(cr.kind), plan.targets[ti + 1].id);
    return std::nullopt;
  }
  auto a = answer_for(cr.kind, target, cr.detail);
  if (ref.peer) {
    // Peers exist but none could be reached (rule 7).
    a = {503, true, "no peer apiserver could be reached: " + a.message};
    ex.rerouted = true;
  }
  shared_.log->warn("conn={} {}", id_, a.message);
  return a;
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
  shared_.access->info("{} {} {} route={} bytes={} duration={}.{:06}s conn={}", ex.method, ex.path,
                       ex.status, ex.route, ex.bytes, us / 1'000'000, us % 1'000'000, id_);
}

}  // namespace mvproxy::proxy
