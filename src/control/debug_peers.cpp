#include "mvproxy/control/debug_peers.hpp"

#include <nlohmann/json.hpp>

#include "mvproxy/membership/lease.hpp"
#include "mvproxy/util/host_port.hpp"
#include "mvproxy/view/merged_discovery.hpp"
#include "mvproxy/view/peer_state.hpp"

namespace mvproxy::control {

namespace {

using nlohmann::json;

json time_or_null(std::chrono::system_clock::time_point t) {
  if (t.time_since_epoch().count() == 0) return nullptr;
  return membership::format_micro_time(t);
}

json server_json(const discovery::server_model_ptr& model, const view::sync_status& s) {
  json j = {{"synced", model != nullptr},
            {"lastSync", time_or_null(s.last_success)},
            {"lastAttempt", time_or_null(s.last_attempt)},
            {"source", s.source},
            {"etag", s.etag},
            {"syncs", s.syncs},
            {"errors", s.errors},
            {"lastError", s.last_error.empty() ? json(nullptr) : json(s.last_error)}};
  if (s.syncs > 0)
    j["secondsSinceSync"] =
        std::chrono::duration<double>(std::chrono::system_clock::now() - s.last_success).count();
  if (model) {
    j["resources"] = model->resource_count();
    json gvs = json::array();
    for (auto& g : model->groups())
      for (auto& v : g.versions)
        gvs.push_back(g.name.empty() ? v.version : g.name + "/" + v.version);
    j["groupVersions"] = std::move(gvs);
  }
  return j;
}

}  // namespace

std::string debug_peers_json(const view::cluster_view& view, const view::merged_discovery* merged) {
  json local = server_json(view.local, view.local_sync);
  // The local apiserver as the monitor knows it, and what peers long-polling us see.
  local["apiserver"] = std::string(view::to_string(view.local_state));
  local["apiserverSince"] = time_or_null(view.local_state_since);
  local["revision"] = view.local_revision;
  json peers = json::array();
  auto now = std::chrono::steady_clock::now();
  for (auto& p : view.peers) {
    json j = server_json(p.model, p.sync);
    j["id"] = p.endpoint.id;
    j["address"] = util::format_host_port(p.endpoint.host, p.endpoint.port);
    j["holderIdentity"] = p.endpoint.holder_identity;
    // Its apiserver as it last pushed it (unknown: it has not, or does not push).
    j["apiserver"] = std::string(view::to_string(p.apiserver));
    j["apiserverSince"] = time_or_null(p.state_since);
    j["revision"] = p.state_revision;
    if (p.runtime) {
      j["healthy"] = p.runtime->healthy(now);
      j["consecutiveFailures"] = p.runtime->consecutive_failures();
      j["inFlight"] = p.runtime->in_flight_count();
    }
    peers.push_back(std::move(j));
  }
  json doc = {{"serverId", view.own_id},
              {"instance", view.instance},
              {"generation", view.generation},
              {"local", std::move(local)},
              {"peers", std::move(peers)}};
  if (merged) {
    json from = json::array();
    std::string ids = merged->describe_inputs(view);
    for (std::size_t pos = 0; !ids.empty() && pos <= ids.size();) {
      auto comma = ids.find(',', pos);
      from.push_back(ids.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
    doc["mergedDiscoveryFrom"] = std::move(from);
  }
  return doc.dump(2) + "\n";
}

}  // namespace mvproxy::control
