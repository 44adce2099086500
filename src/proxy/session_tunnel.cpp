// Upgrades (exec, attach, port-forward): the request on a dedicated connection, never
// pooled (after a refused upgrade nothing may be written on it again,
// CVE-2018-1002105); on 101 the two connections are joined by a tunnel until either
// side ends or it idles out.

#include "session_internal.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "mvproxy/view/peer_state.hpp"

namespace mvproxy::proxy {

asio::awaitable<bool> session::forward_upgrade(request_parser& parser, exchange& ex) {
  const auto& lim = shared_.options.lim;
  auto& req = parser.get();
  if (!parser.is_done()) {
    co_await send_local_reply(reply_for(reply_kind::upgrade_with_body), false, ex);
    co_return false;
  }
  dispatch::plan plan = co_await settle_plan(parser, ex);
  if (plan.what != dispatch::plan::action::forward) {
    if (plan.what == dispatch::plan::action::refuse)
      co_await send_local_reply(reply_for(plan), false, ex);
    else if (plan.what == dispatch::plan::action::respond)
      co_await send_answer(plan.response, false, false, ex);
    else
      co_await send_local_reply(reply_for(reply_kind::upgrade_not_routed), false, ex);
    co_return false;
  }
  http::strip_hop_by_hop(req, true);
  http::apply_identity(req, identity_ ? &*identity_ : nullptr, trusted_peer_);
  req.version(11);

  // A dedicated connection, never pooled: after a refused upgrade nothing may be
  // written on it again (CVE-2018-1002105).
  std::size_t ti = 0;
  upstream_target peer_storage;
  bool unreachable = false;
  for (;;) {
    const upstream_target& target = prepare_target(plan, ti, peer_storage, req, ex);
    auto cr = co_await connect(target);
    if (!cr.conn) {
      if (target.peer) unreachable = true;
      if (auto a = after_connect_failure(plan, ti, target, cr)) {
        if (target.peer) ex.rerouted = true;
        co_await send_local_reply(*a, false, ex);
        co_return false;
      }
      ++ti;
      continue;
    }
    peer_in_flight counted_peer(plan.targets[ti].runtime);
    auto up = std::move(cr.conn);
    up->count_in(worker_.pool.gauge_for(target, "tunnel"));
    current_upstream_ = up.get();
    std::string head = http::serialize_head(req);
    up->stream.expires_after(lim.write_timeout);
    auto wec = co_await up->stream.write(head.data(), head.size());
    std::optional<response_parser> rp;
    error_code rec;
    if (!wec) rec = co_await read_response_head(*up, rp, false, nullptr);
    current_upstream_ = nullptr;
    if (wec || rec) {
      if (terminating_) co_return false;
      auto err = wec ? wec : rec;
      failure kind = err == beast::error::timeout ? failure::timeout : failure::broken;
      report_attempt(plan, ti, target, {kind, {}, false});
      co_await send_local_reply(reply_for_failure(kind, target, phase::upgrade, err.message()),
                                false, ex);
      co_return false;
    }
    auto& res = rp->get();
    if (target.peer && res.result_int() == 503) {
      if (auto it = res.find(view::handed_back_header); it != res.end()) {
        // Nothing reached an apiserver: the next target may take it.
        if (it->value() == "apiserver-down") unreachable = true;
        report_attempt(plan, ti, target, {failure::none, it->value(), false});
        if (next_target(plan, ti, unreachable)) continue;
        ex.rerouted = true;
        co_await send_local_reply(reply_for(reply_kind::exhausted), false, ex);
        co_return false;
      }
    }
    report_attempt(plan, ti, target, {});
    current_upstream_ = up.get();
    if (res.result() == bhttp::status::switching_protocols) {
      ex.status = 101;
      http::strip_hop_by_hop(res, true);
      http::add_audit_id(res, ex.audit_id);
      res.version(11);
      std::string rhead = http::serialize_head(res);
      client_.expires_after(lim.write_timeout);
      if (!co_await client_.write(rhead.data(), rhead.size())) co_await tunnel(*up);
    } else {
      co_await relay_response(*rp, *up, false, false, ex, nullptr);
    }
    current_upstream_ = nullptr;
    co_return false;
  }
}

asio::awaitable<void> session::tunnel(upstream_connection& up) {
  client_.expires_never();
  up.stream.expires_never();
  // Bytes that arrived right behind either head belong to the tunnel.
  if (!client_buf_.empty()) {
    if (co_await up.stream.write(client_buf_.data(), client_buf_.size())) co_return;
    client_buf_.clear();
  }
  if (!up.buffer.empty()) {
    if (co_await client_.write(up.buffer.data(), up.buffer.size())) co_return;
    up.buffer.clear();
  }
  tunnel_state st(client_.socket().get_executor());
  using namespace asio::experimental::awaitable_operators;
  co_await (pump(client_, up.stream, true, st) && pump(up.stream, client_, false, st) &&
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
