#pragma once
// What the probe asks for: the listable resources of a sidecar's merged discovery,
// and the request targets for them. Pure: documents in, resources and paths out.

#include <compare>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mvproxy/discovery/model.hpp"
#include "mvproxy/discovery/parse.hpp"

namespace mvproxy::probe {

struct resource_ref {
  std::string group;  // "" for the core group
  std::string version;
  std::string resource;  // plural
  bool namespaced = false;

  // kubectl's fully qualified spelling: "pods.v1", "resourceclaims.v1alpha3.resource.k8s.io".
  std::string name() const;
  // Identity is group/version/resource; scope is a property of it.
  bool operator==(const resource_ref& o) const {
    return group == o.group && version == o.version && resource == o.resource;
  }
};

// Accept for /api and /apis: the sidecar's peer-aggregated (merged) view, which is what
// its clients see. No profile=nopeer: that would ask for the local apiserver's view.
extern const char* const merged_discovery_accept;
// Metadata only (as kubectl's metadata client asks), so a probe never pulls Secret
// data or large objects; plain JSON from servers that cannot do that.
extern const char* const list_accept;
extern const char* const get_accept;

bool is_aggregated_content_type(std::string_view content_type);

// The discovery documents read from one sidecar. A legacy /api or /apis needs the
// group versions' resource lists too (resource_list_targets names them).
struct discovery_documents {
  std::string api;  // GET /api
  bool api_aggregated = false;
  std::string apis;  // GET /apis
  bool apis_aggregated = false;
  std::map<std::string, std::string, std::less<>> resource_lists;  // "v1", "apps/v1"
};

// Targets of the resource lists the documents need ("/api/v1", "/apis/apps/v1"), or
// an error when /api or /apis cannot be parsed. None when both are aggregated.
discovery::parse_result<std::vector<std::string>> resource_list_targets(
    const discovery_documents& docs);

// The server model the documents describe. A group version whose resource list is
// missing is left out (it could not be read: counted as a failed request already).
discovery::parse_result<discovery::server_model> build_model(const discovery_documents& docs);

// Every resource with the "list" verb, in discovery order. Subresources are not
// resources here (the model holds them apart).
std::vector<resource_ref> listable_resources(const discovery::server_model& model);

// `filter` entries are kubectl spellings: "pods", "deployments.apps",
// "resourceclaims.v1alpha3.resource.k8s.io". An empty filter keeps everything.
std::vector<resource_ref> apply_filter(std::vector<resource_ref> resources,
                                       const std::vector<std::string>& filter);

// GET targets. `ns` empty: across all namespaces (a namespaced resource's
// cluster-wide list path).
std::string list_target(const resource_ref& r, std::string_view ns);

struct item_ref {
  std::string namespace_;  // empty for cluster-scoped objects
  std::string name;
};
// The first item of a list response (JSON, full objects or PartialObjectMetadata);
// nullopt for an empty list or a body that is not a list.
std::optional<item_ref> first_item(std::string_view list_body);
std::string item_target(const resource_ref& r, const item_ref& item);

}  // namespace mvproxy::probe
