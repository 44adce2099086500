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

#include "mvproxy/metrics/registry.hpp"
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

class upstream_connection {
 public:
  upstream_connection(const boost::asio::any_io_executor& ex,
                      std::shared_ptr<tls::client_context> ctx, std::string key,
                      deadline_sweeper* sweeper);
  ~upstream_connection();
  upstream_connection(const upstream_connection&) = delete;
  upstream_connection& operator=(const upstream_connection&) = delete;

  std::shared_ptr<tls::client_context> ctx;  // first: keeps the SSL_CTX alive
  tls_stream stream;
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
};

boost::asio::awaitable<connect_result> connect_upstream(const upstream_target& target,
                                                        std::shared_ptr<tls::client_context> ctx,
                                                        const limits& lim,
                                                        deadline_sweeper* sweeper);

class upstream_pool {
 public:
  upstream_pool(const limits& lim, metrics::gauge_family* gauges) : limits_(lim), gauges_(gauges) {}
  // A live idle connection for the target, or null. Every candidate is checked first
  // (a closed one is never used); when one turns out closed by the server, its idle
  // siblings are dropped too (the server restarted) and *found_closed is set.
  std::unique_ptr<upstream_connection> acquire(const upstream_target& target,
                                               bool* found_closed = nullptr);
  // Back to the idle list of the target it was made for (its key).
  void release(const upstream_target& target, std::unique_ptr<upstream_connection> conn);
  // Closes the target's idle connections (it timed out: they would wait as long).
  void drop(const upstream_target& target);
  void clear();
  // The connection gauge of a target in a state ("active", "tunnel").
  metrics::gauge* gauge_for(const upstream_target& target, const char* state);

 private:
  // Per target: its idle connections and its gauges, looked up once (a label lookup
  // builds strings and takes a lock; acquire and release run for every request).
  struct target_entry {
    std::deque<std::unique_ptr<upstream_connection>> idle;
    metrics::gauge* idle_gauge = nullptr;
    metrics::gauge* active_gauge = nullptr;
  };
  target_entry& entry(const std::string& key, const upstream_target& target);

  const limits& limits_;
  metrics::gauge_family* gauges_;
  std::map<std::string, target_entry> targets_;
};

}  // namespace mvproxy::proxy
