// Timeouts that know Kubernetes (docs/operations.md, "Timeouts"): an ordinary request
// may be silent for --request-timeout, on the upstream's side (its head, its body) and
// on the client's (its request body); a long-running one (a watch, exec, logs, proxy)
// keeps the stream limits. An upstream that takes TCP but never answers the TLS
// handshake (a frozen peer) is passed over within --upstream-connect-timeout.

#include "h2_fixture.hpp"
#include "mvproxy/view/peer_runtime.hpp"

namespace mvproxy::test {
namespace {

using steady = std::chrono::steady_clock;

constexpr auto short_idle = 400ms;

// Ordinary requests get short_idle; watches a stream limit far beyond what a test waits.
proxy::limits kube_limits() {
  proxy::limits lim;
  lim.request_timeout = short_idle;
  lim.stream_idle_timeout = 30s;
  lim.upstream_response_timeout = 30s;
  return lim;
}

class timeouts : public h2_test_base {
 protected:
  // An upstream that answers the head and part of a body, then goes quiet for `quiet`
  // before it ends the body.
  void serve_stalled_body(const std::string& prefix, std::chrono::milliseconds quiet) {
    auto gone = gone_;
    upstream_.on(prefix, [quiet, gone](upstream_conn& c, const recorded&) {
      c.write(
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: "
          "chunked\r\n\r\n5\r\nfirst\r\n");
      wait_until([&] { return gone->load(); }, quiet);
      c.write("4\r\nlast\r\n0\r\n\r\n");
    });
  }
  // An upstream that sends nothing at all for `quiet`, then answers.
  void serve_late_head(const std::string& prefix, std::chrono::milliseconds quiet) {
    auto gone = gone_;
    upstream_.on(prefix, [quiet, gone](upstream_conn& c, const recorded&) {
      wait_until([&] { return gone->load(); }, quiet);
      c.write(
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: "
          "chunked\r\n\r\n4\r\nlate\r\n0\r\n\r\n");
    });
  }
  void TearDown() override {
    *gone_ = true;  // stalled handlers end now
    h2_test_base::TearDown();
  }
  static double seconds_since(steady::time_point t0) {
    return std::chrono::duration<double>(steady::now() - t0).count();
  }
  // Set at the end: the handlers' threads may outlive the test body.
  std::shared_ptr<std::atomic<bool>> gone_ = std::make_shared<std::atomic<bool>>(false);
};

// The first fault: a LIST whose upstream stalls after part of the body waited for
// the one-hour stream limit. Now it is cut at --request-timeout, over both protocols,
// while a watch that is as quiet lives on.
TEST_F(timeouts, an_ordinary_response_that_stalls_is_cut_but_a_quiet_watch_lives_on) {
  start(kube_limits());
  serve_stalled_body("/api/v1/namespaces/a/pods", 2500ms);
  for (const char* proto : {"--http1.1", "--http2"}) {
    SCOPED_TRACE(proto);
    auto t0 = steady::now();
    auto list = curl(std::string(proto) + " -o /dev/null", "/api/v1/namespaces/a/pods");
    EXPECT_NE(list.exit_code, 0) << list.output;  // cut: the client cannot take it for whole
    EXPECT_LT(seconds_since(t0), 2.0);
    t0 = steady::now();
    auto watch = curl(proto, "/api/v1/namespaces/a/pods?watch=true");
    EXPECT_EQ(watch.exit_code, 0) << watch.output;
    EXPECT_EQ(watch.output, "firstlast");
    EXPECT_GE(seconds_since(t0), 2.0);  // it was quiet for longer than request_timeout
  }
  EXPECT_EQ(metrics_.upstream_errors_total.with({"local", "response-cut"}).value(), 2);
}

// The head too: an ordinary request's upstream silent past --request-timeout is a 504
// Status; a long-running one may take until upstream_response_timeout for its head.
TEST_F(timeouts, an_ordinary_head_is_awaited_for_the_request_timeout_a_long_running_one_longer) {
  start(kube_limits());
  serve_late_head("/api/v1/namespaces/a/pods", 2500ms);
  auto t0 = steady::now();
  auto get = curl("-w ' %{http_code}'", "/api/v1/namespaces/a/pods/p");
  EXPECT_LT(seconds_since(t0), 2.0);
  EXPECT_NE(get.output.find("timeout awaiting response headers"), std::string::npos) << get.output;
  EXPECT_NE(get.output.find("\"kind\":\"Status\""), std::string::npos) << get.output;
  EXPECT_EQ(get.output.substr(get.output.size() - 4), " 504") << get.output;
  auto logs = curl("", "/api/v1/namespaces/a/pods/p/log?follow=true");
  EXPECT_EQ(logs.exit_code, 0) << logs.output;
  EXPECT_EQ(logs.output, "late");
  EXPECT_EQ(metrics_.upstream_errors_total.with({"local", "timeout"}).value(), 1);
}

// A client that stops sending its request body: an HTTP/1.1 connection is closed, an
// HTTP/2 stream reset, after --request-timeout, and the upstream never gets a whole
// request (its connection is dropped with the attempt).
TEST_F(timeouts, a_request_body_that_stalls_is_dropped_after_the_request_timeout) {
  start(kube_limits());
  {
    client c(port(), shared_pki(), "admin");
    auto t0 = steady::now();
    c.send(
        "POST /api/v1/namespaces/a/configmaps HTTP/1.1\r\nHost: k\r\nContent-Length: 10\r\n"
        "\r\n{\"a\":");
    EXPECT_TRUE(c.closed_by_peer(5s));
    EXPECT_GE(seconds_since(t0), 0.3);
    EXPECT_LT(seconds_since(t0), 2.0);
  }
  // curl's upload from a pipe that stays open, silent, for 3 s: DATA that stops. bash,
  // whose process substitution is not waited for (nor holds the output open).
  const auto script = sync_.path() / "upload.sh";
  std::ofstream(script) << "curl -sS --http2 --max-time 30 --cacert " << pki("ca.crt") << " --cert "
                        << pki("admin.crt") << " --key " << pki("admin.key")
                        << " -T - -o /dev/null '" << url("/api/v1/namespaces/a/configmaps")
                        << "' < <(exec 2>/dev/null; printf '{\"a\":'; sleep 3)\n";
  auto t0 = steady::now();
  auto upload =
      std::async(std::launch::async, [&] { return run_command("bash " + script.string()); });
  // curl blocks reading its stdin, so the end is seen here: the exchange's access line.
  EXPECT_TRUE(
      wait_until([&] { return access_line_with("PUT /api/v1/namespaces/a/configmaps "); }, 2500ms));
  EXPECT_GE(seconds_since(t0), 0.3);
  auto r = upload.get();
  EXPECT_NE(r.exit_code, 0) << r.output;  // the stream was reset
  EXPECT_EQ(upstream_saw("/api/v1/namespaces/a/configmaps"), 0u);
  expect_still_serving();
}

// A peer that accepts TCP but never answers the TLS handshake (SIGSTOP, a partition
// behind a live kernel) is passed over within --upstream-connect-timeout, ejected at
// once; the next peer serves. With no next candidate: rule 7's 503, as fast.
class frozen_peer : public timeouts {
 protected:
  // Every request gets the plan set last.
  struct fixed_planner : dispatch::planner {
    dispatch::plan p;
    dispatch::plan plan_for(const bhttp::request_header<>&, bool, bool) override { return p; }
  };
  void start_with_peers(std::vector<dispatch::target_ref> targets) {
    planner_.p.route = dispatch::route_kind::peer;
    planner_.p.local_first = false;
    planner_.p.version = "v1";
    planner_.p.resource = "pods";
    planner_.p.targets = std::move(targets);
    proxy::limits lim;
    lim.upstream_connect_timeout = 500ms;
    proxy_.start(upstream_, metrics_, lim, &planner_);
  }
  dispatch::target_ref frozen_target() {
    return {"frozen", "127.0.0.1", frozen_.local_endpoint().port(), true, frozen_rt_};
  }

  asio::io_context ioc_;
  // Listening: the kernel completes TCP handshakes; nobody accepts or reads.
  tcp::acceptor frozen_{ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  std::shared_ptr<view::peer_runtime> frozen_rt_ = std::make_shared<view::peer_runtime>("frozen");
  fake_upstream good_{shared_pki(), "peer"};
  fixed_planner planner_;
};

TEST_F(frozen_peer, is_passed_over_within_the_connect_timeout) {
  good_.on("/api", [](upstream_conn& c, const recorded&) { c.respond(200, "from good"); });
  auto good_rt = std::make_shared<view::peer_runtime>("good");
  start_with_peers({frozen_target(), {"good", "127.0.0.1", good_.port(), true, good_rt}});
  client c(port(), shared_pki(), "jane");
  auto t0 = steady::now();
  auto r = c.get("/api/v1/namespaces/a/pods");
  EXPECT_EQ(r.result_int(), 200);
  EXPECT_EQ(r.body(), "from good");
  EXPECT_GE(seconds_since(t0), 0.4);
  EXPECT_LT(seconds_since(t0), 2.0);  // not the 10 s TLS timeout of before
  EXPECT_EQ(metrics_.upstream_errors_total.with({"frozen", "timeout"}).value(), 1);
  EXPECT_FALSE(frozen_rt_->healthy(steady::now()));  // one timeout ejects
}

TEST_F(frozen_peer, alone_gets_rule_7s_503_within_the_connect_timeout) {
  start_with_peers({frozen_target()});
  client c(port(), shared_pki(), "jane");
  auto t0 = steady::now();
  auto r = c.get("/api/v1/namespaces/a/pods");
  EXPECT_LT(seconds_since(t0), 2.0);
  EXPECT_EQ(r.result_int(), 503);
  EXPECT_EQ(r[bhttp::field::retry_after], "1");
  EXPECT_NE(r.body().find("TLS handshake timeout"), std::string::npos) << r.body();
  EXPECT_NE(r.body().find("\"kind\":\"Status\""), std::string::npos) << r.body();
}

}  // namespace
}  // namespace mvproxy::test
