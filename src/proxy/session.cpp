#include "mvproxy/proxy/session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/http/span_body.hpp>

#include "mvproxy/util/status.hpp"

namespace mvproxy::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using clock = std::chrono::steady_clock;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

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

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

void cancel(beast::tcp_stream& s) {
  beast::error_code ignored;
  s.socket().cancel(ignored);
}

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

}  // namespace

session::session(worker& w, asio::ip::tcp::socket socket, std::shared_ptr<tls::server_context> ctx)
    : worker_(w),
      shared_(w.shared),
      client_(beast::tcp_stream(std::move(socket)), ctx->context()),
      tls_ctx_(std::move(ctx)),
      id_(shared_.next_id.fetch_add(1, std::memory_order_relaxed)),
      relay_buf_(shared_.options.lim.relay_buffer_bytes),
      scanner_(shared_.options.lim.max_head_bytes) {
  registration_ = worker_.sessions.insert(worker_.sessions.end(), this);
  shared_.live_sessions.fetch_add(1);
}

session::~session() {
  worker_.sessions.erase(registration_);
  shared_.live_sessions.fetch_sub(1);
}

void session::close_if_idle() {
  if (idle_) cancel(client_.next_layer());
}

void session::terminate() {
  terminating_ = true;
  cancel(client_.next_layer());
  if (current_upstream_) cancel(current_upstream_->stream.next_layer());
}

asio::awaitable<void> session::run() {
  const auto& lim = shared_.options.lim;
  client_.next_layer().expires_after(lim.handshake_timeout);
  auto [ec] = co_await client_.async_handshake(asio::ssl::stream_base::server, use_tuple);
  if (ec) {
    shared_.log->debug("conn={} TLS handshake failed: {}", id_, ec.message());
    co_return;
  }
  auto caller = tls_ctx_->classify(client_.native_handle());
  trusted_peer_ = caller.kind == tls::caller_kind::trusted_peer;
  if (caller.kind == tls::caller_kind::user)
    identity_ = http::identity_from_certificate(caller.certificate.get());
  shared_.log->debug("conn={} caller={}{}", id_, static_cast<int>(caller.kind),
                     identity_ ? " user=" + identity_->user : std::string());
  bool first = true;
  while (!terminating_ && co_await serve_one(first)) first = false;
  co_await close_client();
}

asio::awaitable<void> session::close_client() {
  // close_notify, briefly: a client that never answers it must not hold us.
  client_.next_layer().expires_after(std::chrono::milliseconds(500));
  co_await client_.async_shutdown(use_tuple);
  client_.next_layer().close();
}

asio::awaitable<session::head_result> session::read_head(bool first, std::size_t& head_size,
                                                         std::string_view& reason) {
  const auto& lim = shared_.options.lim;
  scanner_.reset();
  idle_ = client_buf_.size() == 0;
  auto deadline = clock::now() + (first || !idle_ ? lim.head_timeout : lim.keepalive_idle_timeout);
  for (;;) {
    if (client_buf_.size() > 0) {
      auto d = client_buf_.data();
      auto scan = scanner_.feed(std::string_view(static_cast<const char*>(d.data()), d.size()));
      switch (scan.state) {
        case http::head_state::complete: head_size = scan.head_size; co_return head_result::complete;
        case http::head_state::bad: reason = scan.reason; co_return head_result::bad;
        case http::head_state::too_large: reason = scan.reason; co_return head_result::too_large;
        case http::head_state::need_more: break;
      }
    }
    if (idle_ && worker_.draining) co_return head_result::closed;
    client_.next_layer().expires_at(deadline);
    auto [ec, n] = co_await client_.async_read_some(client_buf_.prepare(16 * 1024), use_tuple);
    client_buf_.commit(n);
    if (n > 0 && idle_) {
      idle_ = false;
      if (!first) deadline = clock::now() + lim.head_timeout;
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

  request_parser parser;
  parser.header_limit(static_cast<std::uint32_t>(lim.max_head_bytes + 1));
  parser.body_limit(boost::none);
  beast::error_code ec;
  parser.put(asio::buffer(client_buf_.data().data(), head_size), ec);
  client_buf_.consume(head_size);
  if (ec || !parser.is_header_done()) {
    co_await send_status(400, "bad request: " + ec.message(), false, false, ex);
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
  co_return keep && !worker_.draining && !terminating_;
}

asio::awaitable<session::body_result> session::relay_request_body(
    request_parser& parser, bhttp::request_serializer<bhttp::buffer_body>& sr,
    upstream_connection& up) {
  const auto& lim = shared_.options.lim;
  auto& body = parser.get().body();
  while (!parser.is_done()) {
    body.data = relay_buf_.data();
    body.size = relay_buf_.size();
    client_.next_layer().expires_after(lim.write_timeout);
    auto [ec, n] = co_await bhttp::async_read_some(client_, client_buf_, parser, use_tuple);
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) co_return body_result::client_failed;
    std::size_t got = relay_buf_.size() - body.size;
    body.data = got ? relay_buf_.data() : nullptr;
    body.size = got;
    body.more = !parser.is_done();
    if (got == 0 && body.more) continue;
    up.stream.next_layer().expires_after(lim.write_timeout);
    auto [wec, wn] = co_await bhttp::async_write(up.stream, sr, use_tuple);
    if (wec == bhttp::error::need_buffer) wec = {};
    if (wec) co_return body_result::upstream_failed;
  }
  co_return body_result::done;
}

asio::awaitable<bool> session::forward(request_parser& parser, exchange& ex) {
  const auto& lim = shared_.options.lim;
  auto& req = parser.get();
  const bool client_keep_alive = parser.keep_alive();
  const bool chunked = parser.chunked();
  const bool head_request = req.method() == bhttp::verb::head;
  const bool has_body = !parser.is_done();

  dispatch::plan plan = plan_for(parser, ex);
  if (plan.what == dispatch::plan::action::respond) {
    // A body we are not going to read ends the connection after the answer.
    bool keep = client_keep_alive && !has_body;
    co_await send_answer(plan.response, head_request, keep, ex);
    co_return keep;
  }

  // We answer 100 Continue ourselves once we start reading the body, so the
  // upstream never sees the expectation (a proxy may do either; this keeps the
  // upstream exchange a plain request/response).
  bool expect_continue = false;
  if (auto it = req.find(bhttp::field::expect); it != req.end()) {
    expect_continue = iequals(it->value(), "100-continue");
    if (expect_continue) req.erase(bhttp::field::expect);
  }
  http::strip_hop_by_hop(req, false);
  http::apply_identity(req, identity_ ? &*identity_ : nullptr, trusted_peer_);
  req.version(11);
  if (chunked) req.chunked(true);

  std::size_t ti = 0;  // the plan target being tried
  upstream_target peer_storage;
  for (int attempt = 0;; ++attempt) {
    const upstream_target& target = prepare_target(plan, ti, peer_storage, req, ex);
    peer_in_flight counted_peer(plan.targets[ti].runtime);
    auto up = worker_.pool.acquire(target);
    const bool reused = up != nullptr;
    if (!up) {
      auto ctx = target.peer ? shared_.tls.peers() : shared_.tls.upstream();
      connect_result cr;
      if (ctx) {
        cr = co_await connect_upstream(target, std::move(ctx), lim);
      } else {
        cr.kind = failure::tls;
        cr.detail = "no CA configured for peers (--peer-ca-file)";
      }
      if (!cr.conn) {
        shared_.metrics.upstream_errors_total.with({target.name, to_string(cr.kind)}).inc();
        note_peer_failure(plan, ti, cr.kind);
        // Nothing was sent: a peer route moves on to the next capable peer; a local
        // route moves on to a failover peer only while the local apiserver refuses
        // connections (it is restarting), SPEC §3 rules 5 and 8.
        const auto& ref = plan.targets[ti];
        bool move_on = ti + 1 < plan.targets.size() && (ref.peer || cr.kind == failure::refused);
        if (move_on) {
          shared_.log->info("conn={} {} unreachable ({}), trying {}", id_, target.name,
                            to_string(cr.kind), plan.targets[ti + 1].id);
          ++ti;
          attempt = -1;
          continue;
        }
        auto a = answer_for(cr.kind, target, cr.detail);
        if (ref.peer) {
          // Peers exist but none could be reached (rule 7).
          a = {503, true, "no peer apiserver could be reached: " + a.message};
          ex.rerouted = true;
        }
        shared_.log->warn("conn={} {}", id_, a.message);
        bool keep = client_keep_alive && !has_body;
        co_await send_status(a.code, a.message, a.retry_after, keep, ex);
        co_return keep;
      }
      up = std::move(cr.conn);
      up->count_in(worker_.pool.gauge_for(target, "active"));
    }
    current_upstream_ = up.get();

    failure kind = failure::none;
    std::string detail;
    bool retryable = false;
    bool body_consumed = false;
    bhttp::request_serializer<bhttp::buffer_body> sr{req};
    req.body().data = nullptr;
    req.body().size = 0;
    req.body().more = has_body;
    up->stream.next_layer().expires_after(lim.write_timeout);
    beast::error_code wec;
    if (has_body)
      std::tie(wec, std::ignore) = co_await bhttp::async_write_header(up->stream, sr, use_tuple);
    else
      std::tie(wec, std::ignore) = co_await bhttp::async_write(up->stream, sr, use_tuple);
    if (wec == bhttp::error::need_buffer) wec = {};
    if (wec) {
      kind = wec == beast::error::timeout ? failure::timeout : failure::broken;
      detail = "writing the request: " + wec.message();
      retryable = reused && attempt == 0;
    }

    if (kind == failure::none && has_body) {
      if (expect_continue) {
        static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
        client_.next_layer().expires_after(lim.write_timeout);
        auto [cec, cn] = co_await asio::async_write(client_, asio::buffer(cont), use_tuple);
        if (cec) co_return false;
        expect_continue = false;
      }
      body_consumed = true;
      auto br = co_await relay_request_body(parser, sr, *up);
      if (br == body_result::client_failed) co_return false;
      if (br == body_result::upstream_failed) {
        kind = failure::broken;
        detail = "writing the request body";
      }
    }

    std::optional<response_parser> rp;
    while (kind == failure::none) {
      rp.emplace();
      rp->header_limit(static_cast<std::uint32_t>(lim.max_head_bytes));
      rp->body_limit(boost::none);
      if (head_request) rp->skip(true);
      up->stream.next_layer().expires_after(lim.upstream_response_timeout);
      auto [rec, rn] = co_await bhttp::async_read_header(up->stream, up->buffer, *rp, use_tuple);
      if (rec) {
        kind = rec == beast::error::timeout ? failure::timeout : failure::broken;
        detail = "reading the response: " +
                 (rec == beast::error::timeout ? std::string("timeout awaiting response headers")
                                               : rec.message());
        // A reused connection the upstream had already closed: nothing of this
        // request can have been processed, so one retry on a fresh connection.
        retryable = reused && attempt == 0 && !body_consumed && rec != beast::error::timeout &&
                    up->buffer.size() == 0;
        break;
      }
      // Interim answers (102, 103) are not relayed; 101 without an upgrade is broken.
      int code = rp->get().result_int();
      if (code < 100 || code >= 200) break;
      if (code == 101) {
        kind = failure::broken;
        detail = "101 Switching Protocols without an upgrade request";
      }
    }

    if (kind != failure::none) {
      current_upstream_ = nullptr;
      up.reset();
      if (terminating_) co_return false;
      if (retryable) {
        shared_.log->debug("conn={} pooled upstream connection was stale ({}), retrying", id_, detail);
        continue;
      }
      shared_.metrics.upstream_errors_total.with({target.name, to_string(kind)}).inc();
      note_peer_failure(plan, ti, kind);
      auto a = answer_for(kind, target, detail);
      shared_.log->warn("conn={} {}", id_, a.message);
      bool keep = client_keep_alive && parser.is_done();
      co_await send_status(a.code, a.message, a.retry_after, keep, ex);
      co_return keep;
    }

    if (auto& r = plan.targets[ti].runtime) r->on_success();
    const bool keep = client_keep_alive && !worker_.draining && !rp->need_eof();
    bool ok = co_await relay_response(*rp, *up, head_request, keep, ex);
    current_upstream_ = nullptr;
    if (ok && rp->is_done() && rp->keep_alive() && !terminating_ && !worker_.draining)
      worker_.pool.release(target, std::move(up));
    co_return ok && keep;
  }
}

asio::awaitable<bool> session::relay_response(response_parser& rp, upstream_connection& up,
                                              bool head_request, bool keep_alive, exchange& ex) {
  const auto& lim = shared_.options.lim;
  auto& res = rp.get();
  const bool chunked = rp.chunked();
  ex.status = res.result_int();
  http::strip_hop_by_hop(res, false);
  if (chunked) res.chunked(true);
  res.keep_alive(keep_alive);
  bhttp::response_serializer<bhttp::buffer_body> sr{res};
  auto& body = res.body();
  body.data = nullptr;
  body.size = 0;
  body.more = !rp.is_done();

  // The head goes out at once unless body bytes are already here (then it leaves
  // with them in one write): a watch's client sees its response begin immediately.
  if (rp.is_done() || head_request || up.buffer.size() == 0) {
    client_.next_layer().expires_after(lim.write_timeout);
    auto [wec, wn] = co_await bhttp::async_write_header(client_, sr, use_tuple);
    if (wec && wec != bhttp::error::need_buffer) co_return false;
    if (rp.is_done()) co_return true;
  }
  while (!rp.is_done()) {
    body.data = relay_buf_.data();
    body.size = relay_buf_.size();
    up.stream.next_layer().expires_after(lim.stream_idle_timeout);
    auto [ec, n] = co_await bhttp::async_read_some(up.stream, up.buffer, rp, use_tuple);
    if (ec == bhttp::error::need_buffer) ec = {};
    std::size_t got = relay_buf_.size() - body.size;
    if (ec) {
      // Grace period over: a chunked response (a watch) ends with its last chunk, so
      // the client sees a clean end and re-establishes it elsewhere.
      if (terminating_ && chunked && sr.is_header_done()) {
        body.data = nullptr;
        body.size = 0;
        body.more = false;
        client_.next_layer().expires_after(std::chrono::seconds(1));
        co_await bhttp::async_write(client_, sr, use_tuple);
      }
      shared_.log->debug("conn={} upstream response ended early: {}", id_, ec.message());
      co_return false;
    }
    body.data = got ? relay_buf_.data() : nullptr;
    body.size = got;
    body.more = !rp.is_done();
    if (got == 0 && body.more) continue;
    client_.next_layer().expires_after(lim.write_timeout);
    auto [wec, wn] = co_await bhttp::async_write(client_, sr, use_tuple);
    if (wec == bhttp::error::need_buffer) wec = {};
    if (wec) co_return false;
    ex.bytes += got;
  }
  co_return true;
}

asio::awaitable<bool> session::forward_upgrade(request_parser& parser, exchange& ex) {
  const auto& lim = shared_.options.lim;
  auto& req = parser.get();
  if (!parser.is_done()) {
    co_await send_status(400, "bad request: an upgrade request cannot carry a body", false, false, ex);
    co_return false;
  }
  dispatch::plan plan = plan_for(parser, ex);
  if (plan.what == dispatch::plan::action::respond) {
    co_await send_answer(plan.response, false, false, ex);
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
    auto ctx = target.peer ? shared_.tls.peers() : shared_.tls.upstream();
    if (ctx) {
      cr = co_await connect_upstream(target, std::move(ctx), lim);
    } else {
      cr.kind = failure::tls;
      cr.detail = "no CA configured for peers (--peer-ca-file)";
    }
    chosen = &target;
    if (cr.conn) break;
    shared_.metrics.upstream_errors_total.with({target.name, to_string(cr.kind)}).inc();
    note_peer_failure(plan, ti, cr.kind);
    const auto& ref = plan.targets[ti];
    if (ti + 1 < plan.targets.size() && (ref.peer || cr.kind == failure::refused)) continue;
    auto a = answer_for(cr.kind, target, cr.detail);
    if (ref.peer) {
      a = {503, true, "no peer apiserver could be reached: " + a.message};
      ex.rerouted = true;
    }
    co_await send_status(a.code, a.message, a.retry_after, false, ex);
    co_return false;
  }
  const upstream_target& target = *chosen;
  peer_in_flight counted_peer(plan.targets[ti].runtime);
  if (auto& r = plan.targets[ti].runtime) r->on_success();
  auto up = std::move(cr.conn);
  up->count_in(worker_.pool.gauge_for(target, "tunnel"));
  current_upstream_ = up.get();

  req.body().data = nullptr;
  req.body().more = false;
  bhttp::request_serializer<bhttp::buffer_body> sr{req};
  up->stream.next_layer().expires_after(lim.write_timeout);
  auto [wec, wn] = co_await bhttp::async_write(up->stream, sr, use_tuple);
  response_parser rp;
  rp.header_limit(static_cast<std::uint32_t>(lim.max_head_bytes));
  rp.body_limit(boost::none);
  beast::error_code rec;
  if (!wec) {
    up->stream.next_layer().expires_after(lim.upstream_response_timeout);
    std::tie(rec, std::ignore) = co_await bhttp::async_read_header(up->stream, up->buffer, rp, use_tuple);
  }
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

  if (rp.get().result() == bhttp::status::switching_protocols) {
    ex.status = 101;
    auto& res = rp.get();
    http::strip_hop_by_hop(res, true);
    res.body().data = nullptr;
    res.body().more = false;
    bhttp::response_serializer<bhttp::buffer_body> rs{res};
    client_.next_layer().expires_after(lim.write_timeout);
    auto [cec, cn] = co_await bhttp::async_write_header(client_, rs, use_tuple);
    if (!cec || cec == bhttp::error::need_buffer) co_await tunnel(*up);
  } else {
    co_await relay_response(rp, *up, false, false, ex);
  }
  current_upstream_ = nullptr;
  co_return false;
}

asio::awaitable<void> session::tunnel(upstream_connection& up) {
  client_.next_layer().expires_never();
  up.stream.next_layer().expires_never();
  // Bytes that arrived right behind either head belong to the tunnel.
  if (client_buf_.size() > 0) {
    auto [ec, n] = co_await asio::async_write(up.stream, client_buf_.data(), use_tuple);
    if (ec) co_return;
    client_buf_.consume(client_buf_.size());
  }
  if (up.buffer.size() > 0) {
    auto [ec, n] = co_await asio::async_write(client_, up.buffer.data(), use_tuple);
    if (ec) co_return;
    up.buffer.consume(up.buffer.size());
  }
  tunnel_state st(client_.get_executor());
  using namespace asio::experimental::awaitable_operators;
  co_await (pump(client_, up.stream, true, st) && pump(up.stream, client_, false, st) &&
            idle_watch(up, st));
}

asio::awaitable<void> session::pump(ssl_stream& from, ssl_stream& to, bool from_client,
                                    tunnel_state& st) {
  std::vector<char> buf(from_client ? 16 * 1024 : 0);
  asio::mutable_buffer space = from_client ? asio::buffer(buf) : asio::buffer(relay_buf_);
  bool half_closed = false;
  for (;;) {
    auto [ec, n] = co_await from.async_read_some(space, use_tuple);
    if (n > 0) {
      st.last_activity = clock::now();
      auto [wec, wn] = co_await asio::async_write(to, asio::buffer(space.data(), n), use_tuple);
      if (wec) break;
      st.last_activity = clock::now();
    }
    if (ec) {
      // The client finished sending: pass the half-close on and keep relaying the
      // other way until the upstream ends too.
      if (from_client && (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated)) {
        beast::error_code ignored;
        to.next_layer().socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
        half_closed = true;
      }
      break;
    }
  }
  if (!half_closed) {
    cancel(from.next_layer());
    cancel(to.next_layer());
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
      cancel(client_.next_layer());
      cancel(up.stream.next_layer());
      break;
    }
  }
}

asio::awaitable<void> session::send_status(int code, std::string message, bool retry_after,
                                           bool keep_alive, exchange& ex) {
  bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(code), 11};
  res.set(bhttp::field::content_type, "application/json");
  res.set(bhttp::field::cache_control, "no-cache, private");
  if (retry_after) res.set(bhttp::field::retry_after, "1");
  res.body() = util::status_json(code, message);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  ex.status = code;
  ex.bytes += res.body().size();
  client_.next_layer().expires_after(shared_.options.lim.write_timeout);
  co_await bhttp::async_write(client_, res, use_tuple);
}

dispatch::plan session::plan_for(request_parser& parser, exchange& ex) {
  dispatch::plan plan;
  if (shared_.options.route) plan = shared_.options.route(parser.get().base(), trusted_peer_);
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

asio::awaitable<void> session::send_answer(const dispatch::answer& a, bool head_request,
                                           bool keep_alive, exchange& ex) {
  bhttp::response<bhttp::span_body<const char>> res{static_cast<bhttp::status>(a.status), 11};
  if (!a.content_type.empty()) res.set(bhttp::field::content_type, a.content_type);
  for (auto& [k, v] : a.headers) res.set(k, v);
  auto body = a.body();
  if (a.status != 304) {
    res.content_length(body.size());
    if (!head_request) res.body() = {body.data(), body.size()};
  }
  res.keep_alive(keep_alive);
  ex.status = static_cast<int>(a.status);
  ex.bytes += head_request ? 0 : body.size();
  bhttp::response_serializer<bhttp::span_body<const char>> sr{res};
  if (head_request) sr.split(true);
  client_.next_layer().expires_after(shared_.options.lim.write_timeout);
  if (head_request)
    co_await bhttp::async_write_header(client_, sr, use_tuple);
  else
    co_await bhttp::async_write(client_, sr, use_tuple);
}

void session::finish(exchange& ex) {
  double seconds = std::chrono::duration<double>(clock::now() - ex.start).count();
  auto code = std::to_string(ex.status);
  if (ex.rerouted)
    shared_.metrics.rerouted_request_total.with({code, ex.group, ex.version, ex.resource}).inc();
  shared_.metrics.requests_total.with({ex.route, code}).inc();
  shared_.metrics.request_duration_seconds.with({ex.route}).observe(seconds);
  shared_.access->info("{} {} {} route={} bytes={} duration={:.6f}s conn={}", ex.method, ex.path,
                       ex.status, ex.route, ex.bytes, seconds, id_);
}

}  // namespace mvproxy::proxy
