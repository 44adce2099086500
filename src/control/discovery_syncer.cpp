#include "mvproxy/control/discovery_syncer.hpp"

#include <stdexcept>

#include <boost/asio/use_awaitable.hpp>

#include "mvproxy/discovery/parse.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on Asio's coroutine frames (sized
// operator delete of awaitable_frame_base) when it inlines deeply, as here at -O2.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace mvproxy::control {

namespace asio = boost::asio;

namespace {

bool is_aggregated(const std::string& content_type) {
  return content_type.find("as=APIGroupDiscoveryList") != std::string::npos;
}

}  // namespace

asio::awaitable<bool> discovery_syncer::fetch(const std::string& target, const char* accept,
                                              cached& doc) {
  http_request r;
  r.target = target;
  r.headers.emplace_back("Accept", accept);
  if (!doc.etag.empty()) r.headers.emplace_back("If-None-Match", doc.etag);
  if (peer_) r.headers.emplace_back("x-kubernetes-peer-proxied", "true");
  auto resp = co_await client_.request(std::move(r));
  if (resp.status == 304 && !doc.body.empty()) co_return false;
  if (resp.status != 200)
    throw std::runtime_error("GET " + target + ": HTTP " + std::to_string(resp.status));
  bool changed = resp.body != doc.body || doc.body.empty();
  doc.etag = resp.header("ETag");
  doc.content_type = resp.header("Content-Type");
  doc.body = std::move(resp.body);
  co_return changed;
}

asio::awaitable<void> discovery_syncer::fetch_openapi_index(discovery_result& out) {
  auto& doc = docs_["/openapi/v3"];
  http_request r;
  r.target = "/openapi/v3";
  r.headers.emplace_back("Accept", "application/json");
  if (!doc.etag.empty()) r.headers.emplace_back("If-None-Match", doc.etag);
  if (peer_) r.headers.emplace_back("x-kubernetes-peer-proxied", "true");
  auto resp = co_await client_.request(std::move(r));
  out.openapi_etag = doc.etag;
  if (resp.status == 304 && !doc.etag.empty()) co_return;
  std::string body = resp.status == 200 ? std::move(resp.body) : std::string();
  if (resp.status != 200 && resp.status != 404)
    throw std::runtime_error("GET /openapi/v3: HTTP " + std::to_string(resp.status));
  doc.etag = resp.status == 200 ? resp.header("ETag") : std::string();
  out.openapi_etag = doc.etag;
  if (body != doc.body || !have_openapi_) out.openapi_index = body;
  doc.body = std::move(body);
  have_openapi_ = true;
}

asio::awaitable<discovery_result> discovery_syncer::sync() {
  discovery_result out;
  co_await fetch_openapi_index(out);
  auto& apis = docs_["/apis"];
  bool changed = co_await fetch("/apis", discovery::discovery_accept, apis);
  out.etag = apis.etag;

  if (is_aggregated(apis.content_type)) {
    auto& api = docs_["/api"];
    changed = (co_await fetch("/api", discovery::discovery_accept, api)) || changed;
    out.api_etag = api.etag;
    if (!changed && have_model_) {
      out.source = "unchanged";
      co_return out;
    }
    auto groups = discovery::parse_aggregated(apis.body);
    if (!groups.ok()) throw std::runtime_error("/apis: " + groups.error);
    out.source = groups.value->version == discovery::aggregated_version::v2 ? "aggregated v2"
                                                                            : "aggregated v2beta1";
    std::vector<discovery::group_info> core;
    if (is_aggregated(api.content_type)) {
      auto c = discovery::parse_aggregated(api.body);
      if (!c.ok()) throw std::runtime_error("/api: " + c.error);
      core = std::move(c.value->groups);
    } else {
      // Aggregated /apis but legacy /api: read the core group's resource lists.
      auto versions = discovery::parse_api_versions(api.body);
      if (!versions.ok()) throw std::runtime_error("/api: " + versions.error);
      discovery::group_info g;
      for (auto& v : *versions.value) {
        auto& doc = docs_["/api/" + v];
        co_await fetch("/api/" + v, "application/json", doc);
        auto list = discovery::parse_resource_list(doc.body);
        if (!list.ok()) throw std::runtime_error("/api/" + v + ": " + list.error);
        g.versions.push_back({v, std::move(list.value->resources), {}});
      }
      if (!g.versions.empty()) core.push_back(std::move(g));
    }
    out.model = std::make_shared<const discovery::server_model>(
        discovery::make_server_model(std::move(core), std::move(groups.value->groups)));
    have_model_ = true;
    co_return out;
  }

  // Legacy discovery: /api, then every group version's resource list.
  out.source = "legacy";
  auto& api = docs_["/api"];
  changed = (co_await fetch("/api", "application/json", api)) || changed;
  out.api_etag = api.etag;
  auto core_versions = discovery::parse_api_versions(api.body);
  if (!core_versions.ok()) throw std::runtime_error("/api: " + core_versions.error);
  auto groups = discovery::parse_group_list(apis.body);
  if (!groups.ok()) throw std::runtime_error("/apis: " + groups.error);
  discovery::legacy_documents docs;
  docs.api_versions = api.body;
  docs.group_list = apis.body;
  for (auto& gv : discovery::legacy_group_versions(*core_versions.value, *groups.value)) {
    std::string target = (gv.find('/') == std::string::npos ? "/api/" : "/apis/") + gv;
    auto& doc = docs_[target];
    changed = (co_await fetch(target, "application/json", doc)) || changed;
    docs.resource_lists.emplace(gv, doc.body);
  }
  if (!changed && have_model_) {
    out.source = "unchanged";
    co_return out;
  }
  auto model = discovery::build_legacy_model(docs);
  if (!model.ok()) throw std::runtime_error("legacy discovery: " + model.error);
  out.model = std::make_shared<const discovery::server_model>(std::move(*model.value));
  have_model_ = true;
  co_return out;
}

}  // namespace mvproxy::control
