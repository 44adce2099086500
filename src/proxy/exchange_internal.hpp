#pragma once
// What the exchange's source files share. Private to src/proxy.

#include <memory>
#include <string>

#include "mvproxy/proxy/exchange.hpp"
#include "mvproxy/view/peer_runtime.hpp"
#include "proxy_internal.hpp"

namespace mvproxy::proxy {

// Counts a request to a peer in flight for as long as it is being served.
struct peer_in_flight {
  explicit peer_in_flight(const std::shared_ptr<view::peer_runtime>& r) : r_(r) {
    if (r_) r_->in_flight().fetch_add(1, std::memory_order_relaxed);
  }
  ~peer_in_flight() {
    if (r_) r_->in_flight().fetch_sub(1, std::memory_order_relaxed);
  }
  peer_in_flight(const peer_in_flight&) = delete;
  peer_in_flight& operator=(const peer_in_flight&) = delete;
  std::shared_ptr<view::peer_runtime> r_;
};

// A parsed response head as response_start wants it: without the closing blank line.
inline std::string head_lines(const bhttp::response_header<>& h) {
  std::string s = http::serialize_head(h);
  s.resize(s.size() - 2);
  return s;
}

}  // namespace mvproxy::proxy
