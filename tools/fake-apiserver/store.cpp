#include "store.hpp"

#include <chrono>
#include <ctime>
#include <random>

namespace fake_apiserver {
namespace {

constexpr size_t history_limit = 10000;

// Changes other than metadata/status bump metadata.generation, as for spec changes.
bool spec_changed(const json& before, const json& after) {
  json a = before, b = after;
  for (auto* j : {&a, &b}) {
    j->erase("metadata");
    j->erase("status");
    j->erase("apiVersion");
    j->erase("kind");
  }
  return a != b;
}

}  // namespace

std::string now_rfc3339() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string random_uid() {
  static std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<uint64_t> d;
  uint64_t hi = d(rng), lo = d(rng);
  hi = (hi & ~0xF000ULL) | 0x4000ULL;                         // version 4
  lo = (lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xFFFF), static_cast<unsigned>(hi & 0xFFFF),
                static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
  return buf;
}

object_store::object_store() {
  for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    create({"", "namespaces"}, "",
           {{"apiVersion", "v1"},
            {"kind", "Namespace"},
            {"metadata", {{"name", ns}, {"labels", {{"kubernetes.io/metadata.name", ns}}}}},
            {"spec", {{"finalizers", {"kubernetes"}}}},
            {"status", {{"phase", "Active"}}}});
  }
}

object_store::result object_store::create(const group_resource& gr, const std::string& ns,
                                          json object) {
  auto& bucket = objects_[gr];
  std::string name = object["metadata"].value("name", "");
  key k{ns, name};
  if (bucket.count(k)) return {outcome::already_exists, bucket[k]};
  auto& meta = object["metadata"];
  if (!ns.empty()) meta["namespace"] = ns;
  meta["uid"] = random_uid();
  meta["creationTimestamp"] = now_rfc3339();
  meta["resourceVersion"] = std::to_string(++rv_);
  // Only objects with a spec track generations (as built-in types do).
  if (object.contains("spec")) meta["generation"] = 1;
  meta.erase("deletionTimestamp");
  bucket[k] = object;
  emit({"ADDED", object, nullptr, rv_, gr});
  return {outcome::ok, object};
}

object_store::result object_store::get(const group_resource& gr, const std::string& ns,
                                       const std::string& name) const {
  auto b = objects_.find(gr);
  if (b == objects_.end()) return {outcome::not_found, nullptr};
  auto it = b->second.find({ns, name});
  if (it == b->second.end()) return {outcome::not_found, nullptr};
  return {outcome::ok, it->second};
}

std::vector<json> object_store::list(const group_resource& gr, const std::string& ns) const {
  std::vector<json> out;
  auto b = objects_.find(gr);
  if (b == objects_.end()) return out;
  for (const auto& [k, obj] : b->second)
    if (ns.empty() || k.first == ns) out.push_back(obj);
  return out;
}

object_store::result object_store::update(const group_resource& gr, const std::string& ns,
                                          const std::string& name, json object) {
  auto b = objects_.find(gr);
  if (b == objects_.end()) return {outcome::not_found, nullptr};
  auto it = b->second.find({ns, name});
  if (it == b->second.end()) return {outcome::not_found, nullptr};
  json previous = it->second;
  const auto& old_meta = previous["metadata"];
  auto& meta = object["metadata"];
  std::string wanted_rv = meta.value("resourceVersion", "");
  if (!wanted_rv.empty() && wanted_rv != old_meta.value("resourceVersion", ""))
    return {outcome::conflict, previous};
  // Fields the server owns survive any update.
  meta["name"] = name;
  if (!ns.empty()) meta["namespace"] = ns;
  meta["uid"] = old_meta["uid"];
  meta["creationTimestamp"] = old_meta["creationTimestamp"];
  if (object.contains("spec")) {
    int64_t generation = old_meta.value("generation", int64_t{1});
    meta["generation"] = spec_changed(previous, object) ? generation + 1 : generation;
  }
  meta["resourceVersion"] = std::to_string(++rv_);
  it->second = object;
  emit({"MODIFIED", object, previous, rv_, gr});
  return {outcome::ok, object};
}

object_store::result object_store::remove(const group_resource& gr, const std::string& ns,
                                          const std::string& name) {
  auto b = objects_.find(gr);
  if (b == objects_.end()) return {outcome::not_found, nullptr};
  auto it = b->second.find({ns, name});
  if (it == b->second.end()) return {outcome::not_found, nullptr};
  json previous = it->second;
  b->second.erase(it);
  json gone = previous;
  // The DELETED event carries the final state at a new resourceVersion.
  gone["metadata"]["resourceVersion"] = std::to_string(++rv_);
  emit({"DELETED", gone, previous, rv_, gr});
  return {outcome::ok, gone};
}

bool object_store::namespace_exists(const std::string& ns) const {
  return get({"", "namespaces"}, "", ns).status == outcome::ok;
}

uint64_t object_store::subscribe(listener l) {
  uint64_t id = next_listener_++;
  listeners_[id] = std::move(l);
  return id;
}

void object_store::unsubscribe(uint64_t id) { listeners_.erase(id); }

bool object_store::events_since(const group_resource& gr, uint64_t since,
                                std::vector<watch_event>& out) const {
  if (since < oldest_kept_) return false;
  for (const auto& ev : history_)
    if (ev.resource_version > since && ev.gr == gr) out.push_back(ev);
  return true;
}

uint64_t object_store::last_change(const group_resource& gr) const {
  auto it = last_change_.find(gr);
  return it == last_change_.end() ? 0 : it->second;
}

void object_store::emit(watch_event ev) {
  last_change_[ev.gr] = ev.resource_version;
  history_.push_back(ev);
  if (history_.size() > history_limit) {
    oldest_kept_ = history_.front().resource_version;
    history_.pop_front();
  }
  // Listeners may unsubscribe (or subscribe) while being told; walk a snapshot.
  std::vector<uint64_t> ids;
  for (const auto& [id, l] : listeners_) ids.push_back(id);
  for (auto id : ids) {
    auto it = listeners_.find(id);
    if (it != listeners_.end()) it->second(ev);
  }
}

}  // namespace fake_apiserver
