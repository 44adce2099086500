#pragma once
// Discovery documents (bytes) into the model. Every parser returns either a value or a
// one-line error; none throws, whatever the input.
//
// Aggregated: apidiscovery.k8s.io/v2 and v2beta1 APIGroupDiscoveryList, from /api (the
// core group, named "") and from /apis. Legacy: /api APIVersions, /apis APIGroupList,
// /apis/<g> APIGroup, /api/v1 and /apis/<g>/<v> APIResourceList.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mvproxy/discovery/model.hpp"

namespace mvproxy::discovery {

template <class T>
struct parse_result {
  std::optional<T> value;
  std::string error;  // one line; empty when value is set

  bool ok() const { return value.has_value(); }
  static parse_result success(T v) { return {std::move(v), {}}; }
  static parse_result failure(std::string e) { return {std::nullopt, std::move(e)}; }
};

enum class aggregated_version { v2, v2beta1 };

struct aggregated_document {
  aggregated_version version = aggregated_version::v2;
  std::vector<group_info> groups;  // in document order
};

// One group of a legacy APIGroupList or APIGroup.
struct legacy_group {
  std::string name;
  std::vector<std::string> versions;  // as listed
  std::string preferred_version;      // may be empty
};

struct legacy_resource_list {
  std::string group;  // "" for the core group
  std::string version;
  std::vector<resource_info> resources;  // "r/sub" entries folded into their parent
};

parse_result<aggregated_document> parse_aggregated(std::string_view body);
// /api: the versions of the core group.
parse_result<std::vector<std::string>> parse_api_versions(std::string_view body);
// /apis
parse_result<std::vector<legacy_group>> parse_group_list(std::string_view body);
// /apis/<g>
parse_result<legacy_group> parse_api_group(std::string_view body);
// /api/v1, /apis/<g>/<v>
parse_result<legacy_resource_list> parse_resource_list(std::string_view body);

// The legacy documents of one server. Missing documents mean "not known to be served".
struct legacy_documents {
  std::string_view api_versions;  // GET /api; empty when the server has no core group
  std::string_view group_list;    // GET /apis
  // GET /api/<v> and /apis/<g>/<v>, keyed by group version ("v1", "apps/v1").
  std::map<std::string, std::string_view, std::less<>> resource_lists;
};

// The group versions whose resource lists build_legacy_model wants: core ones ("v1")
// first, then each group's in list order ("apps/v1").
std::vector<std::string> legacy_group_versions(const std::vector<std::string>& core_versions,
                                               const std::vector<legacy_group>& groups);

// Builds the model from legacy discovery: groups in the group list's order, versions
// in the list's order with the preferred version first. A group version without a
// resource list in `docs` is left out (the server could not list it); a malformed
// document is an error.
parse_result<server_model> build_legacy_model(const legacy_documents& docs);

// The model of a server from its aggregated /api (core group) and /apis documents.
server_model make_server_model(std::vector<group_info> core_groups, std::vector<group_info> groups);

}  // namespace mvproxy::discovery
