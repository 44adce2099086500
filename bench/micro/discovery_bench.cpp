// Discovery work on real documents: parsing the v1.31 aggregated /apis (done on every
// changed sync), merging two servers' models and rendering the result (done when any
// server's discovery changes), and the serves() lookup (done on every request).

#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "mvproxy/discovery/merge.hpp"
#include "mvproxy/discovery/negotiate.hpp"
#include "mvproxy/discovery/parse.hpp"
#include "mvproxy/discovery/render.hpp"

namespace {

using namespace mvproxy::discovery;

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(MVPROXY_FIXTURES_DIR) + "/discovery/" + name, std::ios::binary);
  if (!in) throw std::runtime_error("missing fixture " + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::string& v1_31() {
  static const std::string body = fixture("aggregated-apis-v2-allapis-v1.31-dev-0209a4c.json");
  return body;
}

server_model model_of(const std::string& name) {
  auto parsed = parse_aggregated(fixture(name));
  if (!parsed.ok()) throw std::runtime_error(parsed.error);
  return server_model(std::move(parsed.value->groups));
}

const server_model& v1_30_model() {
  static const server_model m = model_of("aggregated-apis-v2-allapis-v1.30-dev-c25b1ef.json");
  return m;
}

const server_model& v1_31_model() {
  static const server_model m = model_of("aggregated-apis-v2-allapis-v1.31-dev-0209a4c.json");
  return m;
}

void parse_v2_v1_31(benchmark::State& state) {
  const std::string& body = v1_31();
  for (auto _ : state) {
    auto parsed = parse_aggregated(body);
    benchmark::DoNotOptimize(parsed);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}
BENCHMARK(parse_v2_v1_31);

void merge_two_models(benchmark::State& state) {
  const server_model* servers[] = {&v1_30_model(), &v1_31_model()};
  for (auto _ : state) {
    server_model merged = merge_models(std::span<const server_model* const>(servers));
    benchmark::DoNotOptimize(merged);
  }
}
BENCHMARK(merge_two_models);

void render_v2(benchmark::State& state) {
  const server_model* servers[] = {&v1_30_model(), &v1_31_model()};
  const server_model merged = merge_models(std::span<const server_model* const>(servers));
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string body = render_aggregated_apis(merged, aggregated_version::v2);
    bytes = body.size();
    benchmark::DoNotOptimize(body);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}
BENCHMARK(render_v2);

void render_v2_and_etag(benchmark::State& state) {
  const server_model& m = v1_31_model();
  for (auto _ : state) {
    std::string body = render_aggregated_apis(m, aggregated_version::v2);
    std::string etag = etag_for(body);
    benchmark::DoNotOptimize(etag);
  }
}
BENCHMARK(render_v2_and_etag);

void serves_lookup(benchmark::State& state) {
  const server_model& m = v1_31_model();
  struct query {
    const char *group, *version, *resource, *subresource;
  };
  const query queries[] = {
      {"apps", "v1", "deployments", ""},
      {"apps", "v1", "deployments", "scale"},
      {"resource.k8s.io", "v1alpha3", "resourceclaims", "status"},
      {"flowcontrol.apiserver.k8s.io", "v1beta2", "flowschemas", ""},  // a miss
  };
  std::size_t i = 0;
  for (auto _ : state) {
    const query& q = queries[i++ & 3];
    benchmark::DoNotOptimize(m.serves(q.group, q.version, q.resource, q.subresource));
  }
}
BENCHMARK(serves_lookup);

void negotiate_kubectl_accept(benchmark::State& state) {
  const std::string header =
      "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
      "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
  for (auto _ : state) benchmark::DoNotOptimize(negotiate_discovery(header));
}
BENCHMARK(negotiate_kubectl_accept);

}  // namespace
