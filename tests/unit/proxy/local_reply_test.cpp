// The answers mvproxy makes itself, as a table: an upstream failure by kind, route and
// phase; then the answers that are not about an upstream; then the planner's refusals.

#include "mvproxy/proxy/local_reply.hpp"

#include <gtest/gtest.h>

#include "mvproxy/dispatch/plan.hpp"

namespace mvproxy::proxy {
namespace {

upstream_target local() { return {"local", "127.0.0.1", 6443, "", false}; }
upstream_target peer() { return {"apiserver-b", "10.0.0.2", 7443, "", true}; }

TEST(LocalReply, ForAnUpstreamFailure) {
  struct row {
    const char* what;
    failure kind;
    upstream_target target;
    phase ph;
    bool last_peer;
    int code;
    bool retry_after;
    const char* message_start;
  };
  const std::vector<row> table = {
      {"local refused: restarting, try again", failure::refused, local(), phase::connect, false,
       503, true, "error trying to reach the local apiserver at 127.0.0.1:6443: x"},
      {"local handshake failed", failure::tls, local(), phase::connect, false, 502, false,
       "error trying to reach the local apiserver"},
      {"local too slow to answer", failure::timeout, local(), phase::exchange, false, 504, false,
       "error trying to reach the local apiserver"},
      {"local connection broke", failure::broken, local(), phase::exchange, false, 502, false,
       "error trying to reach the local apiserver"},
      {"the last peer unreachable: rule 7", failure::tls, peer(), phase::connect, true, 503, true,
       "no peer apiserver could be reached: error trying to reach peer apiserver-b at "
       "10.0.0.2:7443: x"},
      {"the last peer timed out connecting: rule 7 too", failure::timeout, peer(), phase::connect,
       true, 503, true, "no peer apiserver could be reached"},
      {"a peer broke after the request was sent", failure::broken, peer(), phase::exchange, false,
       502, false, "error trying to reach peer apiserver-b"},
      {"a peer timed out answering", failure::timeout, peer(), phase::exchange, false, 504, false,
       "error trying to reach peer apiserver-b"},
      {"an upgrade that broke says so", failure::broken, local(), phase::upgrade, false, 502, false,
       "error trying to reach the local apiserver at 127.0.0.1:6443: upgrading: x"},
  };
  for (const auto& r : table) {
    auto got = reply_for_failure(r.kind, r.target, r.ph, "x", r.last_peer);
    EXPECT_EQ(got.code, r.code) << r.what;
    EXPECT_EQ(got.retry_after, r.retry_after) << r.what;
    EXPECT_EQ(got.message.rfind(r.message_start, 0), 0u) << r.what << ": " << got.message;
  }
}

TEST(LocalReply, NotAboutAnUpstream) {
  struct row {
    reply_kind kind;
    const char* detail;
    int code;
    bool retry_after;
    const char* message;
  };
  const std::vector<row> table = {
      {reply_kind::bad_request, "obs-fold", 400, false, "bad request: obs-fold"},
      {reply_kind::head_too_large, "", 431, false, "request header fields too large"},
      {reply_kind::upgrade_with_body, "", 400, false,
       "bad request: an upgrade request cannot carry a body"},
      {reply_kind::upgrade_not_routed, "", 400, false,
       "bad request: an upgrade request for this path"},
      {reply_kind::unauthorized, "", 401, false, "Unauthorized"},
  };
  for (const auto& r : table) {
    auto got = reply_for(r.kind, r.detail);
    EXPECT_EQ(got.code, r.code) << r.message;
    EXPECT_EQ(got.retry_after, r.retry_after) << r.message;
    EXPECT_EQ(got.message, r.message);
  }
  auto exhausted = reply_for(reply_kind::exhausted);
  EXPECT_EQ(exhausted.code, 503);
  EXPECT_TRUE(exhausted.retry_after);
  EXPECT_NE(exhausted.message.find("handed it back"), std::string::npos);
}

dispatch::plan refused(dispatch::route_kind route, std::string reason = {},
                       std::string malformed = {}, std::string group = {}) {
  dispatch::plan p;
  p.what = dispatch::plan::action::refuse;
  p.route = route;
  p.reason = std::move(reason);
  p.malformed = std::move(malformed);
  p.group = std::move(group);
  p.version = "v1alpha3";
  p.resource = "resourceclaims";
  return p;
}

// The planner's refusals: the plan carries the facts, the policy the answer.
TEST(LocalReply, ForAPlanThatRefuses) {
  using dispatch::route_kind;
  struct row {
    dispatch::plan plan;
    int code;
    bool retry_after;
    const char* message;
    const char* handed_back;
  };
  const std::vector<row> table = {
      {refused(route_kind::malformed, {}, "empty path segment"), 400, false,
       "bad request: empty path segment", ""},
      {refused(route_kind::unavailable, "peer", {}, "resource.k8s.io"), 503, true,
       "no peer apiserver that serves resource.k8s.io/v1alpha3, Resource=resourceclaims is "
       "reachable",
       ""},
      {refused(route_kind::unavailable, "peer"), 503, true,  // the core group has no name
       "no peer apiserver that serves v1alpha3, Resource=resourceclaims is reachable", ""},
      {refused(route_kind::handed_back, "not-served-here"), 503, true,
       "this apiserver cannot serve the request a peer proxied here (not-served-here); nothing "
       "reached it, the peer may try another",
       "not-served-here"},
      {refused(route_kind::handed_back, "apiserver-down"), 503, true,
       "this apiserver cannot serve the request a peer proxied here (apiserver-down); nothing "
       "reached it, the peer may try another",
       "apiserver-down"},
  };
  for (const auto& r : table) {
    auto got = reply_for(r.plan);
    EXPECT_EQ(got.code, r.code) << r.message;
    EXPECT_EQ(got.retry_after, r.retry_after) << r.message;
    EXPECT_EQ(got.message, r.message);
    EXPECT_EQ(got.handed_back, r.handed_back) << r.message;
  }
  // No other answer carries the hand-back header.
  EXPECT_TRUE(reply_for(reply_kind::exhausted).handed_back.empty());
}

}  // namespace
}  // namespace mvproxy::proxy
