#pragma once
// The cluster as this sidecar knows it: the local apiserver's discovery model and every
// peer with its address and model. An immutable value: the control plane writes a new
// one and publishes it (view::cluster_state); the data plane reads snapshots. Peer
// health, the one thing the data plane writes, is a `peer_runtime` held by pointer.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mvproxy/discovery/exclusion.hpp"
#include "mvproxy/discovery/model.hpp"
#include "mvproxy/membership/peer_set.hpp"
#include "mvproxy/routing/router.hpp"
#include "mvproxy/view/peer_runtime.hpp"

namespace mvproxy::view {

struct sync_status {
  std::chrono::system_clock::time_point last_success{};  // last 200 or 304
  std::chrono::system_clock::time_point last_attempt{};
  std::string etag;      // of the /apis document
  std::string api_etag;  // of the /api document
  // The server's OpenAPI v3 index (GET /openapi/v3); null before the first sync, empty
  // when it has none.
  std::shared_ptr<const std::string> openapi_index;
  std::string openapi_etag;
  std::string source;      // "aggregated v2", "aggregated v2beta1", "legacy"
  std::string last_error;  // empty after a success
  std::uint64_t syncs = 0;
  std::uint64_t errors = 0;
};

struct peer_info {
  membership::peer_endpoint endpoint;
  // Its discovery without the group-versions never routed to a peer (CRDs, aggregated
  // APIServices: cluster_view::excluded); what routing and the merge read. Null until
  // its first discovery sync.
  discovery::server_model_ptr model;
  discovery::server_model_ptr raw_model;  // its discovery as read
  sync_status sync;
  std::shared_ptr<peer_runtime> runtime;
  // The peer's apiserver as that peer last pushed it (GET /mvproxy/v1/state). A change
  // to up is published together with the discovery read that follows it.
  routing::apiserver_state apiserver = routing::apiserver_state::unknown;
  std::string state_instance;  // the peer sidecar's instance that reported it
  std::uint64_t state_revision = 0;
  std::chrono::system_clock::time_point state_since{};  // when `apiserver` last changed
};

struct cluster_view {
  std::string own_id;
  // This sidecar's run: new at every start (the holder identity in Lease mode), so a
  // peer can tell a restarted sidecar from a revision it has seen.
  std::string instance;
  discovery::server_model_ptr local;  // null until the first local sync finished
  sync_status local_sync;
  // The local apiserver as the local monitor knows it: up once a discovery read
  // succeeded; unconfirmed from the moment its connection closed until it is re-read;
  // down while it cannot be reached.
  routing::apiserver_state local_state = routing::apiserver_state::unknown;
  std::chrono::system_clock::time_point local_state_since{};
  // Bumped when local_state or the local model changes: what peers wait on.
  std::uint64_t local_revision = 0;
  // Probes of the local apiserver finished while it was not up (a waiting request
  // that a peer proxied here needs the result of the next one).
  std::uint64_t local_probes = 0;
  std::vector<peer_info> peers;  // ordered by server id
  // Group-versions of CRDs and aggregated APIServices (and deleted ones for a grace
  // period), from the local apiserver: left out of every peer's model.
  std::shared_ptr<const discovery::gv_set> excluded;
  std::uint64_t generation = 0;  // bumped whenever a model or the peer set changes

  const peer_info* find_peer(std::string_view id) const;
  // p.model = p.raw_model without `excluded`.
  void refilter(peer_info& p) const;
};

}  // namespace mvproxy::view
