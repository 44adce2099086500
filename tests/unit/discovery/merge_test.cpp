#include "mvproxy/discovery/merge.hpp"

#include <gtest/gtest.h>

#include "fixtures.hpp"
#include "mvproxy/discovery/render.hpp"

namespace mvproxy::discovery {
namespace {

using testing::aggregated_model;
using testing::gvr;
using testing::gvrs_of;
using testing::resource;

using strings = std::vector<std::string>;

server_model merge(std::initializer_list<const server_model*> servers) {
  std::vector<const server_model*> v(servers);
  return merge_models(std::span<const server_model* const>(v));
}

strings group_names(const server_model& m) {
  strings out;
  for (const auto& g : m.groups()) out.push_back(g.name);
  return out;
}

strings version_names(const server_model& m, std::string_view group) {
  strings out;
  if (const group_info* g = m.find_group(group))
    for (const auto& v : g->versions) out.push_back(v.version);
  return out;
}

strings resource_names(const server_model& m, std::string_view group, std::string_view version) {
  strings out;
  if (const version_info* v = m.find_version(group, version))
    for (const auto& r : v->resources) out.push_back(r.name);
  return out;
}

// The model of a small server: group -> versions -> resources.
server_model make(std::vector<group_info> groups) { return server_model(std::move(groups)); }

group_info group(std::string name, std::vector<version_info> versions) {
  return {std::move(name), std::move(versions)};
}

version_info version(std::string name, std::vector<resource_info> resources) {
  return {std::move(name), std::move(resources), "Current"};
}

// ---- merge_preserving_relative_order, upstream's table ----

TEST(merge_preserving_relative_order, table) {
  struct row {
    const char* name;
    std::vector<strings> lists;
    strings want;
  };
  const std::vector<row> rows = {
      {"no lists", {}, {}},
      {"one list", {{"b", "a"}}, {"b", "a"}},
      {"a list holding all wins", {{"a", "b", "c"}, {"b", "c"}}, {"a", "b", "c"}},
      {"the first such list wins", {{"b", "a"}, {"a", "b"}}, {"b", "a"}},
      {"unordered items sort lexically", {{"a", "c"}, {"b", "c"}}, {"a", "b", "c"}},
      {"both orders kept", {{"v2", "v1"}, {"v1", "v1beta1"}}, {"v2", "v1", "v1beta1"}},
      {"disjoint", {{"z"}, {"y"}}, {"y", "z"}},
      {"cycle falls back to lexical", {{"a", "b", "c"}, {"c", "b"}, {"d"}}, {"a", "b", "c", "d"}},
      {"empty lists", {{}, {"x"}, {}}, {"x"}},
      {"duplicates in a list", {{"a", "a"}, {"b"}}, {"a", "b"}},
  };
  for (const auto& r : rows) EXPECT_EQ(merge_preserving_relative_order(r.lists), r.want) << r.name;
}

// ---- merge_models, mirroring upstream's peer-aggregated discovery cases ----

class merge_models_test : public ::testing::Test {
 protected:
  server_model local_ =
      make({group("apps", {version("v1", {resource("deployments"), resource("replicasets")})}),
            group("batch", {version("v1", {resource("jobs")})})});
};

TEST_F(merge_models_test, no_peers_is_the_local_model) { EXPECT_EQ(merge({&local_}), local_); }

TEST_F(merge_models_test, missing_servers_are_skipped) {
  EXPECT_EQ(merge({nullptr, &local_, nullptr}), local_);
  EXPECT_TRUE(merge({nullptr}).empty());
  EXPECT_TRUE(merge({}).empty());
}

TEST_F(merge_models_test, a_peer_adding_nothing_changes_nothing) {
  server_model peer = local_;
  EXPECT_EQ(merge({&local_, &peer}), local_);
  server_model subset = make({group("apps", {version("v1", {resource("deployments")})})});
  EXPECT_EQ(merge({&local_, &subset}), local_);
  EXPECT_EQ(merge({&subset, &local_}), local_);
}

TEST_F(merge_models_test, a_peer_adds_a_resource) {
  server_model peer =
      make({group("apps", {version("v1", {resource("deployments"), resource("statefulsets"),
                                          resource("replicasets")})})});
  server_model m = merge({&local_, &peer});
  EXPECT_EQ(resource_names(m, "apps", "v1"),
            (strings{"deployments", "statefulsets", "replicasets"}));
  EXPECT_TRUE(m.serves("apps", "v1", "statefulsets"));
  EXPECT_TRUE(m.serves("batch", "v1", "jobs"));
}

TEST_F(merge_models_test, a_peer_adds_a_version) {
  server_model peer = make(
      {group("batch", {version("v2", {resource("jobs")}), version("v1", {resource("jobs")})})});
  server_model m = merge({&local_, &peer});
  EXPECT_EQ(version_names(m, "batch"), (strings{"v2", "v1"}));  // the peer's preference kept
  EXPECT_TRUE(m.serves("batch", "v2", "jobs"));
  server_model alpha = make({group(
      "batch", {version("v1", {resource("jobs")}), version("v1alpha1", {resource("jobs")})})});
  EXPECT_EQ(version_names(merge({&local_, &alpha}), "batch"), (strings{"v1", "v1alpha1"}));
}

TEST_F(merge_models_test, a_peer_adds_a_group) {
  server_model peer = make({group("apps", {version("v1", {resource("deployments")})}),
                            group("new.example.com", {version("v1", {resource("widgets")})}),
                            group("batch", {version("v1", {resource("jobs")})})});
  server_model m = merge({&local_, &peer});
  EXPECT_EQ(group_names(m), (strings{"apps", "new.example.com", "batch"}));
  EXPECT_TRUE(m.serves("new.example.com", "v1", "widgets"));
}

TEST_F(merge_models_test, groups_without_order_between_them_sort_lexically) {
  server_model peer = make({group("a.example.com", {version("v1", {resource("as")})})});
  EXPECT_EQ(group_names(merge({&local_, &peer})), (strings{"a.example.com", "apps", "batch"}));
}

TEST_F(merge_models_test, the_same_data_in_another_order) {
  server_model reordered =
      make({group("batch", {version("v1", {resource("jobs")})}),
            group("apps", {version("v1", {resource("replicasets"), resource("deployments")})})});
  server_model m = merge({&local_, &reordered});
  // The first server (in server-id order) holding everything decides the order.
  EXPECT_EQ(group_names(m), (strings{"apps", "batch"}));
  EXPECT_EQ(resource_names(m, "apps", "v1"), (strings{"deployments", "replicasets"}));
  EXPECT_EQ(gvrs_of(m), gvrs_of(local_));
}

TEST_F(merge_models_test, every_sidecar_computes_the_same_document) {
  // A and B each merge all servers in server-id order: same input, same bytes.
  server_model peer =
      make({group("apps", {version("v1", {resource("deployments", {"get", "patch"})})}),
            group("new.example.com", {version("v1", {resource("widgets")})})});
  server_model on_a = merge({&local_, &peer});
  server_model on_b = merge({&local_, &peer});
  EXPECT_EQ(render_aggregated_apis(on_a, aggregated_version::v2),
            render_aggregated_apis(on_b, aggregated_version::v2));
  // A copy of the inputs (other addresses) changes nothing either.
  server_model local_copy = local_, peer_copy = peer;
  EXPECT_EQ(merge({&local_copy, &peer_copy}), on_a);
}

TEST_F(merge_models_test, a_peer_adds_a_verb) {
  server_model peer =
      make({group("batch", {version("v1", {resource("jobs", {"watch", "get", "create"})})})});
  server_model m = merge({&local_, &peer});
  const resource_info* jobs = m.find("batch", "v1", "jobs");
  ASSERT_NE(jobs, nullptr);
  EXPECT_EQ(jobs->verbs, (strings{"create", "get", "list", "watch"}));  // union, sorted
}

TEST_F(merge_models_test, a_peer_adds_a_subresource) {
  server_model with_status =
      make({group("batch", {version("v1", {resource("jobs", {"get", "list"}, {"status"})})})});
  server_model with_scale = make(
      {group("batch", {version("v1", {resource("jobs", {"get", "list"}, {"scale", "status"})})})});
  server_model m = merge({&with_status, &with_scale});
  const resource_info* jobs = m.find("batch", "v1", "jobs");
  ASSERT_NE(jobs, nullptr);
  ASSERT_EQ(jobs->subresources.size(), 2u);
  EXPECT_EQ(jobs->subresources[0].name, "scale");
  EXPECT_EQ(jobs->subresources[1].name, "status");
  EXPECT_TRUE(m.serves("batch", "v1", "jobs", "scale"));
}

TEST_F(merge_models_test, the_first_copy_keeps_its_other_fields) {
  resource_info first = resource("jobs", {"get"});
  first.short_names = {"jb"};
  first.categories = {"all"};
  resource_info second = resource("jobs", {"list"});
  second.short_names = {"j"};
  second.namespaced = false;
  server_model a = make({group("batch", {version("v1", {first})})});
  server_model b = make({group("batch", {version("v1", {second})})});
  server_model m = merge({&a, &b});
  const resource_info* jobs = m.find("batch", "v1", "jobs");
  ASSERT_NE(jobs, nullptr);
  EXPECT_EQ(jobs->short_names, strings{"jb"});
  EXPECT_EQ(jobs->categories, strings{"all"});
  EXPECT_TRUE(jobs->namespaced);
  EXPECT_EQ(jobs->verbs, (strings{"get", "list"}));
}

TEST_F(merge_models_test, an_empty_local_gives_the_peers_view) {
  server_model empty;
  server_model m = merge({&empty, &local_});
  EXPECT_EQ(m, local_);
}

TEST_F(merge_models_test, three_servers) {
  server_model b = make({group("apps", {version("v1", {resource("deployments")})}),
                         group("b.example.com", {version("v1", {resource("bs")})})});
  server_model c = make({group("c.example.com", {version("v1", {resource("cs")})}),
                         group("batch", {version("v1", {resource("jobs")}),
                                         version("v1beta1", {resource("cronjobs")})})});
  server_model m = merge({&local_, &b, &c});
  EXPECT_EQ(group_names(m), (strings{"apps", "b.example.com", "c.example.com", "batch"}));
  EXPECT_EQ(version_names(m, "batch"), (strings{"v1", "v1beta1"}));
  EXPECT_EQ(m.resource_count(), 3u + 1u + 1u + 1u);
}

// ---- real documents: v1.30 and v1.31 development servers ----

TEST(merge_fixtures, v1_30_union_v1_31) {
  server_model a = aggregated_model(testing::v2_130);
  server_model b = aggregated_model(testing::v2_131);
  server_model m = merge({&a, &b});
  EXPECT_EQ(m.groups().size(), 22u);
  EXPECT_EQ(testing::version_count(m), 35u);
  EXPECT_EQ(m.resource_count(), 76u);
  EXPECT_EQ(testing::subresource_count(m), 37u);

  std::set<gvr> both = gvrs_of(a);
  for (const auto& x : gvrs_of(b)) both.insert(x);
  EXPECT_EQ(gvrs_of(m), both);

  EXPECT_TRUE(m.serves("resource.k8s.io", "v1alpha2", "resourceclaims"));
  EXPECT_TRUE(m.serves("resource.k8s.io", "v1alpha3", "resourceclaims", "status"));
  EXPECT_TRUE(m.serves("networking.k8s.io", "v1alpha1", "servicecidrs"));
  EXPECT_TRUE(m.serves("networking.k8s.io", "v1beta1", "servicecidrs"));
  EXPECT_TRUE(m.serves("flowcontrol.apiserver.k8s.io", "v1beta1", "flowschemas"));
  EXPECT_EQ(version_names(m, "flowcontrol.apiserver.k8s.io"),
            (strings{"v1", "v1beta3", "v1beta2", "v1beta1"}));
  EXPECT_EQ(version_names(m, "networking.k8s.io"), (strings{"v1", "v1alpha1", "v1beta1"}));
  EXPECT_EQ(version_names(m, "resource.k8s.io"), (strings{"v1alpha2", "v1alpha3"}));
  EXPECT_EQ(group_names(m), group_names(a));

  // Merging in the other server-id order gives the same GVRs (the order of ties may
  // differ, which is why every sidecar sorts servers by id first).
  EXPECT_EQ(gvrs_of(merge({&b, &a})), both);
}

TEST(merge_fixtures, same_server_twice_is_itself) {
  server_model a = aggregated_model(testing::v2_131);
  server_model b = aggregated_model(testing::v2beta1_131);
  EXPECT_EQ(merge({&a, &b}), a);
}

TEST(merge_fixtures, shared_pointers) {
  auto a = std::make_shared<const server_model>(aggregated_model(testing::v2_130));
  auto b = std::make_shared<const server_model>(aggregated_model(testing::v2_131));
  std::vector<server_model_ptr> servers{a, nullptr, b};
  EXPECT_EQ(merge_models(std::span<const server_model_ptr>(servers)).resource_count(), 76u);
}

}  // namespace
}  // namespace mvproxy::discovery
