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

// The local apiserver's view can be routed by: it is up, or not known otherwise.
bool confirmed(apiserver_state s) {
  return s == apiserver_state::up || s == apiserver_state::unknown;
}

struct capable_peers {
  std::vector<std::string> healthy;  // serve it, reachable, apiserver up: random start
  // Reachable peers whose apiserver went away or was never read: they may serve it by
  // now, so they are asked (and hand the request back when they cannot).
  std::vector<std::string> in_doubt;
  // Of those, the ones whose last discovery served it: the fallback after `healthy`.
  std::vector<std::string> away;
  // A peer whose last discovery serves it cannot be reached, or its apiserver is down.
  bool any_unreachable = false;
};

// In server-id order rotated to start at a uniformly drawn one, so the first choice is
// uniform and the rest of the order is still deterministic for a given `random`.
void rotate_to_random(std::vector<std::string>& ids, std::uint64_t random) {
  if (ids.size() < 2) return;
  auto start = static_cast<std::ptrdiff_t>(random % ids.size());
  std::rotate(ids.begin(), ids.begin() + start, ids.end());
}

capable_peers find_capable(const route_input& in, const target& t) {
  capable_peers out;
  for (const peer_view& p : in.peers) {
    const bool serves = p.model && t.served_by(*p.model);
    if (p.healthy && confirmed(p.apiserver)) {
      if (serves)
        out.healthy.push_back(p.id);
      else if (!p.model)
        out.in_doubt.push_back(p.id);
      continue;
    }
    if (serves) out.any_unreachable = true;
    if (p.healthy) out.in_doubt.push_back(p.id);
    if (p.healthy && serves) out.away.push_back(p.id);
  }
  rotate_to_random(out.healthy, in.random);
  rotate_to_random(out.in_doubt, in.random);
  rotate_to_random(out.away, in.random);
  return out;
}

route_decision to_peers(std::string_view reason, std::vector<std::string> ids, bool then_local) {
  route_decision d = decision(route_kind::peer, reason);
  d.candidates = std::move(ids);
  d.then_local = then_local;
  return d;
}

// Rules 4-8 for one target (rule 9 uses it with a group or group version).
route_decision route_target(const route_input& in, const target& t) {
  capable_peers capable = find_capable(in, t);
  // Until the first local sync, pass through as upstream does.
  if (!in.local) {
    route_decision d = decision(route_kind::local, "not-synced"sv);
    d.failover = std::move(capable.healthy);
    return d;
  }
  if (!confirmed(in.local_state) && !in.wait_expired) {
    // The local apiserver went away and may come back as another version: its last
    // discovery is not trusted. A peer that serves the request takes it; anything
    // else waits for the re-read.
    auto reason = in.local_state == apiserver_state::down ? "local-down"sv : "local-unconfirmed"sv;
    if (!capable.healthy.empty()) return to_peers(reason, std::move(capable.healthy), true);
    route_decision d = decision(route_kind::wait_local, reason);
    d.wait = wait_for::recovery;
    return d;
  }
  if (t.served_by(*in.local)) {
    route_decision d = decision(route_kind::local, "local"sv);
    d.failover = std::move(capable.healthy);
    return d;
  }
  if (!capable.healthy.empty()) {
    // Beyond upstream: the local apiserver has the resource but not this subresource.
    const bool subresource_only = t.what == target::scope::resource && !t.subresource.empty() &&
                                  in.local->serves(t.group, t.version, t.resource);
    // When every healthy one hands the request back, a peer that served it and whose
    // apiserver we last saw away may be up again by now: asking it costs one round trip
    // where a 503 would cost the client a retry.
    auto ids = std::move(capable.healthy);
    ids.insert(ids.end(), capable.away.begin(), capable.away.end());
    return to_peers(subresource_only ? "subresource"sv : "peer"sv, std::move(ids), false);
  }
  // Nobody known serves it. Peers whose apiserver changed are asked first; the local
  // apiserver's 404 is the answer only when no peer's last view served it.
  if (!capable.in_doubt.empty())
    return to_peers("ask"sv, std::move(capable.in_doubt), !capable.any_unreachable);
  if (capable.any_unreachable) return decision(route_kind::unavailable, "no-healthy-peer"sv);
  return decision(route_kind::local, "not-served"sv);
}

// The local apiserver's own truth, never another's: health endpoints and metrics.
bool node_local_path(std::string_view path) {
  for (std::string_view p : {"/healthz"sv, "/livez"sv, "/readyz"sv, "/metrics"sv}) {
    if (path.substr(0, p.size()) == p && (path.size() == p.size() || path[p.size()] == '/'))
      return true;
  }
  return false;
}

// A request a trusted peer proxied here (at most one hop): the local apiserver serves
// it only when it is up and its fresh discovery serves the target; otherwise it goes
// back, and the peer tries elsewhere before its client sees anything.
route_decision route_peer_proxied(const route_input& in, const target* t) {
  if (!confirmed(in.local_state)) {
    if (!in.wait_expired) {
      route_decision d = decision(route_kind::wait_local, "peer-proxied"sv);
      d.wait = wait_for::probe;
      return d;
    }
    return decision(route_kind::hand_back, "apiserver-down"sv);
  }
  if (t && in.local && !t->served_by(*in.local))
    return decision(route_kind::hand_back, "not-served-here"sv);
  return decision(route_kind::local, "peer-proxied"sv);
}

// /openapi/v3/apis/<g>/<v> and /openapi/v3/api/<v>: a group-version's OpenAPI
// document goes where that group-version's discovery goes (beyond upstream).
bool openapi_target(std::string_view path, target& t) {
  constexpr std::string_view prefix = "/openapi/v3/";
  if (path.substr(0, prefix.size()) != prefix) return false;
  std::string_view rest = path.substr(prefix.size());
  auto next = [&rest]() {
    auto slash = rest.find('/');
    auto part = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    return part;
  };
  auto root = next();
  if (root == "api") {
    auto version = next();
    if (version.empty() || !rest.empty()) return false;
    t = {target::scope::group_version, {}, version, {}, {}};
    return true;
  }
  if (root != "apis") return false;
  auto group = next();
  auto version = next();
  if (group.empty() || version.empty() || !rest.empty()) return false;
  t = {target::scope::group_version, group, version, {}, {}};
  return true;
}

// The target a request names, when its servability is known from discovery.
bool scoped_target(const request::request_info& info, target& t) {
  if (!info.is_resource_request && info.discovery.kind == discovery_kind::none)
    return openapi_target(info.path, t);
  if (info.is_resource_request) {
    t = {target::scope::resource, info.api_group, info.api_version, info.resource,
         info.subresource};
    return true;
  }
  switch (info.discovery.kind) {
    case discovery_kind::group:
      t = {target::scope::group, info.discovery.group, {}, {}, {}};
      return true;
    case discovery_kind::group_version:
      t = {target::scope::group_version, info.discovery.group, info.discovery.version, {}, {}};
      return true;
    default:
      return false;
  }
}

bool is_read(std::string_view verb) { return verb == "get"sv || verb == "head"sv; }

}  // namespace

route_decision route(const route_input& in) {
  const request::request_info& info = *in.info;
  // Callers answer 400 before routing; never send such a request anywhere else.
  if (info.is_malformed()) return decision(route_kind::local, "malformed"sv);
  if (!in.feature_enabled) return decision(route_kind::local, "gate-off"sv);
  const bool read = is_read(info.verb);
  target t;
  const bool scoped = scoped_target(info, t) && (info.is_resource_request || read);
  // At most one hop.
  if (in.from_trusted_peer_proxied) return route_peer_proxied(in, scoped ? &t : nullptr);
  // The OpenAPI v3 index is the union of every server's (beyond upstream).
  if (read && in.local && info.path == "/openapi/v3"sv)
    return decision(route_kind::merged_discovery, "merged-openapi"sv);
  // /apis/<group> in JSON is answered from the same merge as /apis, so the two agree
  // (beyond upstream, which merges only /api and /apis).
  if (info.discovery.kind == discovery_kind::group && read && in.local &&
      in.view == discovery_view::legacy_json)
    return decision(route_kind::merged_discovery, "merged"sv);
  if (scoped) return route_target(in, t);

  switch (info.discovery.kind) {
    case discovery_kind::api_root:
    case discovery_kind::apis_root:
      if (!read) break;
      if (in.view == discovery_view::aggregated_nopeer) {
        return decision(route_kind::local, "nopeer"sv);
      }
      if (in.view == discovery_view::aggregated || in.view == discovery_view::legacy_json) {
        // A merge without the local apiserver's part would hide its APIs.
        if (!in.local) return decision(route_kind::local, "not-synced"sv);
        return decision(route_kind::merged_discovery, "merged"sv);
      }
      break;
    default:
      break;
  }
  // Beyond upstream: while the local apiserver is away, reads such as /version and
  // /openapi are answered by a peer's apiserver rather than failing.
  if (read && in.local && !confirmed(in.local_state) && !node_local_path(info.path)) {
    std::vector<std::string> up;
    for (const peer_view& p : in.peers)
      if (p.healthy && confirmed(p.apiserver)) up.push_back(p.id);
    rotate_to_random(up, in.random);
    if (!up.empty()) return to_peers("local-down"sv, std::move(up), true);
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
    case route_kind::wait_local:
      return "wait_local";
    case route_kind::hand_back:
      return "hand_back";
  }
  return "unknown";
}

}  // namespace mvproxy::routing
