// RequestInfo classification: upstream's requestinfo_test.go cases, what kubectl and
// client-go send, and the malformed paths mvproxy refuses, each section its own table.

#include "mvproxy/request/request_info.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace mvproxy::request {
namespace {

struct split_url {
  std::string_view path;
  std::string_view query;
};

split_url split(std::string_view url) {
  auto q = url.find('?');
  if (q == std::string_view::npos) return {url, {}};
  return {url.substr(0, q), url.substr(q + 1)};
}

request_info classify_url(std::string_view method, std::string_view url) {
  auto [path, query] = split(url);
  return classify(method, path, query);
}

struct resource_case {
  const char* method;
  const char* url;
  const char* verb;
  const char* prefix;
  const char* group;
  const char* version;
  const char* ns;
  const char* resource;
  const char* subresource;
  const char* name;
  const char* parts;
};

void expect_resource(const resource_case& c) {
  SCOPED_TRACE(std::string(c.method) + " " + c.url);
  request_info info = classify_url(c.method, c.url);
  EXPECT_FALSE(info.is_malformed()) << info.malformed;
  EXPECT_TRUE(info.is_resource_request);
  EXPECT_EQ(info.verb, c.verb);
  EXPECT_EQ(info.api_prefix, c.prefix);
  EXPECT_EQ(info.api_group, c.group);
  EXPECT_EQ(info.api_version, c.version);
  EXPECT_EQ(info.namespace_name, c.ns);
  EXPECT_EQ(info.resource, c.resource);
  EXPECT_EQ(info.subresource, c.subresource);
  EXPECT_EQ(info.name, c.name);
  EXPECT_EQ(info.parts, c.parts);
  EXPECT_EQ(info.path, split(c.url).path);
  EXPECT_EQ(info.discovery.kind, discovery_kind::none);
}

// staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo_test.go,
// TestGetAPIRequestInfo successCases (upstream does not check the prefix; it is set here).
TEST(RequestInfo, UpstreamResourceCases) {
  const resource_case cases[] = {
      {"GET", "/api/v1/namespaces", "list", "api", "", "v1", "", "namespaces", "", "",
       "namespaces"},
      {"GET", "/api/v1/namespaces/other", "get", "api", "", "v1", "other", "namespaces", "",
       "other", "namespaces/other"},
      {"GET", "/api/v1/namespaces/other/pods", "list", "api", "", "v1", "other", "pods", "", "",
       "pods"},
      {"GET", "/api/v1/namespaces/other/pods/foo", "get", "api", "", "v1", "other", "pods", "",
       "foo", "pods/foo"},
      {"HEAD", "/api/v1/namespaces/other/pods/foo", "get", "api", "", "v1", "other", "pods", "",
       "foo", "pods/foo"},
      {"GET", "/api/v1/pods", "list", "api", "", "v1", "", "pods", "", "", "pods"},
      {"HEAD", "/api/v1/pods", "list", "api", "", "v1", "", "pods", "", "", "pods"},
      {"PATCH", "/api/v1/namespaces/new-namespace", "patch", "api", "", "v1", "new-namespace",
       "namespaces", "", "new-namespace", "namespaces/new-namespace"},
      // special verbs
      {"GET", "/api/v1/proxy/namespaces/other/pods/foo", "proxy", "api", "", "v1", "other", "pods",
       "", "foo", "pods/foo"},
      {"GET", "/api/v1/proxy/namespaces/other/pods/foo/subpath/not/a/subresource", "proxy", "api",
       "", "v1", "other", "pods", "", "foo", "pods/foo/subpath/not/a/subresource"},
      {"GET", "/api/v1/watch/pods", "watch", "api", "", "v1", "", "pods", "", "", "pods"},
      {"GET", "/api/v1/pods?watch=true", "watch", "api", "", "v1", "", "pods", "", "", "pods"},
      {"GET", "/api/v1/pods?watch=false", "list", "api", "", "v1", "", "pods", "", "", "pods"},
      {"GET", "/api/v1/watch/namespaces/other/pods", "watch", "api", "", "v1", "other", "pods", "",
       "", "pods"},
      {"GET", "/api/v1/namespaces/other/pods?watch=1", "watch", "api", "", "v1", "other", "pods",
       "", "", "pods"},
      {"GET", "/api/v1/namespaces/other/pods?watch=0", "list", "api", "", "v1", "other", "pods", "",
       "", "pods"},
      // subresource identification
      {"GET", "/api/v1/namespaces/other/pods/foo/status", "get", "api", "", "v1", "other", "pods",
       "status", "foo", "pods/foo/status"},
      {"GET", "/api/v1/namespaces/other/pods/foo/proxy/subpath", "get", "api", "", "v1", "other",
       "pods", "proxy", "foo", "pods/foo/proxy/subpath"},
      {"PUT", "/api/v1/namespaces/other/finalize", "update", "api", "", "v1", "other", "namespaces",
       "finalize", "other", "namespaces/other/finalize"},
      {"PUT", "/api/v1/namespaces/other/status", "update", "api", "", "v1", "other", "namespaces",
       "status", "other", "namespaces/other/status"},
      // verb identification
      {"PATCH", "/api/v1/namespaces/other/pods/foo", "patch", "api", "", "v1", "other", "pods", "",
       "foo", "pods/foo"},
      {"DELETE", "/api/v1/namespaces/other/pods/foo", "delete", "api", "", "v1", "other", "pods",
       "", "foo", "pods/foo"},
      {"POST", "/api/v1/namespaces/other/pods", "create", "api", "", "v1", "other", "pods", "", "",
       "pods"},
      // deletecollection verb identification
      {"DELETE", "/api/v1/nodes", "deletecollection", "api", "", "v1", "", "nodes", "", "",
       "nodes"},
      {"DELETE", "/api/v1/namespaces", "deletecollection", "api", "", "v1", "", "namespaces", "",
       "", "namespaces"},
      {"DELETE", "/api/v1/namespaces/other/pods", "deletecollection", "api", "", "v1", "other",
       "pods", "", "", "pods"},
      {"DELETE", "/apis/extensions/v1/namespaces/other/pods", "deletecollection", "apis",
       "extensions", "v1", "other", "pods", "", "", "pods"},
      // api group and version identification
      {"POST", "/apis/extensions/v1/namespaces/other/pods", "create", "apis", "extensions", "v1",
       "other", "pods", "", "", "pods"},
      {"POST", "/apis/extensions/v1beta3/namespaces/other/pods", "create", "apis", "extensions",
       "v1beta3", "other", "pods", "", "", "pods"},
  };
  for (const auto& c : cases) expect_resource(c);
}

// TestGetNonAPIRequestInfo and the errorCases of TestGetAPIRequestInfo.
TEST(RequestInfo, UpstreamResourceOrNot) {
  struct {
    const char* url;
    bool resource;
  } cases[] = {
      {"/api/version/resource", true},
      {"/apis/group/version/resource/name/subresource", true},
      {"/api/version/resource/name/subresource", true},
      {"/apis/batch/v1/job", true},
      {"/apis/batch/v1/job/foo", true},
      {"/apis/batch/v1/job/foo/scale", true},
      {"/not-api/version/resource", false},
      {"/apis/extensions/v1beta1", false},
      {"/apis/extensions/v1beta1/", false},
      {"/api/version", false},
      {"/api", false},
      {"/", false},
      {"/api/version/", false},
      {"/apis/group/version/", false},
      {"/badprefix/version/resource", false},
      {"/apis/version/resource", false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.url);
    request_info info = classify_url("GET", c.url);
    EXPECT_FALSE(info.is_malformed()) << info.malformed;
    EXPECT_EQ(info.is_resource_request, c.resource);
    if (!c.resource) {
      EXPECT_EQ(info.verb, "get");  // the lower-case method
      EXPECT_EQ(info.resource, "");
      EXPECT_EQ(info.api_prefix, "");
    }
  }
}

// TestFieldSelectorParsing, plus the decoding client-go does (it sends %3D for '=').
TEST(RequestInfo, FieldSelectorName) {
  struct {
    const char* url;
    const char* name;
    const char* verb;
  } cases[] = {
      {"/apis/group/version/resource", "", "list"},
      {"/apis/group/version/resource?fieldSelector=metadata.name=name1", "name1", "list"},
      {"/apis/group/version/resource?watch=true&fieldSelector=metadata.name=name1", "name1",
       "watch"},
      {"/apis/group/version/resource?fieldSelector=foo=bar", "", "list"},
      {"/apis/group/version/resource?fieldSelector=metadata.name=name1,foo", "", "list"},
      {"/apis/group/version/resource?fieldSelector=metadata.name=name1,foo&watch=true", "",
       "watch"},
      {"/apis/group/version/resource?fieldSelector=metadata.name=name1,foo&watch=false", "",
       "list"},
      // client-go / kubectl encodings
      {"/api/v1/namespaces/default/"
       "pods?fieldSelector=metadata.name%3Dcoredns-5d78c9869d-abcde&watch=true",
       "coredns-5d78c9869d-abcde", "watch"},
      {"/api/v1/nodes?fieldSelector=metadata.name%3Dkind-control-plane&limit=500&resourceVersion=0",
       "kind-control-plane", "list"},
      {"/api/v1/pods?fieldSelector=metadata.name%3D%3Dfoo", "foo", "list"},
      {"/api/v1/pods?fieldSelector=spec.nodeName%3Dn1%2Cmetadata.name%3Dfoo", "foo", "list"},
      {"/api/v1/pods?fieldSelector=metadata.name!%3Dfoo", "", "list"},
      // the smallest term in sort order wins, as upstream sorts terms
      {"/api/v1/pods?fieldSelector=metadata.name=b,metadata.name=a", "a", "list"},
      // escaped value: "a\,b" is the name "a,b"
      {"/api/v1/pods?fieldSelector=metadata.name%3Da%5C%2Cb", "a,b", "list"},
      {"/api/v1/pods?fieldSelector=metadata.name%3Da%5Cb", "", "list"},
      {"/api/v1/pods?fieldSelector=metadata.name=a=b", "", "list"},
      {"/api/v1/pods?fieldSelector=metadata.name=a%5C", "", "list"},
      // names the apiserver would not accept as a path segment are dropped
      {"/api/v1/pods?fieldSelector=metadata.name%3D..", "", "list"},
      {"/api/v1/pods?fieldSelector=metadata.name%3Da%2Fb", "", "list"},
      {"/api/v1/pods?fieldSelector=metadata.name%3Da%25b", "", "list"},
      // any list option that does not decode drops the name, as upstream
      {"/api/v1/pods?fieldSelector=metadata.name=a&limit=x", "", "list"},
      {"/api/v1/pods?fieldSelector=metadata.name=a&limit=", "", "list"},
      {"/api/v1/pods?watch=1&fieldSelector=metadata.name=a&timeoutSeconds=99999999999999999999", "",
       "watch"},
      {"/api/v1/pods?fieldSelector=metadata.name=a&limit=-5&timeoutSeconds=%2B30", "a", "list"},
      {"/api/v1/pods?fieldSelector=metadata.name=a&limit=9223372036854775807", "a", "list"},
      {"/api/v1/pods?fieldSelector=metadata.name=a&limit=9223372036854775808", "", "list"},
      // only the first value counts; a pair with ';' or a bad escape is skipped
      {"/api/v1/pods?fieldSelector=metadata.name=a&fieldSelector=metadata.name=b", "a", "list"},
      {"/api/v1/pods?fieldSelector=metadata.name=a;x&fieldSelector=metadata.name=b", "b", "list"},
      {"/api/v1/pods?fieldSelector=metadata.name=%zz&fieldSelector=metadata.name=c", "c", "list"},
      // the selector only names a list; a get, or a delete, keeps its own
      {"/api/v1/namespaces/default/pods/p?fieldSelector=metadata.name=q", "p", "get"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.url);
    request_info info = classify_url("GET", c.url);
    EXPECT_TRUE(info.is_resource_request);
    EXPECT_EQ(info.name, c.name);
    EXPECT_EQ(info.verb, c.verb);
  }
  request_info del =
      classify_url("DELETE", "/api/v1/namespaces/default/pods?fieldSelector=metadata.name=a");
  EXPECT_EQ(del.verb, "deletecollection");
  EXPECT_EQ(del.name, "");
}

// The watch parameter as Go's bool conversion reads it: the first value; "0" and
// any-case "false" are false, anything else (including empty) is true.
TEST(RequestInfo, WatchParameter) {
  struct {
    const char* query;
    const char* verb;
  } cases[] = {
      {"", "list"},
      {"watch=true", "watch"},
      {"watch=1", "watch"},
      {"watch=TRUE", "watch"},
      {"watch=yes", "watch"},
      {"watch=", "watch"},
      {"watch", "watch"},
      {"watch=0", "list"},
      {"watch=false", "list"},
      {"watch=FaLsE", "list"},
      {"watch=f%61lse", "list"},
      {"w%61tch=1", "watch"},
      {"watch=false&watch=true", "list"},
      {"watch=true&watch=false", "watch"},
      {"watch=0;x=1&watch=1", "watch"},
      {"watch=%zz&watch=0", "list"},
      {"watchy=1", "list"},
      {"&&watch=1&&", "watch"},
      {"limit=500&resourceVersion=0", "list"},
      {"allowWatchBookmarks=true&resourceVersion=1&watch=true&timeoutSeconds=300", "watch"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.query);
    request_info info = classify("GET", "/api/v1/pods", c.query);
    EXPECT_EQ(info.verb, c.verb);
  }
  // watch=true on a named get is still a get: upstream looks only when there is no name.
  EXPECT_EQ(classify("GET", "/api/v1/namespaces/a/pods/p", "watch=true").verb, "get");
  // ... and on other methods it changes nothing.
  EXPECT_EQ(classify("POST", "/api/v1/namespaces/a/pods", "watch=true").verb, "create");
}

// What kubectl, client-go and controllers send.
TEST(RequestInfo, KubectlRequests) {
  const resource_case cases[] = {
      {"GET", "/api/v1/namespaces/default/pods?limit=500", "list", "api", "", "v1", "default",
       "pods", "", "", "pods"},
      {"GET", "/apis/apps/v1/namespaces/default/deployments/x/scale", "get", "apis", "apps", "v1",
       "default", "deployments", "scale", "x", "deployments/x/scale"},
      {"PATCH", "/apis/apps/v1/namespaces/default/deployments/x/scale", "patch", "apis", "apps",
       "v1", "default", "deployments", "scale", "x", "deployments/x/scale"},
      {"POST", "/api/v1/namespaces/default/pods/p/exec?command=echo&command=hi&stdout=true",
       "create", "api", "", "v1", "default", "pods", "exec", "p", "pods/p/exec"},
      {"GET", "/api/v1/namespaces/default/pods/p/exec?command=sh&stdin=true&stdout=true&tty=true",
       "get", "api", "", "v1", "default", "pods", "exec", "p", "pods/p/exec"},
      {"POST", "/api/v1/namespaces/default/pods/p/portforward", "create", "api", "", "v1",
       "default", "pods", "portforward", "p", "pods/p/portforward"},
      {"POST", "/api/v1/namespaces/default/pods/p/attach?stdin=true", "create", "api", "", "v1",
       "default", "pods", "attach", "p", "pods/p/attach"},
      {"GET", "/api/v1/namespaces/default/pods/p/log?follow=true&container=c", "get", "api", "",
       "v1", "default", "pods", "log", "p", "pods/p/log"},
      {"POST", "/api/v1/namespaces/default/pods/p/eviction", "create", "api", "", "v1", "default",
       "pods", "eviction", "p", "pods/p/eviction"},
      {"GET",
       "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases?watch=true&resourceVersion=1",
       "watch", "apis", "coordination.k8s.io", "v1", "kube-system", "leases", "", "", "leases"},
      {"PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager",
       "update", "apis", "coordination.k8s.io", "v1", "kube-system", "leases", "",
       "kube-controller-manager", "leases/kube-controller-manager"},
      {"GET", "/api/v1/watch/namespaces/default/pods/foo", "watch", "api", "", "v1", "default",
       "pods", "", "foo", "pods/foo"},
      {"GET", "/api/v1/watch/namespaces/default/pods/foo/status", "watch", "api", "", "v1",
       "default", "pods", "status", "foo", "pods/foo/status"},
      {"GET", "/apis/apps/v1/watch/deployments", "watch", "apis", "apps", "v1", "", "deployments",
       "", "", "deployments"},
      {"GET", "/api/v1/namespaces/default/services/https:web:443/proxy/some/path", "get", "api", "",
       "v1", "default", "services", "proxy", "https:web:443",
       "services/https:web:443/proxy/some/path"},
      {"GET", "/api/v1/nodes/n1/proxy/metrics", "get", "api", "", "v1", "", "nodes", "proxy", "n1",
       "nodes/n1/proxy/metrics"},
      {"GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:node", "get", "apis",
       "rbac.authorization.k8s.io", "v1", "", "clusterroles", "", "system:node",
       "clusterroles/system:node"},
      // the Python client escapes ':' in names
      {"GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/system%3Anode", "get", "apis",
       "rbac.authorization.k8s.io", "v1", "", "clusterroles", "", "system%3Anode",
       "clusterroles/system%3Anode"},
      {"GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com", "get",
       "apis", "apiextensions.k8s.io", "v1", "", "customresourcedefinitions", "",
       "widgets.example.com", "customresourcedefinitions/widgets.example.com"},
      {"POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "create", "apis",
       "authorization.k8s.io", "v1", "", "selfsubjectaccessreviews", "", "",
       "selfsubjectaccessreviews"},
      {"DELETE", "/apis/example.com/v1alpha1/namespaces/ns/widgets/w?propagationPolicy=Foreground",
       "delete", "apis", "example.com", "v1alpha1", "ns", "widgets", "", "w", "widgets/w"},
      {"PUT", "/api/v1/namespaces/ns/pods/p/ephemeralcontainers", "update", "api", "", "v1", "ns",
       "pods", "ephemeralcontainers", "p", "pods/p/ephemeralcontainers"},
      // a trailing slash is trimmed, as upstream's splitPath does
      {"GET", "/api/v1/pods/", "list", "api", "", "v1", "", "pods", "", "", "pods"},
      // proxy sub-paths are not interpreted: any escape is fine there
      {"GET", "/api/v1/namespaces/ns/services/web/proxy/a%2Fb/c%20d", "get", "api", "", "v1", "ns",
       "services", "proxy", "web", "services/web/proxy/a%2Fb/c%20d"},
      // unusual methods: no verb, as upstream
      {"OPTIONS", "/api/v1/pods", "", "api", "", "v1", "", "pods", "", "", "pods"},
      {"get", "/api/v1/pods", "", "api", "", "v1", "", "pods", "", "", "pods"},
  };
  for (const auto& c : cases) expect_resource(c);
}

TEST(RequestInfo, NonResourceRequests) {
  struct {
    const char* method;
    const char* url;
    const char* verb;
    discovery_kind kind;
    const char* group;
    const char* version;
  } cases[] = {
      {"GET", "/", "get", discovery_kind::none, "", ""},
      {"GET", "/version", "get", discovery_kind::none, "", ""},
      {"GET", "/openapi/v3", "get", discovery_kind::none, "", ""},
      {"GET", "/openapi/v3/apis/apps/v1?hash=ABC", "get", discovery_kind::none, "", ""},
      {"GET", "/openapi/v2", "get", discovery_kind::none, "", ""},
      {"GET", "/healthz", "get", discovery_kind::none, "", ""},
      {"GET", "/readyz?verbose", "get", discovery_kind::none, "", ""},
      {"GET", "/livez/etcd", "get", discovery_kind::none, "", ""},
      {"GET", "/metrics", "get", discovery_kind::none, "", ""},
      {"GET", "/logs/kube-apiserver.log", "get", discovery_kind::none, "", ""},
      {"GET", "/.well-known/openid-configuration", "get", discovery_kind::none, "", ""},
      {"GET", "/foo%2Fbar", "get", discovery_kind::none, "", ""},
      {"POST", "/api", "post", discovery_kind::api_root, "", ""},
      {"GET", "/api", "get", discovery_kind::api_root, "", ""},
      {"GET", "/api/", "get", discovery_kind::api_root, "", ""},
      {"GET", "/apis", "get", discovery_kind::apis_root, "", ""},
      {"HEAD", "/apis/", "head", discovery_kind::apis_root, "", ""},
      {"GET", "/api/v1", "get", discovery_kind::api_version, "", "v1"},
      {"GET", "/api/v1/", "get", discovery_kind::api_version, "", "v1"},
      {"GET", "/apis/apps", "get", discovery_kind::group, "apps", ""},
      {"GET", "/apis/apps/v1", "get", discovery_kind::group_version, "apps", "v1"},
      {"GET", "/apis/coordination.k8s.io/v1beta1/", "get", discovery_kind::group_version,
       "coordination.k8s.io", "v1beta1"},
      {"GET", "/api/v1/watch", "get", discovery_kind::none, "", ""},  // upstream: 500
      {"GET", "/api/v1/proxy", "get", discovery_kind::none, "", ""},  // upstream: 500
      {"OPTIONS", "/healthz", "options", discovery_kind::none, "", ""},
      {"PROPFIND", "/healthz", "propfind", discovery_kind::none, "", ""},
      {"M-SEARCH", "/", "m-search", discovery_kind::none, "", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.method) + " " + c.url);
    request_info info = classify_url(c.method, c.url);
    EXPECT_FALSE(info.is_malformed()) << info.malformed;
    EXPECT_FALSE(info.is_resource_request);
    EXPECT_EQ(info.verb, c.verb);
    EXPECT_EQ(info.discovery.kind, c.kind);
    EXPECT_EQ(info.discovery.group, c.group);
    EXPECT_EQ(info.discovery.version, c.version);
    EXPECT_EQ(info.resource, "");
    EXPECT_EQ(info.path, split(c.url).path);
    EXPECT_EQ(is_discovery_path(split(c.url).path), c.kind != discovery_kind::none);
  }
}

TEST(RequestInfo, SplitParts) {
  request_info info = classify("GET", "/api/v1/namespaces/ns/pods/p/proxy/a/b", "");
  std::vector<std::string_view> want{"pods", "p", "proxy", "a", "b"};
  EXPECT_EQ(info.split_parts(), want);
  EXPECT_TRUE(classify("GET", "/version", "").split_parts().empty());
}

// A copy owns what it points at: the decoded name and the lower-cased method survive
// the original.
TEST(RequestInfo, CopiesKeepTheirViewsValid) {
  const std::string path = "/api/v1/pods";
  const std::string query = "fieldSelector=metadata.name%3Da-rather-long-pod-name-0123456789";
  auto original = std::make_unique<request_info>(classify("GET", path, query));
  request_info copy = *original;
  request_info assigned;
  assigned = *original;
  original.reset();
  EXPECT_EQ(copy.name, "a-rather-long-pod-name-0123456789");
  EXPECT_EQ(assigned.name, "a-rather-long-pod-name-0123456789");
  EXPECT_EQ(copy.resource, "pods");

  auto custom = std::make_unique<request_info>(classify("PROPFIND", "/x", ""));
  request_info moved = std::move(*custom);
  custom.reset();
  EXPECT_EQ(moved.verb, "propfind");

  // A name taken straight from the query points into it.
  request_info plain = classify("GET", path, "fieldSelector=metadata.name=abc");
  EXPECT_EQ(plain.name, "abc");
}

// Bad inputs: refused as malformed (the caller answers 400), never classified into a
// resource the apiserver would read differently.
TEST(RequestInfo, MalformedPaths) {
  const char* cases[] = {
      "",
      "api/v1/pods",
      "*",
      "//",
      "//api/v1/pods",
      "/api//v1/pods",
      "/api/v1//pods",
      "/api/v1/pods//",
      "/api/v1/namespaces//pods",
      "/apis/apps/v1/namespaces/default/deployments/x//scale",
      "/./api/v1/pods",
      "/api/./v1/pods",
      "/api/v1/../v1/pods",
      "/apis/new.example.com/v1/../../../api/v1/secrets",
      "/api/v1/namespaces/ns/services/s/proxy/../../../secrets",
      "/api/v1/pods/.",
      "/api/v1/pods/..",
      "/api/v1/%2e%2e/v1/pods",
      "/api/v1/namespaces/ns/pods/%2E",
      "/api/v1/namespaces/ns/pods/.%2e",
      "/api/v1/namespaces/a%2Fb/pods",
      "/api/v1/namespaces/ns/pods/p%2Fstatus",
      "/api/v1/namespaces/ns/pods/p%2fexec",
      "/api/v1/namespaces/a%2Ffinalize",
      "/apis/apps%2Fv1/deployments/x/y",
      "/api%2Fv1%2Fpods",
      "/ap%69/v1/pods",
      "/ap%69s",
      "/api/v1/p%6Fds",
      "/api/v1/n%61mespaces/default/pods",
      "/api/v1/namespaces/def%61ult/pods",
      "/api/v1/namespaces/ns/pods/p/st%61tus",
      "/api/v1/w%61tch/pods",
      "/apis/%61pps/v1/deployments",
      "/apis/apps/v%31/deployments",
      "/apis/apps%2Fv1",
      "/apis/apps/v%31",
      "/api/v%31",
      "/api/v1/pods/%",
      "/api/v1/pods/%4",
      "/api/v1/pods/%zz",
      "/healthz%",
      "/version/%g0",
  };
  for (const char* path : cases) {
    SCOPED_TRACE(path);
    request_info info = classify("GET", path, "");
    EXPECT_TRUE(info.is_malformed());
    EXPECT_FALSE(info.is_resource_request);
    EXPECT_EQ(info.resource, "");
    EXPECT_EQ(info.discovery.kind, discovery_kind::none);
    EXPECT_FALSE(is_discovery_path(path));
  }
}

// Queries are never a reason to refuse: whatever they hold, the request classifies.
TEST(RequestInfo, BadQueriesAreTolerated) {
  const char* cases[] = {"%",
                         "%%%",
                         "watch=%",
                         "=",
                         "&&&",
                         ";",
                         "watch;=1",
                         "fieldSelector=%",
                         "fieldSelector=,,,",
                         "fieldSelector=\\",
                         "limit=%2",
                         "\xff\xfe=\x01"};
  for (const char* query : cases) {
    SCOPED_TRACE(query);
    request_info info = classify("GET", "/api/v1/pods", query);
    EXPECT_FALSE(info.is_malformed());
    EXPECT_TRUE(info.is_resource_request);
    EXPECT_EQ(info.verb, "list");
    EXPECT_EQ(info.name, "");
  }
}

}  // namespace
}  // namespace mvproxy::request
