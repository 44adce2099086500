#pragma once
// Group-versions never routed to a peer (as upstream's peerproxy GVExclusionManager):
// those of CustomResourceDefinitions and of aggregated APIServices. Every apiserver
// serves a CRD from the shared store and reaches an aggregated API's service itself,
// so a peer is never needed for them — and a peer's stale discovery must not bring a
// deleted one back. A deleted one stays excluded for a grace period (5 minutes by
// default) while peers' views catch up. Pure: JSON and time in, sets out.

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "mvproxy/discovery/model.hpp"

namespace mvproxy::discovery {

// "group/version" ("" group: just "version").
using gv_set = std::set<std::string, std::less<>>;
std::string gv_key(std::string_view group, std::string_view version);

// Every spec.versions[].name of a CustomResourceDefinitionList (apiextensions.k8s.io/v1).
// Nullopt (and `error`) when the document is not such a list.
std::optional<gv_set> gvs_of_crds(std::string_view list_json, std::string* error = nullptr);
// spec.group/spec.version of each APIService in an APIServiceList that names a
// service (aggregated); local ones (no service) are the apiserver's own built-ins.
std::optional<gv_set> gvs_of_apiservices(std::string_view list_json, std::string* error = nullptr);

class exclusion_tracker {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  explicit exclusion_tracker(std::chrono::milliseconds grace) : grace_(grace) {}
  // The group-versions CRDs and aggregated APIServices serve now. True when the
  // excluded set changed (one appeared, or a deleted one's grace ran out).
  bool update(const gv_set& active, time_point now);
  // Active ones and those deleted less than the grace period ago.
  gv_set excluded() const;
  // When the next deleted one leaves the set (to update again then); nullopt: none.
  std::optional<time_point> next_expiry() const;

 private:
  std::chrono::milliseconds grace_;
  gv_set active_;
  std::map<std::string, time_point, std::less<>> deleted_;  // gv -> when it was deleted
};

// `model` without the excluded group versions (a group left with none is dropped);
// the same pointer when nothing is excluded from it.
server_model_ptr without(const server_model_ptr& model, const gv_set& excluded);

}  // namespace mvproxy::discovery
