#include "mvproxy/discovery/parse.hpp"

#include <gtest/gtest.h>

#include "fixtures.hpp"

namespace mvproxy::discovery {
namespace {

using testing::aggregated_model;
using testing::fixture;
using testing::gvr;
using testing::gvrs_of;

struct aggregated_case {
  const char* file;
  aggregated_version version;
  std::size_t groups, versions, resources, subresources;
};

class aggregated_fixture : public ::testing::TestWithParam<aggregated_case> {};

TEST_P(aggregated_fixture, parses_into_exact_counts) {
  const auto& c = GetParam();
  auto parsed = parse_aggregated(fixture(c.file));
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  EXPECT_EQ(parsed.value->version, c.version);
  server_model m(std::move(parsed.value->groups));
  EXPECT_EQ(m.groups().size(), c.groups);
  EXPECT_EQ(testing::version_count(m), c.versions);
  EXPECT_EQ(m.resource_count(), c.resources);
  EXPECT_EQ(gvrs_of(m).size(), c.resources);
  EXPECT_EQ(testing::subresource_count(m), c.subresources);
}

TEST_P(aggregated_fixture, holds_well_known_resources) {
  server_model m = aggregated_model(GetParam().file);
  EXPECT_EQ(m.groups().front().name, "apiregistration.k8s.io");
  EXPECT_TRUE(m.serves("apps", "v1", "deployments"));
  EXPECT_TRUE(m.serves("apps", "v1", "deployments", "scale"));
  EXPECT_TRUE(m.serves("apps", "v1", "deployments", "status"));
  EXPECT_FALSE(m.serves("apps", "v1", "deployments", "exec"));
  EXPECT_TRUE(m.serves("coordination.k8s.io", "v1", "leases"));
  EXPECT_TRUE(m.serves("storagemigration.k8s.io", "v1alpha1", "storageversionmigrations"));
  EXPECT_FALSE(m.serves("", "v1", "pods"));  // /apis never holds the core group
  EXPECT_FALSE(m.serves_group("extensions"));

  const resource_info* d = m.find("apps", "v1", "deployments");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->singular, "deployment");
  EXPECT_TRUE(d->namespaced);
  EXPECT_EQ(d->response_kind, (group_version_kind{"", "", "Deployment"}));
  EXPECT_EQ(d->short_names, std::vector<std::string>{"deploy"});
  EXPECT_EQ(d->categories, std::vector<std::string>{"all"});
  EXPECT_EQ(d->verbs, (std::vector<std::string>{"create", "delete", "deletecollection", "get",
                                                "list", "patch", "update", "watch"}));
  ASSERT_EQ(d->subresources.size(), 2u);
  EXPECT_EQ(d->subresources[0].name, "scale");
  EXPECT_EQ(d->subresources[0].response_kind, (group_version_kind{"autoscaling", "v1", "Scale"}));
  EXPECT_EQ(d->subresources[0].verbs, (std::vector<std::string>{"get", "patch", "update"}));

  const resource_info* ns = m.find("rbac.authorization.k8s.io", "v1", "clusterroles");
  ASSERT_NE(ns, nullptr);
  EXPECT_FALSE(ns->namespaced);

  const group_info* autoscaling = m.find_group("autoscaling");
  ASSERT_NE(autoscaling, nullptr);
  ASSERT_EQ(autoscaling->versions.size(), 2u);
  EXPECT_EQ(autoscaling->versions[0].version, "v2");  // preference order kept
  EXPECT_EQ(autoscaling->versions[0].freshness, "Current");
}

INSTANTIATE_TEST_SUITE_P(
    fixtures, aggregated_fixture,
    ::testing::Values(aggregated_case{testing::v2_130, aggregated_version::v2, 22, 33, 67, 34},
                      aggregated_case{testing::v2_131, aggregated_version::v2, 22, 31, 63, 30},
                      aggregated_case{testing::v2beta1_131, aggregated_version::v2beta1, 22, 31, 63,
                                      30}));

TEST(aggregated, v1_31_specific_versions) {
  server_model m = aggregated_model(testing::v2_131);
  EXPECT_TRUE(m.serves("resource.k8s.io", "v1alpha3", "resourceslices"));
  EXPECT_FALSE(m.serves_group_version("resource.k8s.io", "v1alpha2"));
  EXPECT_TRUE(m.serves("networking.k8s.io", "v1beta1", "servicecidrs"));
  EXPECT_FALSE(m.serves_group_version("flowcontrol.apiserver.k8s.io", "v1beta2"));
}

TEST(aggregated, v2_and_v2beta1_of_one_server_give_the_same_model) {
  EXPECT_EQ(aggregated_model(testing::v2_131), aggregated_model(testing::v2beta1_131));
}

TEST(aggregated, core_group_document_of_api) {
  // Shaped as kube-apiserver serves aggregated /api: the core group has no name.
  const std::string body = R"({"kind":"APIGroupDiscoveryList","apiVersion":"apidiscovery.k8s.io/v2",
    "metadata":{},"items":[{"metadata":{"creationTimestamp":null},"versions":[{"version":"v1",
    "resources":[{"resource":"pods","responseKind":{"group":"","version":"","kind":"Pod"},
    "scope":"Namespaced","singularResource":"pod","verbs":["get","list"],"shortNames":["po"],
    "categories":["all"],"subresources":[{"subresource":"exec","responseKind":{"group":"",
    "version":"","kind":"PodExecOptions"},"verbs":["create","get"]},{"subresource":"eviction",
    "responseKind":{"group":"policy","version":"v1","kind":"Eviction"},"acceptedTypes":[{"group":
    "policy","version":"v1","kind":"Eviction"}],"verbs":["create"]}]}],"freshness":"Current"}]}]})";
  auto parsed = parse_aggregated(body);
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  server_model m = make_server_model(std::move(parsed.value->groups),
                                     aggregated_model(testing::v2_131).groups());
  EXPECT_EQ(m.groups().front().name, "");
  EXPECT_TRUE(m.serves("", "v1", "pods", "exec"));
  EXPECT_TRUE(m.serves("apps", "v1", "deployments"));
  const resource_info* pods = m.find("", "v1", "pods");
  ASSERT_NE(pods, nullptr);
  ASSERT_EQ(pods->subresources.size(), 2u);
  EXPECT_EQ(pods->subresources[1].accepted_types,
            (std::vector<group_version_kind>{{"policy", "v1", "Eviction"}}));
}

TEST(legacy, api_versions) {
  for (const char* f : {"legacy-api-versions-v1.15.json", "legacy-api-versions-v1.21.json"}) {
    auto parsed = parse_api_versions(fixture(f));
    ASSERT_TRUE(parsed.ok()) << f << ": " << parsed.error;
    EXPECT_EQ(*parsed.value, std::vector<std::string>{"v1"});
  }
}

struct group_list_case {
  const char* file;
  std::size_t groups, group_versions;
};

class group_list_fixture : public ::testing::TestWithParam<group_list_case> {};

TEST_P(group_list_fixture, parses_every_group) {
  auto parsed = parse_group_list(fixture(GetParam().file));
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  EXPECT_EQ(parsed.value->size(), GetParam().groups);
  std::size_t gvs = 0;
  for (const auto& g : *parsed.value) {
    gvs += g.versions.size();
    EXPECT_FALSE(g.preferred_version.empty()) << g.name;
  }
  EXPECT_EQ(gvs, GetParam().group_versions);
  EXPECT_EQ(legacy_group_versions({}, *parsed.value).size(), GetParam().group_versions);
  EXPECT_EQ(parsed.value->front().name, "apiregistration.k8s.io");
}

INSTANTIATE_TEST_SUITE_P(
    fixtures, group_list_fixture,
    ::testing::Values(group_list_case{"legacy-apis-grouplist-allapis-v1.30-dev-c25b1ef.json", 22,
                                      33},
                      group_list_case{"legacy-apis-grouplist-v1.15.json", 18, 31},
                      group_list_case{"legacy-apis-grouplist-v1.21.json", 20, 38},
                      group_list_case{"legacy-apis-grouplist-v1.30.0-kind.json", 19, 21},
                      group_list_case{"legacy-apis-grouplist-v1.36.0-kind.json", 20, 21}));

TEST(legacy, api_group) {
  auto apps = parse_api_group(fixture("legacy-apis-apps-group-v1.21.json"));
  ASSERT_TRUE(apps.ok()) << apps.error;
  EXPECT_EQ(apps.value->name, "apps");
  EXPECT_EQ(apps.value->versions, std::vector<std::string>{"v1"});
  EXPECT_EQ(apps.value->preferred_version, "v1");
  auto coord = parse_api_group(fixture("legacy-apis-coordination.k8s.io-group-v1.21.json"));
  ASSERT_TRUE(coord.ok()) << coord.error;
  EXPECT_EQ(coord.value->versions, (std::vector<std::string>{"v1", "v1beta1"}));
}

struct resource_list_case {
  const char* file;
  const char* group;
  const char* version;
  std::size_t resources, subresources;
};

class resource_list_fixture : public ::testing::TestWithParam<resource_list_case> {};

TEST_P(resource_list_fixture, folds_subresources_into_parents) {
  const auto& c = GetParam();
  auto parsed = parse_resource_list(fixture(c.file));
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  EXPECT_EQ(parsed.value->group, c.group);
  EXPECT_EQ(parsed.value->version, c.version);
  EXPECT_EQ(parsed.value->resources.size(), c.resources);
  std::size_t subs = 0;
  for (const auto& r : parsed.value->resources) {
    EXPECT_EQ(r.name.find('/'), std::string::npos);
    subs += r.subresources.size();
  }
  EXPECT_EQ(subs, c.subresources);
}

INSTANTIATE_TEST_SUITE_P(
    fixtures, resource_list_fixture,
    ::testing::Values(
        resource_list_case{"legacy-api-v1-resourcelist-v1.15.json", "", "v1", 17, 19},
        resource_list_case{"legacy-api-v1-resourcelist-v1.21.json", "", "v1", 17, 20},
        resource_list_case{"legacy-apis-apps-v1-resourcelist-v1.21.json", "apps", "v1", 5, 7},
        resource_list_case{"legacy-apis-batch-v1beta1-resourcelist-v1.21.json", "batch", "v1beta1",
                           1, 1},
        resource_list_case{"legacy-apis-coordination.k8s.io-v1-resourcelist-v1.15.json",
                           "coordination.k8s.io", "v1", 1, 0},
        resource_list_case{"legacy-apis-coordination.k8s.io-v1-resourcelist-v1.21.json",
                           "coordination.k8s.io", "v1", 1, 0},
        resource_list_case{"legacy-apis-coordination.k8s.io-v1beta1-resourcelist-v1.21.json",
                           "coordination.k8s.io", "v1beta1", 1, 0},
        resource_list_case{"legacy-apis-extensions-v1beta1-resourcelist-v1.15.json", "extensions",
                           "v1beta1", 7, 8}));

TEST(legacy, pods_and_scale_subresources_in_detail) {
  auto core = parse_resource_list(fixture("legacy-api-v1-resourcelist-v1.21.json"));
  ASSERT_TRUE(core.ok()) << core.error;
  const resource_info* pods = nullptr;
  for (const auto& r : core.value->resources)
    if (r.name == "pods") pods = &r;
  ASSERT_NE(pods, nullptr);
  EXPECT_TRUE(pods->namespaced);
  EXPECT_EQ(pods->singular, "");  // this era sent singularName ""
  EXPECT_EQ(pods->response_kind.kind, "Pod");
  EXPECT_EQ(pods->short_names, std::vector<std::string>{"po"});
  std::vector<std::string> subs;
  for (const auto& s : pods->subresources) subs.push_back(s.name);
  EXPECT_EQ(subs, (std::vector<std::string>{"attach", "binding", "eviction", "exec", "log",
                                            "portforward", "proxy", "status"}));
  auto eviction = std::find_if(pods->subresources.begin(), pods->subresources.end(),
                               [](const auto& s) { return s.name == "eviction"; });
  EXPECT_EQ(eviction->response_kind, (group_version_kind{"policy", "v1beta1", "Eviction"}));

  auto apps = parse_resource_list(fixture("legacy-apis-apps-v1-resourcelist-v1.21.json"));
  ASSERT_TRUE(apps.ok()) << apps.error;
  const resource_info& deployments = apps.value->resources[2];
  EXPECT_EQ(deployments.name, "deployments");
  ASSERT_EQ(deployments.subresources.size(), 2u);
  EXPECT_EQ(deployments.subresources[0].name, "scale");
  EXPECT_EQ(deployments.subresources[0].response_kind,
            (group_version_kind{"autoscaling", "v1", "Scale"}));
}

TEST(legacy, builds_a_model_from_the_documents_of_v1_21) {
  const std::string api = fixture("legacy-api-versions-v1.21.json");
  const std::string apis = fixture("legacy-apis-grouplist-v1.21.json");
  const std::string core = fixture("legacy-api-v1-resourcelist-v1.21.json");
  const std::string apps = fixture("legacy-apis-apps-v1-resourcelist-v1.21.json");
  const std::string coord = fixture("legacy-apis-coordination.k8s.io-v1-resourcelist-v1.21.json");
  const std::string coord_beta =
      fixture("legacy-apis-coordination.k8s.io-v1beta1-resourcelist-v1.21.json");
  const std::string batch_beta = fixture("legacy-apis-batch-v1beta1-resourcelist-v1.21.json");
  legacy_documents docs{api,
                        apis,
                        {{"v1", core},
                         {"apps/v1", apps},
                         {"coordination.k8s.io/v1", coord},
                         {"coordination.k8s.io/v1beta1", coord_beta},
                         {"batch/v1beta1", batch_beta}}};
  auto built = build_legacy_model(docs);
  ASSERT_TRUE(built.ok()) << built.error;
  const server_model& m = *built.value;
  // Only the group versions whose lists were given; the core group first.
  ASSERT_EQ(m.groups().size(), 4u);
  EXPECT_EQ(m.groups()[0].name, "");
  EXPECT_EQ(m.groups()[1].name, "apps");
  EXPECT_EQ(m.resource_count(), 17u + 5u + 1u + 1u + 1u);
  EXPECT_TRUE(m.serves("", "v1", "pods", "exec"));
  EXPECT_TRUE(m.serves("batch", "v1beta1", "cronjobs", "status"));
  EXPECT_FALSE(m.serves_group_version("batch", "v1"));  // no list given for it
  const group_info* coordination = m.find_group("coordination.k8s.io");
  ASSERT_NE(coordination, nullptr);
  ASSERT_EQ(coordination->versions.size(), 2u);
  EXPECT_EQ(coordination->versions[0].version, "v1");
  EXPECT_EQ(coordination->versions[1].version, "v1beta1");
}

TEST(legacy, group_versions_to_fetch) {
  std::vector<legacy_group> groups{{"apps", {"v1"}, "v1"}, {"batch", {"v1", "v1beta1"}, "v1"}};
  EXPECT_EQ(legacy_group_versions({"v1"}, groups),
            (std::vector<std::string>{"v1", "apps/v1", "batch/v1", "batch/v1beta1"}));
  EXPECT_TRUE(legacy_group_versions({}, {}).empty());
}

TEST(legacy, preferred_version_goes_first) {
  const std::string apis = R"({"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"x.io",
    "versions":[{"groupVersion":"x.io/v1beta1","version":"v1beta1"},{"groupVersion":"x.io/v1",
    "version":"v1"}],"preferredVersion":{"groupVersion":"x.io/v1","version":"v1"}}]})";
  const std::string v1 = R"({"kind":"APIResourceList","groupVersion":"x.io/v1","resources":[]})";
  const std::string beta =
      R"({"kind":"APIResourceList","groupVersion":"x.io/v1beta1","resources":[]})";
  auto built = build_legacy_model({{}, apis, {{"x.io/v1", v1}, {"x.io/v1beta1", beta}}});
  ASSERT_TRUE(built.ok()) << built.error;
  ASSERT_EQ(built.value->groups().size(), 1u);
  EXPECT_EQ(built.value->groups()[0].versions[0].version, "v1");
  EXPECT_EQ(built.value->groups()[0].versions[1].version, "v1beta1");
}

TEST(legacy, group_versions_match_aggregated_view_of_the_same_server) {
  // The v1.30 development server's /apis, legacy and aggregated.
  auto legacy = parse_group_list(fixture("legacy-apis-grouplist-allapis-v1.30-dev-c25b1ef.json"));
  ASSERT_TRUE(legacy.ok()) << legacy.error;
  std::map<std::string, std::string_view, std::less<>> lists;
  std::vector<std::string> bodies;
  server_model aggregated = aggregated_model(testing::v2_130);
  // Resource lists are not in the fixtures for this server; empty ones stand in, so
  // the comparison is of groups and versions in order.
  std::vector<std::string> gvs = legacy_group_versions({}, *legacy.value);
  bodies.reserve(gvs.size());
  for (const auto& gv : gvs) {
    bodies.push_back(R"({"kind":"APIResourceList","groupVersion":")" + gv + R"(","resources":[]})");
    lists.emplace(gv, bodies.back());
  }
  const std::string apis = fixture("legacy-apis-grouplist-allapis-v1.30-dev-c25b1ef.json");
  auto built = build_legacy_model({{}, apis, lists});
  ASSERT_TRUE(built.ok()) << built.error;
  ASSERT_EQ(built.value->groups().size(), aggregated.groups().size());
  for (std::size_t i = 0; i < aggregated.groups().size(); ++i) {
    const auto& a = aggregated.groups()[i];
    const auto& l = built.value->groups()[i];
    EXPECT_EQ(a.name, l.name);
    ASSERT_EQ(a.versions.size(), l.versions.size()) << a.name;
    for (std::size_t v = 0; v < a.versions.size(); ++v)
      EXPECT_EQ(a.versions[v].version, l.versions[v].version) << a.name;
  }
}

// ---- bad inputs ----

struct bad_case {
  const char* name;
  std::string body;
  const char* error_contains;
};

TEST(bad_inputs, aggregated_documents_are_refused_with_a_reason) {
  const std::vector<bad_case> cases = {
      {"empty", "", "malformed JSON"},
      {"not json", "<html>nope</html>", "malformed JSON"},
      {"truncated", R"({"kind":"APIGroupDiscoveryList","items":[)", "malformed JSON"},
      {"array root", "[]", "not an object"},
      {"wrong kind", R"({"kind":"APIGroupList","apiVersion":"apidiscovery.k8s.io/v2"})",
       "wrong kind"},
      {"no kind", R"({"apiVersion":"apidiscovery.k8s.io/v2","items":[]})", "wrong kind"},
      {"wrong apiVersion", R"({"kind":"APIGroupDiscoveryList","apiVersion":"v1","items":[]})",
       "unsupported apiVersion"},
      {"items not array",
       R"({"kind":"APIGroupDiscoveryList","apiVersion":"apidiscovery.k8s.io/v2","items":{}})",
       "not an array"},
      {"version without name",
       R"({"kind":"APIGroupDiscoveryList","apiVersion":"apidiscovery.k8s.io/v2","items":[{"metadata":{"name":"a"},"versions":[{"resources":[]}]}]})",
       "missing field version"},
      {"resource without scope",
       R"({"kind":"APIGroupDiscoveryList","apiVersion":"apidiscovery.k8s.io/v2","items":[{"metadata":{"name":"a"},"versions":[{"version":"v1","resources":[{"resource":"xs","verbs":[]}]}]}]})",
       "missing field scope"},
      {"unknown scope",
       R"({"kind":"APIGroupDiscoveryList","apiVersion":"apidiscovery.k8s.io/v2","items":[{"metadata":{"name":"a"},"versions":[{"version":"v1","resources":[{"resource":"xs","scope":"Galaxy"}]}]}]})",
       "unknown scope"},
      {"verb not a string",
       R"({"kind":"APIGroupDiscoveryList","apiVersion":"apidiscovery.k8s.io/v2","items":[{"metadata":{"name":"a"},"versions":[{"version":"v1","resources":[{"resource":"xs","scope":"Cluster","verbs":[1]}]}]}]})",
       "non-string"},
      {"name not a string",
       R"({"kind":"APIGroupDiscoveryList","apiVersion":"apidiscovery.k8s.io/v2","items":[{"metadata":{"name":7}}]})",
       "not a string"},
  };
  for (const auto& c : cases) {
    auto parsed = parse_aggregated(c.body);
    EXPECT_FALSE(parsed.ok()) << c.name;
    EXPECT_NE(parsed.error.find(c.error_contains), std::string::npos)
        << c.name << ": " << parsed.error;
    EXPECT_EQ(parsed.error.find('\n'), std::string::npos) << c.name;
  }
}

TEST(bad_inputs, legacy_documents_are_refused_with_a_reason) {
  const std::vector<bad_case> versions = {
      {"wrong kind", R"({"kind":"APIGroupList","versions":["v1"]})", "wrong kind"},
      {"versions not strings", R"({"kind":"APIVersions","versions":[{}]})", "non-string"},
      {"empty version", R"({"kind":"APIVersions","versions":[""]})", "empty version"},
  };
  for (const auto& c : versions) {
    auto parsed = parse_api_versions(c.body);
    EXPECT_FALSE(parsed.ok()) << c.name;
    EXPECT_NE(parsed.error.find(c.error_contains), std::string::npos)
        << c.name << ": " << parsed.error;
  }
  const std::vector<bad_case> lists = {
      {"wrong kind", R"({"kind":"APIVersions"})", "wrong kind"},
      {"group without name", R"({"kind":"APIGroupList","groups":[{"versions":[]}]})",
       "missing field name"},
      {"group version without version",
       R"({"kind":"APIGroupList","groups":[{"name":"a","versions":[{"groupVersion":"a/v1"}]}]})",
       "missing field version"},
  };
  for (const auto& c : lists) {
    auto parsed = parse_group_list(c.body);
    EXPECT_FALSE(parsed.ok()) << c.name;
    EXPECT_NE(parsed.error.find(c.error_contains), std::string::npos)
        << c.name << ": " << parsed.error;
  }
  const std::vector<bad_case> resources = {
      {"wrong kind", R"({"kind":"APIGroup","groupVersion":"v1"})", "wrong kind"},
      {"no groupVersion", R"({"kind":"APIResourceList","resources":[]})",
       "missing field groupVersion"},
      {"bad groupVersion", R"({"kind":"APIResourceList","groupVersion":"a/b/c"})",
       "malformed groupVersion"},
      {"empty group", R"({"kind":"APIResourceList","groupVersion":"/v1"})",
       "malformed groupVersion"},
      {"resource without name",
       R"({"kind":"APIResourceList","groupVersion":"v1","resources":[{"kind":"Pod"}]})",
       "missing field name"},
      {"namespaced not bool",
       R"({"kind":"APIResourceList","groupVersion":"v1","resources":[{"name":"pods","namespaced":"yes"}]})",
       "not a boolean"},
      {"empty subresource",
       R"({"kind":"APIResourceList","groupVersion":"v1","resources":[{"name":"pods"},{"name":"pods/"}]})",
       "malformed resource name"},
  };
  for (const auto& c : resources) {
    auto parsed = parse_resource_list(c.body);
    EXPECT_FALSE(parsed.ok()) << c.name;
    EXPECT_NE(parsed.error.find(c.error_contains), std::string::npos)
        << c.name << ": " << parsed.error;
  }
  auto group = parse_api_group(R"({"kind":"APIGroupList"})");
  EXPECT_FALSE(group.ok());
}

TEST(bad_inputs, build_legacy_model_reports_the_broken_document) {
  const std::string apis = fixture("legacy-apis-grouplist-v1.21.json");
  const std::string broken = R"({"kind":"APIResourceList","groupVersion":"apps/v1","resources":[)";
  auto built = build_legacy_model({{}, apis, {{"apps/v1", broken}}});
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.error, "apps/v1: malformed JSON");

  const std::string other = fixture("legacy-apis-batch-v1beta1-resourcelist-v1.21.json");
  auto mismatched = build_legacy_model({{}, apis, {{"apps/v1", other}}});
  ASSERT_FALSE(mismatched.ok());
  EXPECT_EQ(mismatched.error, "apps/v1: document is for another group version");

  auto bad_api = build_legacy_model({"{", apis, {}});
  ASSERT_FALSE(bad_api.ok());
  EXPECT_EQ(bad_api.error, "/api: malformed JSON");
}

// Every fixture cut short at several offsets is refused, never crashes.
TEST(bad_inputs, every_fixture_truncated_is_an_error) {
  const std::vector<std::pair<std::string, int>> files = {
      {testing::v2_130, 0},
      {testing::v2_131, 0},
      {testing::v2beta1_131, 0},
      {"legacy-api-versions-v1.21.json", 1},
      {"legacy-apis-grouplist-v1.21.json", 2},
      {"legacy-apis-grouplist-v1.36.0-kind.json", 2},
      {"legacy-apis-apps-group-v1.21.json", 3},
      {"legacy-api-v1-resourcelist-v1.21.json", 4},
      {"legacy-apis-apps-v1-resourcelist-v1.21.json", 4},
  };
  for (const auto& [file, kind] : files) {
    const std::string body = fixture(file);
    // Cut before the final closing brace and its trailing whitespace.
    std::size_t end = body.find_last_of('}');
    for (std::size_t cut : {std::size_t{0}, std::size_t{1}, body.size() / 4, body.size() / 2,
                            body.size() * 3 / 4, end}) {
      std::string_view part(body.data(), cut);
      bool ok = true;
      switch (kind) {
        case 0:
          ok = parse_aggregated(part).ok();
          break;
        case 1:
          ok = parse_api_versions(part).ok();
          break;
        case 2:
          ok = parse_group_list(part).ok();
          break;
        case 3:
          ok = parse_api_group(part).ok();
          break;
        case 4:
          ok = parse_resource_list(part).ok();
          break;
      }
      EXPECT_FALSE(ok) << file << " cut at " << cut;
    }
  }
}

TEST(bad_inputs, deeply_nested_input_does_not_crash) {
  std::string deep(100000, '[');
  EXPECT_FALSE(parse_aggregated(deep).ok());
  std::string closed = deep + std::string(100000, ']');
  EXPECT_FALSE(parse_aggregated(closed).ok());
}

}  // namespace
}  // namespace mvproxy::discovery
