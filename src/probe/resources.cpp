#include "mvproxy/probe/resources.hpp"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

namespace mvproxy::probe {

const char* const merged_discovery_accept =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList;q=0.9,"
    "application/json;q=0.8";
const char* const list_accept =
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;q=0.9";
const char* const get_accept =
    "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json;q=0.9";

std::string resource_ref::name() const {
  std::string out = resource + "." + version;
  if (!group.empty()) out += "." + group;
  return out;
}

bool is_aggregated_content_type(std::string_view content_type) {
  return content_type.find("as=APIGroupDiscoveryList") != std::string_view::npos;
}

namespace {

using discovery::parse_result;

std::string group_version(std::string_view group, std::string_view version) {
  return group.empty() ? std::string(version) : std::string(group) + "/" + std::string(version);
}

std::string gv_target(const std::string& gv) {
  return (gv.find('/') == std::string::npos ? "/api/" : "/apis/") + gv;
}

// The versions of one group from their legacy resource lists; missing ones skipped.
discovery::group_info legacy_group_info(const std::string& group,
                                        const std::vector<std::string>& versions,
                                        const discovery_documents& docs, std::string& error) {
  discovery::group_info g{group, {}};
  for (const auto& v : versions) {
    auto gv = group_version(group, v);
    auto it = docs.resource_lists.find(gv);
    if (it == docs.resource_lists.end()) continue;
    auto list = discovery::parse_resource_list(it->second);
    if (!list.ok()) {
      error = gv_target(gv) + ": " + list.error;
      return g;
    }
    g.versions.push_back({v, std::move(list.value->resources), {}});
  }
  return g;
}

// Legacy APIGroupList versions with the preferred one first, as clients pick it.
std::vector<std::string> ordered_versions(const discovery::legacy_group& g) {
  std::vector<std::string> out;
  if (!g.preferred_version.empty()) out.push_back(g.preferred_version);
  for (const auto& v : g.versions) {
    if (v != g.preferred_version) out.push_back(v);
  }
  return out;
}

}  // namespace

parse_result<std::vector<std::string>> resource_list_targets(const discovery_documents& docs) {
  std::vector<std::string> out;
  if (!docs.api_aggregated) {
    auto versions = discovery::parse_api_versions(docs.api);
    if (!versions.ok())
      return parse_result<std::vector<std::string>>::failure("/api: " + versions.error);
    for (const auto& v : *versions.value) out.push_back("/api/" + v);
  }
  if (!docs.apis_aggregated) {
    auto groups = discovery::parse_group_list(docs.apis);
    if (!groups.ok())
      return parse_result<std::vector<std::string>>::failure("/apis: " + groups.error);
    for (const auto& g : *groups.value) {
      for (const auto& v : ordered_versions(g)) out.push_back("/apis/" + g.name + "/" + v);
    }
  }
  return parse_result<std::vector<std::string>>::success(std::move(out));
}

parse_result<discovery::server_model> build_model(const discovery_documents& docs) {
  using result = parse_result<discovery::server_model>;
  std::vector<discovery::group_info> core, groups;
  std::string error;
  if (docs.api_aggregated) {
    auto doc = discovery::parse_aggregated(docs.api);
    if (!doc.ok()) return result::failure("/api: " + doc.error);
    core = std::move(doc.value->groups);
  } else {
    auto versions = discovery::parse_api_versions(docs.api);
    if (!versions.ok()) return result::failure("/api: " + versions.error);
    auto g = legacy_group_info("", *versions.value, docs, error);
    if (!error.empty()) return result::failure(error);
    if (!g.versions.empty()) core.push_back(std::move(g));
  }
  if (docs.apis_aggregated) {
    auto doc = discovery::parse_aggregated(docs.apis);
    if (!doc.ok()) return result::failure("/apis: " + doc.error);
    groups = std::move(doc.value->groups);
  } else {
    auto list = discovery::parse_group_list(docs.apis);
    if (!list.ok()) return result::failure("/apis: " + list.error);
    for (const auto& lg : *list.value) {
      auto g = legacy_group_info(lg.name, ordered_versions(lg), docs, error);
      if (!error.empty()) return result::failure(error);
      if (!g.versions.empty()) groups.push_back(std::move(g));
    }
  }
  return result::success(discovery::make_server_model(std::move(core), std::move(groups)));
}

std::vector<resource_ref> listable_resources(const discovery::server_model& model) {
  std::vector<resource_ref> out;
  for (const auto& g : model.groups()) {
    for (const auto& v : g.versions) {
      for (const auto& r : v.resources) {
        if (std::find(r.verbs.begin(), r.verbs.end(), "list") == r.verbs.end()) continue;
        out.push_back({g.name, v.version, r.name, r.namespaced});
      }
    }
  }
  return out;
}

std::vector<resource_ref> apply_filter(std::vector<resource_ref> resources,
                                       const std::vector<std::string>& filter) {
  if (filter.empty()) return resources;
  auto wanted = [&](const resource_ref& r) {
    std::string suffix = r.group.empty() ? "" : "." + r.group;
    for (const auto& f : filter) {
      if (f == r.resource + suffix || f == r.resource + "." + r.version + suffix) return true;
    }
    return false;
  };
  std::erase_if(resources, [&](const resource_ref& r) { return !wanted(r); });
  return resources;
}

namespace {

std::string base_path(const resource_ref& r) {
  return r.group.empty() ? "/api/" + r.version : "/apis/" + r.group + "/" + r.version;
}

// Names and namespaces come from the server; escape all but RFC 3986 unreserved
// characters so an odd name cannot change the path.
std::string escape_segment(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace

std::string list_target(const resource_ref& r, std::string_view ns) {
  std::string out = base_path(r);
  if (r.namespaced && !ns.empty()) out += "/namespaces/" + escape_segment(ns);
  return out + "/" + r.resource + "?limit=1";
}

std::optional<item_ref> first_item(std::string_view list_body) {
  auto doc = nlohmann::json::parse(list_body, nullptr, false);
  if (!doc.is_object()) return std::nullopt;
  auto items = doc.find("items");
  if (items == doc.end() || !items->is_array() || items->empty()) return std::nullopt;
  const auto& first = (*items)[0];
  if (!first.is_object() || !first.contains("metadata") || !first["metadata"].is_object()) {
    return std::nullopt;
  }
  const auto& meta = first["metadata"];
  auto name = meta.value("name", nlohmann::json());
  auto ns = meta.value("namespace", nlohmann::json());
  if (!name.is_string() || name.get<std::string>().empty()) return std::nullopt;
  return item_ref{ns.is_string() ? ns.get<std::string>() : "", name.get<std::string>()};
}

std::string item_target(const resource_ref& r, const item_ref& item) {
  std::string out = base_path(r);
  if (r.namespaced && !item.namespace_.empty()) {
    out += "/namespaces/" + escape_segment(item.namespace_);
  }
  return out + "/" + r.resource + "/" + escape_segment(item.name);
}

}  // namespace mvproxy::probe
