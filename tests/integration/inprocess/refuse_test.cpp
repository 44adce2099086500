// The planner's refusals on the wire (dispatch::plan::action::refuse): the policy's
// status, Retry-After, message and hand-back header, written by send_local_reply; the
// upstream sees nothing. An answer to HEAD has no body, so keep-alive stays in step.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "proxy_fixture.hpp"

namespace mvproxy::test {
namespace {

// Refuses by path: /bad malformed, /gone unavailable, /back handed back; else local.
struct refusing_planner final : dispatch::planner {
  dispatch::plan plan_for(const bhttp::request_header<>& head, bool, bool) override {
    dispatch::plan p;
    std::string_view target = head.target();
    p.what = dispatch::plan::action::refuse;
    if (target.starts_with("/bad")) {
      p.route = dispatch::route_kind::malformed;
      p.malformed = "empty path segment";
    } else if (target.starts_with("/gone")) {
      p.route = dispatch::route_kind::unavailable;
      p.group = "resource.k8s.io";
      p.version = "v1alpha3";
      p.resource = "resourceclaims";
    } else if (target.starts_with("/back")) {
      p.route = dispatch::route_kind::handed_back;
      p.reason = "not-served-here";
    } else {
      p.what = dispatch::plan::action::forward;
    }
    return p;
  }
};

class refuse : public ::testing::Test {
 protected:
  void SetUp() override { proxy_.start(upstream_, metrics_, {}, &planner_); }
  void TearDown() override { proxy_.stop(); }
  client connect() { return client(proxy_.port(), shared_pki()); }

  fake_upstream upstream_{shared_pki()};
  metrics::registry registry_;
  metrics::standard_metrics metrics_{registry_};
  refusing_planner planner_;
  inprocess_proxy proxy_;
};

std::string message(const bhttp::response<bhttp::string_body>& r) {
  auto j = nlohmann::json::parse(r.body());
  EXPECT_EQ(j["kind"], "Status");
  EXPECT_EQ(j["code"], r.result_int());
  return j["message"].get<std::string>();
}

TEST_F(refuse, each_refusal_is_the_policys_answer_and_nothing_is_forwarded) {
  auto c = connect();
  auto bad = c.get("/bad");
  EXPECT_EQ(bad.result_int(), 400);
  EXPECT_EQ(bad[bhttp::field::content_type], "application/json");
  EXPECT_EQ(bad["Retry-After"], "");
  EXPECT_EQ(message(bad), "bad request: empty path segment");
  auto gone = c.get("/gone");
  EXPECT_EQ(gone.result_int(), 503);
  EXPECT_EQ(gone["Retry-After"], "1");
  EXPECT_EQ(gone["x-mvproxy-handed-back"], "");
  EXPECT_EQ(message(gone),
            "no peer apiserver that serves resource.k8s.io/v1alpha3, Resource=resourceclaims is "
            "reachable");
  auto back = c.get("/back");
  EXPECT_EQ(back.result_int(), 503);
  EXPECT_EQ(back["Retry-After"], "1");
  EXPECT_EQ(back["x-mvproxy-handed-back"], "not-served-here");
  EXPECT_EQ(message(back),
            "this apiserver cannot serve the request a peer proxied here (not-served-here); "
            "nothing reached it, the peer may try another");
  EXPECT_TRUE(upstream_.requests().empty());
  EXPECT_EQ(c.get("/api").body(), "ok");  // kept alive throughout
}

TEST_F(refuse, an_answer_to_head_has_no_body) {
  upstream_.on("/broken", [](upstream_conn& c, const recorded&) { c.close_after = true; });
  auto c = connect();
  for (std::string path : {"/bad", "/back", "/broken"}) {
    c.send("HEAD " + path + " HTTP/1.1\r\nHost: k\r\n\r\n");
    auto h = c.read_response(true);
    EXPECT_GE(h.result_int(), 400) << path;
    EXPECT_NE(h[bhttp::field::content_length], "0") << path;
    // A body sent anyway would be read here as the start of the next response.
    EXPECT_EQ(c.get("/api").body(), "ok") << path;
  }
}

TEST_F(refuse, an_upgrade_is_refused_the_same_and_the_connection_closed) {
  auto c = connect();
  c.send(
      "GET /back HTTP/1.1\r\nHost: k\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  auto r = c.read_response();
  EXPECT_EQ(r.result_int(), 503);
  EXPECT_EQ(r["x-mvproxy-handed-back"], "not-served-here");
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_TRUE(upstream_.requests().empty());
}

}  // namespace
}  // namespace mvproxy::test
