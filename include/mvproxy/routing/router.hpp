#pragma once
// Where one request goes (SPEC §3 rules 1-9), as a pure function of values: the
// request's classification, this sidecar's view of what each server serves, and a
// random number the caller draws. Mirrors upstream's peer-proxy handler
// (k8s.io/apiserver/pkg/util/peerproxy/peerproxy_handler.go) and goes beyond it where
// the SPEC says so: subresource-aware routing, per-group legacy discovery (rule 9),
// candidates to try in turn, and failover peers for when the local apiserver is down.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mvproxy/discovery/model.hpp"
#include "mvproxy/request/request_info.hpp"

namespace mvproxy::routing {

// How a request to /api or /apis asked for discovery (the caller reads the Accept
// header); none for every other path.
enum class discovery_view { none, aggregated, aggregated_nopeer, legacy_json };

// What a sidecar knows of an apiserver right now: its own (from its local monitor), or
// a peer's (as that peer last pushed it). unknown: never reported (a peer of an older
// mvproxy, or before its first report); routed as up, from the last discovery read.
enum class apiserver_state { unknown, up, unconfirmed, down };

struct peer_view {
  std::string id;                     // server id
  discovery::server_model_ptr model;  // null: not synced yet
  bool healthy = true;                // false: the peer sidecar is ejected or failing
  apiserver_state apiserver = apiserver_state::unknown;  // the peer's apiserver
};

struct route_input {
  const request::request_info* info = nullptr;
  discovery_view view = discovery_view::none;
  bool feature_enabled = true;             // UnknownVersionInteroperabilityProxy
  bool from_trusted_peer_proxied = false;  // trusted peer cert AND x-kubernetes-peer-proxied: true
  discovery::server_model_ptr local;       // null until the first local sync finished
  std::span<const peer_view> peers;        // ordered by server id, this sidecar excluded
  std::uint64_t random = 0;                // the caller's randomness; the router stays pure
  // The local apiserver as this sidecar's monitor knows it. Anything but up means
  // `local` may be out of date (the apiserver went away and may come back as another
  // version): nothing is routed by it until it is re-read.
  apiserver_state local_state = apiserver_state::up;
  // The bounded wait for the local view to be confirmed is over: route by what is known.
  bool wait_expired = false;
};

// local: the local apiserver. peer: candidates in turn (then the local apiserver when
// `then_local`). merged_discovery: answered here. unavailable: 503. wait_local: wait
// (bounded) until the local view is confirmed, then route again. hand_back: a peer
// proxied this request and the local apiserver cannot serve it: answer so the peer
// tries elsewhere (nothing reached an apiserver).
enum class route_kind { local, peer, merged_discovery, unavailable, wait_local, hand_back };

// What a wait_local waits for: the next probe of the local apiserver (a request a
// peer proxied here: hand it back unless the apiserver turns out to be up), or its
// recovery (a client's request that only the local apiserver might serve).
enum class wait_for { none, probe, recovery };

struct route_decision {
  route_kind kind = route_kind::local;
  // peer: the peers to try, in order: a uniformly random first, then the others in
  // server-id order from there (a connect/TLS failure moves on to the next).
  std::vector<std::string> candidates;
  // local: healthy peers that serve the request too, in the same kind of order, for
  // when the local apiserver refuses connections (rule 8). Only for requests whose
  // servability is known (resources, per-group discovery); never for a request that
  // a peer proxied here, nor for the nopeer discovery a peer reads.
  std::vector<std::string> failover;
  // peer: when every candidate handed the request back or could not be reached, the
  // local apiserver answers (true) or mvproxy answers 503 (false).
  bool then_local = false;
  wait_for wait = wait_for::none;  // wait_local
  // Short, for logs and metrics: gate-off, peer-proxied, malformed, non-resource,
  // not-synced, nopeer, merged, local, peer, subresource, no-healthy-peer, not-served,
  // ask (peers whose apiserver changed are asked before a 404), local-down,
  // local-unconfirmed, apiserver-down, not-served-here (hand_back reasons).
  std::string reason;
};

route_decision route(const route_input& input);

std::string_view to_string(route_kind kind);

}  // namespace mvproxy::routing
