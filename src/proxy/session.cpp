#include "mvproxy/proxy/session.hpp"

#include <openssl/err.h>

#include "mvproxy/proxy/h2_connection.hpp"
#include "session_internal.hpp"

namespace mvproxy::proxy {

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
  if (h2_) return h2_->close_if_idle();
  if (idle_) client_.cancel();
  if (current_) current_->stop_waiting();  // a waiting long-poll answers now
}

void session::terminate() {
  terminating_ = true;
  if (h2_) return h2_->terminate();
  client_.cancel();
  if (current_) current_->terminate();
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
  caller_.kind = caller.kind;
  caller_.trusted_peer = caller.kind == tls::caller_kind::trusted_peer;
  if (caller.kind == tls::caller_kind::user)
    caller_.identity = http::identity_from_certificate(caller.certificate.get());
  shared_.log->debug("conn={} caller={}{}", id_, static_cast<int>(caller.kind),
                     caller_.identity ? " user=" + caller_.identity->user : std::string());
  if (tls::negotiated_h2(client_.native_handle())) {
    co_await run_h2();
  } else {
    for (bool first = true; !terminating_; first = false) {
      if (!co_await serve_one(first)) break;
    }
  }
  close_client();
}

asio::awaitable<void> session::run_h2() {
  h2_connection h2(worker_, client_, caller_, id_);
  h2_ = &h2;
  co_await h2.run();
  h2_ = nullptr;
}

void session::close_client() {
  if (reset_on_close_) {
    // A response cut upstream: RST, no close_notify (see relay_response).
    error_code ignored;
    client_.socket().set_option(asio::socket_base::linger(true, 0), ignored);
    client_.close();
    return;
  }
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
    // Between requests, wait for the next before reading: a read now would find the
    // socket empty, and a worker that reads and answers in the same turn ping-pongs
    // with its client and apiserver one request per wake-up (docs/benchmarks.md).
    if (idle_ && !first) {
      if (co_await client_.wait_readable()) co_return head_result::closed;  // idle timeout too
    }
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
  switch (co_await read_head(first, head_size, reason)) {
    case head_result::complete:
      break;
    case head_result::closed:
      co_return false;
    case head_result::timeout:
      shared_.log->debug("conn={} request head not complete in time, closing", id_);
      co_return false;
    case head_result::bad:
      co_await refuse(reply_for(reply_kind::bad_request, reason));
      co_return false;
    case head_result::too_large:
      co_await refuse(reply_for(reply_kind::head_too_large));
      co_return false;
  }
  request_parser parser(static_cast<std::uint32_t>(lim.max_head_bytes + 1));
  auto fed = parser.feed(client_buf_.data(), head_size);
  client_buf_.erase(0, head_size);
  if (fed.ec == bhttp::error::header_limit) {
    // A field Beast cannot hold (64 KiB or more), though the head is within limits.
    co_await refuse(reply_for(reply_kind::head_too_large));
    co_return false;
  }
  if (fed.ec || !parser.is_header_done()) {
    co_await refuse(
        reply_for(reply_kind::bad_request, fed.ec ? fed.ec.message() : "incomplete head"));
    co_return false;
  }
  parser_ = &parser;
  http10_ = parser.get().version() == 10;
  close_after_ = false;
  exchange ex(worker_, *this, caller_, id_);
  current_ = &ex;
  bool keep = co_await ex.run();
  current_ = nullptr;
  parser_ = nullptr;
  // A long head or body left a large buffer behind: give it back.
  if (client_buf_.empty() && client_buf_.capacity() > 4096) std::string().swap(client_buf_);
  co_return keep && !close_after_ && !worker_.draining && !terminating_;
}

asio::awaitable<void> session::refuse(const local_reply& r) {
  exchange ex(worker_, *this, caller_, id_);
  co_await ex.refuse(r);
}

bhttp::request_header<>& session::request() { return parser_->get(); }
bool session::wants_keep_alive() const { return parser_->keep_alive(); }
bool session::body_pending() const { return !parser_->is_done(); }
bool session::body_chunked() const { return parser_->chunked(); }

asio::awaitable<bool> session::send_continue() {
  static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
  client_.expires_after(shared_.options.lim.write_timeout);
  co_return !co_await client_.write(cont.data(), cont.size());
}

std::string session::framed_head(response_start& start) {
  std::string head = std::move(start.head);  // consumed: no copy per response
  // An HTTP/1.0 client cannot read chunks (RFC 9112 §6.1): it gets the body
  // de-chunked, ended by closing the connection.
  if (start.chunked && !http10_) head += "Transfer-Encoding: chunked\r\n";
  if (!start.keep_alive || (start.chunked && http10_)) {
    head += "Connection: close\r\n";
    close_after_ = true;
  }
  head += "\r\n";
  return head;
}

asio::awaitable<bool> session::write_response(response_start& start, std::string_view body) {
  std::string head = framed_head(start);
  client_.expires_after(shared_.options.lim.write_timeout);
  co_return !co_await write_message(client_, head, body);
}

}  // namespace mvproxy::proxy
