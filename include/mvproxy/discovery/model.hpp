#pragma once
// What one apiserver serves, in one format-independent model. Built from aggregated
// discovery (apidiscovery.k8s.io v2 / v2beta1) or legacy discovery; immutable once
// built, so request handling reads it from any thread without locks.

#include <cstdint>
#include <functional>
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
  bool operator==(const group_version_kind&) const = default;
};

struct subresource_info {
  std::string name;  // "status", "scale", "exec", ...
  group_version_kind response_kind;
  std::vector<group_version_kind> accepted_types;  // aggregated discovery only
  std::vector<std::string> verbs;
  bool operator==(const subresource_info&) const = default;
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
  bool operator==(const resource_info&) const = default;
};

struct version_info {
  std::string version;
  std::vector<resource_info> resources;
  std::string freshness;  // "Current" or "Stale"; empty when the source had none
  bool operator==(const version_info&) const = default;
};

struct group_info {
  std::string name;                    // "" for the core (legacy) group
  std::vector<version_info> versions;  // in the server's preference order
  bool operator==(const group_info&) const = default;
};

// Everything one server serves. Groups keep the server's order; the core group, when
// present, comes first. Lookups go through a hash index built once.
class server_model {
 public:
  server_model() = default;
  explicit server_model(std::vector<group_info> groups);
  // The index points into groups_, so a copy rebuilds it; a move keeps the buffers.
  server_model(const server_model& other);
  server_model& operator=(const server_model& other);
  server_model(server_model&&) noexcept = default;
  server_model& operator=(server_model&&) noexcept = default;

  bool operator==(const server_model& other) const { return groups_ == other.groups_; }

  const std::vector<group_info>& groups() const { return groups_; }

  const resource_info* find(std::string_view group, std::string_view version,
                            std::string_view resource) const;
  const group_info* find_group(std::string_view group) const;
  const version_info* find_version(std::string_view group, std::string_view version) const;
  // An empty subresource asks for the resource itself.
  bool serves(std::string_view group, std::string_view version, std::string_view resource,
              std::string_view subresource = {}) const;
  bool serves_group_version(std::string_view group, std::string_view version) const;
  bool serves_group(std::string_view group) const;
  bool empty() const { return groups_.empty(); }
  std::size_t resource_count() const { return resources_.size(); }

 private:
  // Heterogeneous lookup, so a string_view query builds no std::string key.
  struct key_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  template <class T>
  using index = std::unordered_map<std::string, T, key_hash, std::equal_to<>>;

  void build_index();

  std::vector<group_info> groups_;
  index<const resource_info*> resources_;      // "g/v/r"
  index<const version_info*> group_versions_;  // "g/v"
  index<const group_info*> group_names_;       // "g"
};

using server_model_ptr = std::shared_ptr<const server_model>;

}  // namespace mvproxy::discovery
