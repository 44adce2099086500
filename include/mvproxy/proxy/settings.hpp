#pragma once
// Limits and timeouts of the data plane. Defaults follow what kube-apiserver and its
// clients expect: watches and exec sessions stay open for hours while bytes flow, but
// a client that sends nothing, or a head that never ends, is cut.

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace mvproxy::proxy {

using std::chrono::milliseconds;

struct limits {
  std::size_t max_head_bytes = 1 << 20;         // Go's http.DefaultMaxHeaderBytes
  milliseconds handshake_timeout{10'000};       // a client's TLS handshake
  milliseconds head_timeout{30'000};            // from a head's first byte to its end
  milliseconds keepalive_idle_timeout{90'000};  // between requests on one connection
  // TCP connect and TLS handshake to an upstream, together (--upstream-connect-timeout):
  // a LAN answers in milliseconds, so a peer that has not in seconds is frozen or gone.
  milliseconds upstream_connect_timeout{5'000};
  // Ordinary (not long-running) requests, as kube-apiserver's --request-timeout bounds
  // them: the most an upstream may stay silent while its response (head or body) is
  // awaited, and a client while its request body is read (--request-timeout).
  milliseconds request_timeout{60'000};
  // Long-running requests (watch, proxy, log, exec/attach/portforward: request::
  // is_long_running): their response head, then the silence allowed on their bodies.
  milliseconds upstream_response_timeout{120'000};  // request sent -> response head
  milliseconds stream_idle_timeout{3'600'000};      // a body in progress with no byte flowing
  milliseconds write_timeout{60'000};               // a peer that does not take our bytes
  milliseconds tunnel_idle_timeout{4 * 3'600'000};  // kubelet's streaming idle default
  milliseconds pool_idle_timeout{60'000};           // idle pooled upstream connections
  std::size_t pool_max_idle_per_target = 128;
  // While the local apiserver is down or being re-read: how long a request only it
  // might serve waits for it (--local-recovery-wait), and how long a request a peer
  // proxied here waits for the probe that decides whether it is handed back.
  milliseconds local_recovery_wait{2'000};
  milliseconds peer_probe_wait{1'000};
  // HTTP/2 clients: streams per connection (--http2-max-streams-per-connection, as
  // kube-apiserver: 250 when unset), the fraction of requests after which the client
  // is sent GOAWAY (--goaway-chance), and the PING that finds a dead connection behind
  // quiet streams (client-go's defaults: after 30 s of silence, 15 s for the answer).
  std::uint32_t http2_max_streams = 250;
  double goaway_chance = 0;
  milliseconds http2_ping_interval{30'000};
  milliseconds http2_ping_timeout{15'000};
  // HTTP/2 to upstreams that offer it (--disable-upstream-http2), and its PING health
  // check with client-go's defaults (--upstream-http2-read-idle-timeout,
  // --upstream-http2-ping-timeout).
  bool upstream_http2 = true;
  milliseconds upstream_http2_read_idle_timeout{30'000};
  milliseconds upstream_http2_ping_timeout{15'000};
};

}  // namespace mvproxy::proxy
