#pragma once
// The /debug/peers document (SPEC §7): this sidecar, the local apiserver's discovery
// and each peer with its address, health, last sync and what it serves.

#include <string>

#include "mvproxy/control/cluster_state.hpp"

namespace mvproxy::control {

class merged_discovery;

// `merged` may be null; when set, the document names the servers the merged
// discovery is built from.
std::string debug_peers_json(const cluster_view& view, const merged_discovery* merged);

}  // namespace mvproxy::control
