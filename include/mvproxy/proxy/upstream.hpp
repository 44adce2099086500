#pragma once
// Connections to upstreams (the local apiserver, peer sidecars): connect with timeouts
// and verified TLS presenting the proxy client certificate, and a keep-alive pool.
// A pool belongs to one worker thread and is only touched from it.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mvproxy/metrics/registry.hpp"
#include "mvproxy/proxy/byte_stream.hpp"
#include "mvproxy/proxy/settings.hpp"
#include "mvproxy/proxy/tls_stream.hpp"
#include "mvproxy/tls/contexts.hpp"

namespace mvproxy::proxy {

struct upstream_target {
  std::string name;  // "local" or a peer's server id: metrics and logs
  std::string host;
  std::uint16_t port = 0;
  std::string server_name;  // verified on the upstream's serving certificate
  bool peer = false;        // peers use the peer CA context
  bool anonymous = false;   // local apiserver without our client certificate
  std::string key() const {
    return name + "|" + host + ":" + std::to_string(port) + (anonymous ? "|anonymous" : "");
  }
};

// "https://host:port" (port defaults to 443). Throws std::invalid_argument.
upstream_target parse_upstream_url(const std::string& url, std::string name);

class h2_upstream_stream;
class h2_upstream_session;
struct worker;

enum class failure {
  none,
  refused,  // name lookup or TCP connect refused/unreachable -> 503 + Retry-After
  tls,      // handshake or certificate verification -> 502
  timeout,  // connect, handshake or response head took too long -> 504
  broken,   // connection closed or reset, malformed response -> 502
};

// "connect", "tls", "timeout", "broken" (mvproxy_upstream_errors_total's type).
const char* to_string(failure kind);
// apiserver_peer_proxy_errors_total's type for a failure to reach a peer, in upstream's
// two values: connect (no endpoint of the peer could be reached: name lookup failed,
// refused, unreachable) is endpoint_resolution; tls, timeout and broken (the transport
// to the peer failed) are proxy_transport.
std::string_view peer_proxy_error_type(failure kind);

// One upstream exchange's transport: a TLS connection of its own (HTTP/1.1, pooled
// between requests), or one stream of a multiplexed HTTP/2 connection (see
// h2_upstream.hpp), which the exchange reads and writes as HTTP/1.1 bytes too.
class upstream_connection {
 public:
  upstream_connection(const boost::asio::any_io_executor& ex,
                      std::shared_ptr<tls::client_context> ctx, std::string key,
                      deadline_sweeper* sweeper);
  upstream_connection(std::unique_ptr<h2_upstream_stream> multiplexed, std::string key);
  ~upstream_connection();
  upstream_connection(const upstream_connection&) = delete;
  upstream_connection& operator=(const upstream_connection&) = delete;

  std::shared_ptr<tls::client_context> ctx;  // first: keeps the SSL_CTX alive

 private:
  std::unique_ptr<tls_stream> tls_;  // null for a stream of an HTTP/2 connection
  std::unique_ptr<h2_upstream_stream> multiplexed_;

 public:
  byte_stream& stream;
  // The TLS connection (connecting, upgrades); null for an HTTP/2 stream.
  tls_stream* tls() { return tls_.get(); }
  // Takes the TLS connection (it becomes an HTTP/2 connection's transport).
  std::unique_ptr<tls_stream> take_tls() { return std::move(tls_); }
  bool multiplexed() const { return multiplexed_ != nullptr; }
  // The request body has been written whole (an HTTP/2 stream then ends; HTTP/1.1
  // framing says so itself).
  void end_body();
  std::string buffer;  // bytes read from the upstream not yet parsed
  const std::string key;
  std::chrono::steady_clock::time_point idle_since{};

  // Moves this connection's count to another gauge (idle/active); null: uncounted.
  void count_in(metrics::gauge* g);
  // False when the peer closed it or sent something unsolicited while idle.
  bool still_usable();

 private:
  metrics::gauge* counted_in_ = nullptr;
};

struct connect_result {
  std::unique_ptr<upstream_connection> conn;
  failure kind = failure::none;
  std::string detail;
  bool http2 = false;  // ALPN chose h2: the connection is for an h2_upstream_session
};

// With `offer_h2`, ALPN offers h2 before http/1.1 (else http/1.1 only, as an
// upgrade needs).
boost::asio::awaitable<connect_result> connect_upstream(const upstream_target& target,
                                                        std::shared_ptr<tls::client_context> ctx,
                                                        const limits& lim,
                                                        deadline_sweeper* sweeper,
                                                        bool offer_h2 = false);

class upstream_pool {
 public:
  upstream_pool(const limits& lim, metrics::gauge_family* gauges);
  ~upstream_pool();
  upstream_pool(const upstream_pool&) = delete;
  upstream_pool& operator=(const upstream_pool&) = delete;
  // A stream on the target's HTTP/2 connection when it has room, else a live idle
  // connection for the target, or null. Every candidate is checked first
  // (a closed one is never used); when one turns out closed by the server, its idle
  // siblings are dropped too (the server restarted) and *found_closed is set.
  std::unique_ptr<upstream_connection> acquire(const upstream_target& target,
                                               bool* found_closed = nullptr);
  // A new connection that negotiated h2 becomes the target's HTTP/2 connection; the
  // returned stream on it carries the request.
  std::unique_ptr<upstream_connection> adopt_h2(worker& w, const upstream_target& target,
                                                std::unique_ptr<upstream_connection> conn);
  // While a connection to a target that spoke HTTP/2 last time is being made, other
  // requests wait for it (up to `timeout`) instead of each making its own: one
  // multiplexed connection per target and worker. True when they should wait.
  bool h2_connect_pending(const upstream_target& target);
  boost::asio::awaitable<void> wait_for_connect(const upstream_target& target,
                                                clock::duration timeout);
  // Wakes the requests waiting for the target's HTTP/2 connection.
  void wake_waiters(const upstream_target& target);
  // Marks a connect to the target under way; done_connecting() wakes the waiters.
  void connecting(const upstream_target& target);
  // `made`: a connection was made; `h2`: it negotiated HTTP/2.
  void done_connecting(const upstream_target& target, bool made, bool h2);
  // Back to the idle list of the target it was made for (its key); an HTTP/2 stream
  // just ends.
  void release(const upstream_target& target, std::unique_ptr<upstream_connection> conn);
  // Closes the target's idle connections and HTTP/2 connections (it timed out: they
  // would wait as long).
  void drop(const upstream_target& target);
  void clear();
  // The connection gauge of a target in a state ("active", "tunnel").
  metrics::gauge* gauge_for(const upstream_target& target, const char* state);
  metrics::gauge* gauge_for_name(const std::string& name, const char* state);

 private:
  // Per target: its idle connections and its gauges, looked up once (a label lookup
  // builds strings and takes a lock; acquire and release run for every request).
  struct target_entry {
    std::deque<std::unique_ptr<upstream_connection>> idle;
    std::vector<std::shared_ptr<h2_upstream_session>> h2;
    bool speaks_h2 = false;  // its last new connection negotiated h2
    bool known = false;      // a connection to it was made (speaks_h2 says what it spoke)
    int connecting = 0;
    std::vector<boost::asio::steady_timer*> waiting;  // cancelled when one is made
    metrics::gauge* idle_gauge = nullptr;
    metrics::gauge* active_gauge = nullptr;
  };
  target_entry& entry(const std::string& key, const upstream_target& target);
  static void wake(target_entry& e);

  const limits& limits_;
  metrics::gauge_family* gauges_;
  std::map<std::string, target_entry> targets_;
};

}  // namespace mvproxy::proxy
