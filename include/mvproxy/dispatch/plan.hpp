#pragma once
// What to do with one request, decided from its head and the current cluster view:
// forward it (to the local apiserver, or to peer sidecars in turn), answer it here
// (peer-aggregated discovery, 304), or refuse it (a malformed path, no capable peer
// reachable, a hand-back). A value computed per request; the data plane carries it out
// and reports back which target answered. A refusal carries facts only: its status,
// headers and message are the local-reply policy's (proxy/local_reply.hpp).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/beast/http/message.hpp>

#include "mvproxy/view/cluster_state.hpp"
#include "mvproxy/view/merged_discovery.hpp"

namespace mvproxy::metrics {
class counter;
}

namespace mvproxy::dispatch {

struct target_ref {
  std::string id;    // "local" or a peer's server id
  std::string host;  // empty for the local apiserver (the data plane knows it)
  std::uint16_t port = 0;
  bool peer = false;
  std::shared_ptr<view::peer_runtime> runtime;  // peers only: health and in-flight
};

struct answer {
  unsigned status = 200;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;
  std::shared_ptr<const view::merged_document> document;  // merged discovery body
  std::string text;                                       // any other body
  std::string_view body() const { return document ? std::string_view(document->body) : text; }
};

// Where a plan sends the request, as the access log and the request metrics name it.
enum class route_kind {
  local,        // the local apiserver (and failover peers after it)
  peer,         // peer sidecars in turn (labelled with the first one's id)
  merged,       // peer-aggregated discovery answered here
  unavailable,  // refused: no capable peer is reachable
  malformed,    // refused: a path kube-apiserver would refuse
  peer_state,   // a peer's long-poll of this sidecar's state
  waiting,      // waits for the local view to be re-read
  handed_back,  // refused: a peer proxied it here and may try another
};
// The label value: "local", "peer", "merged", "unavailable", "malformed", "state",
// "waiting", "handed-back" (the values the logs and metrics have always carried).
std::string_view to_string(route_kind k);

struct plan {
  // wait: the local view is being re-read; wait (bounded) for the next view, then plan
  // again. peer_state: a peer's long-poll of this sidecar's state (the caller waits for
  // a change and answers it). refuse: answer with the local reply for `route`
  // (malformed, unavailable or handed_back; proxy::reply_for(const plan&)).
  enum class action { forward, respond, refuse, wait, peer_state };
  action what = action::forward;
  // forward: the targets in order. The first is tried first. For a peer route, every
  // target is a capable peer: a connect/TLS failure before any request byte was sent
  // moves on to the next. For a local route, the targets after the first are failover
  // peers, used only when the local apiserver refuses connections (SPEC §3 rule 8).
  // A peer target that hands the request back (503 + x-mvproxy-handed-back) moves on
  // to the next target too; so does every peer target of a peer route, whose last
  // target may be the local apiserver ("then local").
  std::vector<target_ref> targets;
  bool local_first = true;
  routing::wait_for wait = routing::wait_for::none;  // wait
  answer response;                                   // respond
  // respond with merged discovery: only for a caller the local apiserver lets read
  // discovery. The data plane first sends GET `check_path` (with the caller's identity,
  // Accept: our discovery read's, If-None-Match: `check_etag`) to `targets` in order
  // (the local apiserver, then up peers while it is away) and answers `response` on a
  // 2xx/304; any other answer (401, 403, 429) is relayed as it is.
  bool authorize = false;
  std::string check_path;
  std::string check_etag;
  route_kind route = route_kind::local;
  // For logs and metrics: to_string(route), or for a peer route the first peer's id.
  std::string label() const;
  std::string reason;     // the router's reason (a hand-back's, for one)
  std::string malformed;  // refuse, malformed: why kube-apiserver would refuse the path
  // The request's group/version/resource, for apiserver_rerouted_request_total (and
  // the message of an unavailable refusal).
  std::string group, version, resource;
};

struct inputs {
  bool feature_enabled = true;  // UnknownVersionInteroperabilityProxy and a peer CA
  bool trusted_peer = false;    // the caller's certificate is a trusted peer's
  std::uint64_t random = 0;
  bool wait_expired = false;                    // the bounded wait for the local view is over
  metrics::counter* nopeer_requests = nullptr;  // aggregator_discovery_nopeer_requests_total
};

// The head is read, not changed. `view` and `merged` are the current snapshot and the
// merged-discovery cache.
plan make_plan(const boost::beast::http::request_header<>& head, const inputs& in,
               const view::cluster_view& view, view::merged_discovery& merged);

}  // namespace mvproxy::dispatch
