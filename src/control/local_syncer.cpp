// The local apiserver's state (docs/architecture.md, "Who learns what"): a sidecar has
// no in-process certainty about its apiserver, so it earns it. Between discovery reads
// it watches the kept-alive connection of the last read; the apiserver closing it (it
// is stopping or restarting) makes the local view unconfirmed at once, and nothing is
// routed by it until a read succeeds again. While the apiserver cannot be reached it
// is probed every 100 ms (every 250 ms while it answers but its discovery cannot be
// read), and at once when a request asks (kick).

#include "local_syncer.hpp"

#include "mvproxy/view/peer_state.hpp"

namespace mvproxy::control {

using routing::apiserver_state;
using view::to_string;

void local_syncer::start(const https_client::options& local) {
  client_ = std::make_unique<https_client>(ctx_.ioc().get_executor(), local);
  syncer_ = std::make_unique<discovery_syncer>(*client_, false);
  ctx_.spawn(run());
}

apiserver_state local_syncer::state_after(sync_outcome o) {
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

void local_syncer::set_state(view::cluster_view& v, apiserver_state s) {
  if (v.local_state == s) return;
  // unknown -> up at start-up is not news; anything else is logged once.
  if (v.local_state != apiserver_state::unknown || s != apiserver_state::up)
    spdlog::info("control: local apiserver {} (was {})", to_string(s), to_string(v.local_state));
  v.local_state = s;
  v.local_state_since = sys_clock::now();
  ++v.local_revision;
  control_metrics::count(ctx_.metrics().local_transitions, {to_string(s)});
  // Back: renew the own Lease now, so peers that let it lapse see this sidecar again.
  if (s == apiserver_state::up && on_up_) on_up_();
}

void local_syncer::kick() {
  auto now = steady::now();
  // A burst of failing requests asks once; the probe under way answers them all.
  if (now - last_kick_ < 20ms) return;
  last_kick_ = now;
  probe_requested_ = true;
  if (client_) client_->wake();
  wake_.cancel();
}

asio::awaitable<void> local_syncer::run() {
  auto at = [](view::cluster_view& v) { return sync_recorder::slot{&v.local_sync, &v.local}; };
  auto record = [this](view::cluster_view& v, sync_outcome o, bool changed) {
    if (changed) ++v.local_revision;  // peers re-read us
    set_state(v, state_after(o));
    if (o != sync_outcome::ok) ++v.local_probes;
  };
  // The apiserver closes an idle connection after 90 s (its IdleTimeout): read before.
  const auto watch_for =
      std::min<std::chrono::milliseconds>(ctx_.cfg().discovery_sync_interval, 60s);
  while (!ctx_.stopping()) {
    probe_requested_ = false;
    auto outcome = co_await recorder_.sync(*syncer_, "local", "local", false, at, record);
    if (outcome == sync_outcome::ok && !ready_.exchange(true, std::memory_order_acq_rel) &&
        on_ready_)
      on_ready_();
    if (outcome != sync_outcome::ok) {
      client_->reset();
      if (!probe_requested_)
        co_await wait(wake_, outcome == sync_outcome::unreachable ? 100ms : 250ms);
      continue;
    }
    // This read answered whoever asked meanwhile; a later ask wakes the watch below.
    probe_requested_ = false;
    auto end = co_await client_->watch_connection(watch_for);
    if (ctx_.stopping()) co_return;
    if (end == https_client::watch_end::closed || probe_requested_) {
      // Gone or failing: its last discovery may no longer be what it serves.
      ctx_.publish([this](view::cluster_view& v) {
        set_state(v, apiserver_state::unconfirmed);
        return false;
      });
    }
  }
}

}  // namespace mvproxy::control
