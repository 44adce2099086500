#include "mvproxy/discovery/parse.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <unordered_map>

namespace mvproxy::discovery {
namespace {

using json = nlohmann::json;

// Thrown by the readers below and caught at each public entry point, so the walk
// stays linear and no exception leaves this file.
struct bad_document {
  std::string message;
};

[[noreturn]] void fail(std::string message) { throw bad_document{std::move(message)}; }

json parse_json(std::string_view body) {
  json doc = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) fail("malformed JSON");
  return doc;
}

const json& require_object(const json& v, std::string_view what) {
  if (!v.is_object()) fail(std::string(what) + " is not an object");
  return v;
}

// A member that may be missing or null; returns nullptr then.
const json* optional_member(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string optional_string(const json& obj, const char* key) {
  const json* v = optional_member(obj, key);
  if (v == nullptr) return {};
  if (!v->is_string()) fail(std::string("field ") + key + " is not a string");
  return v->get<std::string>();
}

std::string required_string(const json& obj, const char* key) {
  const json* v = optional_member(obj, key);
  if (v == nullptr) fail(std::string("missing field ") + key);
  if (!v->is_string()) fail(std::string("field ") + key + " is not a string");
  std::string s = v->get<std::string>();
  if (s.empty()) fail(std::string("field ") + key + " is empty");
  return s;
}

bool optional_bool(const json& obj, const char* key) {
  const json* v = optional_member(obj, key);
  if (v == nullptr) return false;
  if (!v->is_boolean()) fail(std::string("field ") + key + " is not a boolean");
  return v->get<bool>();
}

// Missing or null arrays read as empty, as Go's decoder treats a nil slice.
const json& optional_array(const json& obj, const char* key) {
  static const json empty = json::array();
  const json* v = optional_member(obj, key);
  if (v == nullptr) return empty;
  if (!v->is_array()) fail(std::string("field ") + key + " is not an array");
  return *v;
}

std::vector<std::string> string_array(const json& obj, const char* key) {
  const json& arr = optional_array(obj, key);
  std::vector<std::string> out;
  out.reserve(arr.size());
  for (const auto& e : arr) {
    if (!e.is_string()) fail(std::string("field ") + key + " holds a non-string");
    out.push_back(e.get<std::string>());
  }
  return out;
}

void require_kind(const json& doc, std::string_view kind) {
  std::string got = optional_string(doc, "kind");
  if (got != kind) {
    fail("wrong kind: want " + std::string(kind) + ", got " + (got.empty() ? "none" : got));
  }
}

group_version_kind read_gvk(const json& v) {
  require_object(v, "responseKind");
  return {optional_string(v, "group"), optional_string(v, "version"), optional_string(v, "kind")};
}

group_version_kind optional_gvk(const json& obj, const char* key) {
  const json* v = optional_member(obj, key);
  return v == nullptr ? group_version_kind{} : read_gvk(*v);
}

bool read_scope(const json& obj) {
  std::string scope = required_string(obj, "scope");
  if (scope == "Namespaced") return true;
  if (scope == "Cluster") return false;
  fail("unknown scope " + scope);
}

subresource_info read_aggregated_subresource(const json& v) {
  require_object(v, "subresource");
  subresource_info s;
  s.name = required_string(v, "subresource");
  s.response_kind = optional_gvk(v, "responseKind");
  for (const auto& t : optional_array(v, "acceptedTypes")) s.accepted_types.push_back(read_gvk(t));
  s.verbs = string_array(v, "verbs");
  return s;
}

resource_info read_aggregated_resource(const json& v) {
  require_object(v, "resource");
  resource_info r;
  r.name = required_string(v, "resource");
  r.response_kind = optional_gvk(v, "responseKind");
  r.namespaced = read_scope(v);
  r.singular = optional_string(v, "singularResource");
  r.verbs = string_array(v, "verbs");
  r.short_names = string_array(v, "shortNames");
  r.categories = string_array(v, "categories");
  for (const auto& s : optional_array(v, "subresources"))
    r.subresources.push_back(read_aggregated_subresource(s));
  return r;
}

version_info read_aggregated_version(const json& v) {
  require_object(v, "version");
  version_info out;
  out.version = required_string(v, "version");
  for (const auto& r : optional_array(v, "resources"))
    out.resources.push_back(read_aggregated_resource(r));
  out.freshness = optional_string(v, "freshness");
  return out;
}

group_info read_aggregated_group(const json& v) {
  require_object(v, "item");
  group_info g;
  if (const json* meta = optional_member(v, "metadata")) {
    require_object(*meta, "metadata");
    g.name = optional_string(*meta, "name");
  }
  for (const auto& ver : optional_array(v, "versions"))
    g.versions.push_back(read_aggregated_version(ver));
  return g;
}

legacy_group read_legacy_group(const json& v) {
  require_object(v, "group");
  legacy_group g;
  g.name = required_string(v, "name");
  for (const auto& ver : optional_array(v, "versions")) {
    require_object(ver, "group version");
    g.versions.push_back(required_string(ver, "version"));
  }
  if (const json* pref = optional_member(v, "preferredVersion")) {
    require_object(*pref, "preferredVersion");
    g.preferred_version = optional_string(*pref, "version");
  }
  return g;
}

// Runs `body` and turns any failure into a one-line error.
template <class T, class F>
parse_result<T> guarded(F&& body) {
  try {
    return parse_result<T>::success(body());
  } catch (const bad_document& e) {
    return parse_result<T>::failure(e.message);
  } catch (const std::exception& e) {
    return parse_result<T>::failure(std::string("invalid document: ") + e.what());
  }
}

}  // namespace

parse_result<aggregated_document> parse_aggregated(std::string_view body) {
  return guarded<aggregated_document>([&] {
    json doc = parse_json(body);
    require_object(doc, "document");
    require_kind(doc, "APIGroupDiscoveryList");
    aggregated_document out;
    std::string api_version = optional_string(doc, "apiVersion");
    if (api_version == "apidiscovery.k8s.io/v2") {
      out.version = aggregated_version::v2;
    } else if (api_version == "apidiscovery.k8s.io/v2beta1") {
      out.version = aggregated_version::v2beta1;
    } else {
      fail("unsupported apiVersion " + (api_version.empty() ? "none" : api_version));
    }
    for (const auto& item : optional_array(doc, "items"))
      out.groups.push_back(read_aggregated_group(item));
    return out;
  });
}

parse_result<std::vector<std::string>> parse_api_versions(std::string_view body) {
  return guarded<std::vector<std::string>>([&] {
    json doc = parse_json(body);
    require_object(doc, "document");
    require_kind(doc, "APIVersions");
    std::vector<std::string> versions = string_array(doc, "versions");
    for (const auto& v : versions)
      if (v.empty()) fail("empty version");
    return versions;
  });
}

parse_result<std::vector<legacy_group>> parse_group_list(std::string_view body) {
  return guarded<std::vector<legacy_group>>([&] {
    json doc = parse_json(body);
    require_object(doc, "document");
    require_kind(doc, "APIGroupList");
    std::vector<legacy_group> groups;
    for (const auto& g : optional_array(doc, "groups")) groups.push_back(read_legacy_group(g));
    return groups;
  });
}

parse_result<legacy_group> parse_api_group(std::string_view body) {
  return guarded<legacy_group>([&] {
    json doc = parse_json(body);
    require_object(doc, "document");
    require_kind(doc, "APIGroup");
    return read_legacy_group(doc);
  });
}

parse_result<legacy_resource_list> parse_resource_list(std::string_view body) {
  return guarded<legacy_resource_list>([&] {
    json doc = parse_json(body);
    require_object(doc, "document");
    require_kind(doc, "APIResourceList");
    legacy_resource_list out;
    std::string gv = required_string(doc, "groupVersion");
    auto slash = gv.find('/');
    if (slash == std::string::npos) {
      out.version = gv;
    } else {
      out.group = gv.substr(0, slash);
      out.version = gv.substr(slash + 1);
      if (out.group.empty() || out.version.empty() || out.version.find('/') != std::string::npos) {
        fail("malformed groupVersion " + gv);
      }
    }
    // Subresources arrive as "parent/sub" entries, usually after their parent but
    // not necessarily: collect parents first, then attach.
    const json& entries = optional_array(doc, "resources");
    std::unordered_map<std::string, std::size_t> parent_index;
    for (const auto& e : entries) {
      require_object(e, "resource");
      std::string name = required_string(e, "name");
      if (name.find('/') != std::string::npos) continue;
      resource_info r;
      r.name = name;
      r.singular = optional_string(e, "singularName");
      r.namespaced = optional_bool(e, "namespaced");
      r.response_kind = {optional_string(e, "group"), optional_string(e, "version"),
                         optional_string(e, "kind")};
      r.verbs = string_array(e, "verbs");
      r.short_names = string_array(e, "shortNames");
      r.categories = string_array(e, "categories");
      parent_index.try_emplace(name, out.resources.size());
      out.resources.push_back(std::move(r));
    }
    for (const auto& e : entries) {
      std::string name = required_string(e, "name");
      auto slash_at = name.find('/');
      if (slash_at == std::string::npos) continue;
      std::string parent = name.substr(0, slash_at);
      std::string sub = name.substr(slash_at + 1);
      if (parent.empty() || sub.empty()) fail("malformed resource name " + name);
      auto it = parent_index.find(parent);
      // A subresource without its parent cannot be routed to; leave it out.
      if (it == parent_index.end()) continue;
      subresource_info s;
      s.name = std::move(sub);
      s.response_kind = {optional_string(e, "group"), optional_string(e, "version"),
                         optional_string(e, "kind")};
      s.verbs = string_array(e, "verbs");
      out.resources[it->second].subresources.push_back(std::move(s));
    }
    return out;
  });
}

std::vector<std::string> legacy_group_versions(const std::vector<std::string>& core_versions,
                                               const std::vector<legacy_group>& groups) {
  std::vector<std::string> out(core_versions.begin(), core_versions.end());
  for (const auto& g : groups)
    for (const auto& v : g.versions) out.push_back(g.name + "/" + v);
  return out;
}

parse_result<server_model> build_legacy_model(const legacy_documents& docs) {
  std::vector<std::string> core_versions;
  if (!docs.api_versions.empty()) {
    auto parsed = parse_api_versions(docs.api_versions);
    if (!parsed.ok()) return parse_result<server_model>::failure("/api: " + parsed.error);
    core_versions = std::move(*parsed.value);
  }
  std::vector<legacy_group> legacy_groups;
  if (!docs.group_list.empty()) {
    auto parsed = parse_group_list(docs.group_list);
    if (!parsed.ok()) return parse_result<server_model>::failure("/apis: " + parsed.error);
    legacy_groups = std::move(*parsed.value);
  }

  std::string error;
  // The listed version's resources, or nullopt when the server gave no list for it.
  auto load = [&](const std::string& group,
                  const std::string& version) -> std::optional<version_info> {
    std::string gv = group.empty() ? version : group + "/" + version;
    auto it = docs.resource_lists.find(gv);
    if (it == docs.resource_lists.end()) return std::nullopt;
    auto parsed = parse_resource_list(it->second);
    if (!parsed.ok()) {
      if (error.empty()) error = gv + ": " + parsed.error;
      return std::nullopt;
    }
    if (parsed.value->group != group || parsed.value->version != version) {
      if (error.empty()) error = gv + ": document is for another group version";
      return std::nullopt;
    }
    return version_info{version, std::move(parsed.value->resources), {}};
  };
  auto build_group = [&](const std::string& name, std::vector<std::string> versions,
                         const std::string& preferred) {
    // The model lists the preferred version first, as aggregated discovery does.
    auto pref = std::find(versions.begin(), versions.end(), preferred);
    if (pref != versions.end()) std::rotate(versions.begin(), pref, pref + 1);
    group_info g{name, {}};
    for (const auto& v : versions)
      if (auto loaded = load(name, v)) g.versions.push_back(std::move(*loaded));
    return g;
  };

  std::vector<group_info> groups;
  if (!core_versions.empty()) {
    group_info core = build_group("", core_versions, core_versions.front());
    if (!core.versions.empty()) groups.push_back(std::move(core));
  }
  for (auto& lg : legacy_groups) {
    group_info g = build_group(lg.name, std::move(lg.versions), lg.preferred_version);
    if (!g.versions.empty()) groups.push_back(std::move(g));
  }
  if (!error.empty()) return parse_result<server_model>::failure(error);
  return parse_result<server_model>::success(server_model(std::move(groups)));
}

server_model make_server_model(std::vector<group_info> core_groups,
                               std::vector<group_info> groups) {
  core_groups.insert(core_groups.end(), std::make_move_iterator(groups.begin()),
                     std::make_move_iterator(groups.end()));
  return server_model(std::move(core_groups));
}

}  // namespace mvproxy::discovery
