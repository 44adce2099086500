// CustomResourceDefinitions: the pure conversion (crd.hpp) as tables of good and bad
// CRDs, then the handler serving them: discovery that follows the CRD set, custom
// resources with CRUD, patch and /status, and the cascade when a CRD goes.

#include "crd.hpp"
#include "api.hpp"

#include <gtest/gtest.h>

namespace fake_apiserver {
namespace {

using nlohmann::json;

// A valid CRD for widgets.example.com; tests take it apart.
json widget_crd() {
  return json::parse(R"({
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
      "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"],
                "categories": ["all"]},
      "versions": [
        {"name": "v1beta1", "served": true, "storage": false,
         "schema": {"openAPIV3Schema": {"type": "object"}}},
        {"name": "v1", "served": true, "storage": true,
         "schema": {"openAPIV3Schema": {"type": "object"}},
         "subresources": {"status": {}}}]}})");
}

json with(json j, const json& patch) {
  j.merge_patch(patch);
  return j;
}

// ---- good CRDs: what each adds to discovery ----

struct good_case {
  std::string name;
  json crd;
  std::vector<std::string> versions;  // of example.com, preferred first
  bool namespaced;
  std::vector<std::string> subresources_of_preferred;
};

TEST(CrdGroups, GoodCrds) {
  auto one_version = widget_crd();
  one_version["spec"]["versions"].erase(0);
  auto not_served = widget_crd();
  not_served["spec"]["versions"][0]["served"] = false;
  std::vector<good_case> cases = {
      {"two versions, GA preferred", widget_crd(), {"v1", "v1beta1"}, true, {"status"}},
      {"one version", one_version, {"v1"}, true, {"status"}},
      {"an unserved version is not discovered", not_served, {"v1"}, true, {"status"}},
      {"cluster scoped",
       with(widget_crd(), {{"spec", {{"scope", "Cluster"}}}}),
       {"v1", "v1beta1"},
       false,
       {"status"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_TRUE(validate_crd(c.crd).empty());
    auto groups = crd_groups({c.crd});
    ASSERT_EQ(groups.size(), 1u);
    EXPECT_EQ(groups[0].name, "example.com");
    std::vector<std::string> versions;
    for (const auto& v : groups[0].versions) versions.push_back(v.version);
    EXPECT_EQ(versions, c.versions);
    const auto& r = groups[0].versions[0].resources.at(0);
    EXPECT_EQ(r.name, "widgets");
    EXPECT_EQ(r.singular, "widget");
    EXPECT_EQ(r.kind, "Widget");
    EXPECT_EQ(r.namespaced, c.namespaced);
    EXPECT_TRUE(r.custom);
    EXPECT_EQ(r.verbs, (std::vector<std::string>{"delete", "deletecollection", "get", "list",
                                                 "patch", "create", "update", "watch"}));
    EXPECT_EQ(r.short_names, std::vector<std::string>{"wd"});
    EXPECT_EQ(r.categories, std::vector<std::string>{"all"});
    std::vector<std::string> subs;
    for (const auto& s : r.subresources) subs.push_back(s.name);
    EXPECT_EQ(subs, c.subresources_of_preferred);
  }
}

TEST(CrdGroups, NoServedVersionIsValidAndServesNothing) {
  // kube-apiserver accepts it (validation asks for one storage version, not a served
  // one); it is simply absent from discovery.
  auto crd = widget_crd();
  for (auto& v : crd["spec"]["versions"]) v["served"] = false;
  EXPECT_TRUE(validate_crd(crd).empty());
  EXPECT_TRUE(crd_groups({crd}).empty());
}

TEST(CrdGroups, CrdsOfOneGroupShareIt) {
  auto gadgets = widget_crd();
  gadgets["metadata"]["name"] = "gadgets.example.com";
  gadgets["spec"]["names"] = {{"plural", "gadgets"}, {"kind", "Gadget"}};
  auto groups = crd_groups({widget_crd(), gadgets});
  ASSERT_EQ(groups.size(), 1u);
  ASSERT_EQ(groups[0].versions[0].resources.size(), 2u);
  EXPECT_EQ(groups[0].versions[0].resources[0].name, "gadgets");
  EXPECT_EQ(groups[0].versions[0].resources[1].name, "widgets");
}

TEST(CrdGroups, VersionPriority) {
  std::vector<std::string> want = {"v10",     "v2",        "v1",        "v11beta2", "v10beta3",
                                   "v3beta1", "v12alpha1", "v11alpha2", "foo1",     "foo10"};
  for (size_t i = 0; i + 1 < want.size(); ++i) {
    EXPECT_TRUE(version_before(want[i], want[i + 1])) << want[i] << " before " << want[i + 1];
    EXPECT_FALSE(version_before(want[i + 1], want[i])) << want[i + 1] << " after " << want[i];
  }
}

TEST(CrdStatus, EstablishedWithAcceptedNamesAndStoredVersions) {
  auto crd = widget_crd();
  ASSERT_FALSE(prepare_crd(crd, nullptr));
  const auto& st = crd["status"];
  ASSERT_EQ(st["conditions"].size(), 2u);
  EXPECT_EQ(st["conditions"][0]["type"], "NamesAccepted");
  EXPECT_EQ(st["conditions"][1]["type"], "Established");
  for (const auto& c : st["conditions"]) EXPECT_EQ(c["status"], "True");
  EXPECT_EQ(st["acceptedNames"]["kind"], "Widget");
  EXPECT_EQ(st["acceptedNames"]["singular"], "widget");  // defaulted, as by the v1 API
  EXPECT_EQ(st["acceptedNames"]["listKind"], "WidgetList");
  EXPECT_EQ(st["storedVersions"], json::array({"v1"}));
  // Moving storage to another version keeps the old one stored (data may still be in it).
  auto moved = crd;
  moved["spec"]["versions"][0]["storage"] = true;
  moved["spec"]["versions"][1]["storage"] = false;
  ASSERT_FALSE(prepare_crd(moved, crd));
  EXPECT_EQ(moved["status"]["storedVersions"], json::array({"v1", "v1beta1"}));
}

// ---- bad CRDs: the 422 the apiserver answers ----

struct bad_case {
  std::string name;
  json crd;
  std::string field;
  std::string reason;
};

TEST(CrdValidation, BadCrds) {
  auto no_plural = widget_crd();
  no_plural["spec"]["names"].erase("plural");
  auto no_versions = with(widget_crd(), {{"spec", {{"versions", json::array()}}}});
  auto two_storage = widget_crd();
  two_storage["spec"]["versions"][0]["storage"] = true;
  auto no_schema = widget_crd();
  no_schema["spec"]["versions"][1].erase("schema");
  auto dup = widget_crd();
  dup["spec"]["versions"][0]["name"] = "v1";
  std::vector<bad_case> cases = {
      {"missing plural", no_plural, "spec.names.plural", "FieldValueRequired"},
      {"name is not plural.group",
       with(widget_crd(), {{"metadata", {{"name", "widget.example.com"}}}}), "metadata.name",
       "FieldValueInvalid"},
      {"missing group", with(widget_crd(), {{"spec", {{"group", nullptr}}}}), "spec.group",
       "FieldValueRequired"},
      {"group without a dot",
       with(widget_crd(),
            {{"metadata", {{"name", "widgets.example"}}}, {"spec", {{"group", "example"}}}}),
       "spec.group", "FieldValueInvalid"},
      {"unknown scope", with(widget_crd(), {{"spec", {{"scope", "Galaxy"}}}}), "spec.scope",
       "FieldValueNotSupported"},
      {"missing scope", with(widget_crd(), {{"spec", {{"scope", nullptr}}}}), "spec.scope",
       "FieldValueRequired"},
      {"missing kind", with(widget_crd(), {{"spec", {{"names", {{"kind", nullptr}}}}}}),
       "spec.names.kind", "FieldValueRequired"},
      {"upper-case plural",
       with(widget_crd(), {{"metadata", {{"name", "Widgets.example.com"}}},
                           {"spec", {{"names", {{"plural", "Widgets"}}}}}}),
       "spec.names.plural", "FieldValueInvalid"},
      {"no versions", no_versions, "spec.versions", "FieldValueInvalid"},
      {"two storage versions", two_storage, "spec.versions", "FieldValueInvalid"},
      {"duplicate version names", dup, "spec.versions", "FieldValueInvalid"},
      {"a version without a schema", no_schema, "spec.versions[1].schema.openAPIV3Schema",
       "FieldValueRequired"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto problems = validate_crd(c.crd);
    ASSERT_FALSE(problems.empty());
    bool found = false;
    for (const auto& p : problems) found = found || (p.field == c.field && p.reason == c.reason);
    EXPECT_TRUE(found) << problems[0].field << ": " << problems[0].message;
    json crd = c.crd;
    auto refused = prepare_crd(crd, nullptr);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 422);
    auto status = json::parse(refused->body);
    EXPECT_EQ(status["reason"], "Invalid");
    EXPECT_EQ(status["details"]["kind"], "CustomResourceDefinition");
    EXPECT_EQ(status["details"]["group"], "apiextensions.k8s.io");
    EXPECT_EQ(status["details"]["causes"].size(), problems.size());
    EXPECT_NE(status["message"].get<std::string>().find(
                  "CustomResourceDefinition.apiextensions.k8s.io \"" +
                  c.crd["metadata"].value("name", "") + "\" is invalid: "),
              std::string::npos)
        << status["message"];
    EXPECT_TRUE(crd_groups({c.crd}).empty()) << "an invalid CRD is never served";
  }
}

TEST(CrdValidation, OneProblemWithoutBracketsSeveralWithThem) {
  auto one = widget_crd();
  one["spec"]["names"].erase("kind");
  EXPECT_EQ(json::parse(crd_invalid("widgets.example.com", validate_crd(one)).body)["message"],
            "CustomResourceDefinition.apiextensions.k8s.io \"widgets.example.com\" is invalid: "
            "spec.names.kind: Required value");
  auto two = with(one, {{"spec", {{"scope", nullptr}}}});
  auto message = json::parse(crd_invalid("widgets.example.com", validate_crd(two)).body)["message"]
                     .get<std::string>();
  EXPECT_NE(message.find("is invalid: [spec.scope: Required value, "), std::string::npos)
      << message;
}

}  // namespace
}  // namespace fake_apiserver
