// The local apiserver's state (docs/architecture.md, "Who learns what"): a sidecar has
// no in-process certainty about its apiserver, so it earns it. Between discovery reads
// it watches the kept-alive connection of the last read; the apiserver closing it (it
// is stopping or restarting) makes the local view unconfirmed at once, and nothing is
// routed by it until a read succeeds again. While the apiserver cannot be reached it
// is probed every 100 ms (every 250 ms while it answers but its discovery cannot be
// read), and at once when a request asks (kick_local).

#include "control_plane_impl.hpp"

namespace mvproxy::control {

using routing::apiserver_state;

apiserver_state control_plane::impl::state_after(sync_outcome o) {
  switch (o) {
    case sync_outcome::ok:
      return apiserver_state::up;
    case sync_outcome::unreachable:
      return apiserver_state::down;
    case sync_outcome::failed:
      break;
  }
  return apiserver_state::unconfirmed;
}

void control_plane::impl::set_local_state(cluster_view& v, apiserver_state s) {
  if (v.local_state == s) return;
  // unknown -> up at start-up is not news; anything else is logged once.
  if (v.local_state != apiserver_state::unknown || s != apiserver_state::up)
    spdlog::info("control: local apiserver {} (was {})", to_string(s), to_string(v.local_state));
  v.local_state = s;
  v.local_state_since = sys_clock::now();
  ++v.local_revision;
  count(local_transitions, {to_string(s)});
  // Back: renew the own Lease now, so peers that let it lapse see this sidecar again.
  if (s == apiserver_state::up) lease_wake.cancel();
}

void control_plane::impl::kick_local() {
  auto now = steady::now();
  // A burst of failing requests asks once; the probe under way answers them all.
  if (now - last_kick < 20ms) return;
  last_kick = now;
  probe_requested = true;
  if (discovery_api) discovery_api->wake();
  local_wake.cancel();
}

asio::awaitable<void> control_plane::impl::local_sync_loop() {
  auto at = [](cluster_view& v) { return slot{&v.local_sync, &v.local}; };
  auto record = [this](cluster_view& v, sync_outcome o, bool changed) {
    if (changed) ++v.local_revision;  // peers re-read us
    set_local_state(v, state_after(o));
    if (o != sync_outcome::ok) ++v.local_probes;
  };
  // The apiserver closes an idle connection after 90 s (its IdleTimeout): read before.
  const auto watch_for = std::min<std::chrono::milliseconds>(cfg.discovery_sync_interval, 60s);
  while (!stopping) {
    probe_requested = false;
    auto outcome = co_await sync_one(*local_syncer, "local", "local", "local", at, record);
    if (outcome == sync_outcome::ok && !ready.exchange(true, std::memory_order_acq_rel) && on_ready)
      on_ready();
    if (outcome != sync_outcome::ok) {
      discovery_api->reset();
      if (!probe_requested)
        co_await wait(local_wake, outcome == sync_outcome::unreachable ? 100ms : 250ms);
      continue;
    }
    // This read answered whoever asked meanwhile; a later ask wakes the watch below.
    probe_requested = false;
    auto end = co_await discovery_api->watch_connection(watch_for);
    if (stopping) co_return;
    if (end == https_client::watch_end::closed || probe_requested) {
      // Gone or failing: its last discovery may no longer be what it serves.
      state.update([this](cluster_view& v) {
        set_local_state(v, apiserver_state::unconfirmed);
        return false;
      });
    }
  }
}

}  // namespace mvproxy::control
