// The view's publisher: a change is made on a copy and swapped in whole (a reader's
// snapshot never changes under it), generation counts model and membership changes,
// waiters hear of the next publication once, and a peer's runtime outlives the views.

#include "mvproxy/view/cluster_state.hpp"

#include <gtest/gtest.h>

namespace mvproxy::view {
namespace {

TEST(ClusterState, SnapshotsAreImmutableAndGenerationCountsModelChanges) {
  cluster_state state("cp-1");
  auto before = state.current();
  EXPECT_EQ(before->own_id, "cp-1");
  EXPECT_EQ(before->generation, 0u);
  state.update([](cluster_view& v) {
    v.instance = "cp-1_00";
    return false;  // no model or membership change
  });
  state.update([](cluster_view& v) {
    v.peers.push_back(peer_info{});
    return true;
  });
  auto after = state.current();
  EXPECT_EQ(after->instance, "cp-1_00");
  EXPECT_EQ(after->peers.size(), 1u);
  EXPECT_EQ(after->generation, 1u);
  // The reader's snapshot is untouched.
  EXPECT_TRUE(before->instance.empty());
  EXPECT_TRUE(before->peers.empty());
  EXPECT_EQ(before->generation, 0u);
}

TEST(ClusterState, WaitersAreWokenOnceByTheNextPublication) {
  cluster_state state("cp-1");
  int woken = 0;
  state.on_next_change([&] { ++woken; });
  EXPECT_EQ(woken, 0);
  state.update([](cluster_view&) { return false; });
  EXPECT_EQ(woken, 1);
  state.update([](cluster_view&) { return false; });
  EXPECT_EQ(woken, 1);
}

TEST(ClusterState, APeersRuntimeIsSharedAcrossViews) {
  cluster_state state("cp-1");
  auto r = state.runtime_for("cp-2");
  EXPECT_EQ(r, state.runtime_for("cp-2"));
  EXPECT_NE(r, state.runtime_for("cp-3"));
  EXPECT_EQ(r->id(), "cp-2");
}

TEST(PeerRuntime, EjectsAfterConsecutiveFailuresForAWhile) {
  membership::ejection_policy p;
  p.consecutive_failures = 2;
  peer_runtime r("cp-2", p);
  auto now = std::chrono::steady_clock::now();
  EXPECT_TRUE(r.healthy(now));
  r.on_failure(now);
  EXPECT_EQ(r.consecutive_failures(), 1);
  EXPECT_TRUE(r.healthy(now));
  r.on_failure(now);
  // The data plane reads the ejection without the lock (an atomic mirror).
  EXPECT_FALSE(r.healthy(now));
  EXPECT_TRUE(r.healthy(now + p.base_ejection));
  r.on_success();
  EXPECT_EQ(r.consecutive_failures(), 0);
  ++r.in_flight();
  EXPECT_EQ(r.in_flight_count(), 1);
}

TEST(ClusterView, FindPeerAndRefilter) {
  cluster_view v;
  peer_info a;
  a.endpoint.id = "cp-2";
  v.peers.push_back(a);
  EXPECT_NE(v.find_peer("cp-2"), nullptr);
  EXPECT_EQ(v.find_peer("cp-3"), nullptr);
  // Without exclusions a peer's model is its discovery as read.
  auto model = std::make_shared<const discovery::server_model>();
  v.peers[0].raw_model = model;
  v.refilter(v.peers[0]);
  EXPECT_EQ(v.peers[0].model, model);
}

}  // namespace
}  // namespace mvproxy::view
