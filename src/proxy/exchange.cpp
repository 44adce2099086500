// A request's life (docs/architecture.md, "Exchange"): its plan decides whether it is
// forwarded, upgraded or answered here; every answer mvproxy makes itself goes out
// through send_local_reply; its access line and metrics are written once, at the end.

#include "mvproxy/proxy/exchange.hpp"

#include <openssl/rand.h>

#include <array>
#include <cstring>
#include <random>

#include "exchange_internal.hpp"
#include "mvproxy/request/request_info.hpp"
#include "mvproxy/util/status.hpp"
#include "mvproxy/view/peer_state.hpp"

namespace mvproxy::proxy {

namespace {

// The randomness of a new audit ID: OpenSSL's generator, as Go's uuid.New() reads
// crypto/rand (which Go's uuid also reads ahead in a pool). Drawn 32 IDs at a time: a
// RAND_bytes call costs its locks and fork check, per request otherwise. IDs need to
// be unique, not secret, so should it ever fail a per-thread generator seeded from the
// system's entropy stands in.
http::uuid_bytes audit_id_random() {
  http::uuid_bytes b;
  thread_local std::array<unsigned char, 32 * sizeof(http::uuid_bytes)> pool;
  thread_local std::size_t used = pool.size();
  if (used == pool.size() && RAND_bytes(pool.data(), static_cast<int>(pool.size())) == 1) used = 0;
  if (used < pool.size()) {
    std::memcpy(b.data(), pool.data() + used, b.size());
    used += b.size();
    return b;
  }
  thread_local std::mt19937_64 fallback{std::random_device{}()};
  for (std::size_t i = 0; i < b.size(); i += 8) {
    auto r = fallback();
    std::memcpy(b.data() + i, &r, 8);
  }
  return b;
}

// Counts a request in flight for exactly as long as it is being served.
struct in_flight {
  explicit in_flight(metrics::gauge& g) : g_(g) { g_.inc(); }
  ~in_flight() { g_.dec(); }
  in_flight(const in_flight&) = delete;
  in_flight& operator=(const in_flight&) = delete;
  metrics::gauge& g_;
};

}  // namespace

exchange::exchange(worker& w, client_side& client, const caller_info& caller, std::uint64_t conn_id)
    : worker_(w), shared_(w.shared), client_(client), caller_(caller), conn_id_(conn_id) {}

exchange::~exchange() = default;

void exchange::stop_waiting() {
  if (view_wait_) view_wait_->cancel();
}

void exchange::terminate() {
  terminating_ = true;
  if (view_wait_) view_wait_->cancel();
  if (current_upstream_) current_upstream_->stream.cancel();
}

asio::awaitable<bool> exchange::run() {
  auto& req = client_.request();
  rec_.method = req.method_string();
  rec_.path = req.target();
  rec_.audit_id = http::audit_id_for(req, audit_id_random);
  classify_timeouts();
  in_flight counted(shared_.metrics.requests_in_flight);
  bool keep = co_await serve();
  finish();
  co_return keep;
}

// As kube-apiserver: a long-running request (a watch, exec, a log, a proxied stream)
// may go quiet for as long as it lasts, up to the stream limit; any other request is
// one the apiserver itself ends within --request-timeout, so that much silence from
// either side means it is stuck.
void exchange::classify_timeouts() {
  std::string_view target = rec_.path;
  const auto q = target.find('?');
  const auto query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
  long_running_ =
      request::is_long_running(request::classify(rec_.method, target.substr(0, q), query));
  const auto& lim = shared_.options.lim;
  client_.read_idle_timeout(long_running_ ? lim.stream_idle_timeout : lim.request_timeout);
}

asio::awaitable<void> exchange::refuse(const local_reply& r) {
  co_await send_local_reply(r, false);
  finish();
}

asio::awaitable<bool> exchange::serve() {
  auto& req = client_.request();
  // A body we are not going to read ends the connection after an answer made here.
  const bool keep = client_.wants_keep_alive() && !client_.body_pending();
  if (caller_.kind == tls::caller_kind::unverified &&
      req.find(bhttp::field::authorization) == req.end()) {
    // kube-apiserver refuses a certificate it cannot verify before anything else, on
    // every path; with no other credential that is its whole answer.
    co_await send_local_reply(reply_for(reply_kind::unauthorized), keep);
    co_return keep;
  }
  if (http::is_upgrade_request(req)) co_return co_await forward_upgrade();
  dispatch::plan plan = co_await settle_plan();
  switch (plan.what) {
    case dispatch::plan::action::peer_state:
      co_return co_await answer_peer_state();
    case dispatch::plan::action::refuse:
      co_await send_local_reply(reply_for(plan), keep);
      co_return keep;
    case dispatch::plan::action::respond:
      if (plan.authorize) break;  // only after the local apiserver says the caller may
      co_await send_answer(plan.response, req.method() == bhttp::verb::head, keep);
      co_return keep;
    case dispatch::plan::action::forward:
    case dispatch::plan::action::wait:  // the wait ran out: forward() goes by the last view
      break;
  }
  co_return co_await forward(std::move(plan));
}

asio::awaitable<void> exchange::send_local_reply(const local_reply& r, bool keep_alive) {
  dispatch::answer a;
  a.status = static_cast<unsigned>(r.code);
  a.content_type = "application/json";
  a.headers = {{"Cache-Control", "no-cache, private"}};
  if (r.retry_after) a.headers.emplace_back("Retry-After", "1");
  if (!r.handed_back.empty()) a.headers.emplace_back(view::handed_back_header, r.handed_back);
  a.text = util::status_json(r.code, r.message);
  // A HEAD answer has no body (its Content-Length is the GET's): a body would be read
  // as the start of the next response on a kept-alive connection.
  co_await send_answer(a, rec_.method == "HEAD", keep_alive);
}

asio::awaitable<void> exchange::send_answer(const dispatch::answer& a, bool head_request,
                                            bool keep_alive) {
  bhttp::response_header<> res;
  res.result(a.status);
  res.version(11);
  if (!a.content_type.empty()) res.set(bhttp::field::content_type, a.content_type);
  for (auto& [k, v] : a.headers) res.set(k, v);
  auto body = a.body();
  if (a.status != 304) res.set(bhttp::field::content_length, std::to_string(body.size()));
  http::add_audit_id(res, rec_.audit_id);
  if (head_request || a.status == 304) body = {};
  rec_.status = static_cast<int>(a.status);
  rec_.bytes += body.size();
  response_start start{head_lines(res), false, keep_alive, body.empty()};
  co_await client_.write_response(start, body);
}

void exchange::finish() {
  auto elapsed = clock::now() - rec_.start;
  double seconds = std::chrono::duration<double>(elapsed).count();
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count();
  if (rec_.rerouted)
    shared_.metrics.rerouted_request_total
        .with({std::to_string(rec_.status), rec_.group, rec_.version, rec_.resource})
        .inc();
  auto& series = worker_.series_for(rec_.route, rec_.status);
  series.total->inc();
  series.duration->observe(seconds);
  // Integer formatting of the duration: a float format is the costliest part of the line.
  // The audit ID goes last: a client's may contain spaces.
  // A response the upstream cut says so: incomplete=true after its byte count.
  shared_.access->info(
      "{} {} {} route={} bytes={}{} duration={}.{:06}s proto={} conn={} audit-id={}", rec_.method,
      rec_.path, rec_.status, rec_.route, rec_.bytes, rec_.cut ? " incomplete=true" : "",
      us / 1'000'000, us % 1'000'000, client_.protocol(), conn_id_,
      http::audit_id_for_log(rec_.audit_id));
}

}  // namespace mvproxy::proxy
