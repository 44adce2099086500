// A request through its plan's targets (docs/architecture.md, "Relay"): a pooled or
// new connection per attempt; a hand-back or a connect failure moves on to the next
// target, a connection the server closed before answering is retried once on a
// fresh one; then the response is relayed. Each attempt's outcome is recorded in
// report_attempt, for upgrades too.

#include <algorithm>

#include "exchange_internal.hpp"
#include "mvproxy/discovery/negotiate.hpp"

namespace mvproxy::proxy {

asio::awaitable<bool> exchange::forward(dispatch::plan&& plan) {
  forward_state st;
  st.plan = std::move(plan);
  if (st.plan.targets.empty()) st.plan.targets.push_back({"local", {}, 0, false, nullptr});
  prepare_request(st);
  for (;;) {
    auto r = co_await attempt(st);
    if (r.what == step::done) co_return r.keep;
    if (r.what == step::retry) {
      st.fresh = true;
      st.retried = true;
      continue;
    }
    // step::next_target
    if (next_target(st.plan, st.ti, st.unreachable)) continue;
    const bool keep = client_.wants_keep_alive() && !client_.body_pending();
    rec_.rerouted = true;
    co_await send_local_reply(reply_for(reply_kind::exhausted), keep);
    co_return keep;
  }
}

// The request as every target gets it: hop-by-hop fields gone, the caller's identity
// set, HTTP/1.1 framing.
void exchange::prepare_request(forward_state& st) {
  auto& req = client_.request();
  st.head_request = req.method() == bhttp::verb::head;
  st.idempotent =
      req.method() == bhttp::verb::get || st.head_request || req.method() == bhttp::verb::options;
  if (st.plan.authorize) {
    // Ask first whether this caller may read discovery (see dispatch::plan::authorize):
    // the same method, the check path, our discovery read's Accept and ETag, so an
    // allowed caller costs the apiserver a 304.
    req.target(st.plan.check_path);
    req.set(bhttp::field::accept, discovery::discovery_accept);
    req.erase(bhttp::field::if_none_match);
    if (!st.plan.check_etag.empty()) req.set(bhttp::field::if_none_match, st.plan.check_etag);
    st.authorized_answer = &st.plan.response;
  }
  // We answer 100 Continue ourselves once we start reading the body, so the upstream
  // never sees the expectation (a proxy may do either; this keeps the upstream
  // exchange a plain request/response).
  if (auto it = req.find(bhttp::field::expect); it != req.end()) {
    st.expect_continue = beast::iequals(it->value(), "100-continue");
    if (st.expect_continue) req.erase(bhttp::field::expect);
  }
  http::strip_hop_by_hop(req, false);
  http::apply_identity(req, caller_.identity ? &*caller_.identity : nullptr, caller_.trusted_peer);
  req.version(11);
  if (client_.body_chunked()) req.set(bhttp::field::transfer_encoding, "chunked");
}

asio::awaitable<exchange::step_result> exchange::attempt(forward_state& st) {
  const auto& ref = st.plan.targets[st.ti];
  const upstream_target& target = prepare_target(st.plan, st.ti, st.peer_storage);
  peer_in_flight counted_peer(ref.runtime);
  bool found_closed = false;
  auto up = st.fresh ? nullptr : worker_.pool.acquire(target, &found_closed);
  if (!up && !st.fresh && worker_.pool.h2_connect_pending(target)) {
    // Its HTTP/2 connection is being made: this request will be one of its streams.
    const auto& lim = shared_.options.lim;
    co_await worker_.pool.wait_for_connect(target,
                                           lim.upstream_connect_timeout + lim.handshake_timeout);
    up = worker_.pool.acquire(target, &found_closed);
  }
  st.fresh = false;
  if (found_closed && !target.peer) report_local_trouble();
  const bool reused = up != nullptr;
  if (!up) {
    auto cr = co_await connect_for_request(target);
    if (!cr.conn) {
      if (target.peer) st.unreachable = true;
      auto a = after_connect_failure(st.plan, st.ti, target, cr);
      if (!a) co_return step_result{step::next_target};
      if (target.peer) rec_.rerouted = true;
      const bool keep = client_.wants_keep_alive() && !client_.body_pending();
      co_await send_local_reply(*a, keep);
      co_return step_result{step::done, keep};
    }
    up = std::move(cr.conn);
  }
  current_upstream_ = up.get();
  auto reply = co_await send_and_read_head(*up, st, target.peer, reused);
  current_upstream_ = nullptr;
  if (reply.client_gone || terminating_) co_return step_result{step::done, false};
  if (!reply.handed_back.empty()) {
    // Nothing reached any apiserver: the next target may take it.
    if (reply.handed_back == "apiserver-down") st.unreachable = true;
    report_attempt(st.plan, st.ti, target, {failure::none, reply.handed_back, false});
    shared_.log->info("conn={} {} handed the request back ({})", conn_id_, target.name,
                      reply.handed_back);
    co_return step_result{step::next_target};
  }
  if (reply.kind != failure::none) {
    const bool retry = reply.retryable && !st.retried;
    report_attempt(st.plan, st.ti, target, {reply.kind, {}, retry});
    if (retry) {
      shared_.log->debug(
          "conn={} upstream connection closed before answering ({}), retrying on a fresh "
          "connection",
          conn_id_, reply.detail);
      co_return step_result{step::retry};
    }
    auto a = reply_for_failure(reply.kind, target, phase::exchange, reply.detail);
    shared_.log->warn("conn={} {}", conn_id_, a.message);
    const bool keep = client_.wants_keep_alive() && !client_.body_pending();
    co_await send_local_reply(a, keep);
    co_return step_result{step::done, keep};
  }
  report_attempt(st.plan, st.ti, target, {});
  co_return co_await answer_attempt(st, std::move(up), target);
}

// An upstream answered: the merged discovery it allowed, or its own response relayed.
asio::awaitable<exchange::step_result> exchange::answer_attempt(forward_state& st, upstream_ptr up,
                                                                const upstream_target& target) {
  const bool request_done = !client_.body_pending();
  if (st.authorized_answer) {
    const auto code = static_cast<int>(st.rp->get().result_int());
    if ((code >= 200 && code < 300) || code == 304) {
      // Allowed: the merged answer, as planned. A bodiless check answer leaves the
      // connection reusable; a body (the local discovery changed) is not read.
      if (st.rp->is_done() && st.rp->keep_alive() && up->buffer.empty())
        worker_.pool.release(target, std::move(up));
      rec_.route = "merged";
      rec_.rerouted = false;
      const bool keep = client_.wants_keep_alive() && request_done;
      co_await send_answer(*st.authorized_answer, st.head_request, keep);
      co_return step_result{step::done, keep};
    }
    shared_.log->debug("conn={} discovery refused to the caller by {}: {}", conn_id_, target.name,
                       code);
  }
  auto& rp = *st.rp;
  const bool keep =
      client_.wants_keep_alive() && !worker_.draining && !rp.need_eof() && request_done;
  current_upstream_ = up.get();
  bool ok = co_await relay_response(rp, *up, keep, std::move(st.relayed_head), target);
  current_upstream_ = nullptr;
  if (ok && rp.is_done() && rp.keep_alive() && up->buffer.empty() && up->stream.input_drained() &&
      !terminating_ && !worker_.draining && request_done) {
    if (up->buffer.capacity() > 4096) std::string().swap(up->buffer);
    worker_.pool.release(target, std::move(up));
  }
  co_return step_result{step::done, ok && keep};
}

bool exchange::next_target(dispatch::plan& plan, std::size_t& ti, bool unreachable) {
  if (ti + 1 < plan.targets.size()) {
    ++ti;
    return true;
  }
  // Every peer handed it back as not served there: the local apiserver's answer (its
  // 404) is the truth. One that could not be reached makes it a 503 (rule 7).
  const bool has_local =
      std::any_of(plan.targets.begin(), plan.targets.end(), [](auto& t) { return !t.peer; });
  if (unreachable || has_local) return false;
  plan.targets.push_back({"local", {}, 0, false, nullptr});
  ++ti;
  return true;
}

dispatch::plan exchange::plan_for(bool wait_expired) {
  dispatch::plan plan;
  if (shared_.options.planner)
    plan = shared_.options.planner->plan_for(client_.request(), caller_.trusted_peer, wait_expired);
  if (plan.what == dispatch::plan::action::forward && plan.targets.empty())
    plan.targets.push_back({"local", {}, 0, false, nullptr});
  rec_.route = plan.label();
  // Requests a peer serves, and those no reachable peer could serve (503), count as
  // rerouted, as upstream's peer proxy counts them.
  rec_.rerouted = (plan.what == dispatch::plan::action::forward && !plan.local_first) ||
                  plan.route == dispatch::route_kind::unavailable;
  if (rec_.rerouted) {
    rec_.group = plan.group;
    rec_.version = plan.version;
    rec_.resource = plan.resource;
  }
  return plan;
}

const upstream_target& exchange::prepare_target(const dispatch::plan& plan, std::size_t i,
                                                upstream_target& storage) {
  const auto& ref = plan.targets[i];
  auto& req = client_.request();
  // Set again for each hop: the caller's Connection may have named it away.
  http::set_audit_id(req, rec_.audit_id);
  if (!ref.peer) {
    // The header is a peer's promise that it already routed the request; a plain
    // client's copy is dropped so it cannot switch off the apiserver's own routing.
    if (!caller_.trusted_peer) req.erase("x-kubernetes-peer-proxied");
    return offers_credentials() ? shared_.options.local : shared_.options.local_anonymous;
  }
  req.set("x-kubernetes-peer-proxied", "true");
  storage.name = ref.id;
  storage.host = ref.host;
  storage.port = ref.port;
  storage.server_name = shared_.options.peer_server_name;
  storage.peer = true;
  // The route the request actually takes (a next candidate, or a failover peer).
  rec_.route = ref.id;
  rec_.rerouted = true;
  rec_.group = plan.group;
  rec_.version = plan.version;
  rec_.resource = plan.resource;
  return storage;
}

// After apply_identity: whether the request carries any identity for the apiserver. A
// caller with none must reach it without our client certificate: the front-proxy
// certificate with no X-Remote-User is a failed x509 login (401) to kube-apiserver,
// where the caller's own anonymous request is system:anonymous (health, /version).
bool exchange::offers_credentials() const {
  const auto& req = client_.request();
  return req.find("x-remote-user") != req.end() ||
         req.find(bhttp::field::authorization) != req.end();
}

void exchange::report_attempt(const dispatch::plan& plan, std::size_t ti,
                              const upstream_target& target, const attempt_outcome& outcome) {
  const auto& ref = plan.targets[ti];
  if (!outcome.handed_back.empty()) {
    shared_.metrics.upstream_errors_total.with({target.name, "handed-back"}).inc();
    return;
  }
  if (outcome.kind == failure::none) {
    if (ref.runtime) ref.runtime->on_success();
    return;
  }
  if (!target.peer) report_local_trouble();
  if (outcome.will_retry) return;
  shared_.metrics.upstream_errors_total.with({target.name, to_string(outcome.kind)}).inc();
  if (!ref.peer) return;
  // A timeout ejects at once: a frozen peer would make every request wait as long.
  if (ref.runtime) ref.runtime->on_failure(clock::now(), outcome.kind == failure::timeout);
  if (outcome.kind == failure::timeout) worker_.pool.drop(target);  // frozen too
  // Upstream's two types here; the exact reason is in mvproxy_upstream_errors_total.
  shared_.metrics.peer_proxy_errors_total
      .with({peer_proxy_error_type(outcome.kind), plan.group, plan.version, plan.resource})
      .inc();
}

asio::awaitable<connect_result> exchange::connect_for_request(const upstream_target& target) {
  worker_.pool.connecting(target);
  auto cr = co_await connect(target, true);
  if (cr.conn && cr.http2) cr.conn = worker_.pool.adopt_h2(worker_, target, std::move(cr.conn));
  worker_.pool.done_connecting(target, cr.conn != nullptr, cr.http2);
  if (cr.conn) cr.conn->count_in(worker_.pool.gauge_for(target, "active"));
  co_return cr;
}

asio::awaitable<connect_result> exchange::connect(const upstream_target& target, bool http2) {
  auto ctx = target.peer        ? shared_.tls.peers()
             : target.anonymous ? shared_.tls.anonymous_upstream()
                                : shared_.tls.upstream();
  if (!ctx)
    co_return connect_result{nullptr, failure::tls, "no CA configured for peers (--peer-ca-file)"};
  const bool offer_h2 = http2 && shared_.options.lim.upstream_http2;
  co_return co_await connect_upstream(target, std::move(ctx), shared_.options.lim, &worker_.sweeper,
                                      offer_h2);
}

std::optional<local_reply> exchange::after_connect_failure(const dispatch::plan& plan,
                                                           std::size_t ti,
                                                           const upstream_target& target,
                                                           const connect_result& cr) {
  report_attempt(plan, ti, target, {cr.kind, {}, false});
  // Nothing was sent: a peer route moves on to the next capable peer; a local route
  // moves on to a failover peer only while the local apiserver refuses connections (it
  // is restarting), SPEC §3 rules 5 and 8.
  const auto& ref = plan.targets[ti];
  if (ti + 1 < plan.targets.size() && (ref.peer || cr.kind == failure::refused)) {
    shared_.log->info("conn={} {} unreachable ({}), trying {}", conn_id_, target.name,
                      to_string(cr.kind), plan.targets[ti + 1].id);
    return std::nullopt;
  }
  auto a = reply_for_failure(cr.kind, target, phase::connect, cr.detail, ref.peer);
  shared_.log->warn("conn={} {}", conn_id_, a.message);
  return a;
}

}  // namespace mvproxy::proxy
