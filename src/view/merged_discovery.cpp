#include "mvproxy/view/merged_discovery.hpp"

#include <algorithm>
#include <vector>

#include <nlohmann/json.hpp>

#include "mvproxy/discovery/merge.hpp"
#include "mvproxy/discovery/render.hpp"
#include "mvproxy/metrics/registry.hpp"

namespace mvproxy::view {

namespace {

std::size_t slot(discovery_root root, discovery::discovery_format f) {
  return static_cast<std::size_t>(root) * 3 + static_cast<std::size_t>(f);
}

// The servers that take part in the merge, in server-id order: the local apiserver
// under this sidecar's id, and each peer whose discovery has been read — reachable or
// not: a peer stays in with its last known discovery while it is a member (its Lease
// lives, or it is configured), so discovery is the same everywhere and does not shrink
// when a peer fails (KEP-4020: its resources answer 503, they do not vanish; the
// garbage collector and the namespace controller act on discovery).
std::vector<std::pair<std::string_view, discovery::server_model_ptr>> merge_inputs(
    const cluster_view& v) {
  std::vector<std::pair<std::string_view, discovery::server_model_ptr>> in;
  if (v.local) in.emplace_back(v.own_id, v.local);
  for (auto& p : v.peers)
    if (p.model) in.emplace_back(p.endpoint.id, p.model);
  std::stable_sort(in.begin(), in.end(), [](auto& a, auto& b) { return a.first < b.first; });
  return in;
}

}  // namespace

std::string merged_discovery::key_for(const cluster_view& view) const {
  // The models are immutable and replaced on change, so their addresses identify them.
  std::string key;
  for (auto& [id, model] : merge_inputs(view)) {
    key.append(id);
    key.push_back('@');
    key.append(std::to_string(reinterpret_cast<std::uintptr_t>(model.get())));
    key.push_back(';');
  }
  return key;
}

std::string merged_discovery::describe_inputs(const cluster_view& view) const {
  std::string out;
  for (auto& [id, model] : merge_inputs(view)) {
    if (!out.empty()) out += ",";
    out.append(id);
  }
  return out;
}

std::shared_ptr<const merged_document> merged_discovery::get(const cluster_view& view,
                                                             discovery_root root,
                                                             discovery::discovery_format format) {
  if (!view.local) return nullptr;
  std::string key = key_for(view);
  std::lock_guard lock(mu_);
  if (current_ && current_->key == key) {
    if (hits_) hits_->inc();
    return current_->docs[slot(root, format)];
  }
  if (misses_) misses_->inc();
  auto next = std::make_shared<rendered>();
  for (auto& [id, model] : merge_inputs(view)) next->inputs.push_back(model);
  auto merged = discovery::merge_models(std::span<const discovery::server_model_ptr>(next->inputs));
  next->key = std::move(key);
  using discovery::discovery_format;
  auto make = [&](discovery_root r, discovery_format f, std::string body) {
    auto d = std::make_shared<merged_document>();
    d->etag = discovery::etag_for(body);
    d->body = std::move(body);
    d->content_type = discovery::content_type_for(f);
    next->docs[slot(r, f)] = std::move(d);
  };
  for (auto f : {discovery_format::aggregated_v2, discovery_format::aggregated_v2beta1}) {
    auto v = f == discovery_format::aggregated_v2 ? discovery::aggregated_version::v2
                                                  : discovery::aggregated_version::v2beta1;
    make(discovery_root::apis, f, discovery::render_aggregated_apis(merged, v));
    make(discovery_root::api, f, discovery::render_aggregated_api(merged, v));
  }
  make(discovery_root::apis, discovery_format::legacy, discovery::render_group_list(merged));
  make(discovery_root::api, discovery_format::legacy, discovery::render_api_versions(merged));
  next->merged = std::make_shared<const discovery::server_model>(std::move(merged));
  current_ = next;
  return current_->docs[slot(root, format)];
}

std::shared_ptr<const merged_document> merged_discovery::get_group(const cluster_view& view,
                                                                   std::string_view group) {
  if (!get(view, discovery_root::apis, discovery::discovery_format::legacy)) return nullptr;
  std::lock_guard lock(mu_);
  auto& cur = *current_;
  // Rendered once per group and merge; a group nobody serves is remembered as null.
  auto it = cur.groups.find(group);
  if (it != cur.groups.end()) return it->second;
  std::shared_ptr<const merged_document> doc;
  if (auto body = discovery::render_api_group(*cur.merged, group)) {
    auto d = std::make_shared<merged_document>();
    d->etag = discovery::etag_for(*body);
    d->body = std::move(*body);
    d->content_type = discovery::content_type_for(discovery::discovery_format::legacy);
    doc = std::move(d);
  }
  // Bounded: groups are few, but the name comes from the request.
  if (cur.groups.size() < 512) cur.groups.emplace(std::string(group), doc);
  return doc;
}

namespace {

// "apis/<g>/<v>" or "api/<v>" (an index key) as a gv_key; empty for anything else.
std::string gv_of_openapi_key(std::string_view key) {
  if (key.substr(0, 4) == "api/") return std::string(key.substr(4));
  if (key.substr(0, 5) == "apis/") return std::string(key.substr(5));
  return {};
}

}  // namespace

std::shared_ptr<const merged_document> merged_discovery::get_openapi_index(
    const cluster_view& view) {
  if (!view.local_sync.openapi_index) return nullptr;
  std::string key =
      std::to_string(reinterpret_cast<std::uintptr_t>(view.local_sync.openapi_index.get()));
  for (auto& p : view.peers)
    key += ";" + std::to_string(reinterpret_cast<std::uintptr_t>(p.sync.openapi_index.get()));
  key += ";" + std::to_string(reinterpret_cast<std::uintptr_t>(view.excluded.get()));
  std::lock_guard lock(mu_);
  if (openapi_ && openapi_key_ == key) return openapi_;
  nlohmann::json paths = nlohmann::json::object();
  auto add = [&](const std::string& doc, bool peer) {
    auto j = nlohmann::json::parse(doc, nullptr, false);
    if (!j.is_object() || !j.contains("paths") || !j["paths"].is_object()) return;
    for (auto& [k, v] : j["paths"].items()) {
      if (paths.contains(k)) continue;
      if (peer && view.excluded && view.excluded->count(gv_of_openapi_key(k))) continue;
      paths[k] = v;
    }
  };
  add(*view.local_sync.openapi_index, false);
  for (auto& p : view.peers)
    if (p.sync.openapi_index) add(*p.sync.openapi_index, true);
  auto d = std::make_shared<merged_document>();
  d->body = nlohmann::json{{"paths", std::move(paths)}}.dump();
  d->etag = discovery::etag_for(d->body);
  d->content_type = "application/json";
  openapi_key_ = std::move(key);
  openapi_ = std::move(d);
  return openapi_;
}

}  // namespace mvproxy::view
