// Which requests kube-apiserver counts as long-running (request::is_long_running): they
// get the stream limits, every other request --request-timeout.

#include <gtest/gtest.h>

#include <string>

#include "mvproxy/request/request_info.hpp"

namespace mvproxy::request {
namespace {

// kube-apiserver's LongRunningFunc (pkg/controlplane/apiserver/config.go:
// BasicLongRunningRequestCheck(watch, proxy; attach, exec, proxy, log, portforward)):
// those get the stream limits, every other request --request-timeout.
TEST(RequestInfo, LongRunningAsKubeApiserver) {
  struct {
    const char* method;
    const char* path;
    const char* query;
    bool long_running;
  } cases[] = {
      {"GET", "/api/v1/pods", "watch=true", true},
      {"GET", "/api/v1/namespaces/a/pods", "watch=1&resourceVersion=5", true},
      {"GET", "/apis/apps/v1/deployments", "watch=true&allowWatchBookmarks=true", true},
      {"GET", "/api/v1/watch/namespaces/a/pods", "", true},
      {"GET", "/api/v1/watch/pods", "", true},
      {"GET", "/api/v1/namespaces/a/pods/p/log", "follow=true", true},
      {"GET", "/api/v1/namespaces/a/pods/p/log", "", true},  // upstream: every log
      {"POST", "/api/v1/namespaces/a/pods/p/exec", "command=ls", true},
      {"GET", "/api/v1/namespaces/a/pods/p/exec", "command=ls", true},
      {"POST", "/api/v1/namespaces/a/pods/p/attach", "", true},
      {"POST", "/api/v1/namespaces/a/pods/p/portforward", "", true},
      {"GET", "/api/v1/namespaces/a/pods/p/proxy/metrics", "", true},
      {"GET", "/api/v1/namespaces/a/services/s:80/proxy/", "", true},
      {"GET", "/api/v1/nodes/n/proxy/configz", "", true},
      {"GET", "/api/v1/proxy/namespaces/a/pods/p", "", true},
      {"GET", "/debug/pprof/profile", "seconds=30", true},
      {"GET", "/api/v1/pods", "", false},
      {"GET", "/api/v1/pods", "watch=false", false},
      {"GET", "/api/v1/namespaces/a/pods/p", "watch=true", false},  // a get, as upstream
      {"POST", "/api/v1/namespaces/a/pods", "", false},
      {"PUT", "/api/v1/namespaces/a/pods/p/status", "", false},
      {"PATCH", "/apis/apps/v1/namespaces/a/deployments/d/scale", "", false},
      {"DELETE", "/api/v1/namespaces/a/pods", "", false},
      {"POST", "/api/v1/namespaces/a/pods/p/eviction", "", false},
      {"GET", "/api/v1/namespaces/a/pods/p/logs", "", false},
      {"GET", "/apis", "", false},
      {"GET", "/openapi/v3", "", false},
      {"GET", "/healthz", "", false},
      {"GET", "/debug/pprof", "", false},
      {"GET", "/api/v1/namespaces/a/pods/p%2Fq/exec", "", false},  // malformed: refused
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.method) + " " + c.path + "?" + c.query);
    EXPECT_EQ(is_long_running(classify(c.method, c.path, c.query)), c.long_running);
  }
}

}  // namespace
}  // namespace mvproxy::request
