#include "mvproxy/proxy/worker.hpp"

#include <algorithm>

#include "session_internal.hpp"

namespace mvproxy::proxy {

namespace {

// The sweeper's period: fine enough for the shortest configured timeout.
clock::duration sweep_interval(const limits& lim) {
  auto shortest =
      std::min({lim.handshake_timeout, lim.head_timeout, lim.keepalive_idle_timeout,
                lim.upstream_connect_timeout, lim.request_timeout, lim.upstream_response_timeout,
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
  return series.emplace_back(request_series{route, status,
                                            &m.requests_total.with({route, std::to_string(status)}),
                                            &m.request_duration_seconds.with({route})});
}

}  // namespace mvproxy::proxy
