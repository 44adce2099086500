#include "mvproxy/membership/peer_set.hpp"
#include "mvproxy/membership/peer_health.hpp"

#include <gtest/gtest.h>

namespace mvproxy::membership {
namespace {

using namespace std::chrono_literals;

lease_record lease(std::string name, std::string addr, clock::time_point renew, int secs = 15,
                   bool labelled = true, std::string holder = "") {
  lease_record l;
  l.name = std::move(name);
  l.advertise_address = std::move(addr);
  l.renew_time = renew;
  l.lease_duration_seconds = secs;
  l.holder_identity = holder.empty() ? l.name + "_x" : holder;
  if (labelled) l.labels[std::string(lease_label_key)] = std::string(lease_label_value);
  return l;
}

TEST(peer_set, live_labelled_others_sorted_by_id) {
  auto now = clock::time_point(1'800'000'000s);
  std::vector<lease_record> leases = {
      lease("c", "10.0.0.3:7443", now - 1s),
      lease("self", "10.0.0.1:7443", now),
      lease("a", "10.0.0.2:7443", now - 5s),
      lease("expired", "10.0.0.4:7443", now - 16s),
      lease("apiserver-xyz", "10.0.0.5:7443", now, 15, /*labelled=*/false),
      lease("noaddr", "", now),
      lease("badport", "10.0.0.6:0", now),
      lease("v6", "[::1]:8443", now),
  };
  auto peers = peers_from_leases(leases, "self", now);
  ASSERT_EQ(peers.size(), 3u);
  EXPECT_EQ(peers[0].id, "a");
  EXPECT_EQ(peers[0].host, "10.0.0.2");
  EXPECT_EQ(peers[0].port, 7443);
  EXPECT_EQ(peers[1].id, "c");
  EXPECT_EQ(peers[2].id, "v6");
  EXPECT_EQ(peers[2].host, "::1");
  EXPECT_EQ(peers[2].port, 8443);
}

TEST(peer_set, live_peer_leases_without_a_usable_address_are_named) {
  auto now = clock::time_point(1'800'000'000s);
  std::vector<lease_record> leases = {
      lease("good", "10.0.0.2:7443", now),
      lease("noaddr", "", now),
      lease("badport", "10.0.0.6:0", now),
      lease("noport", "10.0.0.7", now),
      lease("self", "", now),                                   // our own: not a peer
      lease("expired", "", now - 16s),                          // gone anyway
      lease("apiserver-xyz", "", now, 15, /*labelled=*/false),  // not an mvproxy Lease
  };
  EXPECT_EQ(leases_without_address(leases, "self", now),
            (std::vector<std::string>{"noaddr", "badport", "noport"}));
  EXPECT_TRUE(leases_without_address({lease("good", "[::1]:8443", now)}, "self", now).empty());
}

TEST(peer_set, diff_notices_added_removed_and_restarted) {
  std::vector<peer_endpoint> before = {{"a", "h", 1, "a_1"}, {"b", "h", 2, "b_1"}};
  std::vector<peer_endpoint> after = {{"a", "h", 1, "a_2"}, {"c", "h", 3, "c_1"}};
  auto d = diff_peers(before, after);
  ASSERT_EQ(d.added.size(), 2u);
  EXPECT_EQ(d.added[0].id, "a");  // restarted: new holder identity
  EXPECT_EQ(d.added[1].id, "c");
  ASSERT_EQ(d.removed.size(), 1u);
  EXPECT_EQ(d.removed[0], "b");
  EXPECT_TRUE(diff_peers(after, after).empty());
}

TEST(peer_health, a_timeout_ejects_at_once) {
  using tp = peer_health::time_point;
  peer_health h({3, 1000ms, 3000ms});
  tp t{};
  h.on_failure(t, true);
  EXPECT_FALSE(h.healthy(t));
  EXPECT_TRUE(h.healthy(t + 1000ms));
  EXPECT_TRUE(h.probing(t + 1000ms));
}

TEST(peer_health, ejects_after_consecutive_failures_and_backs_off) {
  using tp = peer_health::time_point;
  peer_health h({3, 1000ms, 3000ms});
  tp t{};
  h.on_failure(t);
  h.on_failure(t);
  EXPECT_TRUE(h.healthy(t));
  h.on_success();  // a success resets the count
  h.on_failure(t);
  h.on_failure(t);
  EXPECT_TRUE(h.healthy(t));
  h.on_failure(t);
  EXPECT_FALSE(h.healthy(t));
  EXPECT_FALSE(h.healthy(t + 999ms));
  EXPECT_TRUE(h.healthy(t + 1000ms));
  EXPECT_TRUE(h.probing(t + 1000ms));
  // On probation: one failure ejects again, for twice as long.
  t += 1000ms;
  h.on_failure(t);
  EXPECT_FALSE(h.healthy(t + 1999ms));
  EXPECT_TRUE(h.healthy(t + 2000ms));
  // Capped at the maximum.
  t += 2000ms;
  h.on_failure(t);
  EXPECT_TRUE(h.healthy(t + 3000ms));
  // A success after probing clears everything.
  t += 3000ms;
  h.on_success();
  EXPECT_FALSE(h.probing(t));
  h.on_failure(t);
  EXPECT_TRUE(h.healthy(t));
  EXPECT_EQ(h.ejections(), 0);
}

}  // namespace
}  // namespace mvproxy::membership
