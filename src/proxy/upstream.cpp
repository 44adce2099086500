#include "mvproxy/proxy/upstream.hpp"

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <stdexcept>

#include "mvproxy/metrics/standard.hpp"
#include "mvproxy/proxy/h2_upstream.hpp"
#include "mvproxy/proxy/worker.hpp"
#include "mvproxy/tls/contexts.hpp"
#include "mvproxy/util/host_port.hpp"
#include "mvproxy/util/https_url.hpp"

namespace mvproxy::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

upstream_target parse_upstream_url(const std::string& url, std::string name) {
  util::host_port hp;
  try {
    hp = util::parse_https_url(url);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("upstream ") + e.what());
  }
  upstream_target t;
  t.name = std::move(name);
  t.host = hp.host;
  t.port = hp.port;
  t.server_name = t.host;
  return t;
}

const char* to_string(failure kind) {
  switch (kind) {
    case failure::refused:
      return "connect";
    case failure::tls:
      return "tls";
    case failure::timeout:
      return "timeout";
    case failure::broken:
      return "broken";
    case failure::none:
      break;
  }
  return "none";
}

std::string_view peer_proxy_error_type(failure kind) {
  return kind == failure::refused ? metrics::proxy_error_endpoint_resolution
                                  : metrics::proxy_error_transport;
}

upstream_connection::upstream_connection(const asio::any_io_executor& ex,
                                         std::shared_ptr<tls::client_context> c, std::string k,
                                         deadline_sweeper* sweeper)
    : ctx(std::move(c)),
      tls_(std::make_unique<tls_stream>(tcp::socket(ex), ctx->context().native_handle(), sweeper)),
      stream(*tls_),
      key(std::move(k)) {
  // A LIST streams through in large reads; the buffer is released while empty.
  SSL_set_default_read_buffer_len(tls_->native_handle(), 64 * 1024);
}

upstream_connection::upstream_connection(std::unique_ptr<h2_upstream_stream> multiplexed,
                                         std::string k)
    : multiplexed_(std::move(multiplexed)), stream(*multiplexed_), key(std::move(k)) {}

void upstream_connection::end_body() {
  if (multiplexed_) multiplexed_->end_body();
}

upstream_connection::~upstream_connection() { count_in(nullptr); }

void upstream_connection::count_in(metrics::gauge* g) {
  if (counted_in_) counted_in_->dec();
  counted_in_ = g;
  if (counted_in_) counted_in_->inc();
}

bool upstream_connection::still_usable() {
  if (!tls_) return true;
  auto& sock = tls_->socket();
  if (!sock.is_open()) return false;
  char byte;
  ssize_t n = ::recv(sock.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  // Nothing to read is the only healthy state: 0 is EOF, data is an unsolicited
  // close_notify or garbage, and errors speak for themselves.
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

asio::awaitable<connect_result> connect_upstream(const upstream_target& target,
                                                 std::shared_ptr<tls::client_context> ctx,
                                                 const limits& lim, deadline_sweeper* sweeper,
                                                 bool offer_h2) {
  connect_result r;
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  auto [rec, endpoints] =
      co_await resolver.async_resolve(target.host, std::to_string(target.port), use_tuple);
  if (rec) {
    r.kind = failure::refused;
    r.detail = "lookup " + target.host + ": " + rec.message();
    co_return r;
  }
  auto conn = std::make_unique<upstream_connection>(ex, std::move(ctx), target.key(), sweeper);
  auto& st = *conn->tls();
  // One deadline for connect and handshake (--upstream-connect-timeout): a frozen
  // peer accepts TCP (its kernel does) and then never answers the handshake.
  st.expires_after(lim.upstream_connect_timeout);
  auto [cec, ep] = co_await asio::async_connect(st.socket(), endpoints, use_tuple);
  if (cec || st.timed_out()) {
    bool timeout = st.timed_out();
    r.kind = timeout ? failure::timeout : failure::refused;
    r.detail = "dial tcp: " + (timeout ? std::string("i/o timeout") : cec.message());
    co_return r;
  }
  st.attach_socket();
  beast::error_code ignored;
  st.socket().set_option(tcp::no_delay(true), ignored);
  if (!tls::verify_server_name(st.native_handle(), target.server_name)) {
    r.kind = failure::tls;
    r.detail = "cannot verify server name " + target.server_name;
    co_return r;
  }
  static constexpr unsigned char h2_first[] = "\x02h2\x08http/1.1";
  static constexpr unsigned char http1_only[] = "\x08http/1.1";
  if (offer_h2)
    SSL_set_alpn_protos(st.native_handle(), h2_first, sizeof h2_first - 1);
  else
    SSL_set_alpn_protos(st.native_handle(), http1_only, sizeof http1_only - 1);
  auto hec = co_await st.handshake(false);
  if (hec) {
    if (hec == beast::error::timeout) {
      r.kind = failure::timeout;
      r.detail = "TLS handshake timeout";
    } else {
      r.kind = failure::tls;
      long verify = SSL_get_verify_result(st.native_handle());
      r.detail = "tls: " + (verify != X509_V_OK ? std::string("failed to verify certificate: ") +
                                                      X509_verify_cert_error_string(verify)
                                                : hec.message());
    }
    co_return r;
  }
  r.http2 = offer_h2 && tls::negotiated_h2(st.native_handle());
  r.conn = std::move(conn);
  co_return r;
}

upstream_pool::upstream_pool(const limits& lim, metrics::gauge_family* gauges)
    : limits_(lim), gauges_(gauges) {}

upstream_pool::~upstream_pool() { clear(); }

upstream_pool::target_entry& upstream_pool::entry(const std::string& key,
                                                  const upstream_target& target) {
  auto it = targets_.find(key);
  if (it != targets_.end()) return it->second;
  auto& e = targets_[key];
  e.idle_gauge = gauge_for(target, "idle");
  e.active_gauge = gauge_for(target, "active");
  return e;
}

std::unique_ptr<upstream_connection> upstream_pool::acquire(const upstream_target& target,
                                                            bool* found_closed) {
  auto& e = entry(target.key(), target);
  // HTTP/2 first: one connection carries them all. Ended ones are let go; one the
  // upstream closed says it restarted, as a closed pooled connection does.
  std::erase_if(e.h2, [&](const auto& s) {
    if (!s->ended()) return false;
    if (s->closed_by_upstream() && found_closed) *found_closed = true;
    return true;
  });
  for (auto& s : e.h2) {
    if (!s->usable()) continue;
    auto conn = s->open_stream(target.key());
    conn->count_in(e.active_gauge);
    return conn;
  }
  auto& q = e.idle;
  auto now = std::chrono::steady_clock::now();
  // Newest first: it is the least likely to have been closed by the upstream.
  while (!q.empty()) {
    auto conn = std::move(q.back());
    q.pop_back();
    if (now - conn->idle_since >= limits_.pool_idle_timeout) continue;
    // One peek (a system call) per reuse: a connection the server closed — it
    // restarted — must never carry a request, whatever it is.
    if (conn->still_usable()) {
      conn->count_in(e.active_gauge);
      return conn;
    }
    // The server closed this one: its siblings were made before the same close.
    q.clear();
    if (found_closed) *found_closed = true;
  }
  return nullptr;
}

std::unique_ptr<upstream_connection> upstream_pool::adopt_h2(
    worker& w, const upstream_target& target, std::unique_ptr<upstream_connection> conn) {
  auto& e = entry(target.key(), target);
  auto s = std::make_shared<h2_upstream_session>(
      w, std::move(conn), target, target.server_name + ":" + std::to_string(target.port));
  s->start();
  e.h2.push_back(s);
  return s->open_stream(target.key());
}

bool upstream_pool::h2_connect_pending(const upstream_target& target) {
  auto& e = entry(target.key(), target);
  if (!limits_.upstream_http2) return false;
  // Unknown yet: the first connection will tell, and it may be HTTP/2.
  if ((e.speaks_h2 || !e.known) && e.connecting > 0) return true;
  return std::any_of(e.h2.begin(), e.h2.end(),
                     [](const auto& s) { return s->awaiting_settings(); });
}

asio::awaitable<void> upstream_pool::wait_for_connect(const upstream_target& target,
                                                      clock::duration timeout) {
  asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
  entry(target.key(), target).waiting.push_back(&timer);
  co_await timer.async_wait(use_tuple);
  // Woken by done_connecting (which empties the list) or timed out (still listed).
  auto& w = entry(target.key(), target).waiting;
  std::erase(w, &timer);
}

void upstream_pool::connecting(const upstream_target& target) {
  ++entry(target.key(), target).connecting;
}

void upstream_pool::done_connecting(const upstream_target& target, bool made, bool h2) {
  auto& e = entry(target.key(), target);
  if (made) {
    e.speaks_h2 = h2;
    e.known = true;
  }
  if (e.connecting > 0) --e.connecting;
  wake(e);
}

void upstream_pool::wake_waiters(const upstream_target& target) {
  if (auto it = targets_.find(target.key()); it != targets_.end()) wake(it->second);
}

void upstream_pool::wake(target_entry& e) {
  for (auto* t : e.waiting) t->cancel();
  e.waiting.clear();
}

void upstream_pool::release(const upstream_target& target,
                            std::unique_ptr<upstream_connection> conn) {
  if (conn->multiplexed()) return;  // the stream ends; its connection stays
  auto& e = entry(conn->key, target);
  auto& q = e.idle;
  auto now = std::chrono::steady_clock::now();
  // Drop stale ones from the old end while we are here.
  while (!q.empty() && now - q.front()->idle_since >= limits_.pool_idle_timeout) q.pop_front();
  if (q.size() >= limits_.pool_max_idle_per_target) q.pop_front();
  conn->idle_since = now;
  conn->stream.expires_never();
  conn->count_in(e.idle_gauge);
  q.push_back(std::move(conn));
}

void upstream_pool::drop(const upstream_target& target) {
  if (auto it = targets_.find(target.key()); it != targets_.end()) {
    it->second.idle.clear();
    for (auto& s : it->second.h2) s->close();
    it->second.h2.clear();
  }
}

void upstream_pool::clear() {
  for (auto& [key, e] : targets_) {
    for (auto& s : e.h2) s->close();
    for (auto* t : e.waiting) t->cancel();
  }
  targets_.clear();
}

metrics::gauge* upstream_pool::gauge_for(const upstream_target& target, const char* state) {
  return gauge_for_name(target.name, state);
}

metrics::gauge* upstream_pool::gauge_for_name(const std::string& name, const char* state) {
  return gauges_ ? &gauges_->with({name, state}) : nullptr;
}

}  // namespace mvproxy::proxy
