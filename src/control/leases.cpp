#include "control_plane_impl.hpp"
#include "mvproxy/membership/peer_set.hpp"
#include "mvproxy/metrics/standard.hpp"

// Peer membership through Leases (SPEC §6): the own Lease written and renewed, the
// others listed and watched.

namespace mvproxy::control {

asio::awaitable<void> control_plane::impl::write_own_lease() {
  own.renew_time = sys_clock::now();
  if (!own_lease_written) {
    // Create; if a Lease by our name exists (a previous run), take it over.
    http_request get;
    get.target = lease_path(own.namespace_name, own.server_id);
    auto cur = co_await api->request(get);
    if (cur.status == 200) {
      auto l = membership::parse_lease(cur.body);
      if (l) own.resource_version = l.value->resource_version;
    } else if (cur.status != 404) {
      throw std::runtime_error("GET own Lease: HTTP " + std::to_string(cur.status));
    }
  }
  http_request w;
  if (own.resource_version.empty()) {
    w.method = boost::beast::http::verb::post;
    w.target = lease_path(own.namespace_name);
  } else {
    w.method = boost::beast::http::verb::put;
    w.target = lease_path(own.namespace_name, own.server_id);
  }
  w.body = membership::build_lease_json(own);
  auto resp = co_await api->request(w);
  if (resp.status == 409 || resp.status == 404) {
    // Someone else wrote it (or it was deleted): re-read and try again next tick.
    own_lease_written = false;
    own.resource_version.clear();
    count(lease_ops, {"renew", "conflict"});
    co_return;
  }
  if (resp.status != 200 && resp.status != 201)
    throw std::runtime_error("write own Lease: HTTP " + std::to_string(resp.status) + ": " +
                             resp.body.substr(0, 200));
  auto l = membership::parse_lease(resp.body);
  if (l) own.resource_version = l.value->resource_version;
  own_lease_written = true;
  count(lease_ops, {"renew", "ok"});
}

asio::awaitable<std::string> control_plane::impl::list_leases() {
  http_request r;
  r.target = lease_path(cfg.lease_namespace) + "?" + lease_selector;
  auto resp = co_await api->request(r);
  if (resp.status != 200)
    throw std::runtime_error("list Leases: HTTP " + std::to_string(resp.status));
  auto list = membership::parse_lease_list(resp.body);
  if (!list) throw std::runtime_error("list Leases: " + list.error);
  auto now = sys_clock::now();
  publish_members(membership::peers_from_leases(list.value->items, cfg.server_id, now));
  auto unusable = membership::leases_without_address(list.value->items, cfg.server_id, now);
  for (std::size_t i = 0; i < unusable.size(); ++i)
    count(sync_errors, {metrics::discovery_error_hostport_resolution});
  note_unusable_leases(unusable);
  // Wake again when the first live peer Lease would expire unless renewed.
  auto next = now + cfg.lease_renew_interval;
  for (auto& l : list.value->items)
    if (l.name != cfg.server_id && membership::is_live(l, now))
      next = std::min(next, *l.renew_time + std::chrono::seconds(l.lease_duration_seconds));
  next_lease_check = next;
  count(lease_ops, {"list", "ok"});
  co_return list.value->resource_version;
}

void control_plane::impl::note_unusable_leases(const std::vector<std::string>& names) {
  std::set<std::string> now(names.begin(), names.end());
  for (const auto& name : now)
    if (!unusable_leases.contains(name))
      spdlog::warn("control: peer Lease {} has no usable {} annotation (ip:port): not a peer", name,
                   membership::advertise_annotation);
  unusable_leases = std::move(now);
}

asio::awaitable<void> control_plane::impl::lease_loop() {
  auto next_renew = steady::now();
  int failures = 0;
  while (!stopping) {
    bool listing = false;  // which of the two failed, for the metrics
    try {
      if (steady::now() >= next_renew) {
        co_await write_own_lease();
        next_renew = steady::now() + cfg.lease_renew_interval;
      }
      listing = true;
      lease_list_rv = co_await list_leases();
      if (failures > 0) spdlog::info("control: Lease sync works again after {} failures", failures);
      failures = 0;
    } catch (const std::exception& e) {
      count(lease_ops, {listing ? "list" : "renew", "error"});
      if (listing) count(sync_errors, {metrics::discovery_error_lease_list});
      // Once per outage at warning level: the local apiserver may be down for a while,
      // and the local monitor says so already.
      if (failures++ == 0)
        spdlog::warn("control: Lease sync failed: {}", describe(e));
      else
        spdlog::debug("control: Lease sync failed again: {}", describe(e));
      api->reset();
      // Retried within a second (the local monitor wakes this loop when the apiserver
      // is back), not in a tight loop.
      auto retry = std::min<std::chrono::milliseconds>(cfg.lease_renew_interval, 1s);
      next_renew = std::max(next_renew, steady::now() + retry);
      next_lease_check = sys_clock::now() + retry;
    }
    auto until_renew =
        std::chrono::duration_cast<std::chrono::milliseconds>(next_renew - steady::now());
    auto until_expiry = std::chrono::duration_cast<std::chrono::milliseconds>(
        next_lease_check - sys_clock::now() + 10ms);
    co_await wait(lease_wake, std::max(10ms, std::min(until_renew, until_expiry)));
  }
}

asio::awaitable<void> control_plane::impl::lease_watch_loop() {
  while (!stopping) {
    try {
      https_client::options o = api->opts();
      https_client watch_client(ioc.get_executor(), o);
      http_request r;
      r.target = lease_path(cfg.lease_namespace) + "?" + lease_selector +
                 "&watch=true&allowWatchBookmarks=true&timeoutSeconds=300";
      if (!lease_list_rv.empty()) r.target += "&resourceVersion=" + lease_list_rv;
      co_await watch_client.stream_lines(
          std::move(r), [](const http_response&) {},
          [this](std::string_view line) {
            auto j = nlohmann::json::parse(line, nullptr, false);
            if (j.is_object() && j.value("type", "") != "BOOKMARK") lease_wake.cancel();
          },
          std::chrono::milliseconds(330'000));
    } catch (const std::exception& e) {
      if (stopping) co_return;
      spdlog::debug("control: Lease watch ended: {}", describe(e));
    }
    asio::steady_timer t(ioc);
    co_await wait(t, 1s);
  }
}

asio::awaitable<void> control_plane::impl::delete_own_lease() {
  if (!own_lease_written) co_return;
  try {
    http_request d;
    d.method = boost::beast::http::verb::delete_;
    d.target = lease_path(own.namespace_name, own.server_id);
    auto resp = co_await api->request(d);
    count(lease_ops, {"delete", resp.status == 200 ? "ok" : "error"});
    spdlog::info("control: deleted own Lease {} (HTTP {})", own.server_id, resp.status);
  } catch (const std::exception& e) {
    spdlog::warn("control: deleting own Lease failed: {}", describe(e));
  }
}

}  // namespace mvproxy::control
