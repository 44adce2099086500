#pragma once
// Fixture loading and model helpers shared by the discovery tests.

#include <set>
#include <string>
#include <tuple>

#include "mvproxy/discovery/model.hpp"
#include "mvproxy/discovery/parse.hpp"
#include "test_process.hpp"

namespace mvproxy::discovery::testing {

inline std::string fixture(const std::string& name) {
  std::string body =
      mvproxy::test::read_file(std::string(MVPROXY_FIXTURES_DIR) + "/discovery/" + name);
  if (body.empty()) throw std::runtime_error("missing fixture " + name);
  return body;
}

inline const char* const v2_130 = "aggregated-apis-v2-allapis-v1.30-dev-c25b1ef.json";
inline const char* const v2_131 = "aggregated-apis-v2-allapis-v1.31-dev-0209a4c.json";
inline const char* const v2beta1_131 = "aggregated-apis-v2beta1-allapis-v1.31-dev-0209a4c.json";

inline server_model aggregated_model(const std::string& name) {
  auto parsed = parse_aggregated(fixture(name));
  if (!parsed.ok()) throw std::runtime_error(name + ": " + parsed.error);
  return server_model(std::move(parsed.value->groups));
}

using gvr = std::tuple<std::string, std::string, std::string>;

inline std::set<gvr> gvrs_of(const server_model& m) {
  std::set<gvr> out;
  for (const auto& g : m.groups())
    for (const auto& v : g.versions)
      for (const auto& r : v.resources) out.emplace(g.name, v.version, r.name);
  return out;
}

inline std::size_t subresource_count(const server_model& m) {
  std::size_t n = 0;
  for (const auto& g : m.groups())
    for (const auto& v : g.versions)
      for (const auto& r : v.resources) n += r.subresources.size();
  return n;
}

inline std::size_t version_count(const server_model& m) {
  std::size_t n = 0;
  for (const auto& g : m.groups()) n += g.versions.size();
  return n;
}

// What legacy discovery cannot carry: freshness and subresources' accepted types.
inline server_model without_aggregated_only_fields(const server_model& m) {
  std::vector<group_info> groups = m.groups();
  for (auto& g : groups)
    for (auto& v : g.versions) {
      v.freshness.clear();
      for (auto& r : v.resources)
        for (auto& s : r.subresources) s.accepted_types.clear();
    }
  return server_model(std::move(groups));
}

// A small model built in code: {group, version, resource} triples in order.
inline resource_info resource(std::string name, std::vector<std::string> verbs = {"get", "list"},
                              std::vector<std::string> subresources = {}) {
  resource_info r;
  r.name = std::move(name);
  r.singular = r.name.substr(0, r.name.size() - 1);
  r.namespaced = true;
  r.response_kind.kind = "Kind";
  r.verbs = std::move(verbs);
  for (auto& s : subresources)
    r.subresources.push_back({std::move(s), {"", "", "Kind"}, {}, {"get"}});
  return r;
}

}  // namespace mvproxy::discovery::testing
