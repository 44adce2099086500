// Runs every discovery parser, the Accept negotiation and the merge on arbitrary bytes.
// Beyond "no crash, no sanitizer report": an aggregated document that parses renders
// back to the same model in both versions (so what a sidecar serves is what it read),
// merging a model with itself changes no GVR, and a legacy model built from the input
// serves exactly what its resource lists list.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "mvproxy/discovery/merge.hpp"
#include "mvproxy/discovery/negotiate.hpp"
#include "mvproxy/discovery/parse.hpp"
#include "mvproxy/discovery/render.hpp"

namespace {

using namespace mvproxy::discovery;

void check(bool ok) {
  if (!ok) std::abort();
}

void round_trip(const server_model& m) {
  for (auto version : {aggregated_version::v2, aggregated_version::v2beta1}) {
    auto back = parse_aggregated(render_aggregated_apis(m, version));
    check(back.ok());
    std::vector<group_info> expected;
    for (const auto& g : m.groups())
      if (!g.name.empty()) expected.push_back(g);
    check(back.value->groups == expected);
  }
  auto core = parse_aggregated(render_aggregated_api(m, aggregated_version::v2));
  check(core.ok());
  for (const auto& g : core.value->groups) check(g.name.empty());
}

void merge_with_itself(const server_model& m) {
  const server_model* twice[] = {&m, &m};
  server_model merged = merge_models(std::span<const server_model* const>(twice));
  for (const auto& g : m.groups())
    for (const auto& v : g.versions)
      for (const auto& r : v.resources) check(merged.serves(g.name, v.version, r.name));
  (void)render_aggregated_apis(merged, aggregated_version::v2);
  (void)render_group_list(merged);
}

void legacy(std::string_view data) {
  (void)parse_api_versions(data);
  (void)parse_group_list(data);
  (void)parse_api_group(data);
  auto list = parse_resource_list(data);
  if (!list.ok()) return;
  const auto& l = *list.value;
  // The group and version go into synthesized JSON below; keep to names that need no escaping.
  for (char c : l.group + l.version)
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) return;
  std::string gv = l.group.empty() ? l.version : l.group + "/" + l.version;
  std::string api = R"({"kind":"APIVersions","versions":[")" + l.version + R"("]})";
  std::string apis = R"({"kind":"APIGroupList","groups":[{"name":")" + l.group +
                     R"(","versions":[{"version":")" + l.version + R"("}]}]})";
  legacy_documents docs{l.group.empty() ? std::string_view(api) : std::string_view{},
                        l.group.empty() ? std::string_view{} : std::string_view(apis),
                        {{gv, data}}};
  auto built = build_legacy_model(docs);
  check(built.ok());
  for (const auto& r : l.resources) {
    check(built.value->serves(l.group, l.version, r.name));
    for (const auto& s : r.subresources)
      check(built.value->serves(l.group, l.version, r.name, s.name));
  }
  (void)render_resource_list(*built.value, l.group, l.version);
  (void)render_api_versions(*built.value, "127.0.0.1:6443");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  std::string_view data(reinterpret_cast<const char*>(bytes), size);
  (void)negotiate_discovery(data);
  (void)etag_for(data);
  auto aggregated = parse_aggregated(data);
  if (aggregated.ok()) {
    server_model m(std::move(aggregated.value->groups));
    round_trip(m);
    merge_with_itself(m);
  }
  legacy(data);
  return 0;
}
