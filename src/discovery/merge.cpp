#include "mvproxy/discovery/merge.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <queue>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace mvproxy::discovery {
namespace {

bool is_unique(const std::vector<std::string>& list) {
  std::unordered_set<std::string_view> seen;
  for (const auto& item : list)
    if (!seen.insert(item).second) return false;
  return true;
}

// Takes from `by_name` the entries named in `order`, in that order, each once.
template <class T>
std::vector<T> take_in_order(std::unordered_map<std::string, T>& by_name,
                             const std::vector<std::string>& order) {
  std::vector<T> out;
  out.reserve(order.size());
  for (const auto& name : order) {
    auto it = by_name.find(name);
    if (it == by_name.end()) continue;
    out.push_back(std::move(it->second));
    by_name.erase(it);
  }
  return out;
}

// The union of two resources' capabilities; the other fields come from `a`.
resource_info merge_capabilities(const resource_info& a, const resource_info& b) {
  std::set<std::string> verbs(a.verbs.begin(), a.verbs.end());
  verbs.insert(b.verbs.begin(), b.verbs.end());
  std::map<std::string, subresource_info> subs;
  for (const auto& s : a.subresources) subs.insert_or_assign(s.name, s);
  for (const auto& s : b.subresources) subs.insert_or_assign(s.name, s);

  resource_info merged = a.name.empty() ? b : a;
  merged.verbs.assign(verbs.begin(), verbs.end());
  merged.subresources.clear();
  for (auto& [name, s] : subs) merged.subresources.push_back(std::move(s));
  return merged;
}

template <class T, class Name>
std::vector<std::string> names_of(const std::vector<T>& items, Name name) {
  std::vector<std::string> out;
  out.reserve(items.size());
  for (const auto& item : items) out.push_back(name(item));
  return out;
}

// Returns the merged version and whether anything of `b` changed `a`.
std::pair<version_info, bool> merge_version(const version_info& a, const version_info& b) {
  auto resource_name = [](const resource_info& r) { return r.name; };
  std::vector<std::string> a_names = names_of(a.resources, resource_name);
  std::vector<std::string> b_names = names_of(b.resources, resource_name);
  std::unordered_map<std::string, resource_info> by_name;
  for (const auto& r : a.resources) by_name.insert_or_assign(r.name, r);

  bool changed = false;
  for (const auto& r : b.resources) {
    auto it = by_name.find(r.name);
    if (it == by_name.end()) {
      by_name.emplace(r.name, r);
    } else if (!(it->second == r)) {
      changed = true;
      it->second = merge_capabilities(it->second, r);
    }
  }
  bool same_names = a_names == b_names;
  if (!changed && same_names) return {a, false};
  std::vector<std::string> order =
      same_names ? a_names
                 : merge_preserving_relative_order(
                       std::vector<std::vector<std::string>>{a_names, b_names});
  return {version_info{a.version, take_in_order(by_name, order), a.freshness}, true};
}

group_info merge_group(const group_info& a, const group_info& b) {
  auto version_name = [](const version_info& v) { return v.version; };
  std::vector<std::string> a_names = names_of(a.versions, version_name);
  std::vector<std::string> b_names = names_of(b.versions, version_name);
  std::unordered_map<std::string, version_info> by_name;
  for (const auto& v : a.versions) by_name.insert_or_assign(v.version, v);

  bool changed = false;
  for (const auto& v : b.versions) {
    auto it = by_name.find(v.version);
    if (it == by_name.end()) {
      by_name.emplace(v.version, v);
    } else {
      auto [merged, did_merge] = merge_version(it->second, v);
      it->second = std::move(merged);
      changed = changed || did_merge;
    }
  }
  bool same_names = a_names == b_names;
  if (!changed && same_names) return a;
  std::vector<std::string> order =
      same_names ? a_names
                 : merge_preserving_relative_order(
                       std::vector<std::vector<std::string>>{a_names, b_names});
  return group_info{a.name, take_in_order(by_name, order)};
}

}  // namespace

std::vector<std::string> merge_preserving_relative_order(
    std::span<const std::vector<std::string>> lists) {
  struct node {
    std::unordered_set<std::string> next;
    int in_degree = 0;
  };
  std::unordered_map<std::string, node> graph;
  for (const auto& list : lists) {
    for (std::size_t i = 0; i < list.size(); ++i) {
      node& n = graph[list[i]];
      if (i + 1 < list.size() && n.next.insert(list[i + 1]).second) graph[list[i + 1]].in_degree++;
    }
  }
  for (const auto& list : lists)
    if (list.size() == graph.size() && is_unique(list)) return list;

  // Kahn's algorithm; among the items free to go next, the lexically smallest.
  std::priority_queue<std::string, std::vector<std::string>, std::greater<>> ready;
  for (const auto& [name, n] : graph)
    if (n.in_degree == 0) ready.push(name);
  std::vector<std::string> out;
  out.reserve(graph.size());
  while (!ready.empty()) {
    std::string current = ready.top();
    ready.pop();
    for (const auto& next : graph[current].next)
      if (--graph[next].in_degree == 0) ready.push(next);
    out.push_back(std::move(current));
  }
  if (out.size() != graph.size()) {
    // A cycle: the lists contradict each other. Lexical order is still deterministic.
    out.clear();
    for (const auto& [name, n] : graph) out.push_back(name);
    std::sort(out.begin(), out.end());
  }
  return out;
}

server_model merge_models(std::span<const server_model* const> servers) {
  std::vector<const server_model*> present;
  for (const auto* s : servers)
    if (s != nullptr) present.push_back(s);
  if (present.empty()) return {};
  if (present.size() == 1) return *present.front();

  std::unordered_map<std::string, group_info> by_name;
  std::vector<std::vector<std::string>> group_orders;
  group_orders.reserve(present.size());
  for (const auto* server : present) {
    std::vector<std::string> names;
    names.reserve(server->groups().size());
    for (const auto& g : server->groups()) {
      auto it = by_name.find(g.name);
      if (it == by_name.end()) {
        by_name.emplace(g.name, g);
      } else {
        it->second = merge_group(it->second, g);
      }
      names.push_back(g.name);
    }
    group_orders.push_back(std::move(names));
  }
  return server_model(take_in_order(by_name, merge_preserving_relative_order(group_orders)));
}

server_model merge_models(std::span<const server_model_ptr> servers) {
  std::vector<const server_model*> raw;
  raw.reserve(servers.size());
  for (const auto& s : servers) raw.push_back(s.get());
  return merge_models(std::span<const server_model* const>(raw));
}

}  // namespace mvproxy::discovery
