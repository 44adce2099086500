// Upgrades (exec, attach, port-forward): the request on a dedicated connection, never
// pooled (after a refused upgrade nothing may be written on it again,
// CVE-2018-1002105); on 101 the client side joins the two connections in a tunnel.
// Failures are recorded and answered as for any request (report_attempt,
// reply_for_failure with phase::upgrade).

#include "exchange_internal.hpp"
#include "mvproxy/view/peer_state.hpp"

namespace mvproxy::proxy {

asio::awaitable<bool> exchange::forward_upgrade() {
  if (client_.body_pending()) {
    co_await send_local_reply(reply_for(reply_kind::upgrade_with_body), false);
    co_return false;
  }
  dispatch::plan plan = co_await settle_plan();
  if (plan.what != dispatch::plan::action::forward) {
    if (plan.what == dispatch::plan::action::refuse)
      co_await send_local_reply(reply_for(plan), false);
    else if (plan.what == dispatch::plan::action::respond)
      co_await send_answer(plan.response, false, false);
    else
      co_await send_local_reply(reply_for(reply_kind::upgrade_not_routed), false);
    co_return false;
  }
  auto& req = client_.request();
  http::strip_hop_by_hop(req, true);
  http::apply_identity(req, caller_.identity ? &*caller_.identity : nullptr, caller_.trusted_peer);
  req.version(11);
  co_await upgrade_to(plan);
  co_return false;  // the connection was the tunnel's, or its refusal's
}

asio::awaitable<void> exchange::upgrade_to(dispatch::plan& plan) {
  std::size_t ti = 0;
  upstream_target peer_storage;
  bool unreachable = false;
  for (;;) {
    const upstream_target& target = prepare_target(plan, ti, peer_storage);
    auto cr = co_await connect(target);
    if (!cr.conn) {
      if (target.peer) unreachable = true;
      if (auto a = after_connect_failure(plan, ti, target, cr)) {
        if (target.peer) rec_.rerouted = true;
        co_return co_await send_local_reply(*a, false);
      }
      ++ti;
      continue;
    }
    peer_in_flight counted_peer(plan.targets[ti].runtime);
    auto up = std::move(cr.conn);
    up->count_in(worker_.pool.gauge_for(target, "tunnel"));
    current_upstream_ = up.get();
    std::string head = http::serialize_head(client_.request());
    up->stream.expires_after(shared_.options.lim.write_timeout);
    auto wec = co_await up->stream.write(head.data(), head.size());
    std::optional<response_parser> rp;
    error_code rec;
    if (!wec) rec = co_await read_response_head(*up, rp, false, nullptr);
    current_upstream_ = nullptr;
    if (wec || rec) {
      if (terminating_) co_return;
      auto err = wec ? wec : rec;
      failure kind = err == beast::error::timeout ? failure::timeout : failure::broken;
      report_attempt(plan, ti, target, {kind, {}, false});
      co_return co_await send_local_reply(
          reply_for_failure(kind, target, phase::upgrade, err.message()), false);
    }
    auto& res = rp->get();
    if (target.peer && res.result_int() == 503) {
      if (auto it = res.find(view::handed_back_header); it != res.end()) {
        // Nothing reached an apiserver: the next target may take it.
        if (it->value() == "apiserver-down") unreachable = true;
        report_attempt(plan, ti, target, {failure::none, it->value(), false});
        if (next_target(plan, ti, unreachable)) continue;
        rec_.rerouted = true;
        co_return co_await send_local_reply(reply_for(reply_kind::exhausted), false);
      }
    }
    report_attempt(plan, ti, target, {});
    current_upstream_ = up.get();
    co_await answer_upgrade(*rp, *up, target);
    current_upstream_ = nullptr;
    co_return;
  }
}

// The upstream's answer: on 101 the tunnel, anything else relayed as it is.
asio::awaitable<void> exchange::answer_upgrade(response_parser& rp, upstream_connection& up,
                                               const upstream_target& target) {
  auto& res = rp.get();
  const bool switched = res.result() == bhttp::status::switching_protocols;
  http::strip_hop_by_hop(res, switched);
  http::add_audit_id(res, rec_.audit_id);
  res.version(11);
  if (switched) {
    rec_.status = 101;
    // A named local: GCC 12 destroys a braced temporary in a co_await twice.
    response_start start{head_lines(res), false, true, true};
    co_await client_.tunnel(start, up);
  } else {
    co_await relay_response(rp, up, false, head_lines(res), target);
  }
}

}  // namespace mvproxy::proxy
