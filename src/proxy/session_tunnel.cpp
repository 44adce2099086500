// An upgraded connection (exec, attach, port-forward; see exchange_upgrade.cpp): after
// the 101 the client and its upstream are joined by a tunnel until either side ends
// or it idles out.

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "session_internal.hpp"

namespace mvproxy::proxy {

asio::awaitable<void> session::tunnel(response_start& start, upstream_connection& up) {
  // The head keeps its Connection: Upgrade; nothing is framed after it.
  std::string head = start.head + "\r\n";
  client_.expires_after(shared_.options.lim.write_timeout);
  if (co_await client_.write(head.data(), head.size())) co_return;
  client_.expires_never();
  auto& upstream = *up.tls();  // upgrades always have a connection of their own
  upstream.expires_never();
  // Bytes that arrived right behind either head belong to the tunnel.
  if (!client_buf_.empty()) {
    if (co_await upstream.write(client_buf_.data(), client_buf_.size())) co_return;
    client_buf_.clear();
  }
  if (!up.buffer.empty()) {
    if (co_await client_.write(up.buffer.data(), up.buffer.size())) co_return;
    up.buffer.clear();
  }
  tunnel_state st(client_.socket().get_executor());
  using namespace asio::experimental::awaitable_operators;
  co_await (pump(client_, upstream, true, st) && pump(upstream, client_, false, st) &&
            idle_watch(up, st));
}

asio::awaitable<void> session::pump(tls_stream& from, tls_stream& to, bool from_client,
                                    tunnel_state& st) {
  bool half_closed = false;
  for (;;) {
    // The worker's scratch holds the bytes only until they are written (or copied by
    // a write that has to wait).
    char* buf = worker_.scratch.data();
    auto [ec, n] = co_await from.read_some(buf, 16 * 1024);
    if (n > 0) {
      st.last_activity = clock::now();
      if (co_await to.write(buf, n)) break;
      st.last_activity = clock::now();
    }
    if (ec) {
      // The client finished sending: pass the half-close on and keep relaying the
      // other way until the upstream ends too.
      if (from_client && is_eof(ec)) {
        error_code ignored;
        to.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
        half_closed = true;
      }
      break;
    }
  }
  if (!half_closed) {
    from.cancel();
    to.cancel();
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
      client_.cancel();
      up.stream.cancel();
      break;
    }
  }
}

}  // namespace mvproxy::proxy
