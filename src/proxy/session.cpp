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
#include "mvproxy/view/peer_state.hpp"
#include "session_internal.hpp"

namespace mvproxy::proxy {

namespace {

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

asio::awaitable<void> session::send_local_reply(const local_reply& r, bool keep_alive,
                                                exchange& ex) {
  dispatch::answer a;
  a.status = static_cast<unsigned>(r.code);
  a.content_type = "application/json";
  a.headers = {{"Cache-Control", "no-cache, private"}};
  if (r.retry_after) a.headers.emplace_back("Retry-After", "1");
  if (!r.handed_back.empty()) a.headers.emplace_back(view::handed_back_header, r.handed_back);
  a.text = util::status_json(r.code, r.message);
  // A HEAD answer has no body (its Content-Length is the GET's): a body would be read
  // as the start of the next response on a kept-alive connection.
  co_await send_answer(a, ex.method == "HEAD", keep_alive, ex);
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
