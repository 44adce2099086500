// Classifies and routes arbitrary requests. Input: "METHOD\nPATH\nQUERY" (missing
// parts are empty). Beyond "no crash, no sanitizer report", the invariants that keep
// routing safe are checked: a malformed request is never a resource request and never
// leaves the local apiserver; every field of a resource request is a slash-free, unescaped
// piece of the path; copies agree with the original; the router names only capable peers.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "mvproxy/request/request_info.hpp"
#include "mvproxy/routing/router.hpp"

namespace {

using mvproxy::request::request_info;
using namespace std::string_view_literals;

void check(bool ok) {
  if (!ok) std::abort();
}

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

bool plain_segment(std::string_view s) {
  return s.find('/') == std::string_view::npos && s.find('%') == std::string_view::npos;
}

bool same(const request_info& a, const request_info& b) {
  return a.is_resource_request == b.is_resource_request && a.malformed == b.malformed &&
         a.path == b.path && a.verb == b.verb && a.api_prefix == b.api_prefix &&
         a.api_group == b.api_group && a.api_version == b.api_version &&
         a.namespace_name == b.namespace_name && a.resource == b.resource &&
         a.subresource == b.subresource && a.name == b.name && a.parts == b.parts &&
         a.discovery.kind == b.discovery.kind && a.discovery.group == b.discovery.group &&
         a.discovery.version == b.discovery.version;
}

mvproxy::discovery::server_model_ptr make_model(bool with_new) {
  using namespace mvproxy::discovery;
  auto resource = [](std::string name, std::vector<std::string> subs) {
    resource_info r;
    r.name = std::move(name);
    for (auto& s : subs) r.subresources.push_back(subresource_info{std::move(s), {}, {}, {}});
    return r;
  };
  std::vector<group_info> groups{
      {"",
       {{"v1",
         {resource("pods", {"exec", "log", "status"}), resource("namespaces", {"finalize"})},
         {}}}},
      {"apps", {{"v1", {resource("deployments", {"scale"})}, {}}}}};
  if (with_new) groups.push_back({"new.example.com", {{"v1", {resource("widgets", {})}, {}}}});
  return std::make_shared<const server_model>(std::move(groups));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto cut = [&in]() {
    auto nl = in.find('\n');
    std::string_view head = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);
    return head;
  };
  const std::string_view method = cut();
  const std::string_view path = cut();
  const std::string_view query = in;

  const request_info info = mvproxy::request::classify(method, path, query);
  check(info.path == path);
  check(!info.verb.empty() || info.is_resource_request || method.empty());

  if (info.is_malformed()) {
    check(!info.is_resource_request);
    check(info.resource.empty() && info.name.empty());
    check(info.discovery.kind == mvproxy::request::discovery_kind::none);
  }
  if (info.is_resource_request) {
    check(info.api_prefix == "api"sv || info.api_prefix == "apis"sv);
    check((info.api_prefix == "api"sv) == info.api_group.empty());
    for (std::string_view s : {info.api_prefix, info.api_group, info.api_version,
                               info.namespace_name, info.resource, info.subresource}) {
      check(plain_segment(s));
      check(inside(s, path));
    }
    check(!info.api_version.empty() && !info.resource.empty());
    check(info.subresource.empty() || !info.name.empty());
    check(info.parts.starts_with(info.resource));
    check(path.substr(1).find(info.parts) != std::string_view::npos);
    check(info.name.find("%2F"sv) == std::string_view::npos &&
          info.name.find("%2f"sv) == std::string_view::npos);
    check(info.name != "."sv && info.name != ".."sv);
    static constexpr std::string_view verbs[] = {
        "",     "get", "list", "watch", "create", "update", "patch", "delete", "deletecollection",
        "proxy"};
    bool known = false;
    for (auto v : verbs) known = known || info.verb == v;
    check(known);
    check(info.discovery.kind == mvproxy::request::discovery_kind::none);
  } else if (!info.is_malformed()) {
    check(mvproxy::request::classify_discovery_path(path).kind == info.discovery.kind);
  }

  // Copies rebind their own storage: they agree with the original after it is gone.
  auto heap = std::make_unique<request_info>(info);
  request_info copy = *heap;
  heap.reset();
  check(same(copy, info));

  static const auto local = make_model(false);
  static const auto peer = make_model(true);
  const mvproxy::routing::peer_view peers[] = {
      {"a", peer, true}, {"b", local, true}, {"c", peer, size % 3 == 0}};
  mvproxy::routing::route_input r;
  r.info = &info;
  r.local = local;
  r.peers = peers;
  r.random = size * 2654435761u;
  r.view = static_cast<mvproxy::routing::discovery_view>(size % 4);
  const auto d = mvproxy::routing::route(r);
  if (info.is_malformed()) {
    check(d.kind == mvproxy::routing::route_kind::local && d.failover.empty());
  }
  check(d.kind == mvproxy::routing::route_kind::peer || d.candidates.empty());
  for (const auto& id : d.candidates) check(id == "a" || id == "c");
  check(!d.reason.empty());
  return 0;
}
