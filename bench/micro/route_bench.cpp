// classify + route per request, on models parsed from real discovery documents: the
// local apiserver is 1.30, its two peers 1.31 (core group from a real /api/v1 list).
// Target: well under 1 µs per request.

#include <benchmark/benchmark.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "mvproxy/discovery/parse.hpp"
#include "mvproxy/request/request_info.hpp"
#include "mvproxy/routing/router.hpp"

namespace {

using namespace mvproxy;

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(MVPROXY_FIXTURES_DIR) + "/discovery/" + name, std::ios::binary);
  if (!in) throw std::runtime_error("missing fixture " + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

discovery::server_model_ptr load_model(const std::string& apis_fixture) {
  auto core = discovery::parse_resource_list(fixture("legacy-api-v1-resourcelist-v1.21.json"));
  auto apis = discovery::parse_aggregated(fixture(apis_fixture));
  if (!core.ok()) throw std::runtime_error(core.error);
  if (!apis.ok()) throw std::runtime_error(apis.error);
  std::vector<discovery::group_info> core_groups{
      {"", {{core.value->version, std::move(core.value->resources), {}}}}};
  return std::make_shared<const discovery::server_model>(
      discovery::make_server_model(std::move(core_groups), std::move(apis.value->groups)));
}

struct world {
  discovery::server_model_ptr local =
      load_model("aggregated-apis-v2-allapis-v1.30-dev-c25b1ef.json");
  discovery::server_model_ptr newer =
      load_model("aggregated-apis-v2-allapis-v1.31-dev-0209a4c.json");
  std::vector<routing::peer_view> peers{{"kube-apiserver-cp-2", newer, true},
                                        {"kube-apiserver-cp-3", newer, true}};
};

const world& the_world() {
  static const world w;
  return w;
}

struct request_case {
  const char* method;
  const char* path;
  const char* query;
  routing::discovery_view view;
  routing::route_kind expect;
};

const request_case cases[] = {
    {"GET", "/api/v1/namespaces/default/pods", "limit=500", routing::discovery_view::none,
     routing::route_kind::local},
    {"GET", "/apis/apps/v1/namespaces/default/deployments/web/scale", "",
     routing::discovery_view::none, routing::route_kind::local},
    {"GET", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases",
     "watch=true&resourceVersion=1&allowWatchBookmarks=true&timeoutSeconds=300",
     routing::discovery_view::none, routing::route_kind::local},
    {"GET", "/api/v1/namespaces/kube-system/pods",
     "fieldSelector=metadata.name%3Dkube-apiserver-control-plane&watch=true",
     routing::discovery_view::none, routing::route_kind::local},
    {"PUT", "/apis/resource.k8s.io/v1alpha3/namespaces/default/resourceclaims/claim-0/status", "",
     routing::discovery_view::none, routing::route_kind::peer},
    {"GET", "/apis", "", routing::discovery_view::aggregated,
     routing::route_kind::merged_discovery},
    {"GET", "/version", "", routing::discovery_view::none, routing::route_kind::local},
};

routing::route_decision classify_and_route(const request_case& c, std::uint64_t random) {
  const world& w = the_world();
  request::request_info info = request::classify(c.method, c.path, c.query);
  routing::route_input in;
  in.info = &info;
  in.view = c.view;
  in.local = w.local;
  in.peers = w.peers;
  in.random = random;
  return routing::route(in);
}

void BM_ClassifyAndRoute(benchmark::State& state) {
  const request_case& c = cases[state.range(0)];
  if (classify_and_route(c, 0).kind != c.expect) {
    state.SkipWithError("unexpected route: the fixtures do not say what this case assumes");
    return;
  }
  state.SetLabel(std::string(c.method) + " " + c.path);
  std::uint64_t random = 0;
  for (auto _ : state) {
    auto d = classify_and_route(c, ++random);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_ClassifyAndRoute)->DenseRange(0, std::size(cases) - 1);

void BM_ClassifyOnly(benchmark::State& state) {
  const request_case& c = cases[state.range(0)];
  state.SetLabel(std::string(c.method) + " " + c.path);
  for (auto _ : state) {
    auto info = request::classify(c.method, c.path, c.query);
    benchmark::DoNotOptimize(info);
  }
}
BENCHMARK(BM_ClassifyOnly)->DenseRange(0, std::size(cases) - 1);

void BM_RouteOnly(benchmark::State& state) {
  const request_case& c = cases[state.range(0)];
  const world& w = the_world();
  const request::request_info info = request::classify(c.method, c.path, c.query);
  state.SetLabel(std::string(c.method) + " " + c.path);
  routing::route_input in;
  in.info = &info;
  in.view = c.view;
  in.local = w.local;
  in.peers = w.peers;
  for (auto _ : state) {
    ++in.random;
    auto d = routing::route(in);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_RouteOnly)->DenseRange(0, std::size(cases) - 1);

}  // namespace
