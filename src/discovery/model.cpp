#include "mvproxy/discovery/model.hpp"

#include <array>
#include <cstring>

namespace mvproxy::discovery {
namespace {

// Joins parts with '/' into a stack buffer when it fits, so the hot lookup path of
// every proxied request does not allocate.
class joined_key {
 public:
  joined_key(std::initializer_list<std::string_view> parts) {
    std::size_t total = parts.size() - 1;
    for (auto p : parts) total += p.size();
    char* out = total <= small_.size() ? small_.data() : (large_.resize(total), large_.data());
    std::size_t at = 0;
    bool first = true;
    for (auto p : parts) {
      if (!first) out[at++] = '/';
      first = false;
      if (!p.empty()) std::memcpy(out + at, p.data(), p.size());
      at += p.size();
    }
    view_ = std::string_view(out, total);
  }
  joined_key(const joined_key&) = delete;
  joined_key& operator=(const joined_key&) = delete;
  std::string_view view() const { return view_; }

 private:
  std::array<char, 256> small_;
  std::string large_;
  std::string_view view_;
};

}  // namespace

server_model::server_model(std::vector<group_info> groups) : groups_(std::move(groups)) {
  build_index();
}

server_model::server_model(const server_model& other) : groups_(other.groups_) { build_index(); }

server_model& server_model::operator=(const server_model& other) {
  if (this != &other) {
    groups_ = other.groups_;
    build_index();
  }
  return *this;
}

void server_model::build_index() {
  resources_.clear();
  group_versions_.clear();
  group_names_.clear();
  for (const auto& g : groups_) {
    group_names_.try_emplace(g.name, &g);
    for (const auto& v : g.versions) {
      group_versions_.try_emplace(std::string(joined_key{g.name, v.version}.view()), &v);
      for (const auto& r : v.resources)
        resources_.try_emplace(std::string(joined_key{g.name, v.version, r.name}.view()), &r);
    }
  }
}

const resource_info* server_model::find(std::string_view group, std::string_view version,
                                        std::string_view resource) const {
  joined_key key{group, version, resource};
  auto it = resources_.find(key.view());
  return it == resources_.end() ? nullptr : it->second;
}

const group_info* server_model::find_group(std::string_view group) const {
  auto it = group_names_.find(group);
  return it == group_names_.end() ? nullptr : it->second;
}

const version_info* server_model::find_version(std::string_view group,
                                               std::string_view version) const {
  joined_key key{group, version};
  auto it = group_versions_.find(key.view());
  return it == group_versions_.end() ? nullptr : it->second;
}

bool server_model::serves(std::string_view group, std::string_view version,
                          std::string_view resource, std::string_view subresource) const {
  const resource_info* r = find(group, version, resource);
  if (r == nullptr) return false;
  if (subresource.empty()) return true;
  for (const auto& s : r->subresources)
    if (s.name == subresource) return true;
  return false;
}

bool server_model::serves_group_version(std::string_view group, std::string_view version) const {
  return find_version(group, version) != nullptr;
}

bool server_model::serves_group(std::string_view group) const {
  return find_group(group) != nullptr;
}

}  // namespace mvproxy::discovery
