// Each peer: its discovery, read through its sidecar every --discovery-sync-interval,
// and the state it pushes (GET /mvproxy/v1/state, long-polled). A pushed change is
// applied with the discovery read it triggers, in one published view, so routing
// never sees a peer "up again" with the discovery of its apiserver's previous run; a
// peer whose apiserver is down or unconfirmed is published at once and routed around.

#include "control_plane_impl.hpp"

namespace mvproxy::control {

using routing::apiserver_state;

void control_plane::impl::publish_members(std::vector<membership::peer_endpoint> next) {
  auto change = membership::diff_peers(members, next);
  if (change.empty()) return;
  auto retire = [this](const std::string& id) {
    auto it = peer_conns.find(id);
    if (it == peer_conns.end()) return;
    // Its loops end at their next step; a long-poll under way ends within 30 s.
    it->second->stopped = true;
    it->second->wake.cancel();
    peer_conns.erase(it);
  };
  for (auto& id : change.removed) {
    retire(id);
    spdlog::info("control: peer {} left", id);
  }
  std::vector<std::shared_ptr<peer_conn>> started;
  for (auto& ep : change.added) {
    retire(ep.id);  // a restarted peer (new holder) starts over
    auto c = make_peer_conn(ep);
    peer_conns.emplace(ep.id, c);
    started.push_back(c);
    spdlog::info("control: peer {} at {} (holder {})", ep.id,
                 util::format_host_port(ep.host, ep.port), ep.holder_identity);
  }
  members = std::move(next);
  state.update([&](cluster_view& v) {
    std::vector<peer_info> peers;
    for (auto& ep : members) {
      peer_info p;
      if (auto* old = v.find_peer(ep.id)) {
        p = *old;  // a restarted sidecar keeps its last model until re-synced
      } else {
        p.runtime = state.runtime_for(ep.id);
      }
      if (p.endpoint.holder_identity != ep.holder_identity) {
        // A restarted sidecar: what it pushed before says nothing about it now.
        p.apiserver = routing::apiserver_state::unknown;
        p.state_instance.clear();
      }
      p.endpoint = ep;
      peers.push_back(std::move(p));
    }
    v.peers = std::move(peers);
    return true;
  });
  for (auto& c : started) {
    spawn(peer_loop(c));
    spawn(peer_state_loop(c));
  }
}

void control_plane::impl::apply_pushed(cluster_view& v, const std::string& id,
                                       const peer_state& pushed) {
  for (auto& p : v.peers) {
    if (p.endpoint.id != id) continue;
    if (p.apiserver != pushed.apiserver) {
      spdlog::info("control: peer {} reports its apiserver {}", id, to_string(pushed.apiserver));
      p.state_since = sys_clock::now();
      count(pushes, {id, to_string(pushed.apiserver)});
    }
    p.apiserver = pushed.apiserver;
    p.state_instance = pushed.instance;
    p.state_revision = pushed.revision;
  }
}

asio::awaitable<void> control_plane::impl::peer_loop(std::shared_ptr<peer_conn> c) {
  const std::string id = c->endpoint.id;
  auto at = [&id](cluster_view& v) {
    for (auto& p : v.peers)
      if (p.endpoint.id == id) return slot{&p.sync, &p.raw_model};
    return slot{nullptr, nullptr};
  };
  while (!stopping && !c->stopped) {
    auto pushed = std::exchange(c->pushed, std::nullopt);
    bool retry_soon = false;
    if (pushed && pushed->apiserver != apiserver_state::up &&
        pushed->apiserver != apiserver_state::unknown) {
      // Nothing to read from an apiserver that is away: route around it now.
      state.update([&](cluster_view& v) {
        apply_pushed(v, id, *pushed);
        return false;
      });
    } else {
      auto outcome = co_await sync_one(*c->syncer, id, "peer " + id, "peer", at,
                                       [&](cluster_view& v, sync_outcome o, bool changed) {
                                         if (changed)
                                           for (auto& p : v.peers)
                                             if (p.endpoint.id == id) v.refilter(p);
                                         if (pushed && o == sync_outcome::ok)
                                           apply_pushed(v, id, *pushed);
                                       });
      if (outcome != sync_outcome::ok) {
        c->client->reset();
        // An "up" we could not confirm by a read stays pending; try again soon.
        if (pushed && !c->pushed) c->pushed = pushed;
        retry_soon = pushed.has_value();
      }
    }
    if (stopping || c->stopped) co_return;
    if (c->pushed && !retry_soon) continue;  // pushed while we read
    co_await wait(c->wake, retry_soon ? 200ms : cfg.discovery_sync_interval);
  }
}

asio::awaitable<void> control_plane::impl::peer_state_loop(std::shared_ptr<peer_conn> c) {
  std::optional<peer_state> seen;
  int failures = 0;
  asio::steady_timer backoff(ioc);
  while (!stopping && !c->stopped) {
    try {
      http_request r;
      r.target =
          seen ? state_target(seen->instance, seen->revision, 30s) : std::string(peer_state_path);
      auto resp = co_await c->state_client->request(std::move(r));
      if (resp.status != 200)
        throw std::runtime_error("GET " + std::string(peer_state_path) + ": HTTP " +
                                 std::to_string(resp.status));
      auto st = parse_peer_state(resp.body);
      if (!st) throw std::runtime_error("unreadable peer state");
      failures = 0;
      if (!seen || st->instance != seen->instance || st->revision != seen->revision) {
        seen = st;
        c->pushed = *st;
        c->wake.cancel();
      }
    } catch (const std::exception& e) {
      if (failures++ == 0)
        spdlog::debug("control: peer {} state long-poll failed: {}", c->endpoint.id, describe(e));
      c->state_client->reset();
    }
    if (failures == 0 || stopping || c->stopped) continue;
    // An unreachable peer is retried quickly at first, then every few seconds (an
    // older mvproxy that does not push is read by the discovery loop alone).
    co_await wait(backoff, failures < 5 ? 200ms : 5s);
  }
}

}  // namespace mvproxy::control
