#pragma once
// The cluster as this sidecar knows it: the local apiserver's discovery model and every
// peer with its address and model. Control-plane tasks publish a new immutable
// `cluster_view` (copy, change, swap); the data plane reads the current one with one
// atomic load per request and never sees a half-made update. Peer health is the one
// thing the data plane writes: it lives in a long-lived `peer_runtime` per peer id,
// shared by successive views.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mvproxy/discovery/exclusion.hpp"
#include "mvproxy/discovery/model.hpp"
#include "mvproxy/membership/peer_health.hpp"
#include "mvproxy/membership/peer_set.hpp"
#include "mvproxy/routing/router.hpp"


namespace mvproxy::control {

struct sync_status {
  std::chrono::system_clock::time_point last_success{};  // last 200 or 304
  std::chrono::system_clock::time_point last_attempt{};
  std::string etag;    // of the /apis document
  std::string api_etag;  // of the /api document
  // The server's OpenAPI v3 index (GET /openapi/v3); null before the first sync, empty
  // when it has none.
  std::shared_ptr<const std::string> openapi_index;
  std::string openapi_etag;
  std::string source;  // "aggregated v2", "aggregated v2beta1", "legacy"
  std::string last_error;  // empty after a success
  std::uint64_t syncs = 0;
  std::uint64_t errors = 0;
};

class peer_runtime {
 public:
  explicit peer_runtime(std::string id, membership::ejection_policy p = {})
      : id_(std::move(id)), health_(p) {}
  const std::string& id() const { return id_; }
  bool healthy(std::chrono::steady_clock::time_point now) const {
    return now.time_since_epoch().count() >= ejected_until_.load(std::memory_order_relaxed);
  }
  void on_success();
  void on_failure(std::chrono::steady_clock::time_point now);
  std::atomic<int>& in_flight() { return in_flight_; }
  int in_flight_count() const { return in_flight_.load(std::memory_order_relaxed); }
  int consecutive_failures() const;

 private:
  std::string id_;
  mutable std::mutex mu_;
  membership::peer_health health_;
  std::atomic<std::int64_t> ejected_until_{0};  // steady_clock ticks; mirror of health_
  std::atomic<int> in_flight_{0};
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
  std::string state_instance;         // the peer sidecar's instance that reported it
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
  std::vector<peer_info> peers;       // ordered by server id
  // Group-versions of CRDs and aggregated APIServices (and deleted ones for a grace
  // period), from the local apiserver: left out of every peer's model.
  std::shared_ptr<const discovery::gv_set> excluded;
  std::uint64_t generation = 0;       // bumped whenever a model or the peer set changes

  const peer_info* find_peer(std::string_view id) const;
  // p.model = p.raw_model without `excluded`.
  void refilter(peer_info& p) const;
};

class cluster_state {
 public:
  explicit cluster_state(std::string own_id);
  std::shared_ptr<const cluster_view> current() const {
    return view_.load(std::memory_order_acquire);
  }
  // Copies the current view, lets `change` edit the copy, publishes it. Serialized.
  // `change` returns true when models or membership changed (bumps generation).
  void update(const std::function<bool(cluster_view&)>& change);
  // The runtime for a peer id, created on first use and kept across restarts of that
  // peer's Lease so ejection history survives re-publication.
  std::shared_ptr<peer_runtime> runtime_for(const std::string& id);

  // A request that waits for the view to change: `wake` is called once, on no
  // particular thread, right after the next view is published (it should post to the
  // waiter's own executor). Register first, then check the view, then wait: no change
  // is missed.
  void on_next_change(std::function<void()> wake);

 private:
  std::atomic<std::shared_ptr<const cluster_view>> view_;
  std::mutex write_mu_;
  std::mutex runtimes_mu_;  // apart from write_mu_: update() callbacks call runtime_for
  std::map<std::string, std::shared_ptr<peer_runtime>> runtimes_;
  std::mutex waiters_mu_;
  std::vector<std::function<void()>> waiters_;
};

}  // namespace mvproxy::control
