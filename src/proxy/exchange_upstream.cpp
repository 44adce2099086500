// One attempt on an upstream connection (docs/architecture.md, "Relay"): the request
// written (to a peer with a body: after its 100 Continue), the response head read, and
// the response handed to the client side to relay.

#include "exchange_internal.hpp"
#include "mvproxy/view/peer_state.hpp"

namespace mvproxy::proxy {

asio::awaitable<exchange::upstream_reply> exchange::send_and_read_head(upstream_connection& up,
                                                                       forward_state& st, bool peer,
                                                                       bool reused) {
  auto& req = client_.request();
  const bool has_body = client_.body_pending() || st.body_consumed;
  upstream_reply out;
  attempt_io io{up, peer, reused};
  // A peer decides on the head alone whether it takes the request: the body follows
  // its 100 Continue, so a hand-back leaves the body unread, for the next target.
  const bool ask_first = has_body && !st.body_consumed && peer;
  if (ask_first)
    req.set(bhttp::field::expect, "100-continue");
  else
    req.erase(bhttp::field::expect);
  std::string head = http::serialize_head(req);
  if (!has_body || st.expect_continue || ask_first) {
    up.stream.expires_after(shared_.options.lim.write_timeout);
    if (auto wec = co_await up.stream.write(head.data(), head.size())) {
      fail(out, io, st, wec, "writing the request: " + wec.message(), false);
      co_return out;
    }
    head.clear();
  }
  st.rp.reset();
  // (No co_await inside && or ?: anywhere here: GCC 12 miscompiles the coroutine.)
  if (ask_first) {
    if (!co_await wait_for_continue(io, st, out)) co_return out;
  }
  if (has_body) {
    if (!co_await send_body(up, st, head, out)) co_return out;
  }
  error_code rec;
  if (!st.rp) {  // else: the answer came early, while the body was being written
    rec = co_await read_response_head(up, st.rp, st.head_request, &st.relayed_head, false,
                                      &io.received);
  }
  if (!rec && st.rp->get().result_int() == 101) {
    out.kind = failure::broken;
    out.detail = "101 Switching Protocols without an upgrade request";
  } else if (rec) {
    fail(out, io, st, rec,
         "reading the response: " + (rec == beast::error::timeout
                                         ? std::string("timeout awaiting response headers")
                                         : rec.message()),
         true);
  } else {
    check_handed_back(out, st, peer);
  }
  co_return out;
}

// A reused connection that broke with nothing received: the server had closed it (it
// restarted) before reading, so nothing was processed. As Go's transport, it is
// replayed when that is safe: nothing of it written, or an idempotent method. A fresh
// connection's failure is never replayed: the request reached an apiserver.
void exchange::fail(upstream_reply& out, const attempt_io& io, const forward_state& st,
                    const error_code& ec, std::string detail, bool written) {
  out.kind = ec == beast::error::timeout ? failure::timeout : failure::broken;
  out.detail = std::move(detail);
  out.retryable = out.kind == failure::broken && io.reused && io.received == 0 &&
                  io.up.buffer.empty() && !st.body_consumed && (!written || st.idempotent);
}

// The peer's answer to a head sent alone: true on its 100 Continue (the body follows).
// Otherwise st.rp holds its final answer (relayed; the body stays unread) or `out` the
// failure.
asio::awaitable<bool> exchange::wait_for_continue(attempt_io& io, forward_state& st,
                                                  upstream_reply& out) {
  if (auto rec = co_await read_response_head(io.up, st.rp, st.head_request, &st.relayed_head, true,
                                             &io.received)) {
    fail(out, io, st, rec, "waiting for 100 Continue: " + rec.message(), true);
    co_return false;
  }
  if (st.rp->get().result_int() != 100) {
    check_handed_back(out, st, io.peer);
    co_return false;
  }
  st.rp.reset();
  co_return true;
}

// The request body (after `head`, unless it went ahead), from the client to `up`.
// False when the attempt ends here; `out` says how.
asio::awaitable<bool> exchange::send_body(upstream_connection& up, forward_state& st,
                                          std::string& head, upstream_reply& out) {
  if (st.expect_continue) {
    if (!co_await client_.send_continue()) {
      out.client_gone = true;
      co_return false;
    }
    st.expect_continue = false;
  }
  st.body_consumed = true;
  // An HTTP/2 upstream takes the body as it is (DATA), its end said by end_body().
  const bool chunked_out = client_.body_chunked() && !up.multiplexed();
  auto end = co_await client_.send_body(up.stream, head, chunked_out);
  if (end == relay_end::from_malformed) {
    // A chunk line that is not one: no response has begun, so the client is told (a
    // 400, as Go's server), and the connection closes, its framing lost. The upstream
    // got at most part of a chunked body, which it cannot take for whole; its
    // connection is dropped with the attempt.
    shared_.log->debug("conn={} malformed request body, answering 400", conn_id_);
    co_await send_local_reply(reply_for(reply_kind::bad_request, "malformed chunked request body"),
                              false);
    out.client_gone = true;
    co_return false;
  }
  if (end == relay_end::from_failed || end == relay_end::client_gone) {
    out.client_gone = true;
    co_return false;
  }
  if (end == relay_end::to_failed) {
    // The upstream stopped taking the body. An apiserver that refuses a request before
    // reading all of it (413, 431, 401, 429) answers, then closes: that answer is the
    // client's, not a 502 (Go's transport, reading the response while it writes the
    // body, returns it too).
    if (early_answer(up, st)) co_return true;
    out.kind = failure::broken;
    out.detail = "writing the request body";
    co_return false;
  }
  up.end_body();
  co_return true;
}

// A response head among the bytes the upstream sent before it stopped reading: they
// are all here by the time a write fails (they came before its close or reset), so
// nothing is waited for. True when st.rp holds a final head.
bool exchange::early_answer(upstream_connection& up, forward_state& st) {
  up.stream.expires_never();  // a write timeout would fail the reads too
  char* buf = worker_.scratch.data();
  for (;;) {
    auto got = up.stream.try_read(buf, relay_read_bytes);
    if (got.bytes == 0) break;
    up.buffer.append(buf, got.bytes);
  }
  st.rp.reset();
  while (!up.buffer.empty()) {
    st.rp.emplace(static_cast<std::uint32_t>(shared_.options.lim.max_head_bytes));
    if (st.head_request) st.rp->skip(true);
    st.relayed_head.clear();
    st.rp->write_head_to(&st.relayed_head);
    auto f = st.rp->feed(up.buffer.data(), up.buffer.size(), true);
    if (f.ec || !st.rp->is_header_done()) break;
    up.buffer.erase(0, f.consumed);
    const auto code = st.rp->get().result_int();
    if (code >= 200) return true;  // 1xx: interim (a 100 Continue) or an upgrade, not it
  }
  st.rp.reset();
  return false;
}

void exchange::check_handed_back(upstream_reply& out, const forward_state& st, bool peer) const {
  if (!peer || !st.rp || st.rp->get().result_int() != 503) return;
  auto reason = http::field_in_head(st.relayed_head, view::handed_back_header);
  if (reason && !reason->empty()) out.handed_back = std::string(*reason);
}

asio::awaitable<error_code> exchange::read_response_head(
    upstream_connection& up, std::optional<response_parser>& rp, bool head_request,
    std::string* relayed_head, bool stop_at_continue, std::size_t* received) {
  const auto& lim = shared_.options.lim;
  // A long-running request's head within upstream_response_timeout; any other's
  // within --request-timeout of each read (the apiserver answers it within that).
  up.stream.expires_after(long_running_ ? lim.upstream_response_timeout : lim.request_timeout);
  for (;;) {
    if (!rp) {
      rp.emplace(static_cast<std::uint32_t>(lim.max_head_bytes));
      if (head_request) rp->skip(true);
      if (relayed_head) {
        relayed_head->clear();
        rp->write_head_to(relayed_head);
      }
    }
    if (!up.buffer.empty()) {
      auto f = rp->feed(up.buffer.data(), up.buffer.size(), true);
      if (f.ec) co_return f.ec;
      up.buffer.erase(0, f.consumed);
      if (rp->is_header_done()) {
        // Interim answers (102, 103) are not relayed; 101 is the caller's to judge.
        const auto code = static_cast<int>(rp->get().result_int());
        if (code >= 100 && code < 200 && code != 101 && !(stop_at_continue && code == 100)) {
          rp.reset();
          continue;
        }
        co_return error_code();
      }
    }
    char* buf = worker_.scratch.data();
    if (!long_running_) up.stream.expires_after(lim.request_timeout);
    // The answer to a request just written is not there yet: wait for it instead of
    // reading at once. Read in the same turn, the response of a fast apiserver is
    // relayed one per wake-up, and the worker, its client and the apiserver hand the
    // CPU to each other once per request (docs/benchmarks.md: 22 % less CPU per request).
    if (up.buffer.empty() && up.tls()) {
      if (auto wec = co_await up.stream.wait_readable()) co_return wec;
    }
    auto [ec, n] = co_await up.stream.read_some(buf, relay_read_bytes);
    if (received) *received += n;
    if (ec) co_return ec;
    up.buffer.append(buf, n);
  }
}

asio::awaitable<bool> exchange::relay_response(response_parser& rp, upstream_connection& up,
                                               bool keep_alive, std::string head,
                                               const upstream_target& target) {
  rec_.status = static_cast<int>(rp.get().result_int());
  if (!rp.connection_tokens().empty()) http::remove_fields(head, rp.connection_tokens());
  http::add_audit_id(head, rec_.audit_id);
  response_start start{std::move(head), rp.chunked(), keep_alive, rp.is_done()};
  auto end = co_await client_.relay_response(start, rp, up, rec_.bytes);
  if (end == relay_end::from_failed && !terminating_) {
    // Cut by the upstream mid-body (it closed, reset, or went quiet past the stream
    // idle timeout): the client must not take it for whole, so it is told, counted
    // and logged.
    rec_.cut = true;
    shared_.metrics.upstream_errors_total.with({target.name, "response-cut"}).inc();
    shared_.log->warn(
        "conn={} {} {}: the response from {} ended after {} body bytes, before its end", conn_id_,
        rec_.method, rec_.path, target.name, rec_.bytes);
  } else if (end == relay_end::client_gone) {
    shared_.log->debug("conn={} client went away during the response", conn_id_);
  }
  co_return end == relay_end::done;
}

}  // namespace mvproxy::proxy
