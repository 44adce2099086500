#pragma once
// One apiserver "profile": which group/versions/resources it serves, its /version,
// and every discovery document (aggregated v2/v2beta1 and legacy) derived from the
// same captured fixtures, so all views agree. Immutable once loaded.

#include "accept.hpp"
#include "status.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace fake_apiserver {

struct subresource_info {
  std::string name;
  std::string kind;
  std::vector<std::string> verbs;
};

struct resource_info {
  std::string name;
  std::string singular;
  std::string kind;
  bool namespaced = false;
  std::vector<std::string> verbs;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  std::vector<subresource_info> subresources;
  bool custom = false;  // served for a CustomResourceDefinition
  const subresource_info* find_subresource(const std::string& sub) const;
};

struct version_info {
  std::string version;
  std::vector<resource_info> resources;
};

struct group_info {
  std::string name;                    // "" is the core group
  std::vector<version_info> versions;  // preference order, first is preferred
};

class api_profile {
 public:
  // Profiles: v1.30, v1.31, v1.21-legacy. Throws std::runtime_error on unknown name
  // or unreadable fixture.
  static std::shared_ptr<const api_profile> load(const std::string& name,
                                                 const std::filesystem::path& fixtures_dir);

  // This profile plus `extra` (CRD-served groups): a group/version/resource this
  // profile already serves wins, as built-in handlers come before the CRD handler in
  // kube-apiserver's chain. Every document is rebuilt, so all views (and ETags) agree.
  std::shared_ptr<const api_profile> with_groups(const std::vector<group_info>& extra) const;

  const std::string& name() const { return name_; }
  bool aggregated() const { return aggregated_; }
  const nlohmann::json& version_document() const { return version_; }
  const std::vector<group_info>& groups() const { return groups_; }  // core first

  const resource_info* find(const std::string& group, const std::string& version,
                            const std::string& resource) const;
  bool serves(const std::string& group, const std::string& version) const;
  const group_info* find_group(const std::string& group) const;

  // Answers GET /api, /api/v1, /apis, /apis/<g>, /apis/<g>/<v> and the OpenAPI
  // documents (/openapi/v2, /openapi/v3, openapi.hpp); nullopt when this profile serves
  // no such path.
  std::optional<response> discovery(const std::string& path, const std::string& accept,
                                    const std::string& if_none_match) const;

 private:
  struct document {
    std::string body;
    std::string etag;
  };
  void build_documents();
  void add_group(const group_info& g);
  response answer(const document& doc, const std::string& content_type,
                  const std::string& if_none_match) const;

  std::string name_;
  bool aggregated_ = true;
  nlohmann::json version_;
  std::vector<group_info> groups_;
  nlohmann::json aggregated_apis_;  // the captured /apis document, plus added groups
  std::map<std::string, document> aggregated_docs_;  // "api|v2", "apis|v2beta1", ...
  std::map<std::string, document> legacy_docs_;      // by path
  std::map<std::string, document> openapi_docs_;     // /openapi/v3 and its group/versions
};

// Quoted upper-case hex SHA-512 of the body, as kube-apiserver's discovery ETag.
std::string discovery_etag(const std::string& body);

}  // namespace fake_apiserver
