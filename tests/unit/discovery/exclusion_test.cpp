// Group-versions never routed to a peer: read from CRD and APIService lists, kept for a
// grace period after deletion, taken out of a peer's model. Bad documents at the end.

#include "mvproxy/discovery/exclusion.hpp"

#include <gtest/gtest.h>

namespace mvproxy::discovery {
namespace {

using namespace std::chrono_literals;

TEST(Exclusion, CrdListGivesEveryVersionOfEveryGroup) {
  auto gvs =
      gvs_of_crds(R"({"kind":"CustomResourceDefinitionList","apiVersion":"apiextensions.k8s.io/v1",
    "items":[{"metadata":{"name":"widgets.example.com"},"spec":{"group":"example.com",
      "versions":[{"name":"v1","served":true},{"name":"v2beta1","served":false}]}},
     {"spec":{"group":"stable.example.org","versions":[{"name":"v1"}]}}]})");
  ASSERT_TRUE(gvs);
  EXPECT_EQ(*gvs, (gv_set{"example.com/v1", "example.com/v2beta1", "stable.example.org/v1"}));
  auto empty = gvs_of_crds(R"({"kind":"CustomResourceDefinitionList","items":null})");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

TEST(Exclusion, ApiServicesOnlyTheAggregatedOnes) {
  auto gvs = gvs_of_apiservices(R"({"kind":"APIServiceList","items":[
    {"spec":{"group":"apps","version":"v1","service":null}},
    {"spec":{"version":"v1"}},
    {"spec":{"group":"metrics.k8s.io","version":"v1beta1",
             "service":{"name":"metrics-server","namespace":"kube-system"}}}]})");
  ASSERT_TRUE(gvs);
  EXPECT_EQ(*gvs, (gv_set{"metrics.k8s.io/v1beta1"}));
}

TEST(Exclusion, DeletedOnesStayForTheGracePeriod) {
  exclusion_tracker t(5min);
  auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  EXPECT_FALSE(t.update({}, t0));
  EXPECT_TRUE(t.update({"example.com/v1"}, t0));
  EXPECT_EQ(t.excluded(), (gv_set{"example.com/v1"}));
  EXPECT_FALSE(t.next_expiry());
  // Deleted: still excluded, until the grace period ends.
  EXPECT_FALSE(t.update({}, t0 + 1min));
  EXPECT_EQ(t.excluded(), (gv_set{"example.com/v1"}));
  EXPECT_EQ(t.next_expiry(), t0 + 6min);
  EXPECT_FALSE(t.update({}, t0 + 5min));
  EXPECT_TRUE(t.update({}, t0 + 6min));
  EXPECT_TRUE(t.excluded().empty());
  // Created again within the grace period: active again, no expiry pending.
  t.update({"a.io/v1"}, t0);
  t.update({}, t0 + 1s);
  EXPECT_FALSE(t.update({"a.io/v1"}, t0 + 2s));
  EXPECT_FALSE(t.next_expiry());
}

TEST(Exclusion, ModelWithoutExcludedGroupVersions) {
  auto res = [](const char* name) {
    resource_info r;
    r.name = name;
    return std::vector<resource_info>{r};
  };
  auto ver = [&](const char* v, const char* r) { return version_info{v, res(r), {}}; };
  std::vector<group_info> groups = {{"", {ver("v1", "pods")}},
                                    {"example.com", {ver("v1", "widgets"), ver("v2", "widgets")}},
                                    {"only.io", {ver("v1", "things")}}};
  auto m = std::make_shared<const server_model>(groups);
  EXPECT_EQ(without(m, {}).get(), m.get());
  EXPECT_EQ(without(m, {"other.io/v1"}).get(), m.get());
  auto f = without(m, {"example.com/v1", "only.io/v1"});
  EXPECT_TRUE(f->serves("", "v1", "pods"));
  EXPECT_FALSE(f->serves("example.com", "v1", "widgets"));
  EXPECT_TRUE(f->serves("example.com", "v2", "widgets"));
  EXPECT_FALSE(f->serves_group("only.io"));
  EXPECT_EQ(without(nullptr, {"a/v1"}), nullptr);
}

// ---- bad input ----

TEST(Exclusion, BadListsAreRefused) {
  std::string error;
  for (const char* doc : {"", "{}", "[]", R"({"kind":"APIServiceList","items":[]})",
                          R"({"kind":"CustomResourceDefinitionList"})",
                          R"({"kind":"CustomResourceDefinitionList","items":{}})"}) {
    SCOPED_TRACE(doc);
    EXPECT_FALSE(gvs_of_crds(doc, &error));
    EXPECT_FALSE(error.empty());
  }
  EXPECT_FALSE(gvs_of_apiservices(R"({"kind":"CustomResourceDefinitionList","items":[]})"));
  // Items without the expected shape are skipped, not fatal.
  auto gvs = gvs_of_crds(R"({"kind":"CustomResourceDefinitionList","items":[1,{"spec":7},
    {"spec":{"group":"","versions":[{"name":"v1"}]}},{"spec":{"group":"g.io","versions":[{},{"name":3}]}}]})");
  ASSERT_TRUE(gvs);
  EXPECT_TRUE(gvs->empty());
}

}  // namespace
}  // namespace mvproxy::discovery
