// The REST handler over the shared store, without sockets: CRUD, errors as
// kube-apiserver words them, tables, watch plans and the deny list.

#include "api.hpp"

#include <gtest/gtest.h>

namespace fake_apiserver {
namespace {

using nlohmann::json;

class ApiTest : public ::testing::Test {
 protected:
  ApiTest() : api_(store_, auth_) {
    auth_.deny_users = {"mallory"};
    profile_ = api_profile::load("v1.30", MVPROXY_FIXTURES_DIR);
  }

  api_result call(const std::string& method, const std::string& target,
                  const std::string& body = "", header_list headers = {},
                  const std::string& user = "jane") {
    api_request r;
    r.method = method;
    auto q = target.find('?');
    r.path = target.substr(0, q);
    r.query = q == std::string::npos ? "" : target.substr(q + 1);
    r.body = body;
    r.headers = std::move(headers);
    r.user = {user, "", {"developers", "system:authenticated"}, {}};
    return api_.handle(*profile_, r);
  }
  json body(const api_result& r) { return json::parse(r.resp.body); }

  auth_config auth_;
  object_store store_;
  api_handler api_;
  std::shared_ptr<const api_profile> profile_;
};

const std::string lease_path = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases";
const std::string lease = R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease",
  "metadata":{"name":"a","labels":{"app.kubernetes.io/name":"mvproxy"}},
  "spec":{"holderIdentity":"a_1","leaseDurationSeconds":15}})";

TEST_F(ApiTest, LeaseLifecycle) {
  auto created = call("POST", lease_path, lease);
  ASSERT_EQ(created.resp.status, 201) << created.resp.body;
  auto obj = body(created);
  EXPECT_EQ(obj["metadata"]["namespace"], "kube-system");
  EXPECT_EQ(obj["metadata"]["uid"].get<std::string>().size(), 36u);
  EXPECT_FALSE(obj["metadata"]["creationTimestamp"].get<std::string>().empty());
  std::string rv = obj["metadata"]["resourceVersion"];

  auto got = call("GET", lease_path + "/a");
  EXPECT_EQ(got.resp.status, 200);
  EXPECT_EQ(body(got)["spec"]["holderIdentity"], "a_1");
  EXPECT_EQ(body(got)["kind"], "Lease");

  obj["spec"]["renewTime"] = "2026-01-01T00:00:00.000000Z";
  auto updated = call("PUT", lease_path + "/a", obj.dump());
  ASSERT_EQ(updated.resp.status, 200) << updated.resp.body;
  EXPECT_NE(body(updated)["metadata"]["resourceVersion"], rv);
  EXPECT_EQ(body(updated)["metadata"]["generation"], 2);

  // The old resourceVersion now conflicts.
  auto stale = call("PUT", lease_path + "/a", obj.dump());
  EXPECT_EQ(stale.resp.status, 409);
  EXPECT_EQ(body(stale)["reason"], "Conflict");
  EXPECT_NE(body(stale)["message"].get<std::string>().find(
                "Operation cannot be fulfilled on leases.coordination.k8s.io \"a\""),
            std::string::npos);

  auto listed = call("GET", lease_path + "?labelSelector=app.kubernetes.io%2Fname%3Dmvproxy");
  EXPECT_EQ(body(listed)["kind"], "LeaseList");
  EXPECT_EQ(body(listed)["apiVersion"], "coordination.k8s.io/v1");
  ASSERT_EQ(body(listed)["items"].size(), 1u);
  EXPECT_FALSE(body(listed)["items"][0].contains("kind"));
  EXPECT_EQ(body(call("GET", lease_path + "?labelSelector=app%3Dother"))["items"].size(), 0u);
  // Visible from the other version of the group and across namespaces.
  EXPECT_EQ(body(call("GET", "/apis/coordination.k8s.io/v1/leases"))["items"].size(), 1u);

  auto deleted = call("DELETE", lease_path + "/a");
  EXPECT_EQ(deleted.resp.status, 200);
  EXPECT_EQ(call("GET", lease_path + "/a").resp.status, 404);
}

TEST_F(ApiTest, PatchesAndStatusSubresource) {
  ASSERT_EQ(call("POST", "/api/v1/namespaces/default/pods",
                 R"({"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i"}]}})")
                .resp.status,
            201);
  auto merged =
      call("PATCH", "/api/v1/namespaces/default/pods/p", R"({"metadata":{"labels":{"a":"b"}}})",
           {{"content-type", "application/merge-patch+json"}});
  EXPECT_EQ(body(merged)["metadata"]["labels"]["a"], "b");
  auto jp = call("PATCH", "/api/v1/namespaces/default/pods/p",
                 R"([{"op":"add","path":"/metadata/labels/c","value":"d"}])",
                 {{"content-type", "application/json-patch+json"}});
  EXPECT_EQ(body(jp)["metadata"]["labels"]["c"], "d");
  auto status = call("PATCH", "/api/v1/namespaces/default/pods/p/status",
                     R"({"status":{"phase":"Succeeded"},"spec":{"containers":[]}})",
                     {{"content-type", "application/merge-patch+json"}});
  ASSERT_EQ(status.resp.status, 200) << status.resp.body;
  EXPECT_EQ(body(status)["status"]["phase"], "Succeeded");
  EXPECT_EQ(body(status)["spec"]["containers"].size(), 1u);  // spec untouched via /status
}

TEST_F(ApiTest, GenerateNameAndPagination) {
  for (int i = 0; i < 5; ++i) {
    auto r = call("POST", "/api/v1/namespaces/default/configmaps",
                  R"({"metadata":{"generateName":"cm-"}})");
    ASSERT_EQ(r.resp.status, 201);
    EXPECT_EQ(body(r)["metadata"]["name"].get<std::string>().size(), 8u);
  }
  std::set<std::string> seen;
  std::string cont;
  int pages = 0;
  do {
    auto r = call("GET", "/api/v1/namespaces/default/configmaps?limit=2" +
                             (cont.empty() ? "" : "&continue=" + cont));
    auto b = body(r);
    for (const auto& item : b["items"]) seen.insert(item["metadata"]["name"]);
    cont = b["metadata"].value("continue", "");
    ++pages;
  } while (!cont.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen.size(), 5u);
}

TEST_F(ApiTest, TablesForKubectlGet) {
  call("POST", "/api/v1/namespaces/default/configmaps", R"({"metadata":{"name":"x"}})");
  auto t = call("GET", "/api/v1/namespaces/default/configmaps", "",
                {{"accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}});
  auto b = body(t);
  EXPECT_EQ(b["kind"], "Table");
  EXPECT_EQ(b["apiVersion"], "meta.k8s.io/v1");
  EXPECT_EQ(b["columnDefinitions"][0]["name"], "Name");
  EXPECT_EQ(b["rows"][0]["cells"][0], "x");
  EXPECT_EQ(b["rows"][0]["object"]["kind"], "PartialObjectMetadata");
  auto full = call("GET", "/api/v1/namespaces/default/configmaps/x?includeObject=Object", "",
                   {{"accept", "application/json;as=Table;v=v1;g=meta.k8s.io"}});
  EXPECT_EQ(body(full)["rows"][0]["object"]["kind"], "ConfigMap");
}

TEST_F(ApiTest, WatchPlans) {
  call("POST", "/api/v1/namespaces/default/configmaps",
       R"({"metadata":{"name":"a","labels":{"k":"v"}}})");
  auto w = call("GET", "/api/v1/namespaces/default/configmaps?watch=true");
  ASSERT_TRUE(w.watch);
  ASSERT_EQ(w.watch->initial_lines.size(), 1u);
  EXPECT_EQ(json::parse(w.watch->initial_lines[0])["type"], "ADDED");
  uint64_t rv = store_.resource_version();

  // Resuming from a resourceVersion replays what happened since.
  call("POST", "/api/v1/namespaces/default/configmaps", R"({"metadata":{"name":"b"}})");
  call("DELETE", "/api/v1/namespaces/default/configmaps/a");
  auto resumed = call(
      "GET", "/api/v1/watch/namespaces/default/configmaps?resourceVersion=" + std::to_string(rv));
  ASSERT_TRUE(resumed.watch);
  ASSERT_EQ(resumed.watch->initial_lines.size(), 2u);
  EXPECT_EQ(json::parse(resumed.watch->initial_lines[0])["type"], "ADDED");
  EXPECT_EQ(json::parse(resumed.watch->initial_lines[1])["type"], "DELETED");

  auto initial = call("GET",
                      "/api/v1/namespaces/default/configmaps?watch=1&sendInitialEvents=true"
                      "&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan");
  auto last = json::parse(initial.watch->initial_lines.back());
  EXPECT_EQ(last["type"], "BOOKMARK");
  EXPECT_EQ(last["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");

  // A label change moving an object out of the selection is a DELETED for that watch.
  auto sel = call("GET", "/api/v1/namespaces/default/configmaps?watch=true&labelSelector=k%3Dv");
  watch_event ev{
      "MODIFIED",
      {{"metadata", {{"name", "b"}, {"namespace", "default"}}}},
      {{"metadata", {{"name", "b"}, {"namespace", "default"}, {"labels", {{"k", "v"}}}}}},
      99,
      {"", "configmaps"}};
  EXPECT_EQ(json::parse(*render_watch_event(*sel.watch, ev))["type"], "DELETED");
  ev.gr = {"", "secrets"};
  EXPECT_FALSE(render_watch_event(*sel.watch, ev));
}

TEST_F(ApiTest, ReviewsReturnTheCaller) {
  auto r = call("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", R"({})");
  EXPECT_EQ(r.resp.status, 201);
  EXPECT_EQ(body(r)["status"]["userInfo"]["username"], "jane");
  EXPECT_EQ(body(r)["apiVersion"], "authentication.k8s.io/v1");
  EXPECT_EQ(
      call("POST", "/apis/authentication.k8s.io/v1alpha1/selfsubjectreviews", "{}").resp.status,
      201);
  EXPECT_EQ(store_.list({"authentication.k8s.io", "selfsubjectreviews"}, "").size(), 0u);
}

TEST_F(ApiTest, ExecPlanNeedsThePod) {
  EXPECT_EQ(
      call("GET", "/api/v1/namespaces/default/pods/p/exec?command=echo&command=hi&stdout=true")
          .resp.status,
      404);
  call("POST", "/api/v1/namespaces/default/pods", R"({"metadata":{"name":"p"}})");
  auto e =
      call("POST",
           "/api/v1/namespaces/default/pods/p/exec?command=echo&command=hi&stdout=true&stdin=true");
  ASSERT_TRUE(e.exec);
  EXPECT_EQ(e.exec->command, (std::vector<std::string>{"echo", "hi"}));
  EXPECT_TRUE(e.exec->stdin_requested);
  EXPECT_FALSE(e.exec->tty);
}

TEST_F(ApiTest, ErrorsAsKubeApiserverWordsThem) {
  auto unserved = call("GET", "/apis/nope.example.com/v1/things");
  EXPECT_EQ(unserved.resp.status, 404);
  EXPECT_EQ(body(unserved),
            json::parse(R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
    "message":"the server could not find the requested resource","reason":"NotFound","details":{},"code":404})"));
  // v1.30 does not serve resource.k8s.io/v1alpha3.
  EXPECT_EQ(call("GET", "/apis/resource.k8s.io/v1alpha3/resourceclaims").resp.status, 404);

  auto missing = call("GET", "/api/v1/namespaces/default/pods/x");
  EXPECT_EQ(body(missing)["message"], "pods \"x\" not found");
  EXPECT_EQ(body(missing)["details"], (json{{"name", "x"}, {"kind", "pods"}}));

  call("POST", "/api/v1/namespaces/default/configmaps", R"({"metadata":{"name":"dup"}})");
  auto dup =
      call("POST", "/api/v1/namespaces/default/configmaps", R"({"metadata":{"name":"dup"}})");
  EXPECT_EQ(dup.resp.status, 409);
  EXPECT_EQ(body(dup)["reason"], "AlreadyExists");

  auto denied = call("GET", "/api/v1/namespaces/default/pods", "", {}, "mallory");
  EXPECT_EQ(denied.resp.status, 403);
  EXPECT_EQ(body(denied)["message"],
            "pods is forbidden: User \"mallory\" cannot list resource \"pods\" in API group \"\" "
            "in the namespace \"default\"");
  auto denied_lease = call("GET", "/apis/coordination.k8s.io/v1/leases", "", {}, "mallory");
  EXPECT_EQ(body(denied_lease)["message"],
            "leases.coordination.k8s.io is forbidden: User \"mallory\" cannot list resource "
            "\"leases\" in API group \"coordination.k8s.io\" at the cluster scope");
  // Discovery stays open to every authenticated user, as RBAC's system:discovery.
  EXPECT_EQ(call("GET", "/version", "", {}, "mallory").resp.status, 200);

  EXPECT_EQ(call("POST", "/api/v1/namespaces/default/configmaps", "{").resp.status, 400);
  EXPECT_EQ(call("POST", "/api/v1/namespaces/default/configmaps", R"({"metadata":{"name":5}})")
                .resp.status,
            400);
  EXPECT_EQ(call("POST", "/api/v1/namespaces/default/configmaps", R"({"metadata":[]})").resp.status,
            422);
  EXPECT_EQ(call("POST", "/api/v1/namespaces/default/configmaps", R"({"metadata":{}})").resp.status,
            422);
  EXPECT_EQ(call("POST", "/api/v1/namespaces/nope/configmaps", R"({"metadata":{"name":"a"}})")
                .resp.status,
            404);
  EXPECT_EQ(call("GET", "/api/v1/pods?labelSelector=a%20in%20b").resp.status, 400);
  EXPECT_EQ(call("GET", "/api/v1/pods?continue=garbage").resp.status, 400);
  EXPECT_EQ(call("GET", "/api/v1/pods", "", {{"accept", "application/vnd.kubernetes.protobuf"}})
                .resp.status,
            406);
  EXPECT_EQ(
      call("PUT", "/api/v1/namespaces/default/configmaps/dup", R"({"metadata":{"name":"other"}})")
          .resp.status,
      400);
  EXPECT_EQ(call("DELETE", "/api/v1/namespaces/default/configmaps/none").resp.status, 404);
  auto proto = call("POST", "/api/v1/namespaces/default/configmaps", std::string("k8s\0", 4),
                    {{"content-type", "application/vnd.kubernetes.protobuf"}});
  EXPECT_EQ(proto.resp.status, 415);
  EXPECT_EQ(body(proto)["reason"], "UnsupportedMediaType");
  EXPECT_EQ(call("POST", "/api/v1/namespaces/default/configmaps", R"({"metadata":{"name":"j"}})",
                 {{"content-type", "application/json; charset=utf-8"}})
                .resp.status,
            201);
  EXPECT_EQ(call("POST", "/api/v1/componentstatuses", "{}").resp.status, 405);
}

}  // namespace
}  // namespace fake_apiserver
