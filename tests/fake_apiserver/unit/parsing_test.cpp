// Pure parsers of the stand-in: Accept negotiation, selectors, token file, options,
// patches, exec programs; the request log's lines.

#include "accept.hpp"
#include "auth.hpp"
#include "exec.hpp"
#include "options.hpp"
#include "patch.hpp"
#include "request_log.hpp"
#include "selectors.hpp"

#include <gtest/gtest.h>

namespace fake_apiserver {
namespace {

using nlohmann::json;

const std::vector<media_offer> discovery_offers = {
    {"application",
     "json",
     {{"g", "apidiscovery.k8s.io"}, {"v", "v2"}, {"as", "APIGroupDiscoveryList"}}},
    {"application",
     "json",
     {{"g", "apidiscovery.k8s.io"}, {"v", "v2beta1"}, {"as", "APIGroupDiscoveryList"}}},
    {"application", "json", {}},
};

TEST(Accept, ChoosesLikeKubeApiserver) {
  struct row {
    const char* accept;
    std::optional<size_t> want;
  };
  const row rows[] = {
      // kubectl 1.30's discovery Accept.
      {"application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;"
       "g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json",
       0},
      // kubectl 1.27: v2beta1 first.
      {"application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json",
       1},
      // mvproxy asking a peer with profile=nopeer: the profile parameter is not identifying.
      {"application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;profile=nopeer", 0},
      {"application/json", 2},
      {"", 0},
      {"*/*", 2},
      {"application/*", 2},
      // q-values outrank order.
      {"application/json;q=0.5,application/"
       "json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
       0},
      {"application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0.1,application/"
       "json",
       2},
      // Spaces, upper case type and quoted parameter values.
      {" Application/JSON ; g=\"apidiscovery.k8s.io\" ; v=v2 ; as=APIGroupDiscoveryList", 0},
      {"application/vnd.kubernetes.protobuf,application/json", 2},
  };
  for (const auto& r : rows) EXPECT_EQ(negotiate(r.accept, discovery_offers), r.want) << r.accept;
}

TEST(Accept, BadInputs) {
  const char* rows[] = {
      "application/vnd.kubernetes.protobuf",
      "application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList",
      "application/json;q=0",
      "text/html",
      "garbage",
      "application/json;q=2",
      "/json",
  };
  for (const char* a : rows) EXPECT_EQ(negotiate(a, discovery_offers), std::nullopt) << a;
}

TEST(Accept, ContentTypeNamesTheOffer) {
  EXPECT_EQ(to_content_type(discovery_offers[0]),
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
  EXPECT_EQ(to_content_type(discovery_offers[2]), "application/json");
}

TEST(LabelSelector, Matches) {
  const json labels = {{"app", "web"}, {"tier", "front"}, {"env", "prod"}};
  struct row {
    const char* selector;
    bool want;
  };
  const row rows[] = {
      {"", true},
      {"app=web", true},
      {"app==web", true},
      {"app=db", false},
      {"app!=db", true},
      {"missing!=x", true},
      {"app in (web,db)", true},
      {"app in (db)", false},
      {"app notin (db,cache)", true},
      {"app notin (web)", false},
      {"missing notin (web)", true},
      {"tier", true},
      {"missing", false},
      {"!missing", true},
      {"!app", false},
      {"app=web,tier=front", true},
      {"app=web,tier=back", false},
      {"app in (web, db),env=prod", true},
      {"app.kubernetes.io/name!=mvproxy", true},
  };
  for (const auto& r : rows) {
    std::string error;
    auto sel = parse_label_selector(r.selector, error);
    ASSERT_TRUE(sel) << r.selector << ": " << error;
    EXPECT_EQ(sel->matches(labels), r.want) << r.selector;
  }
}

TEST(LabelSelector, BadInputs) {
  for (const char* s :
       {"app=we b", "app in web", "app in (a b)", ",", "a=b,,c", "=x", "app in (x"}) {
    std::string error;
    EXPECT_FALSE(parse_label_selector(s, error)) << s;
    EXPECT_FALSE(error.empty()) << s;
  }
}

TEST(FieldSelector, MatchesNameAndNamespace) {
  const json obj = {{"metadata", {{"name", "a"}, {"namespace", "kube-system"}}}};
  struct row {
    const char* selector;
    bool want;
  };
  const row rows[] = {
      {"metadata.name=a", true},
      {"metadata.name==a", true},
      {"metadata.name=b", false},
      {"metadata.name!=b", true},
      {"metadata.namespace=kube-system", true},
      {"metadata.name=a,metadata.namespace=default", false},
  };
  for (const auto& r : rows) {
    std::string error;
    auto sel = parse_field_selector(r.selector, error);
    ASSERT_TRUE(sel) << r.selector << ": " << error;
    EXPECT_EQ(sel->matches(obj), r.want) << r.selector;
  }
  std::string error;
  EXPECT_FALSE(parse_field_selector("spec.nodeName=x", error));
  EXPECT_FALSE(parse_field_selector("metadata.name", error));
}

TEST(TokenFile, ParsesKubeApiserverCsv) {
  // The file scripts/make-pki writes, plus a comment, blank line and no groups.
  std::string text =
      "mvproxy-test-token-bob,bob,1001,\"developers,system:authenticated\"\n"
      "# comment\n"
      "\n"
      "tok2,carol,1003\r\n"
      "tok3,dave,1004,single\n";
  std::string error;
  auto tokens = parse_token_file(text, error);
  ASSERT_TRUE(tokens) << error;
  ASSERT_EQ(tokens->size(), 3u);
  EXPECT_EQ((*tokens)[0].token, "mvproxy-test-token-bob");
  EXPECT_EQ((*tokens)[0].user.name, "bob");
  EXPECT_EQ((*tokens)[0].user.uid, "1001");
  EXPECT_EQ((*tokens)[0].user.groups,
            (std::vector<std::string>{"developers", "system:authenticated"}));
  EXPECT_TRUE((*tokens)[1].user.groups.empty());
  EXPECT_EQ((*tokens)[1].user.name, "carol");
  EXPECT_EQ((*tokens)[2].user.groups, std::vector<std::string>{"single"});
}

TEST(TokenFile, BadInputs) {
  for (const char* text : {"onlytoken\n", "tok,user\n", "tok,user,1,\"unterminated\n", ",user,1\n",
                           "tok,,1\n", "tok,us\"er,1\n"}) {
    std::string error;
    EXPECT_FALSE(parse_token_file(text, error)) << text;
    EXPECT_NE(error.find("line 1"), std::string::npos) << error;
  }
}

TEST(Authenticate, ChainsLikeKubeApiserver) {
  auth_config cfg;
  cfg.tokens = {{"t1", {"bob", "1001", {"developers"}, {}}}};
  cfg.requestheader_allowed_names = {"front-proxy-client"};
  client_cert none;
  client_cert jane{true, true, false, "jane", {"developers", "qa"}, "kubernetes"};
  client_cert proxy{true, false, true, "front-proxy-client", {}, "front-proxy-ca"};
  client_cert other_proxy{true, false, true, "someone-else", {}, "front-proxy-ca"};
  client_cert intruder{true, false, false, "front-proxy-client", {}, "other-ca"};
  header_list remote = {{"x-remote-user", "alice"},
                        {"x-remote-group", "g1"},
                        {"x-remote-group", "g2"},
                        {"x-remote-extra-acme.com%2fproject", "p1"}};
  header_list bearer = {{"authorization", "Bearer t1"}};

  auto u = authenticate(cfg, jane, {});
  ASSERT_TRUE(u);
  EXPECT_EQ(u->name, "jane");
  EXPECT_EQ(u->groups, (std::vector<std::string>{"developers", "qa", "system:authenticated"}));

  u = authenticate(cfg, proxy, remote);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->name, "alice");
  EXPECT_EQ(u->groups, (std::vector<std::string>{"g1", "g2", "system:authenticated"}));
  EXPECT_EQ(u->extra.at("acme.com/project"), std::vector<std::string>{"p1"});

  // X-Remote-* from anyone but an allowed front proxy are ignored.
  EXPECT_EQ(authenticate(cfg, jane, remote)->name, "jane");
  EXPECT_FALSE(authenticate(cfg, other_proxy, remote));
  EXPECT_FALSE(authenticate(cfg, intruder, remote));
  EXPECT_EQ(authenticate(cfg, intruder, bearer)->name, "bob");
  // A front proxy without X-Remote-User falls through to the token.
  EXPECT_EQ(authenticate(cfg, proxy, bearer)->name, "bob");

  u = authenticate(cfg, none, bearer);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->uid, "1001");
  EXPECT_EQ(u->groups, (std::vector<std::string>{"developers", "system:authenticated"}));
  EXPECT_FALSE(authenticate(cfg, none, {{"authorization", "Bearer nope"}}));
  EXPECT_FALSE(authenticate(cfg, none, {{"authorization", "Basic dDE="}}));
  EXPECT_FALSE(authenticate(cfg, none, {}));
}

TEST(Authenticate, DenyList) {
  auth_config cfg;
  cfg.deny_users = {"mallory"};
  cfg.deny_groups = {"denied-group"};
  EXPECT_TRUE(is_denied(cfg, {"mallory", "", {}, {}}));
  EXPECT_TRUE(is_denied(cfg, {"x", "", {"a", "denied-group"}, {}}));
  EXPECT_FALSE(is_denied(cfg, {"jane", "", {"developers"}, {}}));
}

TEST(Impersonate, LikeTheImpersonationFilter) {
  auth_config cfg;
  cfg.deny_users = {"mallory"};
  user_info admin{"kubernetes-admin", "", {"system:masters", "system:authenticated"}, {}};
  EXPECT_EQ(impersonate(cfg, admin, {{"authorization", "Bearer x"}}).code, 0);
  EXPECT_FALSE(impersonate(cfg, admin, {}).user);

  auto imp = impersonate(cfg, admin,
                         {{"impersonate-user", "carol"},
                          {"impersonate-group", "g1"},
                          {"impersonate-uid", "42"},
                          {"impersonate-extra-scopes", "view"}});
  ASSERT_TRUE(imp.user);
  EXPECT_EQ(imp.user->name, "carol");
  EXPECT_EQ(imp.user->uid, "42");
  EXPECT_EQ(imp.user->groups, (std::vector<std::string>{"g1", "system:authenticated"}));
  EXPECT_EQ(imp.user->extra.at("scopes"), std::vector<std::string>{"view"});
}

TEST(Impersonate, BadInputs) {
  auth_config cfg;
  cfg.deny_users = {"mallory"};
  user_info admin{"kubernetes-admin", "", {}, {}};
  EXPECT_EQ(impersonate(cfg, admin, {{"impersonate-group", "g1"}}).code, 400);
  auto denied = impersonate(cfg, {"mallory", "", {}, {}}, {{"impersonate-user", "carol"}});
  EXPECT_EQ(denied.code, 403);
  EXPECT_EQ(denied.message,
            "users \"carol\" is forbidden: User \"mallory\" cannot impersonate resource "
            "\"users\" in API group \"\" at the cluster scope");
}

TEST(Authenticate, PublicInfoPaths) {
  for (const char* p : {"/healthz", "/livez", "/readyz", "/readyz/etcd", "/version"})
    EXPECT_TRUE(is_public_info_path(p)) << p;
  for (const char* p : {"/api", "/apis", "/healthzz", "/api/v1/pods", "/metrics", "/"})
    EXPECT_FALSE(is_public_info_path(p)) << p;
  EXPECT_EQ(anonymous_user().groups, std::vector<std::string>{"system:unauthenticated"});
}

// Offered credentials that authenticate nobody are a 401; no credentials at all make
// the caller system:anonymous, whom RBAC then refuses (403) off the public paths.
TEST(Authenticate, OfferedCredentialsVersusAnonymous) {
  client_cert none;
  client_cert some;
  some.present = true;
  const std::vector<std::tuple<const char*, client_cert, header_list, bool>> cases = {
      {"nothing", none, {}, false},
      {"a client certificate", some, {}, true},
      {"a bearer token", none, {{"authorization", "Bearer bogus"}}, true},
      {"lower-case bearer", none, {{"authorization", "bearer bogus"}}, true},
      {"an empty bearer token", none, {{"authorization", "Bearer   "}}, false},
      {"basic auth (ignored)", none, {{"authorization", "Basic dXNlcjpwdw=="}}, false},
  };
  for (const auto& [what, cert, headers, want] : cases)
    EXPECT_EQ(offered_credentials(cert, headers), want) << what;
  auth_config config;
  EXPECT_TRUE(is_denied(config, anonymous_user()));
}

TEST(Options, ParsesTheDocumentedCommandLine) {
  std::string error;
  auto o = parse_options({"--instance",
                          "name=old,profile=v1.30,cert=a.crt,key=a.key,port=6443",
                          "--instance",
                          "name=new,profile=v1.31,cert=b.crt,key=b.key",
                          "--client-ca-file",
                          "ca.crt",
                          "--requestheader-client-ca-file=fp.crt",
                          "--requestheader-allowed-names",
                          "front-proxy-client,other",
                          "--token-auth-file",
                          "t.csv",
                          "--deny-users",
                          "mallory",
                          "--deny-groups",
                          "denied-group",
                          "--request-log",
                          "r.jsonl",
                          "--control-address",
                          "127.0.0.1:0",
                          "--fixtures-dir",
                          "/f"},
                         error);
  ASSERT_TRUE(o) << error;
  ASSERT_EQ(o->instances.size(), 2u);
  EXPECT_EQ(o->instances[0].port, 6443);
  EXPECT_EQ(o->instances[1].profile, "v1.31");
  EXPECT_EQ(o->requestheader_client_ca_file, "fp.crt");
  EXPECT_EQ(o->requestheader_allowed_names,
            (std::vector<std::string>{"front-proxy-client", "other"}));
  EXPECT_EQ(o->fixtures_dir, "/f");
  EXPECT_FALSE(o->disable_http2_serving);  // h2 is offered unless asked otherwise
}

TEST(Options, DisableHttp2ServingIsABooleanFlag) {
  const std::vector<std::string> base = {
      "--instance", "name=a,profile=v1.30,cert=c,key=k", "--client-ca-file",
      "ca",         "--requestheader-client-ca-file",    "fp"};
  for (const auto& [flag, want] :
       std::vector<std::pair<std::string, bool>>{{"--disable-http2-serving", true},
                                                 {"--disable-http2-serving=true", true},
                                                 {"--disable-http2-serving=false", false}}) {
    auto args = base;
    args.insert(args.begin(), flag);
    std::string error;
    auto o = parse_options(args, error);
    ASSERT_TRUE(o) << flag << ": " << error;
    EXPECT_EQ(o->disable_http2_serving, want) << flag;
    EXPECT_EQ(o->instances.size(), 1u) << flag;  // the next argument is not its value
  }
  auto args = base;
  args.push_back("--disable-http2-serving=yes");
  std::string error;
  EXPECT_FALSE(parse_options(args, error));
  EXPECT_NE(error.find("--disable-http2-serving"), std::string::npos) << error;
}

TEST(RequestLog, NamesProtocolAndConnection) {
  request_record r;
  r.instance = "old";
  r.method = "GET";
  r.path = "/version";
  r.status = 200;
  auto h1 = to_log_json(r);
  EXPECT_EQ(h1["proto"], "HTTP/1.1");
  EXPECT_EQ(h1["conn"], 0);
  r.proto = "HTTP/2.0";
  r.conn = 7;
  auto h2 = to_log_json(r);
  EXPECT_EQ(h2["proto"], "HTTP/2.0");
  EXPECT_EQ(h2["conn"], 7);
  for (const char* key : {"time", "instance", "method", "path", "query", "status", "headers",
                          "client_cert", "user", "groups"})
    EXPECT_TRUE(h2.contains(key)) << key;  // the fields it had before stay
}

TEST(Options, BadInputs) {
  const std::vector<std::string> base = {"--client-ca-file", "ca", "--requestheader-client-ca-file",
                                         "fp"};
  auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.end(), base.begin(), base.end());
    return extra;
  };
  const std::vector<std::vector<std::string>> rows = {
      with({}),
      with({"--instance", "name=a,profile=v1.30,cert=c"}),
      with({"--instance", "name=a,profile=v1.30,cert=c,key=k,port=70000"}),
      with({"--instance", "name=a,profile=v1.30,cert=c,key=k,colour=red"}),
      with({"--instance", "name=a,profile=v1.30,cert=c,key=k", "--instance",
            "name=a,profile=v1.31,cert=c,key=k"}),
      with({"--instance", "name=a,profile=v1.30,cert=c,key=k", "--bogus", "x"}),
      with({"--instance", "name=a,profile=v1.30,cert=c,key=k", "--control-address", "nope"}),
      {"--instance", "name=a,profile=v1.30,cert=c,key=k"},
      with({"--instance"}),
  };
  for (const auto& args : rows) {
    std::string error;
    EXPECT_FALSE(parse_options(args, error)) << args.size();
    EXPECT_FALSE(error.empty());
  }
}

TEST(Patch, ByContentType) {
  const json obj = {{"metadata", {{"name", "a"}, {"labels", {{"x", "1"}, {"y", "2"}}}}},
                    {"data", {{"k", "v"}}}};
  auto merge = apply_patch("application/merge-patch+json", obj,
                           R"({"metadata":{"labels":{"x":null,"z":"3"}},"data":{"k2":"v2"}})");
  ASSERT_TRUE(merge.ok()) << merge.message;
  EXPECT_EQ(merge.object["metadata"]["labels"], (json{{"y", "2"}, {"z", "3"}}));
  EXPECT_EQ(merge.object["data"], (json{{"k", "v"}, {"k2", "v2"}}));

  auto strategic =
      apply_patch("application/strategic-merge-patch+json", obj, R"({"data":{"k":"w"}})");
  ASSERT_TRUE(strategic.ok());
  EXPECT_EQ(strategic.object["data"]["k"], "w");

  auto jp = apply_patch("application/json-patch+json", obj,
                        R"([{"op":"replace","path":"/data/k","value":"j"},)"
                        R"({"op":"add","path":"/metadata/labels/w","value":"4"}])");
  ASSERT_TRUE(jp.ok()) << jp.message;
  EXPECT_EQ(jp.object["data"]["k"], "j");
  EXPECT_EQ(jp.object["metadata"]["labels"]["w"], "4");
}

TEST(Patch, BadInputs) {
  const json obj = {{"metadata", {{"name", "a"}}}};
  EXPECT_EQ(apply_patch("application/merge-patch+json", obj, "{not json").code, 400);
  EXPECT_EQ(apply_patch("application/json-patch+json", obj, R"({"op":"add"})").code, 400);
  EXPECT_EQ(apply_patch("application/json-patch+json", obj,
                        R"([{"op":"test","path":"/metadata/name","value":"b"}])")
                .code,
            422);
  EXPECT_EQ(
      apply_patch("application/json-patch+json", obj, R"([{"op":"remove","path":"/nope"}])").code,
      422);
  EXPECT_EQ(apply_patch("text/plain", obj, "{}").code, 415);
}

TEST(Exec, ProtocolAndPrograms) {
  EXPECT_EQ(choose_exec_protocol("v4.channel.k8s.io, v5.channel.k8s.io"), "v5.channel.k8s.io");
  EXPECT_EQ(choose_exec_protocol("v4.channel.k8s.io,channel.k8s.io"), "v4.channel.k8s.io");
  EXPECT_EQ(choose_exec_protocol("channel.k8s.io,base64.channel.k8s.io"), std::nullopt);
  EXPECT_EQ(choose_exec_protocol(""), std::nullopt);

  EXPECT_EQ(plan_command({"echo", "hi", "there"}, "p").stdout_text, "hi there\n");
  EXPECT_EQ(plan_command({"echo"}, "p").stdout_text, "\n");
  EXPECT_TRUE(plan_command({"cat"}, "p").echoes_stdin);
  EXPECT_EQ(plan_command({"hostname"}, "pod-1").stdout_text, "pod-1\n");
  EXPECT_EQ(plan_command({"false"}, "p").exit_code, 1);
  auto missing = plan_command({"ls", "/"}, "p");
  EXPECT_EQ(missing.exit_code, 127);
  EXPECT_NE(missing.stderr_text.find("ls: command not found"), std::string::npos);

  EXPECT_EQ(exec_status_json({"echo"}, 0), R"({"metadata":{},"status":"Success"})");
  auto failed = json::parse(exec_status_json({"false"}, 1));
  EXPECT_EQ(failed["reason"], "NonZeroExitCode");
  EXPECT_EQ(failed["details"]["causes"][0]["message"], "1");
}

}  // namespace
}  // namespace fake_apiserver
