#pragma once
// What the connection's source files share (session.cpp: the connection and its
// requests; session_relay.cpp: bodies, heads and the client watch; session_tunnel.cpp:
// upgraded connections). Private to src/proxy.

#include <boost/asio/steady_timer.hpp>

#include "mvproxy/proxy/session.hpp"
#include "proxy_internal.hpp"

namespace mvproxy::proxy {

struct session::tunnel_state {
  explicit tunnel_state(const asio::any_io_executor& ex) : watchdog(ex) {}
  clock::time_point last_activity = clock::now();
  int running = 2;
  asio::steady_timer watchdog;
};

}  // namespace mvproxy::proxy
