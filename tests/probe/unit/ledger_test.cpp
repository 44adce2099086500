#include "mvproxy/probe/ledger.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using mvproxy::probe::classify;
using mvproxy::probe::counts;
using mvproxy::probe::ledger;
using mvproxy::probe::outcome;
using mvproxy::probe::resource_ref;
using mvproxy::probe::verb;

const ledger::clock::time_point t0{};
const resource_ref pods{"", "v1", "pods", true};
const resource_ref claims3{"resource.k8s.io", "v1alpha3", "resourceclaims", true};
const resource_ref claims2{"resource.k8s.io", "v1alpha2", "resourceclaims", true};

TEST(ProbeLedger, StatusesCountAs) {
  struct row {
    unsigned status;
    outcome want;
  };
  for (const auto& c : std::vector<row>{{0, outcome::transport_error},
                                        {200, outcome::ok},
                                        {201, outcome::ok},
                                        {299, outcome::ok},
                                        {304, outcome::other},
                                        {401, outcome::other},
                                        {403, outcome::other},
                                        {404, outcome::not_found},
                                        {406, outcome::other},
                                        {429, outcome::other},
                                        {500, outcome::server_error},
                                        {502, outcome::server_error},
                                        {503, outcome::server_error},
                                        {599, outcome::server_error},
                                        {100, outcome::other}}) {
    EXPECT_EQ(classify(c.status), c.want) << c.status;
  }
}

TEST(ProbeLedger, CountsAddUp) {
  counts a, b;
  a.add(outcome::ok);
  a.add(outcome::ok);
  a.add(outcome::not_found);
  b.add(outcome::transport_error);
  a += b;
  EXPECT_EQ(a.total(), 4u);
  EXPECT_EQ(a.ok(), 2u);
  EXPECT_EQ(a.failed(), 2u);
  EXPECT_EQ(a.of(outcome::transport_error), 1u);
}

TEST(ProbeLedger, DiscoveryMakesRowsThatNeverGoAway) {
  ledger l({"old", "new"}, 60s);
  EXPECT_EQ(l.set_discovered(0, {pods, claims2}), 2u);
  EXPECT_EQ(l.set_discovered(1, {pods, claims3}), 1u);
  ASSERT_EQ(l.rows().size(), 3u);
  EXPECT_EQ(l.rows()[0].resource.name(), "pods.v1");
  EXPECT_EQ(l.rows()[1].resource.name(), "resourceclaims.v1alpha2.resource.k8s.io");
  EXPECT_EQ(l.rows()[2].resource.name(), "resourceclaims.v1alpha3.resource.k8s.io");
  EXPECT_EQ(l.rows()[1].in_discovery, (std::vector<bool>{true, false}));
  EXPECT_EQ(l.rows()[2].in_discovery, (std::vector<bool>{false, true}));
  EXPECT_EQ(l.discovered(0), 2u);

  // Both sidecars now serve the merged view; then v1alpha2 leaves everywhere.
  l.set_discovered(0, {pods, claims2, claims3});
  EXPECT_EQ(l.rows()[2].in_discovery, (std::vector<bool>{true, true}));
  l.set_discovered(0, {pods, claims3});
  l.set_discovered(1, {pods, claims3});
  ASSERT_EQ(l.rows().size(), 3u);  // still probed: clients may still ask for it
  EXPECT_EQ(l.rows()[1].in_discovery, (std::vector<bool>{false, false}));
  EXPECT_FALSE(l.rows()[1].listed());  // listed by none: its 404s are right
  EXPECT_TRUE(l.rows()[2].listed());
}

TEST(ProbeLedger, WholeRunCountsPerVerbAndLatency) {
  ledger l({"a"}, 60s);
  l.set_discovered(0, {pods});
  l.record(0, 0, verb::list, 200, 0.010, t0);
  l.record(0, 0, verb::get, 200, 0.030, t0 + 1s);
  l.record(0, 0, verb::list, 503, 0.002, t0 + 2s);
  l.record(0, 0, verb::list, 0, 0.500, t0 + 3s);
  const auto& c = l.rows()[0].cells[0];
  EXPECT_EQ(c.of(verb::list).total(), 3u);
  EXPECT_EQ(c.of(verb::list).of(outcome::server_error), 1u);
  EXPECT_EQ(c.of(verb::get).ok(), 1u);
  EXPECT_EQ(c.all().total(), 4u);
  EXPECT_EQ(c.all().ok(), 2u);
  EXPECT_NEAR(c.latency_mean(), 0.542 / 4, 1e-12);
  EXPECT_DOUBLE_EQ(c.latency_max(), 0.5);
}

TEST(ProbeLedger, WindowAvailabilityForgetsTheOldStretch) {
  ledger l({"a"}, 10s);
  l.set_discovered(0, {pods});
  const auto& c = l.rows()[0].cells[0];
  EXPECT_EQ(c.availability(t0, 10s), std::nullopt);  // nothing asked yet
  l.record(0, 0, verb::list, 503, 0, t0);
  l.record(0, 0, verb::list, 503, 0, t0 + 1s);
  l.record(0, 0, verb::list, 200, 0, t0 + 5s);
  l.record(0, 0, verb::list, 200, 0, t0 + 9s);
  EXPECT_DOUBLE_EQ(*c.availability(t0 + 9s, 10s), 0.5);
  EXPECT_DOUBLE_EQ(*c.availability(t0 + 10s, 10s), 0.5);  // t0 is exactly 10 s old: still in
  EXPECT_NEAR(*c.availability(t0 + 10500ms, 10s), 2.0 / 3, 1e-12);
  EXPECT_DOUBLE_EQ(*c.availability(t0 + 12s, 10s), 1.0);
  EXPECT_EQ(c.availability(t0 + 20s, 10s), std::nullopt);
  auto r = c.recent(t0 + 10500ms, 10s);
  EXPECT_EQ(r.answered, 3u);
  EXPECT_EQ(r.ok, 2u);
  // The whole run still has every answer.
  EXPECT_EQ(c.all().total(), 4u);
  EXPECT_EQ(c.all().failed(), 2u);
}

TEST(ProbeLedger, SlowestAnswerInTheWindow) {
  ledger l({"a"}, 10s);
  l.set_discovered(0, {pods});
  l.record(0, 0, verb::list, 200, 2.0, t0);
  l.record(0, 0, verb::get, 0, 0.5, t0 + 5s);
  const auto& c = l.rows()[0].cells[0];
  EXPECT_DOUBLE_EQ(c.recent(t0 + 5s, 10s).slowest, 2.0);
  EXPECT_DOUBLE_EQ(c.recent(t0 + 11s, 10s).slowest, 0.5);
  EXPECT_EQ(c.recent(t0 + 11s, 10s).answered, 1u);
  EXPECT_EQ(c.recent(t0 + 16s, 10s).answered, 0u);
}

TEST(ProbeLedger, ExitStatusNeedsRequestsAndNoFailure) {
  ledger l({"a", "b"}, 60s);
  EXPECT_FALSE(l.all_ok());  // nothing asked proves nothing
  l.record_discovery(0, 200, 0.001, t0);
  EXPECT_TRUE(l.all_ok());
  l.set_discovered(0, {pods});
  l.record(1, 0, verb::list, 200, 0.001, t0);
  EXPECT_TRUE(l.all_ok());
  l.record_discovery(1, 0, 0.001, t0);  // a discovery read that failed counts too
  EXPECT_FALSE(l.all_ok());
  EXPECT_EQ(l.totals().total(), 3u);
  EXPECT_EQ(l.totals().of(outcome::transport_error), 1u);
  EXPECT_EQ(l.discovery(1).all().failed(), 1u);
}

TEST(ProbeLedger, LastFailurePerSidecar) {
  ledger l({"a", "b"}, 60s);
  EXPECT_FALSE(l.last_failure(0));
  l.note_failure(0, "LIST pods.v1: HTTP 503", t0);
  l.note_failure(0, "GET /apis: connect: Connection refused", t0 + 1s);
  ASSERT_TRUE(l.last_failure(0));
  EXPECT_EQ(l.last_failure(0)->what, "GET /apis: connect: Connection refused");
  EXPECT_EQ(l.last_failure(0)->at, t0 + 1s);
  EXPECT_FALSE(l.last_failure(1));
}

}  // namespace
