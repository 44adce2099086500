// Each peer: its discovery, read through its sidecar every --discovery-sync-interval,
// and the state it pushes (GET /mvproxy/v1/state, long-polled). A pushed change is
// applied with the discovery read it triggers, in one published view, so routing
// never sees a peer "up again" with the discovery of its apiserver's previous run; a
// peer whose apiserver is down or unconfirmed is published at once and routed around.

#include "peer_syncer.hpp"

#include "mvproxy/util/host_port.hpp"

namespace mvproxy::control {

using routing::apiserver_state;
using view::to_string;

void peer_syncer::start(const https_client::options& local) { ctx_.spawn(exclusion_loop(local)); }

std::shared_ptr<peer_syncer::peer_conn> peer_syncer::make_peer_conn(
    const membership::peer_endpoint& ep) {
  const auto& cfg = ctx_.cfg();
  https_client::options o;
  o.host = ep.host;
  o.port = ep.port;
  o.verify_name = cfg.peer_server_name;
  o.timeout = 5s;
  // A peer sidecar trusts our proxy client certificate and passes these on to its
  // apiserver, which authorizes the read as system:mvproxy.
  o.default_headers.emplace_back("X-Remote-User", "system:mvproxy");
  o.default_headers.emplace_back("X-Remote-Group", "system:authenticated");
  tls_client_files files;
  files.ca_file = cfg.peer_ca_file;
  files.cert_file = cfg.proxy_client_cert_file;
  files.key_file = cfg.proxy_client_key_file;
  o.tls = [files] { return make_client_tls_context(files); };
  auto c = std::make_shared<peer_conn>(ctx_.ioc());
  c->endpoint = ep;
  https_client::options so = o;
  so.timeout = 45s;  // a long-poll answers within 30 s
  c->state_client = std::make_unique<https_client>(ctx_.ioc().get_executor(), std::move(so));
  c->client = std::make_unique<https_client>(ctx_.ioc().get_executor(), std::move(o));
  c->syncer = std::make_unique<discovery_syncer>(*c->client, true);
  return c;
}

void peer_syncer::retire(const std::string& id) {
  auto it = peer_conns_.find(id);
  if (it == peer_conns_.end()) return;
  // Its loops end at their next step; a long-poll under way ends within 30 s.
  it->second->stopped = true;
  it->second->wake.cancel();
  peer_conns_.erase(it);
}

void peer_syncer::publish_members(std::vector<membership::peer_endpoint> next) {
  auto change = membership::diff_peers(members_, next);
  if (change.empty()) return;
  for (auto& id : change.removed) {
    retire(id);
    spdlog::info("control: peer {} left", id);
  }
  std::vector<std::shared_ptr<peer_conn>> started;
  for (auto& ep : change.added) {
    retire(ep.id);  // a restarted peer (new holder) starts over
    auto c = make_peer_conn(ep);
    peer_conns_.emplace(ep.id, c);
    started.push_back(c);
    spdlog::info("control: peer {} at {} (holder {})", ep.id,
                 util::format_host_port(ep.host, ep.port), ep.holder_identity);
  }
  members_ = std::move(next);
  publish_peer_list();
  for (auto& c : started) {
    ctx_.spawn(peer_loop(c));
    ctx_.spawn(peer_state_loop(c));
  }
}

void peer_syncer::publish_peer_list() {
  ctx_.publish([&](view::cluster_view& v) {
    std::vector<view::peer_info> peers;
    for (auto& ep : members_) {
      view::peer_info p;
      if (auto* old = v.find_peer(ep.id)) {
        p = *old;  // a restarted sidecar keeps its last model until re-synced
      } else {
        p.runtime = ctx_.runtime_for(ep.id);
      }
      if (p.endpoint.holder_identity != ep.holder_identity) {
        // A restarted sidecar: what it pushed before says nothing about it now.
        p.apiserver = apiserver_state::unknown;
        p.state_instance.clear();
      }
      p.endpoint = ep;
      peers.push_back(std::move(p));
    }
    v.peers = std::move(peers);
    return true;
  });
}

void peer_syncer::sync_now() {
  for (auto& [id, c] : peer_conns_) c->wake.cancel();
}

void peer_syncer::apply_pushed(view::cluster_view& v, const std::string& id,
                               const view::peer_state& pushed) {
  for (auto& p : v.peers) {
    if (p.endpoint.id != id) continue;
    if (p.apiserver != pushed.apiserver) {
      spdlog::info("control: peer {} reports its apiserver {}", id, to_string(pushed.apiserver));
      p.state_since = sys_clock::now();
      control_metrics::count(ctx_.metrics().pushes, {id, to_string(pushed.apiserver)});
    }
    p.apiserver = pushed.apiserver;
    p.state_instance = pushed.instance;
    p.state_revision = pushed.revision;
  }
}

asio::awaitable<bool> peer_syncer::peer_step(peer_conn& c,
                                             const std::optional<view::peer_state>& pushed) {
  const std::string& id = c.endpoint.id;
  if (pushed && pushed->apiserver != apiserver_state::up &&
      pushed->apiserver != apiserver_state::unknown) {
    // Nothing to read from an apiserver that is away: route around it now.
    ctx_.publish([&](view::cluster_view& v) {
      apply_pushed(v, id, *pushed);
      return false;
    });
    co_return false;
  }
  auto at = [&id](view::cluster_view& v) {
    for (auto& p : v.peers)
      if (p.endpoint.id == id) return sync_recorder::slot{&p.sync, &p.raw_model};
    return sync_recorder::slot{nullptr, nullptr};
  };
  auto outcome = co_await recorder_.sync(*c.syncer, id, "peer " + id, true, at,
                                         [&](view::cluster_view& v, sync_outcome o, bool changed) {
                                           if (changed)
                                             for (auto& p : v.peers)
                                               if (p.endpoint.id == id) v.refilter(p);
                                           if (pushed && o == sync_outcome::ok)
                                             apply_pushed(v, id, *pushed);
                                         });
  if (outcome == sync_outcome::ok) co_return false;
  c.client->reset();
  // An "up" we could not confirm by a read stays pending; try again soon.
  if (pushed && !c.pushed) c.pushed = pushed;
  co_return pushed.has_value();
}

asio::awaitable<void> peer_syncer::peer_loop(std::shared_ptr<peer_conn> c) {
  while (!ctx_.stopping() && !c->stopped) {
    auto pushed = std::exchange(c->pushed, std::nullopt);
    const bool retry_soon = co_await peer_step(*c, pushed);
    if (ctx_.stopping() || c->stopped) co_return;
    if (c->pushed && !retry_soon) continue;  // pushed while we read
    co_await wait(c->wake, retry_soon ? 200ms : ctx_.cfg().discovery_sync_interval);
  }
}

asio::awaitable<void> peer_syncer::peer_state_loop(std::shared_ptr<peer_conn> c) {
  std::optional<view::peer_state> seen;
  int failures = 0;
  asio::steady_timer backoff(ctx_.ioc());
  while (!ctx_.stopping() && !c->stopped) {
    try {
      http_request r;
      r.target = seen ? view::state_target(seen->instance, seen->revision, 30s)
                      : std::string(view::peer_state_path);
      auto resp = co_await c->state_client->request(std::move(r));
      if (resp.status != 200)
        throw std::runtime_error("GET " + std::string(view::peer_state_path) + ": HTTP " +
                                 std::to_string(resp.status));
      auto st = view::parse_peer_state(resp.body);
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
    if (failures == 0 || ctx_.stopping() || c->stopped) continue;
    // An unreachable peer is retried quickly at first, then every few seconds (an
    // older mvproxy that does not push is read by the discovery loop alone).
    co_await wait(backoff, failures < 5 ? 200ms : 5s);
  }
}

}  // namespace mvproxy::control
