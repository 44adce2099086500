#pragma once
// Content negotiation for GET /api and /apis, as kube-apiserver does it: the Accept
// header is split into clauses (goautoneg), sorted by q then specificity, and the
// first clause that matches a JSON media type with acceptable parameters wins. The
// parameters g, v and as ask for aggregated discovery; profile=nopeer asks for the
// local server's view only (kube-apiserver 1.33+ peer-aggregated discovery).

#include <string>
#include <string_view>

namespace mvproxy::discovery {

enum class discovery_format {
  legacy,              // APIVersions / APIGroupList JSON
  aggregated_v2,       // apidiscovery.k8s.io/v2 APIGroupDiscoveryList
  aggregated_v2beta1,  // apidiscovery.k8s.io/v2beta1 APIGroupDiscoveryList
};

struct discovery_negotiation {
  discovery_format format = discovery_format::legacy;
  bool nopeer = false;  // the winning clause carried profile=nopeer
  bool operator==(const discovery_negotiation&) const = default;
};

// Only JSON is rendered by mvproxy, so only application/json (and the ranges that
// cover it: application/*, */*) can win. No header, or no acceptable clause, gives
// legacy JSON, as upstream falls back to its first media type.
discovery_negotiation negotiate_discovery(std::string_view accept_header);

// The Accept header mvproxy sends for its own discovery reads (the control plane's
// syncs, the data plane's authorization check): the server's own view (profile=nopeer)
// where it knows that profile, plain aggregated where it does not, and legacy JSON from
// apiservers without aggregated discovery.
extern const char* const discovery_accept;

// The media type string to answer with: "application/json" for legacy, and
// "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList" (or v2beta1).
std::string_view content_type_for(discovery_format format);

}  // namespace mvproxy::discovery
