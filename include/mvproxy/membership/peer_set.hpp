#pragma once
// Who the peers are, from either membership source: the static --peers list or the
// live mvproxy Leases. Pure: values in, a sorted peer list out.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mvproxy/membership/lease.hpp"

namespace mvproxy::membership {

struct peer_endpoint {
  std::string id;  // server id (the Lease name)
  std::string host;
  std::uint16_t port = 0;
  std::string holder_identity;  // changes when the peer restarts; empty for static peers
  bool operator==(const peer_endpoint&) const = default;
};

// Live mvproxy Leases other than our own, with a parseable advertise address,
// ordered by server id.
std::vector<peer_endpoint> peers_from_leases(const std::vector<lease_record>& leases,
                                             std::string_view own_id, clock::time_point now);

// The names of the live mvproxy Leases of peers that peers_from_leases leaves out
// because their advertise address is missing or malformed: the peers whose host:port
// could not be resolved from their Lease (upstream's hostport_resolution sync error).
std::vector<std::string> leases_without_address(const std::vector<lease_record>& leases,
                                                std::string_view own_id, clock::time_point now);

struct peer_set_change {
  std::vector<peer_endpoint> added;  // new ids, or a known id with a new holder (restart)
  std::vector<std::string> removed;  // ids gone
  bool empty() const { return added.empty() && removed.empty(); }
};
peer_set_change diff_peers(const std::vector<peer_endpoint>& before,
                           const std::vector<peer_endpoint>& after);

}  // namespace mvproxy::membership
