#include "mvproxy/discovery/render.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fixtures.hpp"
#include "mvproxy/discovery/merge.hpp"

namespace mvproxy::discovery {
namespace {

using testing::aggregated_model;
using testing::fixture;
using json = nlohmann::json;

// A model with a core group, from the v1.21 legacy documents plus the v1.31 /apis.
server_model core_and_groups() {
  auto core = parse_resource_list(fixture("legacy-api-v1-resourcelist-v1.21.json"));
  if (!core.ok()) throw std::runtime_error(core.error);
  std::vector<group_info> core_groups{{"", {{"v1", std::move(core.value->resources), "Current"}}}};
  return make_server_model(std::move(core_groups), aggregated_model(testing::v2_131).groups());
}

TEST(render_aggregated, round_trips_v2_and_v2beta1) {
  for (const char* file : {testing::v2_130, testing::v2_131, testing::v2beta1_131}) {
    server_model m = aggregated_model(file);
    for (auto version : {aggregated_version::v2, aggregated_version::v2beta1}) {
      std::string body = render_aggregated_apis(m, version);
      auto back = parse_aggregated(body);
      ASSERT_TRUE(back.ok()) << file << ": " << back.error;
      EXPECT_EQ(back.value->version, version);
      EXPECT_EQ(server_model(std::move(back.value->groups)), m) << file;
    }
  }
}

TEST(render_aggregated, same_json_as_the_fixture) {
  // The fixtures were re-encoded with sorted keys; as JSON values they must be equal.
  for (const char* file : {testing::v2_130, testing::v2_131}) {
    json want = json::parse(fixture(file));
    json got = json::parse(render_aggregated_apis(aggregated_model(file), aggregated_version::v2));
    EXPECT_EQ(got, want) << file;
  }
  json beta = json::parse(fixture(testing::v2beta1_131));
  json got = json::parse(
      render_aggregated_apis(aggregated_model(testing::v2beta1_131), aggregated_version::v2beta1));
  EXPECT_EQ(got, beta);
}

TEST(render_aggregated, kube_apiserver_field_order) {
  std::vector<group_info> groups{
      {"apps",
       {{"v1",
         {{"deployments",
           "deployment",
           {"", "", "Deployment"},
           true,
           {"get", "list"},
           {"deploy"},
           {"all"},
           {{"scale", {"autoscaling", "v1", "Scale"}, {{"autoscaling", "v1", "Scale"}}, {"get"}}}}},
         "Current"}}}};
  std::string body = render_aggregated_apis(server_model(groups), aggregated_version::v2);
  EXPECT_EQ(
      body,
      R"({"kind":"APIGroupDiscoveryList","apiVersion":"apidiscovery.k8s.io/v2","metadata":{},)"
      R"("items":[{"metadata":{"name":"apps","creationTimestamp":null},"versions":[{"version":"v1",)"
      R"("resources":[{"resource":"deployments","responseKind":{"group":"","version":"","kind":"Deployment"},)"
      R"("scope":"Namespaced","singularResource":"deployment","verbs":["get","list"],)"
      R"("shortNames":["deploy"],"categories":["all"],"subresources":[{"subresource":"scale",)"
      R"("responseKind":{"group":"autoscaling","version":"v1","kind":"Scale"},)"
      R"("acceptedTypes":[{"group":"autoscaling","version":"v1","kind":"Scale"}],"verbs":["get"]}]}],)"
      R"("freshness":"Current"}]}]})"
      "\n");
}

TEST(render_aggregated, api_holds_only_the_core_group_and_apis_never_does) {
  server_model m = core_and_groups();
  std::string api = render_aggregated_api(m, aggregated_version::v2);
  EXPECT_NE(
      api.find(R"("items":[{"metadata":{"creationTimestamp":null},"versions":[{"version":"v1")"),
      std::string::npos);
  auto parsed_api = parse_aggregated(api);
  ASSERT_TRUE(parsed_api.ok()) << parsed_api.error;
  ASSERT_EQ(parsed_api.value->groups.size(), 1u);
  EXPECT_EQ(parsed_api.value->groups[0].name, "");

  auto parsed_apis = parse_aggregated(render_aggregated_apis(m, aggregated_version::v2));
  ASSERT_TRUE(parsed_apis.ok()) << parsed_apis.error;
  EXPECT_EQ(parsed_apis.value->groups.size(), 22u);

  server_model back =
      make_server_model(std::move(parsed_api.value->groups), std::move(parsed_apis.value->groups));
  EXPECT_EQ(back, m);
  EXPECT_EQ(render_aggregated_api(server_model{}, aggregated_version::v2),
            "{\"kind\":\"APIGroupDiscoveryList\",\"apiVersion\":\"apidiscovery.k8s.io/v2\","
            "\"metadata\":{},\"items\":[]}\n");
}

TEST(render_legacy, resource_lists_are_byte_identical_to_compacted_fixtures) {
  // The cben captures are the server's own key order, pretty-printed; compacting them
  // and dropping storageVersionHash (not in the model) gives what mvproxy must send.
  for (const char* file :
       {"legacy-api-v1-resourcelist-v1.21.json", "legacy-apis-apps-v1-resourcelist-v1.21.json",
        "legacy-apis-batch-v1beta1-resourcelist-v1.21.json",
        "legacy-apis-coordination.k8s.io-v1-resourcelist-v1.21.json"}) {
    std::string body = fixture(file);
    auto parsed = parse_resource_list(body);
    ASSERT_TRUE(parsed.ok()) << parsed.error;
    const auto& list = *parsed.value;
    server_model m({{list.group, {{list.version, list.resources, {}}}}});
    auto rendered = render_resource_list(m, list.group, list.version);
    ASSERT_TRUE(rendered.has_value());

    nlohmann::ordered_json want = nlohmann::ordered_json::parse(body);
    for (auto& r : want["resources"]) r.erase("storageVersionHash");
    // Sub-resource entries follow their parent in the fixtures, as in the render.
    EXPECT_EQ(*rendered, want.dump() + "\n") << file;
  }
}

TEST(render_legacy, group_list_is_byte_identical_to_the_kind_capture) {
  // kind v1.36.0: compact wire bytes, preferred version first in every group.
  for (const char* file :
       {"legacy-apis-grouplist-v1.30.0-kind.json", "legacy-apis-grouplist-v1.36.0-kind.json"}) {
    std::string body = fixture(file);
    auto groups = parse_group_list(body);
    ASSERT_TRUE(groups.ok()) << groups.error;
    std::vector<group_info> model_groups;
    for (const auto& g : *groups.value) {
      group_info gi{g.name, {}};
      for (const auto& v : g.versions) gi.versions.push_back({v, {}, {}});
      model_groups.push_back(std::move(gi));
    }
    EXPECT_EQ(render_group_list(server_model(std::move(model_groups))), body) << file;
  }
}

TEST(render_legacy, api_group_and_api_versions) {
  server_model m = aggregated_model(testing::v2_131);
  auto apps = render_api_group(m, "apps");
  ASSERT_TRUE(apps.has_value());
  EXPECT_EQ(
      *apps,
      R"({"kind":"APIGroup","apiVersion":"v1","name":"apps","versions":[{"groupVersion":"apps/v1","version":"v1"}],)"
      R"("preferredVersion":{"groupVersion":"apps/v1","version":"v1"}})"
      "\n");
  auto parsed = parse_api_group(*apps);
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  EXPECT_EQ(parsed.value->name, "apps");
  EXPECT_FALSE(render_api_group(m, "nope.example.com").has_value());
  EXPECT_FALSE(render_api_group(core_and_groups(), "").has_value());

  server_model core = core_and_groups();
  EXPECT_EQ(render_api_versions(core), "{\"kind\":\"APIVersions\",\"versions\":[\"v1\"]}\n");
  EXPECT_EQ(render_api_versions(core, "172.17.0.2:6443"),
            nlohmann::ordered_json::parse(fixture("legacy-api-versions-v1.21.json")).dump() + "\n");
  auto versions = parse_api_versions(render_api_versions(core));
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(*versions.value, std::vector<std::string>{"v1"});
  EXPECT_FALSE(render_resource_list(core, "apps", "v1beta2").has_value());
}

// render legacy -> build_legacy_model -> the same model (less what legacy cannot say).
TEST(render_legacy, round_trips_through_build_legacy_model) {
  server_model m = core_and_groups();
  std::string api = render_api_versions(m);
  std::string apis = render_group_list(m);
  std::map<std::string, std::string> bodies;
  for (const auto& g : m.groups())
    for (const auto& v : g.versions) {
      std::string gv = g.name.empty() ? v.version : g.name + "/" + v.version;
      bodies[gv] = *render_resource_list(m, g.name, v.version);
    }
  legacy_documents docs{api, apis, {}};
  for (const auto& [gv, body] : bodies) docs.resource_lists.emplace(gv, body);
  auto built = build_legacy_model(docs);
  ASSERT_TRUE(built.ok()) << built.error;
  EXPECT_EQ(*built.value, testing::without_aggregated_only_fields(m));
}

TEST(render_legacy, legacy_view_equals_aggregated_view_of_the_v1_21_server) {
  // Build from the v1.21 legacy documents, render aggregated, parse back: same model.
  const std::string api = fixture("legacy-api-versions-v1.21.json");
  const std::string apis = fixture("legacy-apis-grouplist-v1.21.json");
  const std::string core = fixture("legacy-api-v1-resourcelist-v1.21.json");
  const std::string apps = fixture("legacy-apis-apps-v1-resourcelist-v1.21.json");
  auto built = build_legacy_model({api, apis, {{"v1", core}, {"apps/v1", apps}}});
  ASSERT_TRUE(built.ok()) << built.error;
  auto a = parse_aggregated(render_aggregated_api(*built.value, aggregated_version::v2));
  auto b = parse_aggregated(render_aggregated_apis(*built.value, aggregated_version::v2beta1));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(make_server_model(std::move(a.value->groups), std::move(b.value->groups)),
            *built.value);
}

TEST(render, strings_are_escaped_like_go) {
  std::vector<group_info> groups{{"x<y>&\"\\\n\x01\xE2\x80\xA8\xC3\xA9\xFF", {}}};
  std::string body = render_group_list(server_model(groups));
  EXPECT_NE(body.find(R"("name":"x\u003cy\u003e\u0026\"\\\n\u0001\u2028)"
                      "\xC3\xA9"
                      R"(\ufffd")"),
            std::string::npos)
      << body;
  EXPECT_TRUE(json::accept(body));
}

TEST(render, deterministic_for_a_merged_model) {
  server_model a = aggregated_model(testing::v2_130);
  server_model b = aggregated_model(testing::v2_131);
  std::vector<const server_model*> servers{&a, &b};
  std::string first = render_aggregated_apis(merge_models(servers), aggregated_version::v2);
  std::string second = render_aggregated_apis(merge_models(servers), aggregated_version::v2);
  EXPECT_EQ(first, second);
  EXPECT_EQ(etag_for(first), etag_for(second));
}

TEST(etag_for, quoted_upper_case_sha512) {
  // sha512("") and sha512("abc"), FIPS 180-2 test vectors.
  EXPECT_EQ(etag_for(""),
            "\"CF83E1357EEFB8BDF1542850D66D8007D620E4050B5715DC83F4A921D36CE9CE"
            "47D0D13C5D85F2B0FF8318D2877EEC2F63B931BD47417A81A538327AF927DA3E\"");
  EXPECT_EQ(etag_for("abc"),
            "\"DDAF35A193617ABACC417349AE20413112E6FA4E89A97EA20A9EEEE64B55D39A"
            "2192992A274FC1A836BA3C23A3FEEBBD454D4423643CE80E2A9AC94FA54CA49F\"");
}

}  // namespace
}  // namespace mvproxy::discovery
