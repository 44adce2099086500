#pragma once
// One client connection: TLS handshake, caller classification, then requests one after
// another (keep-alive), each relayed to an upstream and streamed back, or an upgrade
// tunnelled. Lives entirely on its worker's io_context.

#include <spdlog/logger.h>

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <list>
#include <optional>
#include <string>
#include <vector>

#include "mvproxy/http/framing.hpp"
#include "mvproxy/http/headers.hpp"
#include "mvproxy/http/relay.hpp"
#include "mvproxy/proxy/local_reply.hpp"
#include "mvproxy/proxy/server.hpp"
#include "mvproxy/proxy/tls_stream.hpp"
#include "mvproxy/proxy/worker.hpp"

namespace mvproxy::proxy {

class session {
 public:
  session(worker& w, boost::asio::ip::tcp::socket socket, std::shared_ptr<tls::server_context> ctx);
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  boost::asio::awaitable<void> run();
  // Drain: a connection waiting for its next request is closed now; a busy one after
  // its current response.
  void close_if_idle();
  // Grace period over: end what is in flight (chunked responses are ended cleanly).
  void terminate();

 private:
  using request_parser = http::request_relay_parser;
  using response_parser = http::response_relay_parser;
  enum class head_result { complete, closed, timeout, bad, too_large };
  // How relaying a body ended: `from` failed to deliver it (closed early, malformed,
  // timed out), `to` did not take it, or the client went away while we waited.
  enum class relay_end { done, from_failed, to_failed, client_gone };

  struct exchange;  // per-request bookkeeping for logs and metrics

  // One request's way through its plan's targets.
  struct forward_state {
    dispatch::plan plan;
    std::size_t ti = 0;  // the target being tried
    upstream_target peer_storage;
    bool client_keep_alive = true, chunked = false, head_request = false, has_body = false;
    bool idempotent = false;
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
  boost::asio::awaitable<step_result> attempt(request_parser& parser, exchange& ex,
                                              forward_state& st);
  // Writes the request (to a peer with a body: head, its 100 Continue, then the body)
  // and reads the response head into st.rp / st.relayed_head.
  boost::asio::awaitable<upstream_reply> send_and_read_head(upstream_connection& up,
                                                            request_parser& parser,
                                                            forward_state& st, bool peer,
                                                            bool reused);
  void check_handed_back(upstream_reply& out, const forward_state& st, bool peer) const;
  // After a hand-back or an unreachable peer: moves `ti` to the next target (adding the
  // local apiserver when every peer said "not served here"); false when none is left.
  static bool next_target(dispatch::plan& plan, std::size_t& ti, bool unreachable);
  // What one attempt on plan target `ti` came to, recorded in one place: the error
  // metrics, the peer's health, and a probe of the local apiserver after a local
  // failure. A failure about to be retried on a fresh connection only asks the probe.
  struct attempt_outcome {
    failure kind = failure::none;
    std::string_view handed_back;  // a peer gave it back untouched
    bool will_retry = false;
  };
  void report_attempt(const dispatch::plan& plan, std::size_t ti, const upstream_target& target,
                      const attempt_outcome& outcome);

  boost::asio::awaitable<head_result> read_head(bool first, std::size_t& head_size,
                                                std::string_view& reason);
  boost::asio::awaitable<bool> serve_one(bool first);
  boost::asio::awaitable<bool> forward(request_parser& parser, exchange& ex);
  // The plan for this request, after any bounded wait it asks for (the local view being
  // re-read).
  boost::asio::awaitable<dispatch::plan> settle_plan(request_parser& parser, exchange& ex);
  // Waits until the cluster view changes, `deadline` passes or the session is told to
  // stop. Register-then-check: `ready` is evaluated after registering for the change.
  boost::asio::awaitable<void> wait_for_view(clock::time_point deadline,
                                             const std::function<bool()>& ready);
  // A trusted peer's long-poll of this sidecar's state (GET /mvproxy/v1/state).
  boost::asio::awaitable<bool> answer_peer_state(request_parser& parser, exchange& ex);
  void report_local_trouble() const;
  boost::asio::awaitable<bool> forward_upgrade(request_parser& parser, exchange& ex);
  // The one writer of answers mvproxy makes itself (a local_reply becomes a Status).
  boost::asio::awaitable<void> send_local_reply(const local_reply& r, bool keep_alive,
                                                exchange& ex);
  boost::asio::awaitable<void> send_answer(const dispatch::answer& a, bool head_request,
                                           bool keep_alive, exchange& ex);
  // Writes a head and a body as one record when they are small.
  boost::asio::awaitable<error_code> write_message(tls_stream& to, std::string_view head,
                                                   std::string_view body);
  dispatch::plan plan_for(request_parser& parser, exchange& ex, bool wait_expired = false);
  // The upstream for plan target `i`, and the request headers that go with it.
  bool offers_credentials(const boost::beast::http::request_header<>& req) const;
  const upstream_target& prepare_target(const dispatch::plan& plan, std::size_t i,
                                        upstream_target& storage,
                                        boost::beast::http::request_header<>& req, exchange& ex);
  // A new connection to `target` (the peer or upstream TLS context as it fits).
  boost::asio::awaitable<connect_result> connect(const upstream_target& target);
  // After a failed connect to plan target `ti` (nothing sent): recorded, and nothing
  // when the plan has a next target to try, else the answer for the client.
  std::optional<local_reply> after_connect_failure(const dispatch::plan& plan, std::size_t ti,
                                                   const upstream_target& target,
                                                   const connect_result& cr);
  // Reads a response head from `up` (interim 1xx answers other than 101 skipped).
  // With `relayed_head`, the head is written there as it will go out (see
  // relay_parser::write_head_to) instead of being collected into fields.
  // With `stop_at_continue`, a 100 Continue is returned like a final head (the
  // caller sent Expect: 100-continue). `received` counts the bytes read.
  boost::asio::awaitable<error_code> read_response_head(
      upstream_connection& up, std::optional<response_parser>& rp, bool head_request,
      std::string* relayed_head, bool stop_at_continue = false, std::size_t* received = nullptr);
  boost::asio::awaitable<bool> relay_response(response_parser& rp, upstream_connection& up,
                                              bool head_request, bool keep_alive, exchange& ex,
                                              std::string* relayed_head);
  template <class Parser>
  boost::asio::awaitable<relay_end> relay_body(tls_stream& from, tls_stream& to, Parser& p,
                                               std::string& pending, std::string_view prefix,
                                               bool chunked_out, bool watch_client,
                                               std::uint64_t& bytes, bool& prefix_sent);
  // While a response streams, the client is watched by a plain wait on its socket
  // (no coroutine, no buffer): if it closes, the upstream wait is cancelled and the
  // relay ends. Bytes it sends are kept as the start of its next request.
  struct client_watch {
    session* owner = nullptr;  // null once nobody listens (the wait's handler outlives it)
  };
  void arm_client_watch();
  void disarm_client_watch();
  // Reads what the client sent: false when it is gone. Also releases the client's
  // OpenSSL read buffer while nothing is pending.
  bool poll_client();
  boost::asio::awaitable<void> tunnel(upstream_connection& up);
  struct tunnel_state;
  boost::asio::awaitable<void> pump(tls_stream& from, tls_stream& to, bool from_client,
                                    tunnel_state& st);
  boost::asio::awaitable<void> idle_watch(upstream_connection& up, tunnel_state& st);
  void close_client();
  void finish(exchange& ex);

  worker& worker_;
  shared_state& shared_;
  std::shared_ptr<tls::server_context> tls_ctx_;  // before client_: it owns the SSL_CTX
  tls_stream client_;
  std::uint64_t id_;
  std::list<session*>::iterator registration_;
  std::string client_buf_;  // read from the client, not yet used (a head, pipelined bytes)
  http::head_scanner scanner_;
  tls::caller_kind caller_kind_ = tls::caller_kind::anonymous;
  bool trusted_peer_ = false;
  std::optional<http::client_identity> identity_;
  bool idle_ = true;          // waiting for the first byte of a request head
  bool terminating_ = false;  // grace period over
  upstream_connection* current_upstream_ = nullptr;
  std::shared_ptr<client_watch> watch_;
  bool client_left_ = false;
  std::shared_ptr<boost::asio::steady_timer> view_wait_;  // while waiting for the view
};

}  // namespace mvproxy::proxy
