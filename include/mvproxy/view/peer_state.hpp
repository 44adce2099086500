#pragma once
// What one sidecar pushes to its peers (SPEC §6, beyond upstream): whether its local
// apiserver is up, unconfirmed or down, and a revision bumped whenever that or the
// apiserver's discovery changes. Peers long-poll it (GET /mvproxy/v1/state), so a
// restarted apiserver reaches every sidecar's routing at once instead of at the next
// discovery sync. Also the hand-back answer's marker. Pure: values and JSON.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mvproxy/routing/router.hpp"

namespace mvproxy::view {

struct cluster_view;

// Served on the main listener to trusted peers only; anyone else's request for it goes
// to the apiserver like any other path.
inline constexpr std::string_view peer_state_path = "/mvproxy/v1/state";
// On a 503 from a peer sidecar: nothing of the request reached any apiserver, so the
// sender may try the next candidate. Its value says why (apiserver-down,
// not-served-here).
inline constexpr std::string_view handed_back_header = "x-mvproxy-handed-back";

struct peer_state {
  std::string server_id;
  std::string instance;  // the sidecar's run; a new one means "forget what you saw"
  std::uint64_t revision = 0;
  routing::apiserver_state apiserver = routing::apiserver_state::unknown;
  bool operator==(const peer_state&) const = default;
};

std::string_view to_string(routing::apiserver_state s);
std::optional<routing::apiserver_state> parse_apiserver_state(std::string_view s);

std::string peer_state_json(const peer_state& s);
// Nullopt for anything but a complete document of ours.
std::optional<peer_state> parse_peer_state(std::string_view json);

// This sidecar's own state in a view.
peer_state own_state(const cluster_view& v);

// A long-poll: what the asking peer has seen. A missing or unreadable revision means
// "nothing seen" (answer at once).
struct state_query {
  std::string instance;
  std::optional<std::uint64_t> revision;
  std::chrono::seconds timeout{30};  // capped at 60 s
};
state_query parse_state_query(std::string_view raw_query);

// True when the answer should go now: the asker saw another instance or revision.
bool state_changed(const state_query& q, const peer_state& now);

// The target a peer asks for to wait for a change after what it saw.
std::string state_target(const std::string& instance, std::uint64_t revision,
                         std::chrono::seconds timeout);

}  // namespace mvproxy::view
