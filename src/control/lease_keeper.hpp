#pragma once
// The Lease keeper (SPEC §6, Lease mode): publishes and renews this sidecar's own
// Lease, lists and watches the mvproxy Leases of its peers, and hands the resulting
// membership on (to the peer syncer). Runs on the control thread. Private to
// src/control.

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "control_context.hpp"
#include "mvproxy/control/https_client.hpp"
#include "mvproxy/membership/lease.hpp"
#include "mvproxy/membership/peer_set.hpp"

namespace mvproxy::control {

class lease_keeper {
 public:
  using members_fn = std::function<void(std::vector<membership::peer_endpoint>)>;
  // `on_members` gets the live peers, in server-id order, after every list.
  lease_keeper(control_context& ctx, members_fn on_members)
      : ctx_(ctx), on_members_(std::move(on_members)), wake_(ctx.ioc()) {}

  // Starts renewing the own Lease (holder `instance`) and watching the others. `local`:
  // how to reach the local apiserver as mvproxy itself.
  void start(const https_client::options& local, const std::string& instance);
  // Renew and re-list now (the local apiserver is back, SIGHUP, a watch event).
  void wake() { wake_.cancel(); }
  // Graceful stop: deletes the own Lease so peers drop this sidecar at once.
  asio::awaitable<void> delete_own_lease();

 private:
  asio::awaitable<void> write_own_lease();
  // Reads the own Lease before the first write: a previous run's is taken over.
  asio::awaitable<void> adopt_own_lease();
  // Lists the mvproxy Leases; returns the list's resourceVersion (for the watch).
  asio::awaitable<std::string> list_leases();
  // Peer Leases without a usable address at the last list: warned about once each.
  void note_unusable_leases(const std::vector<std::string>& names);
  asio::awaitable<void> lease_loop();
  // After a failed renew or list: the log line and when to try again.
  void lease_sync_failed(const std::exception& e, bool listing, int failures,
                         steady::time_point& next_renew);
  // A watch on the mvproxy Leases, so a peer that appears or leaves is noticed at once
  // rather than at the next renew tick. Any event re-lists (simple and always right).
  asio::awaitable<void> lease_watch_loop();

  control_context& ctx_;
  members_fn on_members_;
  asio::steady_timer wake_;
  std::unique_ptr<https_client> api_;  // the local apiserver, as mvproxy itself
  membership::own_lease own_;
  bool own_lease_written_ = false;
  sys_clock::time_point next_lease_check_{};
  std::string lease_list_rv_;
  std::set<std::string> unusable_leases_;
};

}  // namespace mvproxy::control
