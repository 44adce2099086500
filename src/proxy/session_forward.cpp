// One request through its plan's targets (docs/architecture.md, "Relay"): a pooled or
// new connection per attempt, the request written (to a peer with a body: after its
// 100 Continue), the response head read; a hand-back or a connect failure moves on to
// the next target, a connection the server closed before answering is retried once on
// a fresh one; then the response is relayed.

#include "session_internal.hpp"

#include <algorithm>

#include "mvproxy/discovery/negotiate.hpp"
#include "mvproxy/view/peer_state.hpp"

namespace mvproxy::proxy {

asio::awaitable<bool> session::forward(request_parser& parser, exchange& ex) {
  auto& req = parser.get();
  forward_state st;
  st.client_keep_alive = parser.keep_alive();
  st.chunked = parser.chunked();
  st.head_request = req.method() == bhttp::verb::head;
  st.has_body = !parser.is_done();
  st.idempotent =
      req.method() == bhttp::verb::get || st.head_request || req.method() == bhttp::verb::options;

  if (caller_kind_ == tls::caller_kind::unverified &&
      req.find(bhttp::field::authorization) == req.end()) {
    // kube-apiserver refuses a certificate it cannot verify before anything else, on
    // every path; with no other credential that is its whole answer.
    const bool keep = st.client_keep_alive && !st.has_body;
    co_await send_local_reply(reply_for(reply_kind::unauthorized), keep, ex);
    co_return keep;
  }
  st.plan = co_await settle_plan(parser, ex);
  if (st.plan.what == dispatch::plan::action::peer_state)
    co_return co_await answer_peer_state(parser, ex);
  if (st.plan.what == dispatch::plan::action::refuse) {
    const bool keep = st.client_keep_alive && !st.has_body;  // as for respond, below
    co_await send_local_reply(reply_for(st.plan), keep, ex);
    co_return keep;
  }
  if (st.plan.what == dispatch::plan::action::respond && !st.plan.authorize) {
    // A body we are not going to read ends the connection after the answer.
    bool keep = st.client_keep_alive && !st.has_body;
    co_await send_answer(st.plan.response, st.head_request, keep, ex);
    co_return keep;
  }
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

  // We answer 100 Continue ourselves once we start reading the body, so the
  // upstream never sees the expectation (a proxy may do either; this keeps the
  // upstream exchange a plain request/response).
  if (auto it = req.find(bhttp::field::expect); it != req.end()) {
    st.expect_continue = beast::iequals(it->value(), "100-continue");
    if (st.expect_continue) req.erase(bhttp::field::expect);
  }
  http::strip_hop_by_hop(req, false);
  http::apply_identity(req, identity_ ? &*identity_ : nullptr, trusted_peer_);
  ex.client_http10 = req.version() == 10;
  req.version(11);
  if (st.chunked) req.set(bhttp::field::transfer_encoding, "chunked");

  for (;;) {
    auto r = co_await attempt(parser, ex, st);
    if (r.what == step::done) co_return r.keep;
    if (r.what == step::retry) {
      st.fresh = true;
      st.retried = true;
      continue;
    }
    // step::next_target
    if (next_target(st.plan, st.ti, st.unreachable)) continue;
    const bool keep = st.client_keep_alive && parser.is_done();
    ex.rerouted = true;
    co_await send_local_reply(reply_for(reply_kind::exhausted), keep, ex);
    co_return keep;
  }
}

asio::awaitable<session::step_result> session::attempt(request_parser& parser, exchange& ex,
                                                       forward_state& st) {
  const auto& ref = st.plan.targets[st.ti];
  const upstream_target& target = prepare_target(st.plan, st.ti, st.peer_storage, parser.get(), ex);
  peer_in_flight counted_peer(ref.runtime);
  bool found_closed = false;
  auto up = st.fresh ? nullptr : worker_.pool.acquire(target, &found_closed);
  st.fresh = false;
  if (found_closed && !target.peer) report_local_trouble();
  const bool reused = up != nullptr;
  if (!up) {
    auto cr = co_await connect(target);
    if (!cr.conn) {
      if (target.peer) st.unreachable = true;
      auto a = after_connect_failure(st.plan, st.ti, target, cr);
      if (!a) co_return step_result{step::next_target};
      if (target.peer) ex.rerouted = true;
      const bool keep = st.client_keep_alive && parser.is_done();
      co_await send_local_reply(*a, keep, ex);
      co_return step_result{step::done, keep};
    }
    up = std::move(cr.conn);
    up->count_in(worker_.pool.gauge_for(target, "active"));
  }
  current_upstream_ = up.get();
  auto reply = co_await send_and_read_head(*up, parser, st, target.peer, reused);
  current_upstream_ = nullptr;
  if (reply.client_gone || terminating_) co_return step_result{step::done, false};
  if (!reply.handed_back.empty()) {
    // Nothing reached any apiserver: the next target may take it.
    if (reply.handed_back == "apiserver-down") st.unreachable = true;
    report_attempt(st.plan, st.ti, target, {failure::none, reply.handed_back, false});
    shared_.log->info("conn={} {} handed the request back ({})", id_, target.name,
                      reply.handed_back);
    co_return step_result{step::next_target};
  }
  if (reply.kind != failure::none) {
    const bool retry = reply.retryable && !st.retried;
    report_attempt(st.plan, st.ti, target, {reply.kind, {}, retry});
    if (retry) {
      shared_.log->debug(
          "conn={} upstream connection closed before answering ({}), retrying on a "
          "fresh connection",
          id_, reply.detail);
      co_return step_result{step::retry};
    }
    auto a = reply_for_failure(reply.kind, target, phase::exchange, reply.detail);
    shared_.log->warn("conn={} {}", id_, a.message);
    const bool keep = st.client_keep_alive && parser.is_done();
    co_await send_local_reply(a, keep, ex);
    co_return step_result{step::done, keep};
  }

  report_attempt(st.plan, st.ti, target, {});
  if (st.authorized_answer) {
    const auto code = static_cast<int>(st.rp->get().result_int());
    if ((code >= 200 && code < 300) || code == 304) {
      // Allowed: the merged answer, as planned. A bodiless check answer leaves the
      // connection reusable; a body (the local discovery changed) is not read.
      if (st.rp->is_done() && st.rp->keep_alive() && up->buffer.empty())
        worker_.pool.release(target, std::move(up));
      ex.route = "merged";
      ex.rerouted = false;
      const bool keep = st.client_keep_alive && parser.is_done();
      co_await send_answer(*st.authorized_answer, st.head_request, keep, ex);
      co_return step_result{step::done, keep};
    }
    shared_.log->debug("conn={} discovery refused to the caller by {}: {}", id_, target.name, code);
  }
  auto& rp = *st.rp;
  const bool keep = st.client_keep_alive && !worker_.draining && !rp.need_eof() &&
                    parser.is_done() && !(rp.chunked() && ex.client_http10);
  current_upstream_ = up.get();
  bool ok = co_await relay_response(rp, *up, st.head_request, keep, ex, &st.relayed_head);
  current_upstream_ = nullptr;
  if (ok && rp.is_done() && rp.keep_alive() && up->buffer.empty() && up->stream.input_drained() &&
      !terminating_ && !worker_.draining && parser.is_done()) {
    if (up->buffer.capacity() > 4096) std::string().swap(up->buffer);
    worker_.pool.release(target, std::move(up));
  }
  co_return step_result{step::done, ok && keep};
}

asio::awaitable<session::upstream_reply> session::send_and_read_head(upstream_connection& up,
                                                                     request_parser& parser,
                                                                     forward_state& st, bool peer,
                                                                     bool reused) {
  const auto& lim = shared_.options.lim;
  auto& req = parser.get();
  upstream_reply out;
  // A peer decides on the head alone whether it takes the request: the body follows
  // its 100 Continue, so a hand-back leaves the body unread, for the next target.
  const bool ask_first = st.has_body && !st.body_consumed && peer;
  if (ask_first)
    req.set(bhttp::field::expect, "100-continue");
  else
    req.erase(bhttp::field::expect);
  std::string head = http::serialize_head(req);
  std::size_t received = 0;
  // A reused connection that broke with nothing received: the server had closed it
  // (it restarted) before reading, so nothing was processed. As Go's transport, it is
  // replayed when that is safe: nothing of it written, or an idempotent method. A
  // fresh connection's failure is never replayed: the request reached an apiserver.
  auto fail = [&](failure kind, std::string detail, bool written) {
    out.kind = kind;
    out.detail = std::move(detail);
    out.retryable = kind == failure::broken && reused && received == 0 && up.buffer.empty() &&
                    !st.body_consumed && (!written || st.idempotent);
  };
  if (!st.has_body || st.expect_continue || ask_first) {
    up.stream.expires_after(lim.write_timeout);
    if (auto wec = co_await up.stream.write(head.data(), head.size())) {
      fail(wec == beast::error::timeout ? failure::timeout : failure::broken,
           "writing the request: " + wec.message(), false);
      co_return out;
    }
    head.clear();
  }
  st.rp.reset();
  if (ask_first) {
    auto rec =
        co_await read_response_head(up, st.rp, st.head_request, &st.relayed_head, true, &received);
    if (rec) {
      fail(rec == beast::error::timeout ? failure::timeout : failure::broken,
           "waiting for 100 Continue: " + rec.message(), true);
      co_return out;
    }
    if (st.rp->get().result_int() != 100) {
      check_handed_back(out, st, peer);
      co_return out;  // a final answer before the body: relayed; the body stays unread
    }
    st.rp.reset();
  }
  if (st.has_body) {
    if (st.expect_continue) {
      static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
      client_.expires_after(lim.write_timeout);
      if (co_await client_.write(cont.data(), cont.size())) {
        out.client_gone = true;
        co_return out;
      }
      st.expect_continue = false;
    }
    st.body_consumed = true;
    std::uint64_t body_bytes = 0;
    bool head_sent = false;
    auto end = co_await relay_body(client_, up.stream, parser, client_buf_, head, st.chunked, false,
                                   body_bytes, head_sent);
    if (end == relay_end::from_failed || end == relay_end::client_gone) {
      out.client_gone = true;
      co_return out;
    }
    if (end == relay_end::to_failed) {
      fail(failure::broken, "writing the request body", true);
      co_return out;
    }
  }
  auto rec =
      co_await read_response_head(up, st.rp, st.head_request, &st.relayed_head, false, &received);
  if (!rec && st.rp->get().result_int() == 101) {
    fail(failure::broken, "101 Switching Protocols without an upgrade request", true);
    out.retryable = false;
  } else if (rec) {
    const bool timeout = rec == beast::error::timeout;
    fail(timeout ? failure::timeout : failure::broken,
         "reading the response: " +
             (timeout ? std::string("timeout awaiting response headers") : rec.message()),
         true);
  } else {
    check_handed_back(out, st, peer);
  }
  co_return out;
}

void session::check_handed_back(upstream_reply& out, const forward_state& st, bool peer) const {
  if (!peer || !st.rp || st.rp->get().result_int() != 503) return;
  auto reason = http::field_in_head(st.relayed_head, view::handed_back_header);
  if (reason && !reason->empty()) out.handed_back = std::string(*reason);
}

bool session::next_target(dispatch::plan& plan, std::size_t& ti, bool unreachable) {
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

dispatch::plan session::plan_for(request_parser& parser, exchange& ex, bool wait_expired) {
  dispatch::plan plan;
  if (shared_.options.planner)
    plan = shared_.options.planner->plan_for(parser.get(), trusted_peer_, wait_expired);
  if (plan.what == dispatch::plan::action::forward && plan.targets.empty())
    plan.targets.push_back({"local", {}, 0, false, nullptr});
  ex.route = plan.label();
  // Requests a peer serves, and those no reachable peer could serve (503), count as
  // rerouted, as upstream's peer proxy counts them.
  ex.rerouted = (plan.what == dispatch::plan::action::forward && !plan.local_first) ||
                plan.route == dispatch::route_kind::unavailable;
  if (ex.rerouted) {
    ex.group = plan.group;
    ex.version = plan.version;
    ex.resource = plan.resource;
  }
  return plan;
}

const upstream_target& session::prepare_target(const dispatch::plan& plan, std::size_t i,
                                               upstream_target& storage,
                                               bhttp::request_header<>& req, exchange& ex) {
  const auto& ref = plan.targets[i];
  // Set again for each hop: the caller's Connection may have named it away.
  http::set_audit_id(req, ex.audit_id);
  if (!ref.peer) {
    // The header is a peer's promise that it already routed the request; a plain
    // client's copy is dropped so it cannot switch off the apiserver's own routing.
    if (!trusted_peer_) req.erase("x-kubernetes-peer-proxied");
    return offers_credentials(req) ? shared_.options.local : shared_.options.local_anonymous;
  }
  req.set("x-kubernetes-peer-proxied", "true");
  storage.name = ref.id;
  storage.host = ref.host;
  storage.port = ref.port;
  storage.server_name = shared_.options.peer_server_name;
  storage.peer = true;
  // The route the request actually takes (a next candidate, or a failover peer).
  ex.route = ref.id;
  ex.rerouted = true;
  ex.group = plan.group;
  ex.version = plan.version;
  ex.resource = plan.resource;
  return storage;
}

// After apply_identity: whether the request carries any identity for the apiserver. A
// caller with none must reach it without our client certificate: the front-proxy
// certificate with no X-Remote-User is a failed x509 login (401) to kube-apiserver,
// where the caller's own anonymous request is system:anonymous (health, /version).
bool session::offers_credentials(const bhttp::request_header<>& req) const {
  return req.find("x-remote-user") != req.end() ||
         req.find(bhttp::field::authorization) != req.end();
}

void session::report_attempt(const dispatch::plan& plan, std::size_t ti,
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
  if (ref.runtime) ref.runtime->on_failure(clock::now());
  // Upstream's two types here; the exact reason is in mvproxy_upstream_errors_total.
  shared_.metrics.peer_proxy_errors_total
      .with({peer_proxy_error_type(outcome.kind), plan.group, plan.version, plan.resource})
      .inc();
}

asio::awaitable<connect_result> session::connect(const upstream_target& target) {
  auto ctx = target.peer        ? shared_.tls.peers()
             : target.anonymous ? shared_.tls.anonymous_upstream()
                                : shared_.tls.upstream();
  if (!ctx)
    co_return connect_result{nullptr, failure::tls, "no CA configured for peers (--peer-ca-file)"};
  co_return co_await connect_upstream(target, std::move(ctx), shared_.options.lim,
                                      &worker_.sweeper);
}

std::optional<local_reply> session::after_connect_failure(const dispatch::plan& plan,
                                                          std::size_t ti,
                                                          const upstream_target& target,
                                                          const connect_result& cr) {
  report_attempt(plan, ti, target, {cr.kind, {}, false});
  // Nothing was sent: a peer route moves on to the next capable peer; a local route
  // moves on to a failover peer only while the local apiserver refuses connections (it
  // is restarting), SPEC §3 rules 5 and 8.
  const auto& ref = plan.targets[ti];
  if (ti + 1 < plan.targets.size() && (ref.peer || cr.kind == failure::refused)) {
    shared_.log->info("conn={} {} unreachable ({}), trying {}", id_, target.name,
                      to_string(cr.kind), plan.targets[ti + 1].id);
    return std::nullopt;
  }
  auto a = reply_for_failure(cr.kind, target, phase::connect, cr.detail, ref.peer);
  shared_.log->warn("conn={} {}", id_, a.message);
  return a;
}

}  // namespace mvproxy::proxy
