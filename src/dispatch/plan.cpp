#include "mvproxy/dispatch/plan.hpp"

#include "mvproxy/util/text.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>

#include "mvproxy/discovery/negotiate.hpp"
#include "mvproxy/metrics/registry.hpp"
#include "mvproxy/request/request_info.hpp"
#include "mvproxy/routing/router.hpp"
#include "mvproxy/view/peer_state.hpp"

namespace mvproxy::dispatch {

namespace bhttp = boost::beast::http;
using boost::beast::iequals;
using namespace std::string_view_literals;

namespace {

bool icontains(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i)
    if (iequals(hay.substr(i, needle.size()), needle)) return true;
  return false;
}

std::string_view header(const bhttp::request_header<>& h, std::string_view name) {
  auto it = h.find(name);
  return it == h.end() ? std::string_view{} : std::string_view(it->value());
}

// How a GET of /api or /apis asked for discovery. A client whose Accept names no JSON
// type at all (protobuf only) is left to the local apiserver: mvproxy renders JSON.
routing::discovery_view view_for(std::string_view accept, const discovery::discovery_negotiation& n,
                                 inputs const& in) {
  if (n.nopeer) {
    if (in.nopeer_requests) in.nopeer_requests->inc();
    return routing::discovery_view::aggregated_nopeer;
  }
  if (n.format != discovery::discovery_format::legacy) return routing::discovery_view::aggregated;
  if (accept.empty() || icontains(accept, "json") || icontains(accept, "*/*") ||
      icontains(accept, "application/*"))
    return routing::discovery_view::legacy_json;
  return routing::discovery_view::none;
}

bool etag_matches(std::string_view if_none_match, std::string_view etag) {
  if (if_none_match.empty()) return false;
  if (if_none_match == "*") return true;
  // A list of entity tags; weak ones compare by their opaque part.
  for (auto tag : util::split_field_list(if_none_match)) {
    if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    if (tag == etag) return true;
  }
  return false;
}

target_ref peer_target(const view::cluster_view& view, std::string_view id) {
  const view::peer_info* p = view.find_peer(id);
  target_ref t;
  t.id = std::string(id);
  t.peer = true;
  if (p) {
    t.host = p->endpoint.host;
    t.port = p->endpoint.port;
    t.runtime = p->runtime;
  }
  return t;
}

// Merged discovery names every group the cluster serves (CRDs included): it goes only
// to a caller the apiserver itself would let read discovery, so its authentication,
// authorization, audit and priority-and-fairness see the request (as upstream serves
// peer-aggregated discovery behind its filters).
void authorize_with_local(plan& out, const view::cluster_view& view, std::string check_path,
                          std::string check_etag, std::uint64_t random) {
  out.authorize = true;
  out.check_path = std::move(check_path);
  out.check_etag = std::move(check_etag);
  out.targets.push_back({"local", {}, 0, false, nullptr});
  // While the local apiserver is away, a peer's apiserver decides (as the caller).
  std::vector<std::string_view> up;
  auto now = std::chrono::steady_clock::now();
  for (auto& p : view.peers)
    if ((!p.runtime || p.runtime->healthy(now)) &&
        (p.apiserver == routing::apiserver_state::up ||
         p.apiserver == routing::apiserver_state::unknown))
      up.push_back(p.endpoint.id);
  for (std::size_t i = 0; i < up.size(); ++i)
    out.targets.push_back(peer_target(view, up[(i + random) % up.size()]));
}

}  // namespace

std::string_view to_string(route_kind k) {
  switch (k) {
    case route_kind::local:
      return "local";
    case route_kind::peer:
      return "peer";
    case route_kind::merged:
      return "merged";
    case route_kind::unavailable:
      return "unavailable";
    case route_kind::malformed:
      return "malformed";
    case route_kind::peer_state:
      return "state";
    case route_kind::waiting:
      return "waiting";
    case route_kind::handed_back:
      return "handed-back";
  }
  return "local";
}

std::string plan::label() const {
  if (route == route_kind::peer && !targets.empty()) return targets.front().id;
  return std::string(to_string(route));
}

namespace {

// The router's decision for a classified request over `view`. `negotiated` gets the
// Accept negotiation of a discovery root (for the merged document's format).
routing::route_decision route_for(const bhttp::request_header<>& head,
                                  const request::request_info& info, const inputs& in,
                                  const view::cluster_view& view,
                                  discovery::discovery_negotiation& negotiated) {
  const bool discovery_root = info.discovery.kind == request::discovery_kind::api_root ||
                              info.discovery.kind == request::discovery_kind::apis_root;
  const bool group_discovery = info.discovery.kind == request::discovery_kind::group;
  const bool read = head.method() == bhttp::verb::get || head.method() == bhttp::verb::head;

  // Peers, in server-id order, as the router sees them.
  std::vector<routing::peer_view> peers;
  peers.reserve(view.peers.size());
  auto now = std::chrono::steady_clock::now();
  for (auto& p : view.peers)
    peers.push_back({p.endpoint.id, p.model, !p.runtime || p.runtime->healthy(now), p.apiserver});

  routing::route_input ri;
  ri.info = &info;
  // Negotiated once, for the router's view and for the merged document's format.
  if (discovery_root && read) {
    negotiated = discovery::negotiate_discovery(header(head, "Accept"));
    ri.view = view_for(header(head, "Accept"), negotiated, in);
  } else if (group_discovery && read) {
    // An APIGroup document is JSON or protobuf; mvproxy renders JSON only.
    auto accept = header(head, "Accept");
    if (accept.empty() || icontains(accept, "json") || icontains(accept, "*/*") ||
        icontains(accept, "application/*"))
      ri.view = routing::discovery_view::legacy_json;
  }
  ri.feature_enabled = in.feature_enabled;
  ri.from_trusted_peer_proxied =
      in.trusted_peer && iequals(header(head, "x-kubernetes-peer-proxied"), "true");
  ri.local = view.local;
  ri.peers = peers;
  ri.random = in.random;
  ri.local_state = view.local_state;
  ri.wait_expired = in.wait_expired;
  return routing::route(ri);
}

// Peer-aggregated discovery answered here, once the caller may read it; the local
// apiserver answers while the merge has no local model yet.
void plan_merged(plan& out, const bhttp::request_header<>& head, const request::request_info& info,
                 const routing::route_decision& d,
                 const discovery::discovery_negotiation& negotiated, const inputs& in,
                 const view::cluster_view& view, view::merged_discovery& merged) {
  auto root = info.discovery.kind == request::discovery_kind::api_root ? view::discovery_root::api
                                                                       : view::discovery_root::apis;
  const bool openapi = d.reason == "merged-openapi";
  const bool group_discovery = info.discovery.kind == request::discovery_kind::group;
  auto doc = openapi           ? merged.get_openapi_index(view)
             : group_discovery ? merged.get_group(view, info.discovery.group)
                               : merged.get(view, root, negotiated.format);
  if (!doc) {  // not synced yet: the local apiserver answers
    out.targets.push_back({"local", {}, 0, false, nullptr});
    return;
  }
  out.what = plan::action::respond;
  out.route = route_kind::merged;
  if (openapi)
    authorize_with_local(out, view, "/openapi/v3", view.local_sync.openapi_etag, in.random);
  else if (root == view::discovery_root::api)
    authorize_with_local(out, view, "/api", view.local_sync.api_etag, in.random);
  else
    authorize_with_local(out, view, "/apis", view.local_sync.etag, in.random);
  answer& a = out.response;
  a.content_type = std::string(doc->content_type);
  a.headers.emplace_back("ETag", doc->etag);
  a.headers.emplace_back("Vary", "Accept");
  if (etag_matches(header(head, "If-None-Match"), doc->etag)) {
    a.status = 304;
  } else {
    a.status = 200;
    a.document = std::move(doc);
  }
}

// Every other decision: forward (local first, or peers in turn), wait, or refuse.
void plan_decision(plan& out, const routing::route_decision& d, const view::cluster_view& view) {
  switch (d.kind) {
    case routing::route_kind::local:
      out.targets.push_back({"local", {}, 0, false, nullptr});
      for (auto& id : d.failover) out.targets.push_back(peer_target(view, id));
      out.local_first = true;
      out.route = route_kind::local;
      break;
    case routing::route_kind::peer:
      for (auto& id : d.candidates) out.targets.push_back(peer_target(view, id));
      if (d.then_local) out.targets.push_back({"local", {}, 0, false, nullptr});
      out.local_first = false;
      out.route = route_kind::peer;
      break;
    case routing::route_kind::wait_local:
      out.what = plan::action::wait;
      out.wait = d.wait;
      out.route = route_kind::waiting;
      break;
    case routing::route_kind::hand_back:  // d.reason is already in out.reason
      out.what = plan::action::refuse;
      out.route = route_kind::handed_back;
      break;
    case routing::route_kind::unavailable:
      out.what = plan::action::refuse;
      out.route = route_kind::unavailable;
      break;
    case routing::route_kind::merged_discovery:
      break;  // plan_merged
  }
}

}  // namespace

plan make_plan(const bhttp::request_header<>& head, const inputs& in,
               const view::cluster_view& view, view::merged_discovery& merged) {
  plan out;
  std::string_view target = head.target();
  auto q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
  auto info = request::classify(head.method_string(), path, query);
  if (info.is_malformed()) {
    out.what = plan::action::refuse;
    out.route = route_kind::malformed;
    out.malformed = std::string(info.malformed);
    return out;
  }
  if (in.trusted_peer && path == view::peer_state_path && head.method() == bhttp::verb::get) {
    out.what = plan::action::peer_state;
    out.route = route_kind::peer_state;
    return out;
  }
  out.group = std::string(info.api_group);
  out.version = std::string(info.api_version);
  out.resource = std::string(info.resource);

  discovery::discovery_negotiation negotiated;
  auto d = route_for(head, info, in, view, negotiated);
  out.reason = d.reason;
  if (d.kind == routing::route_kind::merged_discovery)
    plan_merged(out, head, info, d, negotiated, in, view, merged);
  else
    plan_decision(out, d, view);
  return out;
}

}  // namespace mvproxy::dispatch
