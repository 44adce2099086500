#pragma once
// The /debug/peers document (SPEC §7): this sidecar, the local apiserver's discovery
// and each peer with its address, health, last sync and what it serves.

#include <string>

#include "mvproxy/view/cluster_view.hpp"

namespace mvproxy::view {
class merged_discovery;
}  // namespace mvproxy::view

namespace mvproxy::control {

// `merged` may be null; when set, the document names the servers the merged
// discovery is built from.
std::string debug_peers_json(const view::cluster_view& view, const view::merged_discovery* merged);

}  // namespace mvproxy::control
