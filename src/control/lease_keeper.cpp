// Peer membership through Leases (SPEC §6): the own Lease written and renewed, the
// others listed and watched.

#include "lease_keeper.hpp"

#include <nlohmann/json.hpp>

#include "mvproxy/metrics/standard.hpp"
#include "mvproxy/util/host_port.hpp"

namespace mvproxy::control {

namespace {

std::string lease_path(const std::string& ns, const std::string& name = {}) {
  std::string p = "/apis/coordination.k8s.io/v1/namespaces/" + ns + "/leases";
  if (!name.empty()) p += "/" + name;
  return p;
}

const char* const lease_selector = "labelSelector=app.kubernetes.io%2Fname%3Dmvproxy";

}  // namespace

void lease_keeper::start(const https_client::options& local, const std::string& instance) {
  const auto& cfg = ctx_.cfg();
  api_ = std::make_unique<https_client>(ctx_.ioc().get_executor(), local);
  own_.server_id = cfg.server_id;
  own_.namespace_name = cfg.lease_namespace;
  own_.holder_identity = instance;
  own_.advertise_address = util::format_host_port(
      cfg.peer_advertise_ip, cfg.peer_advertise_port ? cfg.peer_advertise_port : cfg.secure_port);
  own_.lease_duration_seconds = static_cast<int>(
      std::chrono::duration_cast<std::chrono::seconds>(cfg.lease_duration).count());
  own_.acquire_time = sys_clock::now();
  ctx_.spawn(lease_loop());
  ctx_.spawn(lease_watch_loop());
}

asio::awaitable<void> lease_keeper::adopt_own_lease() {
  // Create; if a Lease by our name exists (a previous run), take it over.
  http_request get;
  get.target = lease_path(own_.namespace_name, own_.server_id);
  auto cur = co_await api_->request(get);
  if (cur.status == 200) {
    auto l = membership::parse_lease(cur.body);
    if (l) own_.resource_version = l.value->resource_version;
  } else if (cur.status != 404) {
    throw std::runtime_error("GET own Lease: HTTP " + std::to_string(cur.status));
  }
}

asio::awaitable<void> lease_keeper::write_own_lease() {
  own_.renew_time = sys_clock::now();
  if (!own_lease_written_) co_await adopt_own_lease();
  http_request w;
  if (own_.resource_version.empty()) {
    w.method = boost::beast::http::verb::post;
    w.target = lease_path(own_.namespace_name);
  } else {
    w.method = boost::beast::http::verb::put;
    w.target = lease_path(own_.namespace_name, own_.server_id);
  }
  w.body = membership::build_lease_json(own_);
  auto resp = co_await api_->request(w);
  auto* ops = ctx_.metrics().lease_ops;
  if (resp.status == 409 || resp.status == 404) {
    // Someone else wrote it (or it was deleted): re-read and try again next tick.
    own_lease_written_ = false;
    own_.resource_version.clear();
    control_metrics::count(ops, {"renew", "conflict"});
    co_return;
  }
  if (resp.status != 200 && resp.status != 201)
    throw std::runtime_error("write own Lease: HTTP " + std::to_string(resp.status) + ": " +
                             resp.body.substr(0, 200));
  auto l = membership::parse_lease(resp.body);
  if (l) own_.resource_version = l.value->resource_version;
  own_lease_written_ = true;
  control_metrics::count(ops, {"renew", "ok"});
}

asio::awaitable<std::string> lease_keeper::list_leases() {
  const auto& cfg = ctx_.cfg();
  http_request r;
  r.target = lease_path(cfg.lease_namespace) + "?" + lease_selector;
  auto resp = co_await api_->request(r);
  if (resp.status != 200)
    throw std::runtime_error("list Leases: HTTP " + std::to_string(resp.status));
  auto list = membership::parse_lease_list(resp.body);
  if (!list) throw std::runtime_error("list Leases: " + list.error);
  auto now = sys_clock::now();
  on_members_(membership::peers_from_leases(list.value->items, cfg.server_id, now));
  auto unusable = membership::leases_without_address(list.value->items, cfg.server_id, now);
  for (std::size_t i = 0; i < unusable.size(); ++i)
    control_metrics::count(ctx_.metrics().sync_errors,
                           {metrics::discovery_error_hostport_resolution});
  note_unusable_leases(unusable);
  // Wake again when the first live peer Lease would expire unless renewed.
  auto next = now + cfg.lease_renew_interval;
  for (auto& l : list.value->items)
    if (l.name != cfg.server_id && membership::is_live(l, now))
      next = std::min(next, *l.renew_time + std::chrono::seconds(l.lease_duration_seconds));
  next_lease_check_ = next;
  control_metrics::count(ctx_.metrics().lease_ops, {"list", "ok"});
  co_return list.value->resource_version;
}

void lease_keeper::note_unusable_leases(const std::vector<std::string>& names) {
  std::set<std::string> now(names.begin(), names.end());
  for (const auto& name : now)
    if (!unusable_leases_.contains(name))
      spdlog::warn("control: peer Lease {} has no usable {} annotation (ip:port): not a peer", name,
                   membership::advertise_annotation);
  unusable_leases_ = std::move(now);
}

asio::awaitable<void> lease_keeper::lease_loop() {
  const auto& cfg = ctx_.cfg();
  auto next_renew = steady::now();
  int failures = 0;
  while (!ctx_.stopping()) {
    bool listing = false;  // which of the two failed, for the metrics
    try {
      if (steady::now() >= next_renew) {
        co_await write_own_lease();
        next_renew = steady::now() + cfg.lease_renew_interval;
      }
      listing = true;
      lease_list_rv_ = co_await list_leases();
      if (failures > 0) spdlog::info("control: Lease sync works again after {} failures", failures);
      failures = 0;
    } catch (const std::exception& e) {
      lease_sync_failed(e, listing, failures++, next_renew);
    }
    auto until_renew =
        std::chrono::duration_cast<std::chrono::milliseconds>(next_renew - steady::now());
    auto until_expiry = std::chrono::duration_cast<std::chrono::milliseconds>(
        next_lease_check_ - sys_clock::now() + 10ms);
    co_await wait(wake_, std::max(10ms, std::min(until_renew, until_expiry)));
  }
}

void lease_keeper::lease_sync_failed(const std::exception& e, bool listing, int failures,
                                     steady::time_point& next_renew) {
  auto& m = ctx_.metrics();
  control_metrics::count(m.lease_ops, {listing ? "list" : "renew", "error"});
  if (listing) control_metrics::count(m.sync_errors, {metrics::discovery_error_lease_list});
  // Once per outage at warning level: the local apiserver may be down for a while,
  // and the local monitor says so already.
  if (failures == 0)
    spdlog::warn("control: Lease sync failed: {}", describe(e));
  else
    spdlog::debug("control: Lease sync failed again: {}", describe(e));
  api_->reset();
  // Retried within a second (the local syncer wakes this loop when the apiserver is
  // back), not in a tight loop.
  auto retry = std::min<std::chrono::milliseconds>(ctx_.cfg().lease_renew_interval, 1s);
  next_renew = std::max(next_renew, steady::now() + retry);
  next_lease_check_ = sys_clock::now() + retry;
}

asio::awaitable<void> lease_keeper::lease_watch_loop() {
  while (!ctx_.stopping()) {
    try {
      https_client watch_client(ctx_.ioc().get_executor(), api_->opts());
      http_request r;
      r.target = lease_path(ctx_.cfg().lease_namespace) + "?" + lease_selector +
                 "&watch=true&allowWatchBookmarks=true&timeoutSeconds=300";
      if (!lease_list_rv_.empty()) r.target += "&resourceVersion=" + lease_list_rv_;
      co_await watch_client.stream_lines(
          std::move(r), [](const http_response&) {},
          [this](std::string_view line) {
            auto j = nlohmann::json::parse(line, nullptr, false);
            if (j.is_object() && j.value("type", "") != "BOOKMARK") wake_.cancel();
          },
          std::chrono::milliseconds(330'000));
    } catch (const std::exception& e) {
      if (ctx_.stopping()) co_return;
      spdlog::debug("control: Lease watch ended: {}", describe(e));
    }
    asio::steady_timer t(ctx_.ioc());
    co_await wait(t, 1s);
  }
}

asio::awaitable<void> lease_keeper::delete_own_lease() {
  if (!own_lease_written_) co_return;
  try {
    http_request d;
    d.method = boost::beast::http::verb::delete_;
    d.target = lease_path(own_.namespace_name, own_.server_id);
    auto resp = co_await api_->request(d);
    control_metrics::count(ctx_.metrics().lease_ops,
                           {"delete", resp.status == 200 ? "ok" : "error"});
    spdlog::info("control: deleted own Lease {} (HTTP {})", own_.server_id, resp.status);
  } catch (const std::exception& e) {
    spdlog::warn("control: deleting own Lease failed: {}", describe(e));
  }
}

}  // namespace mvproxy::control
