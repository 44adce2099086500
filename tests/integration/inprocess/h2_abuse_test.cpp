// What no well-behaved HTTP/2 client sends, from h2/h2_probe.py: malformed requests end
// their stream (RST_STREAM PROTOCOL_ERROR, as Go's server) or get a Status (400, 431)
// and never reach the upstream; floods (rapid reset, SETTINGS, PING, CONTINUATION) end
// the connection. After each, the proxy still serves a fresh connection.

#include "h2_fixture.hpp"

namespace mvproxy::test {
namespace {

class h2_abuse : public h2_test_base {
 protected:
  void SetUp() override {
    h2_test_base::SetUp();
    if (!probe_unavailable().empty()) GTEST_SKIP() << probe_unavailable();
  }

  // The request's stream was reset with PROTOCOL_ERROR, unanswered, and nothing with
  // its target reached the upstream; the connection itself was not ended.
  void expect_stream_refused(const std::string& name, const std::string& target) {
    start();
    auto j = probe(name);
    ASSERT_FALSE(j.contains("error")) << j.dump();
    auto s = stream_of(j, "stream");
    EXPECT_EQ(s["rst"], h2_protocol_error) << j.dump();
    EXPECT_TRUE(s["status"].is_null()) << j.dump();
    EXPECT_TRUE(j["goaway"].is_null()) << j.dump();
    EXPECT_EQ(upstream_saw(target), 0u);
    expect_still_serving();
  }

  // The request was answered with a Status of `code` made by the proxy.
  void expect_status(const json& j, int code) {
    ASSERT_FALSE(j.contains("error")) << j.dump();
    auto s = stream_of(j, "stream");
    EXPECT_EQ(s["status"], code) << j.dump();
    EXPECT_EQ(s["ended"], true) << j.dump();
    auto body = json::parse(s.value("body", ""), nullptr, false);
    ASSERT_TRUE(body.is_object()) << j.dump();
    EXPECT_EQ(body["kind"], "Status");
    EXPECT_EQ(body["code"], code);
  }

  // The server stopped reading a flood of `what` it owed acknowledgements for, said
  // why, and closed; nothing else of it is reliable (see ping_flood_ends_the_connection).
  void expect_flood_ended(const json& j, const std::string& what) {
    ASSERT_FALSE(j.contains("error")) << j.dump();
    EXPECT_EQ(j["stalled"], true) << "the server took every " << what << ": " << j.dump();
    EXPECT_EQ(j["closed"], true) << j.dump();
    EXPECT_TRUE(wait_until([&] { return proxy_log_with("Flooding was detected"); }, 5s));
    if (j["goaway"].is_object()) {
      EXPECT_EQ(j["goaway"]["error"], h2_enhance_your_calm);
    }
    RecordProperty("goaway_read", j["goaway"].is_object() ? "yes" : "no");
    EXPECT_TRUE(wait_until([&] { return proxy_.server->open_connections() == 0; }, 5s));
    expect_still_serving();
  }

  // The connection was ended: GOAWAY with `code`, then closed.
  void expect_connection_ended(const json& j, int code) {
    ASSERT_FALSE(j.contains("error")) << j.dump();
    EXPECT_EQ(j["closed"], true) << j.dump();
    ASSERT_TRUE(j["goaway"].is_object()) << "no GOAWAY: " << j.dump();
    EXPECT_EQ(j["goaway"]["error"], code) << j.dump();
    EXPECT_TRUE(wait_until([&] { return proxy_.server->open_connections() == 0; }, 5s))
        << "open_connections() = " << proxy_.server->open_connections();
  }
};

TEST_F(h2_abuse, connection_specific_field_resets_the_stream) {
  expect_stream_refused("conn_specific", "/bad/connection");
}

TEST_F(h2_abuse, te_other_than_trailers_resets_the_stream) {
  expect_stream_refused("te_gzip", "/bad/te");
}

TEST_F(h2_abuse, cr_lf_in_a_field_value_resets_the_stream) {
  expect_stream_refused("crlf_value", "/bad/crlf");
  for (auto& r : upstream_.requests()) EXPECT_FALSE(r.has("x-injected")) << r.target;
}

TEST_F(h2_abuse, content_length_larger_than_the_data_resets_the_stream) {
  expect_stream_refused("cl_mismatch", "/bad/content-length");
}

TEST_F(h2_abuse, host_differing_from_authority_is_400) {
  start();
  auto j = probe("host_mismatch");
  expect_status(j, 400);
  EXPECT_NE(stream_of(j, "stream")["body"].get<std::string>().find("host differs"),
            std::string::npos)
      << j.dump();
  EXPECT_EQ(upstream_.requests().size(), 0u);
  expect_still_serving();
}

TEST_F(h2_abuse, header_block_over_the_limit_is_431) {
  proxy::limits lim;
  lim.max_head_bytes = 16 * 1024;
  start(lim);
  auto j = probe("too_large");
  expect_status(j, 431);
  EXPECT_TRUE(j["goaway"].is_null()) << j.dump();
  EXPECT_EQ(upstream_.requests().size(), 0u);
  expect_still_serving();
}

// A header block of 200 KiB, under the 1 MiB default, in 16 KiB frames (one HEADERS and
// a dozen CONTINUATION frames) is a request, not a CONTINUATION flood. (curl and h2load
// cannot send it: nghttp2 clients stop at 64 KiB.)
TEST_F(h2_abuse, large_header_block_within_the_limit_is_served) {
  start();
  auto j = probe("big_head");
  ASSERT_FALSE(j.contains("error")) << j.dump();
  EXPECT_TRUE(j["goaway"].is_null()) << j.dump();
  EXPECT_EQ(stream_of(j, "stream")["status"], 200) << j.dump();
  ASSERT_EQ(upstream_saw("/big-head"), 1u);
  EXPECT_EQ(upstream_.requests()[0].get("X-Big-199"), std::string(1000, 'h'));
  expect_still_serving();
}

// CVE-2023-44487: 5000 streams opened and cancelled at once. The server sends GOAWAY
// once past the reset rate limit (a burst of 1000) and closes. The probe writes each
// stream's HEADERS and RST_STREAM together, so the server reads them together: no
// exchange begins for a stream already reset, and nothing reaches the upstream.
TEST_F(h2_abuse, rapid_reset_flood_gets_goaway_and_no_upstream_work) {
  start();
  auto j = probe("rapid_reset", "5000");
  expect_connection_ended(j, h2_internal_error);
  auto last = j["goaway"]["last_stream"].get<int>();
  EXPECT_LT(last, 2 * 5000 - 1) << "every stream was taken: " << j.dump();
  auto upstream = upstream_saw("/rapid");
  RecordProperty("upstream_requests", static_cast<int>(upstream));
  RecordProperty("goaway_last_stream", last);
  EXPECT_EQ(upstream, 0u);
  expect_still_serving();
}

// Streams that arrive after the reset limit tripped, read before the GOAWAY went out:
// the GOAWAY tells the client they were not processed (it may retry them elsewhere), so
// none may reach the upstream.
TEST_F(h2_abuse, streams_past_the_goaway_last_stream_are_not_served) {
  start();
  auto j = probe("past_goaway");
  expect_connection_ended(j, h2_internal_error);
  auto last = j["goaway"]["last_stream"].get<int>();
  int served = 0;
  for (auto& r : upstream_.requests()) {
    if (!r.target.starts_with("/after/")) continue;
    EXPECT_LE(std::stoi(r.target.substr(7)), last) << r.target << " past GOAWAY " << last;
    ++served;
  }
  RecordProperty("served_after", served);
  for (auto& sid : j["after"]) {
    auto id = sid.get<int>();
    if (id <= last) continue;
    auto answer = j["streams"][std::to_string(id)]["status"];
    EXPECT_TRUE(answer.is_null()) << "stream " << id << " answered past GOAWAY " << last;
  }
  expect_still_serving();
}

// A PING or an empty SETTINGS frame each owes an acknowledgement; a client that sends
// them and never reads would make the server queue them without end. Past 1000 unsent
// acknowledgements the server stops reading and ends the connection. Its GOAWAY
// (ENHANCE_YOUR_CALM) is queued behind those acknowledgements and is often lost: closing
// with the flood unread makes the kernel send RST and drop what was not yet sent. So
// the flood is known by the proxy's log, and a GOAWAY, when one was read, by its code.
TEST_F(h2_abuse, ping_flood_ends_the_connection) {
  start();
  auto j = probe("ping_flood");
  expect_flood_ended(j, "PING");
}

TEST_F(h2_abuse, settings_flood_ends_the_connection) {
  start();
  auto j = probe("settings_flood");
  expect_flood_ended(j, "SETTINGS");
}

TEST_F(h2_abuse, settings_frame_with_too_many_entries_gets_goaway) {
  start();
  expect_connection_ended(probe("settings_entries"), h2_enhance_your_calm);
  expect_still_serving();
}

// CVE-2024-27316 / CVE-2024-28182: a header block that never ends.
TEST_F(h2_abuse, continuation_flood_gets_goaway) {
  start();
  auto j = probe("continuation_flood");
  expect_connection_ended(j, h2_enhance_your_calm);
  EXPECT_EQ(upstream_.requests().size(), 0u);
  expect_still_serving();
}

}  // namespace
}  // namespace mvproxy::test
