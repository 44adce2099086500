#include "mvproxy/discovery/exclusion.hpp"

#include <nlohmann/json.hpp>

namespace mvproxy::discovery {

std::string gv_key(std::string_view group, std::string_view version) {
  return group.empty() ? std::string(version) : std::string(group) + "/" + std::string(version);
}

namespace {

using nlohmann::json;

const json* items_of(const json& doc, std::string_view kind, std::string* error) {
  if (!doc.is_object() || doc.value("kind", "") != kind) {
    if (error) *error = "not a " + std::string(kind);
    return nullptr;
  }
  auto it = doc.find("items");
  if (it == doc.end() || !(it->is_array() || it->is_null())) {
    if (error) *error = std::string(kind) + " without items";
    return nullptr;
  }
  return &*it;
}

std::string text(const json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::optional<gv_set> gvs_of_crds(std::string_view list_json, std::string* error) {
  auto doc = json::parse(list_json, nullptr, false);
  const json* items = items_of(doc, "CustomResourceDefinitionList", error);
  if (!items) return std::nullopt;
  gv_set out;
  if (items->is_null()) return out;
  for (auto& crd : *items) {
    auto spec = crd.find("spec");
    if (spec == crd.end() || !spec->is_object()) continue;
    std::string group = text(*spec, "group");
    auto versions = spec->find("versions");
    if (group.empty() || versions == spec->end() || !versions->is_array()) continue;
    for (auto& v : *versions)
      if (v.is_object() && !text(v, "name").empty()) out.insert(gv_key(group, text(v, "name")));
  }
  return out;
}

std::optional<gv_set> gvs_of_apiservices(std::string_view list_json, std::string* error) {
  auto doc = json::parse(list_json, nullptr, false);
  const json* items = items_of(doc, "APIServiceList", error);
  if (!items) return std::nullopt;
  gv_set out;
  if (items->is_null()) return out;
  for (auto& svc : *items) {
    auto spec = svc.find("spec");
    if (spec == svc.end() || !spec->is_object()) continue;
    auto service = spec->find("service");
    if (service == spec->end() || !service->is_object()) continue;  // local: a built-in
    if (!text(*spec, "version").empty())
      out.insert(gv_key(text(*spec, "group"), text(*spec, "version")));
  }
  return out;
}

bool exclusion_tracker::update(const gv_set& active, time_point now) {
  const gv_set before = excluded();
  for (auto& gv : active_)
    if (!active.count(gv)) deleted_.insert_or_assign(gv, now);
  for (auto& gv : active) deleted_.erase(gv);  // created again
  for (auto it = deleted_.begin(); it != deleted_.end();)
    it = now - it->second >= grace_ ? deleted_.erase(it) : std::next(it);
  active_ = active;
  return excluded() != before;
}

gv_set exclusion_tracker::excluded() const {
  gv_set out = active_;
  for (auto& [gv, when] : deleted_) out.insert(gv);
  return out;
}

std::optional<exclusion_tracker::time_point> exclusion_tracker::next_expiry() const {
  std::optional<time_point> next;
  for (auto& [gv, when] : deleted_)
    if (!next || when + grace_ < *next) next = when + grace_;
  return next;
}

server_model_ptr without(const server_model_ptr& model, const gv_set& excluded) {
  if (!model || excluded.empty()) return model;
  bool any = false;
  for (auto& g : model->groups())
    for (auto& v : g.versions) any = any || excluded.count(gv_key(g.name, v.version));
  if (!any) return model;
  std::vector<group_info> groups;
  for (auto& g : model->groups()) {
    group_info kept{g.name, {}};
    for (auto& v : g.versions)
      if (!excluded.count(gv_key(g.name, v.version))) kept.versions.push_back(v);
    if (!kept.versions.empty()) groups.push_back(std::move(kept));
  }
  return std::make_shared<const server_model>(std::move(groups));
}

}  // namespace mvproxy::discovery
