// The state a sidecar pushes to its peers: its JSON both ways, the long-poll's query,
// and when a long-poll answers. Tables of inputs; bad inputs in their own section.

#include "mvproxy/view/peer_state.hpp"

#include <gtest/gtest.h>

#include "mvproxy/view/cluster_state.hpp"

namespace mvproxy::view {
namespace {

using routing::apiserver_state;

TEST(PeerState, RoundTrip) {
  for (auto st : {apiserver_state::up, apiserver_state::unconfirmed, apiserver_state::down,
                  apiserver_state::unknown}) {
    peer_state s{"cp-1", "cp-1_0123abcd", 42, st};
    auto parsed = parse_peer_state(peer_state_json(s));
    ASSERT_TRUE(parsed);
    EXPECT_EQ(*parsed, s);
  }
}

TEST(PeerState, OwnStateIsTheViewsLocalState) {
  cluster_view v;
  v.own_id = "a";
  v.instance = "a_1";
  v.local_revision = 7;
  v.local_state = apiserver_state::down;
  EXPECT_EQ(own_state(v), (peer_state{"a", "a_1", 7, apiserver_state::down}));
}

TEST(PeerState, QueryAndWhenALongPollAnswers) {
  const peer_state now{"a", "a_1", 7, apiserver_state::up};
  struct {
    const char* query;
    bool answer_now;
    long timeout;
  } cases[] = {
      {"", true, 30},                                              // nothing seen
      {"instance=a_1&revision=7", false, 30},                      // seen: wait
      {"instance=a_1&revision=7&timeoutSeconds=5", false, 5},      //
      {"instance=a_1&revision=6", true, 30},                       // an older revision
      {"instance=a_1&revision=8", true, 30},                       // another run's revision
      {"instance=a_0&revision=7", true, 30},                       // a restarted sidecar
      {"revision=7", true, 30},                                    // no instance
      {"instance=a_1&revision=7&timeoutSeconds=3600", false, 60},  // capped
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.query);
    auto q = parse_state_query(c.query);
    EXPECT_EQ(state_changed(q, now), c.answer_now);
    EXPECT_EQ(q.timeout.count(), c.timeout);
  }
  auto q = parse_state_query(
      state_target("a_1", 7, std::chrono::seconds(30)).substr(peer_state_path.size() + 1));
  EXPECT_FALSE(state_changed(q, now));
}

// ---- bad input ----

TEST(PeerState, BadQueriesAnswerAtOnce) {
  const peer_state now{"a", "a_1", 7, apiserver_state::up};
  for (const char* query :
       {"instance=a_1&revision=", "instance=a_1&revision=x", "instance=a_1&revision=-1",
        "instance=a_1&revision=7x", "instance=a_1&revision=99999999999999999999999"}) {
    SCOPED_TRACE(query);
    EXPECT_TRUE(state_changed(parse_state_query(query), now));
  }
  EXPECT_EQ(parse_state_query("instance=a_1&revision=7&timeoutSeconds=-5").timeout.count(), 30);
}

TEST(PeerState, BadDocumentsAreRefused) {
  for (
      const char* doc :
      {"", "null", "[]", "{}", R"({"kind":"Status"})",
       R"({"kind":"PeerState","serverID":"a","instance":"a_1","revision":1})",
       R"({"kind":"PeerState","serverID":"a","instance":"a_1","revision":-1,"apiserver":"up"})",
       R"({"kind":"PeerState","serverID":"a","instance":"a_1","revision":1,"apiserver":"sideways"})",
       R"({"kind":"PeerState","serverID":1,"instance":"a_1","revision":1,"apiserver":"up"})"}) {
    SCOPED_TRACE(doc);
    EXPECT_FALSE(parse_peer_state(doc));
  }
}

}  // namespace
}  // namespace mvproxy::view
