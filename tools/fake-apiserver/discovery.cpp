#include "discovery.hpp"

#include "openapi.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace fake_apiserver {
namespace {

using nlohmann::json;

json read_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  if (!in) throw std::runtime_error("cannot read fixture " + p.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::vector<std::string> strings(const json& j, const char* key) {
  std::vector<std::string> out;
  if (j.contains(key) && j[key].is_array())
    for (const auto& s : j[key]) out.push_back(s.get<std::string>());
  return out;
}

// APIResourceList (legacy) → resources, folding "pods/status" entries into subresources.
std::vector<resource_info> from_resource_list(const json& list) {
  std::vector<resource_info> out;
  for (const auto& r : list.at("resources")) {
    std::string name = r.at("name");
    auto slash = name.find('/');
    if (slash == std::string::npos) {
      resource_info ri;
      ri.name = name;
      ri.singular = r.value("singularName", "");
      ri.kind = r.at("kind");
      // Apiservers of this era sent "" here; later ones send the lower-case kind.
      if (ri.singular.empty()) ri.singular = lower(ri.kind);
      ri.namespaced = r.at("namespaced");
      ri.verbs = strings(r, "verbs");
      ri.short_names = strings(r, "shortNames");
      ri.categories = strings(r, "categories");
      out.push_back(std::move(ri));
    }
  }
  for (const auto& r : list.at("resources")) {
    std::string name = r.at("name");
    auto slash = name.find('/');
    if (slash == std::string::npos) continue;
    std::string parent = name.substr(0, slash);
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const resource_info& ri) { return ri.name == parent; });
    if (it == out.end()) continue;
    it->subresources.push_back({name.substr(slash + 1), r.at("kind"), strings(r, "verbs")});
  }
  return out;
}

// Aggregated APIGroupDiscovery → group_info. responseKind with empty group/version
// means "this group/version".
group_info from_aggregated_group(const json& g) {
  group_info gi;
  gi.name = g.at("metadata").value("name", "");
  for (const auto& v : g.at("versions")) {
    version_info vi;
    vi.version = v.at("version");
    for (const auto& r : v.value("resources", json::array())) {
      resource_info ri;
      ri.name = r.at("resource");
      ri.singular = r.value("singularResource", "");
      ri.kind = r.contains("responseKind") ? r["responseKind"].value("kind", "") : "";
      ri.namespaced = r.value("scope", "") == "Namespaced";
      ri.verbs = strings(r, "verbs");
      ri.short_names = strings(r, "shortNames");
      ri.categories = strings(r, "categories");
      for (const auto& s : r.value("subresources", json::array())) {
        std::string kind = s.contains("responseKind") ? s["responseKind"].value("kind", "") : "";
        ri.subresources.push_back({s.at("subresource"), kind, strings(s, "verbs")});
      }
      vi.resources.push_back(std::move(ri));
    }
    gi.versions.push_back(std::move(vi));
  }
  return gi;
}

json aggregated_resource(const resource_info& r) {
  json j = {{"resource", r.name},
            {"responseKind", {{"group", ""}, {"kind", r.kind}, {"version", ""}}},
            {"scope", r.namespaced ? "Namespaced" : "Cluster"},
            {"singularResource", r.singular},
            {"verbs", r.verbs}};
  if (!r.short_names.empty()) j["shortNames"] = r.short_names;
  if (!r.categories.empty()) j["categories"] = r.categories;
  if (!r.subresources.empty()) {
    json subs = json::array();
    for (const auto& s : r.subresources)
      subs.push_back({{"subresource", s.name},
                      {"responseKind", {{"group", ""}, {"kind", s.kind}, {"version", ""}}},
                      {"verbs", s.verbs}});
    j["subresources"] = subs;
  }
  return j;
}

json aggregated_version(const version_info& v) {
  json resources = json::array();
  for (const auto& r : v.resources) resources.push_back(aggregated_resource(r));
  return {{"version", v.version}, {"resources", resources}, {"freshness", "Current"}};
}

json aggregated_group(const group_info& g) {
  json versions = json::array();
  for (const auto& v : g.versions) versions.push_back(aggregated_version(v));
  return {{"metadata", {{"name", g.name}, {"creationTimestamp", nullptr}}}, {"versions", versions}};
}

json legacy_resource_list(const std::string& group, const version_info& v) {
  std::string gv = group.empty() ? v.version : group + "/" + v.version;
  json resources = json::array();
  for (const auto& r : v.resources) {
    json j = {{"name", r.name},
              {"singularName", r.singular},
              {"namespaced", r.namespaced},
              {"kind", r.kind},
              {"verbs", r.verbs}};
    if (!r.short_names.empty()) j["shortNames"] = r.short_names;
    if (!r.categories.empty()) j["categories"] = r.categories;
    resources.push_back(j);
    for (const auto& s : r.subresources)
      resources.push_back({{"name", r.name + "/" + s.name},
                           {"singularName", ""},
                           {"namespaced", r.namespaced},
                           {"kind", s.kind},
                           {"verbs", s.verbs}});
  }
  return {{"kind", "APIResourceList"},
          {"apiVersion", "v1"},
          {"groupVersion", gv},
          {"resources", resources}};
}

json legacy_group(const group_info& g) {
  json versions = json::array();
  for (const auto& v : g.versions)
    versions.push_back({{"groupVersion", g.name + "/" + v.version}, {"version", v.version}});
  return {{"name", g.name},
          {"versions", versions},
          {"preferredVersion", versions.empty() ? json::object() : versions[0]}};
}

json make_version(const std::string& minor, const std::string& git_version,
                  const std::string& commit, const std::string& build_date,
                  const std::string& go_version) {
  return {{"major", "1"},
          {"minor", minor},
          {"gitVersion", git_version},
          {"gitCommit", commit},
          {"gitTreeState", "clean"},
          {"buildDate", build_date},
          {"goVersion", go_version},
          {"compiler", "gc"},
          {"platform", "linux/amd64"}};
}

}  // namespace

const subresource_info* resource_info::find_subresource(const std::string& sub) const {
  for (const auto& s : subresources)
    if (s.name == sub) return &s;
  return nullptr;
}

std::string discovery_etag(const std::string& body) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(body.data(), body.size(), md, &len, EVP_sha512(), nullptr);
  static const char* hex = "0123456789ABCDEF";
  std::string out = "\"";
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 0xF];
  }
  return out + "\"";
}

std::shared_ptr<const api_profile> api_profile::load(const std::string& name,
                                                     const std::filesystem::path& fixtures) {
  auto dir = fixtures / "discovery";
  auto p = std::make_shared<api_profile>();
  p->name_ = name;
  group_info core;
  core.name = "";
  core.versions.push_back(
      {"v1", from_resource_list(read_json(dir / "legacy-api-v1-resourcelist-v1.21.json"))});
  p->groups_.push_back(core);
  if (name == "v1.30" || name == "v1.31") {
    p->aggregated_apis_ =
        read_json(dir / (name == "v1.30" ? "aggregated-apis-v2-allapis-v1.30-dev-c25b1ef.json"
                                         : "aggregated-apis-v2-allapis-v1.31-dev-0209a4c.json"));
    for (const auto& g : p->aggregated_apis_.at("items"))
      p->groups_.push_back(from_aggregated_group(g));
    p->version_ = name == "v1.30"
                      ? make_version("30", "v1.30.0", "c25b1ef662616855d1272108b87cdca6db03f551",
                                     "2024-04-17T17:36:05Z", "go1.22.2")
                      : make_version("31", "v1.31.0", "0209a4cb57a359609b96779f044bcdff8e8df70d",
                                     "2024-08-13T07:28:49Z", "go1.22.5");
  } else if (name == "v1.21-legacy") {
    p->aggregated_ = false;
    p->version_ = read_json(dir / "version-v1.21.json");
    // Only the group/versions whose resource lists were captured are served.
    std::map<std::string, std::vector<std::string>> lists = {
        {"apps", {"v1"}}, {"batch", {"v1beta1"}}, {"coordination.k8s.io", {"v1", "v1beta1"}}};
    json grouplist = read_json(dir / "legacy-apis-grouplist-v1.21.json");
    for (const auto& g : grouplist.at("groups")) {
      std::string gname = g.at("name");
      auto it = lists.find(gname);
      if (it == lists.end()) continue;
      group_info gi;
      gi.name = gname;
      std::string preferred = g.at("preferredVersion").at("version");
      std::vector<std::string> order;
      for (const auto& v : g.at("versions")) order.push_back(v.at("version"));
      // The preferred version first, then the rest in the server's order.
      std::stable_partition(order.begin(), order.end(),
                            [&](const std::string& v) { return v == preferred; });
      for (const auto& v : order) {
        if (std::find(it->second.begin(), it->second.end(), v) == it->second.end()) continue;
        auto file = "legacy-apis-" + gname + "-" + v + "-resourcelist-v1.21.json";
        gi.versions.push_back({v, from_resource_list(read_json(dir / file))});
      }
      p->groups_.push_back(std::move(gi));
    }
  } else {
    throw std::runtime_error("unknown profile \"" + name + "\" (want v1.30, v1.31, v1.21-legacy)");
  }
  p->build_documents();
  return p;
}

std::shared_ptr<const api_profile> api_profile::with_groups(
    const std::vector<group_info>& extra) const {
  auto p = std::make_shared<api_profile>();
  p->name_ = name_;
  p->aggregated_ = aggregated_;
  p->version_ = version_;
  p->groups_ = groups_;
  p->aggregated_apis_ = aggregated_apis_;
  for (const auto& g : extra) p->add_group(g);
  p->build_documents();
  return p;
}

// Merges g into groups_ and, for aggregated profiles, into the captured /apis
// document (kept as captured, so built-in entries keep every field the fixture has).
void api_profile::add_group(const group_info& g) {
  auto by_name = [&](const json& item) { return item["metadata"].value("name", "") == g.name; };
  json* items = aggregated_ ? &aggregated_apis_["items"] : nullptr;
  auto known = std::find_if(groups_.begin(), groups_.end(),
                            [&](const group_info& gi) { return gi.name == g.name; });
  if (known == groups_.end()) {
    groups_.push_back(g);
    if (items) items->push_back(aggregated_group(g));
    return;
  }
  json* doc = nullptr;
  if (items)
    if (auto it = std::find_if(items->begin(), items->end(), by_name); it != items->end())
      doc = &*it;
  for (const auto& v : g.versions) {
    auto kv = std::find_if(known->versions.begin(), known->versions.end(),
                           [&](const version_info& vi) { return vi.version == v.version; });
    json* doc_versions = doc ? &(*doc)["versions"] : nullptr;
    if (kv == known->versions.end()) {
      known->versions.push_back(v);
      if (doc_versions) doc_versions->push_back(aggregated_version(v));
      continue;
    }
    json* doc_resources = nullptr;
    if (doc_versions)
      for (auto& dv : *doc_versions)
        if (dv.value("version", "") == v.version) doc_resources = &dv["resources"];
    for (const auto& r : v.resources) {
      if (find(g.name, v.version, r.name)) continue;  // a built-in shadows the CRD
      kv->resources.push_back(r);
      if (doc_resources) doc_resources->push_back(aggregated_resource(r));
    }
  }
}

void api_profile::build_documents() {
  auto add = [](std::map<std::string, document>& m, const std::string& key, const json& j) {
    std::string body = j.dump();
    m[key] = {body, discovery_etag(body)};
  };
  const group_info& core = groups_.front();
  add(legacy_docs_, "/api",
      {{"kind", "APIVersions"},
       {"versions", {"v1"}},
       {"serverAddressByClientCIDRs",
        {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", "127.0.0.1:6443"}}}}});
  add(legacy_docs_, "/api/v1", legacy_resource_list("", core.versions.front()));
  json group_list = {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", json::array()}};
  for (size_t i = 1; i < groups_.size(); ++i) {
    const auto& g = groups_[i];
    json lg = legacy_group(g);
    group_list["groups"].push_back(lg);
    json one = lg;
    one["kind"] = "APIGroup";
    one["apiVersion"] = "v1";
    add(legacy_docs_, "/apis/" + g.name, one);
    for (const auto& v : g.versions)
      add(legacy_docs_, "/apis/" + g.name + "/" + v.version, legacy_resource_list(g.name, v));
  }
  add(legacy_docs_, "/apis", group_list);
  json openapi_root = {{"paths", json::object()}};
  for (const auto& g : groups_) {
    for (const auto& v : g.versions) {
      std::string key = g.name.empty() ? "api/" + v.version : "apis/" + g.name + "/" + v.version;
      add(openapi_docs_, "/openapi/v3/" + key, openapi_v3_group_version(g.name, v));
      std::string hash = openapi_docs_["/openapi/v3/" + key].etag;
      openapi_root["paths"][key] = {
          {"serverRelativeURL", "/openapi/v3/" + key + "?hash=" + hash.substr(1, 128)}};
    }
  }
  add(openapi_docs_, "/openapi/v3", openapi_root);
  json v2 = openapi_v2_document(groups_);
  add(openapi_docs_, "/openapi/v2", v2);
  std::string v2_pb = openapi_v2_protobuf(v2);
  openapi_docs_["/openapi/v2#protobuf"] = {v2_pb, discovery_etag(v2_pb)};
  if (!aggregated_) return;
  for (const char* av : {"v2", "v2beta1"}) {
    std::string api_version = std::string("apidiscovery.k8s.io/") + av;
    json core_doc = {{"kind", "APIGroupDiscoveryList"},
                     {"apiVersion", api_version},
                     {"metadata", json::object()},
                     {"items", {aggregated_group(core)}}};
    add(aggregated_docs_, std::string("api|") + av, core_doc);
    json apis = aggregated_apis_;
    apis["apiVersion"] = api_version;
    add(aggregated_docs_, std::string("apis|") + av, apis);
  }
}

const group_info* api_profile::find_group(const std::string& group) const {
  for (const auto& g : groups_)
    if (g.name == group) return &g;
  return nullptr;
}

bool api_profile::serves(const std::string& group, const std::string& version) const {
  const auto* g = find_group(group);
  if (!g) return false;
  return std::any_of(g->versions.begin(), g->versions.end(),
                     [&](const version_info& v) { return v.version == version; });
}

const resource_info* api_profile::find(const std::string& group, const std::string& version,
                                       const std::string& resource) const {
  const auto* g = find_group(group);
  if (!g) return nullptr;
  for (const auto& v : g->versions) {
    if (v.version != version) continue;
    for (const auto& r : v.resources)
      if (r.name == resource) return &r;
  }
  return nullptr;
}

response api_profile::answer(const document& doc, const std::string& content_type,
                             const std::string& if_none_match) const {
  response r;
  r.headers.push_back({"ETag", doc.etag});
  r.headers.push_back({"Vary", "Accept"});
  r.headers.push_back({"Cache-Control", "no-cache, private"});
  r.content_type = content_type;
  if (!if_none_match.empty() && if_none_match == doc.etag) {
    r.status = 304;
    r.content_type.clear();
    return r;
  }
  r.body = doc.body;
  return r;
}

std::optional<response> api_profile::discovery(const std::string& path, const std::string& accept,
                                               const std::string& if_none_match) const {
  if (path == "/openapi/v2" && accept.find(openapi_v2_protobuf_type) != std::string::npos)
    // kube-openapi labels it octet-stream: the type asked for does not parse as a MIME type.
    return answer(openapi_docs_.at("/openapi/v2#protobuf"), "application/octet-stream",
                  if_none_match);
  if (auto doc = openapi_docs_.find(path); doc != openapi_docs_.end())
    return answer(doc->second, "application/json", if_none_match);
  auto legacy = legacy_docs_.find(path);
  if (legacy == legacy_docs_.end()) return std::nullopt;
  if (path != "/api" && path != "/apis") {
    // Per-group documents exist only in legacy form; the ETag is not sent for them.
    response r;
    r.body = legacy->second.body;
    return r;
  }
  std::vector<media_offer> offers = {
      {"application",
       "json",
       {{"g", "apidiscovery.k8s.io"}, {"v", "v2"}, {"as", "APIGroupDiscoveryList"}}},
      {"application",
       "json",
       {{"g", "apidiscovery.k8s.io"}, {"v", "v2beta1"}, {"as", "APIGroupDiscoveryList"}}},
      {"application", "json", {}},
  };
  auto chosen = negotiate(accept, aggregated_ ? offers : std::vector<media_offer>{offers[2]});
  if (!aggregated_ && !chosen) {
    // Old apiservers ignored the aggregated media types and answered plain JSON.
    chosen = 0;
  }
  if (!chosen)
    return status_response(
        406, "NotAcceptable",
        "only the following media types are accepted: application/json, "
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList, "
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList");
  std::string key = path == "/api" ? "api" : "apis";
  if (aggregated_ && *chosen < 2) {
    const char* av = *chosen == 0 ? "v2" : "v2beta1";
    return answer(aggregated_docs_.at(key + "|" + av), to_content_type(offers[*chosen]),
                  if_none_match);
  }
  return answer(legacy->second, "application/json", if_none_match);
}

}  // namespace fake_apiserver
