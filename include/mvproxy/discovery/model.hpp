#pragma once
// What one apiserver serves, in one format-independent model. Built from aggregated
// discovery (apidiscovery.k8s.io v2 / v2beta1) or legacy discovery; immutable once
// built, so request handling reads it from any thread without locks.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mvproxy::discovery {

struct group_version_kind {
  std::string group;
  std::string version;
  std::string kind;
};

struct subresource_info {
  std::string name;  // "status", "scale", "exec", ...
  group_version_kind response_kind;
  std::vector<std::string> accepted_types;  // aggregated discovery only
  std::vector<std::string> verbs;
};

struct resource_info {
  std::string name;      // plural, lower case: "deployments"
  std::string singular;  // may be empty (legacy discovery before 1.27)
  group_version_kind response_kind;
  bool namespaced = false;
  std::vector<std::string> verbs;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  std::vector<subresource_info> subresources;
};

struct version_info {
  std::string version;
  std::vector<resource_info> resources;
  std::string freshness;  // "Current" or "Stale"; empty when the source had none
};

struct group_info {
  std::string name;                     // "" for the core (legacy) group
  std::vector<version_info> versions;  // in the server's preference order
};

// Everything one server serves. Groups keep the server's order; the core group, when
// present, comes first. Lookups go through a hash index built once.
class server_model {
 public:
  server_model() = default;
  explicit server_model(std::vector<group_info> groups);

  const std::vector<group_info>& groups() const { return groups_; }

  const resource_info* find(std::string_view group, std::string_view version,
                            std::string_view resource) const;
  // An empty subresource asks for the resource itself.
  bool serves(std::string_view group, std::string_view version, std::string_view resource,
              std::string_view subresource = {}) const;
  bool serves_group_version(std::string_view group, std::string_view version) const;
  bool serves_group(std::string_view group) const;
  bool empty() const { return groups_.empty(); }
  std::size_t resource_count() const { return resources_.size(); }

 private:
  std::vector<group_info> groups_;
  std::unordered_map<std::string, const resource_info*> resources_;  // "g/v/r"
  std::unordered_map<std::string, bool> group_versions_;             // "g/v"
  std::unordered_map<std::string, bool> group_names_;                // "g"
};

using server_model_ptr = std::shared_ptr<const server_model>;

}  // namespace mvproxy::discovery
