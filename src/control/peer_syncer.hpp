#pragma once
// The peer syncer: for each member peer, its discovery (read through its sidecar) and
// the state it pushes (the GET /mvproxy/v1/state long-poll); and the group-versions
// never routed to a peer (CRDs, aggregated APIServices, read from the local apiserver)
// that every peer's model is filtered by. Membership comes from outside: the static
// list, or the Lease keeper. Runs on the control thread. Private to src/control.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "control_context.hpp"
#include "mvproxy/control/discovery_syncer.hpp"
#include "mvproxy/control/https_client.hpp"
#include "mvproxy/discovery/exclusion.hpp"
#include "mvproxy/membership/peer_set.hpp"
#include "mvproxy/view/peer_state.hpp"
#include "sync_recorder.hpp"

namespace mvproxy::control {

class peer_syncer {
 public:
  peer_syncer(control_context& ctx, sync_recorder& recorder) : ctx_(ctx), recorder_(recorder) {}

  // Starts reading the exclusions from the local apiserver (`local`: as mvproxy itself).
  void start(const https_client::options& local);
  // The peers now (server-id order): starts the loops of new ones (and of restarted
  // ones: a new holder identity), ends those of the ones that left, publishes the set.
  void publish_members(std::vector<membership::peer_endpoint> next);
  // Re-read every peer's discovery now.
  void sync_now();

 private:
  struct peer_conn {
    explicit peer_conn(asio::io_context& ioc) : wake(ioc) {}
    membership::peer_endpoint endpoint;
    std::unique_ptr<https_client> client;        // its discovery, read through it
    std::unique_ptr<https_client> state_client;  // the long-poll of the state it pushes
    std::unique_ptr<discovery_syncer> syncer;
    asio::steady_timer wake;                 // its discovery loop's; cancelled to sync now
    bool stopped = false;                    // it left, or restarted under a new holder
    std::optional<view::peer_state> pushed;  // pushed, not yet applied: goes with the next read
  };

  std::shared_ptr<peer_conn> make_peer_conn(const membership::peer_endpoint& ep);
  void retire(const std::string& id);
  // The view's peer list for `members_`: kept entries keep their last model.
  void publish_peer_list();
  // Per peer: its discovery, read every --discovery-sync-interval and at once when it
  // pushes a change; and the long-poll of the state it pushes.
  asio::awaitable<void> peer_loop(std::shared_ptr<peer_conn> c);
  // One step of peer_loop; returns whether to retry soon (a pushed "up" not yet read).
  asio::awaitable<bool> peer_step(peer_conn& c, const std::optional<view::peer_state>& pushed);
  asio::awaitable<void> peer_state_loop(std::shared_ptr<peer_conn> c);
  void apply_pushed(view::cluster_view& v, const std::string& id, const view::peer_state& pushed);

  // ---- group-versions never routed to a peer (exclusions.cpp) ----
  asio::awaitable<void> exclusion_loop(https_client::options local);
  asio::awaitable<discovery::gv_set> list_gvs(https_client& client, const char* path);
  void publish_excluded(const discovery::gv_set& excluded);

  control_context& ctx_;
  sync_recorder& recorder_;
  std::map<std::string, std::shared_ptr<peer_conn>> peer_conns_;
  std::vector<membership::peer_endpoint> members_;
};

}  // namespace mvproxy::control
