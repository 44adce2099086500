#pragma once
// One request's way through the proxy, apart from the connection it came on (as
// Envoy's ActiveStream is to its connection manager): its plan, the attempts on the
// plan's targets, the response relayed back or an answer made here, and its access
// line and metrics. It sees its client only through client_side, so an HTTP/1.1
// connection and an HTTP/2 stream can both drive it. Lives on its worker's thread.
//
// Files: exchange.cpp (the request's life, answers made here, the access line),
// exchange_forward.cpp (the attempts over the plan's targets), exchange_upstream.cpp
// (one attempt's request and response head), exchange_upgrade.cpp (upgrades),
// exchange_wait.cpp (waits on the cluster view).

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "mvproxy/dispatch/plan.hpp"
#include "mvproxy/http/headers.hpp"
#include "mvproxy/http/relay.hpp"
#include "mvproxy/proxy/client_side.hpp"
#include "mvproxy/proxy/local_reply.hpp"
#include "mvproxy/proxy/worker.hpp"
#include "mvproxy/tls/provider.hpp"

namespace mvproxy::proxy {

// Who the client is, from its connection's TLS handshake.
struct caller_info {
  tls::caller_kind kind = tls::caller_kind::anonymous;
  bool trusted_peer = false;
  std::optional<http::client_identity> identity;  // a user's certificate
};

class exchange {
 public:
  exchange(worker& w, client_side& client, const caller_info& caller, std::uint64_t conn_id);
  ~exchange();
  exchange(const exchange&) = delete;
  exchange& operator=(const exchange&) = delete;

  // Serves the request. True when the connection may serve another one after it.
  boost::asio::awaitable<bool> run();
  // A request the connection could not read: answered with `r`, and logged.
  boost::asio::awaitable<void> refuse(const local_reply& r);
  // Drain: a wait for the cluster view (a peer's long-poll) answers now.
  void stop_waiting();
  // Grace period over: what is in flight ends now.
  void terminate();

 private:
  using response_parser = http::response_relay_parser;
  using upstream_ptr = std::unique_ptr<upstream_connection>;

  // What the access line and the request metrics say of it.
  struct record {
    std::string method = "-";
    std::string path = "-";
    // Audit-ID: the client's or a new one (http::audit_id_for); sent on every hop and
    // on the response. Empty only when the head could not be parsed.
    std::string audit_id;
    int status = 0;
    std::string route = "local";
    std::uint64_t bytes = 0;
    clock::time_point start = clock::now();
    // Set when the request went (or should have gone) to a peer: counted in
    // apiserver_rerouted_request_total{code,group,version,resource}.
    bool rerouted = false;
    std::string group, version, resource;
    bool cut = false;  // the upstream's response ended before its end
  };

  // The request's way through its plan's targets.
  struct forward_state {
    dispatch::plan plan;
    std::size_t ti = 0;  // the target being tried
    upstream_target peer_storage;
    bool head_request = false, idempotent = false;
    bool expect_continue = false;  // the client's; answered by us
    bool body_consumed = false;
    bool fresh = false;        // the next attempt must use a new connection
    bool retried = false;      // one retry per request
    bool unreachable = false;  // a peer could not be reached, or its apiserver was down
    std::optional<response_parser> rp;
    std::string relayed_head;
    // Set while asking whether the caller may read discovery: answered on a 2xx/304.
    const dispatch::answer* authorized_answer = nullptr;
  };
  enum class step { done, next_target, retry };
  struct step_result {
    step what = step::done;
    bool keep = false;  // done: the client connection stays open
  };
  struct upstream_reply {
    failure kind = failure::none;
    std::string detail;
    bool retryable = false;    // nothing of the request can have been processed
    bool client_gone = false;  // the client left or its body broke: end the connection
    std::string handed_back;   // a peer's hand-back reason
  };
  // What one attempt on plan target `ti` came to (see report_attempt).
  struct attempt_outcome {
    failure kind = failure::none;
    std::string_view handed_back;  // a peer gave it back untouched
    bool will_retry = false;
  };

  // exchange.cpp
  boost::asio::awaitable<bool> serve();
  // Sets long_running_ and the client side's read idle timeout from the request.
  void classify_timeouts();
  boost::asio::awaitable<void> send_local_reply(const local_reply& r, bool keep_alive);
  boost::asio::awaitable<void> send_answer(const dispatch::answer& a, bool head_request,
                                           bool keep_alive);
  void finish();

  // exchange_forward.cpp
  boost::asio::awaitable<bool> forward(dispatch::plan&& plan);  // not a copy in the frame
  void prepare_request(forward_state& st);
  boost::asio::awaitable<step_result> attempt(forward_state& st);
  boost::asio::awaitable<step_result> answer_attempt(forward_state& st, upstream_ptr up,
                                                     const upstream_target& target);
  // After a hand-back or an unreachable peer: moves `ti` to the next target (adding the
  // local apiserver when every peer said "not served here"); false when none is left.
  static bool next_target(dispatch::plan& plan, std::size_t& ti, bool unreachable);
  dispatch::plan plan_for(bool wait_expired = false);
  // The upstream for plan target `i`, with the request headers that go with it.
  const upstream_target& prepare_target(const dispatch::plan& plan, std::size_t i,
                                        upstream_target& storage);
  bool offers_credentials() const;
  // Recorded in one place for forwards and upgrades: the error metrics, the peer's
  // health, and a probe of the local apiserver after a local failure. A failure about
  // to be retried on a fresh connection only asks for the probe.
  void report_attempt(const dispatch::plan& plan, std::size_t ti, const upstream_target& target,
                      const attempt_outcome& outcome);
  // A new upstream connection for a request: one that negotiates HTTP/2 becomes the
  // target's shared connection (the pool's), and what is returned is a stream on it.
  boost::asio::awaitable<connect_result> connect_for_request(const upstream_target& target);
  // With `http2`, the upstream may choose HTTP/2 (not for upgrades).
  boost::asio::awaitable<connect_result> connect(const upstream_target& target, bool http2 = false);
  // After a failed connect to plan target `ti` (nothing sent): recorded, and nothing
  // when the plan has a next target to try, else the answer for the client.
  std::optional<local_reply> after_connect_failure(const dispatch::plan& plan, std::size_t ti,
                                                   const upstream_target& target,
                                                   const connect_result& cr);

  // exchange_upstream.cpp
  // Writes the request (to a peer with a body: head, its 100 Continue, then the body)
  // and reads the response head into st.rp / st.relayed_head.
  boost::asio::awaitable<upstream_reply> send_and_read_head(upstream_connection& up,
                                                            forward_state& st, bool peer,
                                                            bool reused);
  struct attempt_io {
    upstream_connection& up;
    bool peer = false;
    bool reused = false;       // a pooled connection
    std::size_t received = 0;  // response bytes read so far
  };
  static void fail(upstream_reply& out, const attempt_io& io, const forward_state& st,
                   const error_code& ec, std::string detail, bool written);
  boost::asio::awaitable<bool> wait_for_continue(attempt_io& io, forward_state& st,
                                                 upstream_reply& out);
  boost::asio::awaitable<bool> send_body(upstream_connection& up, forward_state& st,
                                         std::string& head, upstream_reply& out);
  // After the upstream stopped taking the body: its answer, if one came first.
  bool early_answer(upstream_connection& up, forward_state& st);
  void check_handed_back(upstream_reply& out, const forward_state& st, bool peer) const;
  // Reads a response head from `up` (interim 1xx answers other than 101 skipped).
  // With `relayed_head`, the head is written there as it will go out (see
  // relay_parser::write_head_to) instead of being collected into fields. With
  // `stop_at_continue`, a 100 Continue is returned like a final head. `received`
  // counts the bytes read.
  boost::asio::awaitable<error_code> read_response_head(
      upstream_connection& up, std::optional<response_parser>& rp, bool head_request,
      std::string* relayed_head, bool stop_at_continue = false, std::size_t* received = nullptr);
  // The response `rp` began, relayed to the client; `head` as write_head_to left it.
  // A response the upstream cut (its body ended early) is counted, logged, marked
  // incomplete in the access line, and ended abruptly for the client (client_side).
  boost::asio::awaitable<bool> relay_response(response_parser& rp, upstream_connection& up,
                                              bool keep_alive, std::string head,
                                              const upstream_target& target);

  // exchange_upgrade.cpp
  boost::asio::awaitable<bool> forward_upgrade();
  boost::asio::awaitable<void> upgrade_to(dispatch::plan& plan);
  boost::asio::awaitable<void> answer_upgrade(response_parser& rp, upstream_connection& up,
                                              const upstream_target& target);

  // exchange_wait.cpp
  // The plan for this request, after any bounded wait it asks for (the local view being
  // re-read).
  boost::asio::awaitable<dispatch::plan> settle_plan();
  // Waits until the cluster view changes, `deadline` passes or the exchange is told to
  // stop. Register-then-check: `ready` is evaluated after registering for the change.
  boost::asio::awaitable<void> wait_for_view(clock::time_point deadline,
                                             const std::function<bool()>& ready);
  // A trusted peer's long-poll of this sidecar's state (GET /mvproxy/v1/state).
  boost::asio::awaitable<bool> answer_peer_state();
  void report_local_trouble() const;

  worker& worker_;
  shared_state& shared_;
  client_side& client_;
  const caller_info& caller_;
  std::uint64_t conn_id_;
  record rec_;
  bool terminating_ = false;
  bool long_running_ = false;  // request::is_long_running: stream limits, not --request-timeout
  upstream_connection* current_upstream_ = nullptr;       // cancelled by terminate()
  std::shared_ptr<boost::asio::steady_timer> view_wait_;  // while waiting for the view
};

}  // namespace mvproxy::proxy
