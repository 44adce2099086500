#include "mvproxy/view/cluster_view.hpp"

namespace mvproxy::view {

const peer_info* cluster_view::find_peer(std::string_view id) const {
  for (auto& p : peers)
    if (p.endpoint.id == id) return &p;
  return nullptr;
}

void cluster_view::refilter(peer_info& p) const {
  p.model = excluded ? discovery::without(p.raw_model, *excluded) : p.raw_model;
}

}  // namespace mvproxy::view
