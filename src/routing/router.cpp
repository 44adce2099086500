#include "mvproxy/routing/router.hpp"

#include <algorithm>

namespace mvproxy::routing {
namespace {

using namespace std::string_view_literals;
using request::discovery_kind;

route_decision decision(route_kind kind, std::string_view reason) {
  route_decision d;
  d.kind = kind;
  d.reason = reason;
  return d;
}

// What a server must serve to answer the request.
struct target {
  enum class scope { resource, group, group_version };
  scope what = scope::resource;
  std::string_view group;
  std::string_view version;
  std::string_view resource;
  std::string_view subresource;

  bool served_by(const discovery::server_model& m) const {
    switch (what) {
      case scope::resource:
        return m.serves(group, version, resource, subresource);
      case scope::group:
        return m.serves_group(group);
      case scope::group_version:
        return m.serves_group_version(group, version);
    }
    return false;
  }
};

struct capable_peers {
  std::vector<std::string> healthy;  // rotated to a random start
  bool any_unhealthy = false;
};

// Peers whose discovery serves the target. The healthy ones come back in server-id
// order rotated to start at a uniformly drawn one, so the first choice is uniform and
// the rest of the order is still deterministic for a given `random`.
capable_peers find_capable(const route_input& in, const target& t) {
  capable_peers out;
  for (const peer_view& p : in.peers) {
    if (!p.model || !t.served_by(*p.model)) continue;
    if (p.healthy) {
      out.healthy.push_back(p.id);
    } else {
      out.any_unhealthy = true;
    }
  }
  if (out.healthy.size() > 1) {
    auto start = static_cast<std::ptrdiff_t>(in.random % out.healthy.size());
    std::rotate(out.healthy.begin(), out.healthy.begin() + start, out.healthy.end());
  }
  return out;
}

// Rules 4-8 for one target (rule 9 uses it with a group or group version).
route_decision route_target(const route_input& in, const target& t) {
  capable_peers capable = find_capable(in, t);
  route_decision d;
  // Until the first local sync, pass through as upstream does.
  if (!in.local) {
    d = decision(route_kind::local, "not-synced"sv);
  } else if (t.served_by(*in.local)) {
    d = decision(route_kind::local, "local"sv);
  } else if (!capable.healthy.empty()) {
    // Beyond upstream: the local apiserver has the resource but not this subresource.
    const bool subresource_only = t.what == target::scope::resource && !t.subresource.empty() &&
                                  in.local->serves(t.group, t.version, t.resource);
    d = decision(route_kind::peer, subresource_only ? "subresource"sv : "peer"sv);
    d.candidates = std::move(capable.healthy);
    return d;
  } else if (capable.any_unhealthy) {
    return decision(route_kind::unavailable, "no-healthy-peer"sv);
  } else {
    // Nobody serves it: the local apiserver answers its own 404.
    return decision(route_kind::local, "not-served"sv);
  }
  d.failover = std::move(capable.healthy);
  return d;
}

bool is_read(std::string_view verb) { return verb == "get"sv || verb == "head"sv; }

}  // namespace

route_decision route(const route_input& in) {
  const request::request_info& info = *in.info;
  // Callers answer 400 before routing; never send such a request anywhere else.
  if (info.is_malformed()) return decision(route_kind::local, "malformed"sv);
  if (!in.feature_enabled) return decision(route_kind::local, "gate-off"sv);
  // At most one hop.
  if (in.from_trusted_peer_proxied) return decision(route_kind::local, "peer-proxied"sv);

  if (info.is_resource_request) {
    return route_target(in, {target::scope::resource, info.api_group, info.api_version,
                             info.resource, info.subresource});
  }

  switch (info.discovery.kind) {
    case discovery_kind::api_root:
    case discovery_kind::apis_root:
      if (!is_read(info.verb)) break;
      if (in.view == discovery_view::aggregated_nopeer) {
        return decision(route_kind::local, "nopeer"sv);
      }
      if (in.view == discovery_view::aggregated || in.view == discovery_view::legacy_json) {
        // A merge without the local apiserver's part would hide its APIs.
        if (!in.local) return decision(route_kind::local, "not-synced"sv);
        return decision(route_kind::merged_discovery, "merged"sv);
      }
      break;
    case discovery_kind::group:
      if (!is_read(info.verb)) break;
      return route_target(in, {target::scope::group, info.discovery.group, {}, {}, {}});
    case discovery_kind::group_version:
      if (!is_read(info.verb)) break;
      return route_target(in, {target::scope::group_version, info.discovery.group,
                               info.discovery.version, {}, {}});
    case discovery_kind::api_version:
    case discovery_kind::none:
      break;
  }
  return decision(route_kind::local, "non-resource"sv);
}

std::string_view to_string(route_kind kind) {
  switch (kind) {
    case route_kind::local:
      return "local";
    case route_kind::peer:
      return "peer";
    case route_kind::merged_discovery:
      return "merged_discovery";
    case route_kind::unavailable:
      return "unavailable";
  }
  return "unknown";
}

}  // namespace mvproxy::routing
