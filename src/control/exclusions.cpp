// The group-versions never routed to a peer (discovery/exclusion.hpp): read from the
// local apiserver — its CustomResourceDefinitions and aggregated APIServices — every
// --discovery-sync-interval, and applied to every peer's model at once. Part of the
// peer syncer: they only shape what peers are asked for.

#include "peer_syncer.hpp"

namespace mvproxy::control {

namespace {

const char* const crds_path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
const char* const apiservices_path = "/apis/apiregistration.k8s.io/v1/apiservices";

}  // namespace

asio::awaitable<discovery::gv_set> peer_syncer::list_gvs(https_client& client, const char* path) {
  http_request r;
  r.target = path;
  auto resp = co_await client.request(std::move(r));
  // An apiserver without the group (very old, or aggregation off) has none of them.
  if (resp.status == 404) co_return discovery::gv_set{};
  if (resp.status != 200)
    throw std::runtime_error(std::string("GET ") + path + ": HTTP " + std::to_string(resp.status));
  std::string error;
  auto gvs = std::string_view(path) == crds_path ? discovery::gvs_of_crds(resp.body, &error)
                                                 : discovery::gvs_of_apiservices(resp.body, &error);
  if (!gvs) throw std::runtime_error(std::string(path) + ": " + error);
  co_return *gvs;
}

void peer_syncer::publish_excluded(const discovery::gv_set& excluded) {
  auto set = std::make_shared<const discovery::gv_set>(excluded);
  ctx_.publish([&](view::cluster_view& v) {
    v.excluded = set;
    for (auto& p : v.peers) v.refilter(p);
    return true;
  });
  std::string list;
  for (auto& gv : excluded) list += (list.empty() ? "" : ", ") + gv;
  spdlog::info("control: never routed to a peer (CRDs, aggregated APIs): {}",
               list.empty() ? std::string("none") : list);
}

asio::awaitable<void> peer_syncer::exclusion_loop(https_client::options local) {
  const auto interval = ctx_.cfg().discovery_sync_interval;
  discovery::exclusion_tracker tracker(ctx_.cfg().peer_exclusion_grace_period);
  https_client client(ctx_.ioc().get_executor(), std::move(local));
  asio::steady_timer timer(ctx_.ioc());
  int failures = 0;
  while (!ctx_.stopping()) {
    try {
      auto active = co_await list_gvs(client, crds_path);
      active.merge(co_await list_gvs(client, apiservices_path));
      if (tracker.update(active, steady::now())) publish_excluded(tracker.excluded());
      failures = 0;
    } catch (const std::exception& e) {
      // The last set stays in force (the local apiserver may be restarting).
      if (failures++ == 0)
        spdlog::warn("control: reading CRDs and APIServices failed: {}", describe(e));
      client.reset();
    }
    auto next =
        steady::now() + (failures ? std::min<std::chrono::milliseconds>(interval, 1s) : interval);
    if (auto expiry = tracker.next_expiry()) next = std::min(next, *expiry);
    co_await wait(
        timer,
        std::max<std::chrono::milliseconds>(
            10ms, std::chrono::duration_cast<std::chrono::milliseconds>(next - steady::now())));
  }
}

}  // namespace mvproxy::control
