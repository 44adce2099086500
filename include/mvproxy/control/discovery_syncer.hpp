#pragma once
// Reads one server's discovery (SPEC §5): aggregated apidiscovery.k8s.io v2, then
// v2beta1, then legacy documents for apiservers that predate aggregated discovery.
// Keeps each document's ETag and body, so an unchanged document costs a 304, and
// reports "unchanged" when nothing changed so the cluster view is not republished.

#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "mvproxy/control/https_client.hpp"
#include "mvproxy/discovery/model.hpp"
#include "mvproxy/discovery/negotiate.hpp"

namespace mvproxy::control {

struct discovery_result {
  discovery::server_model_ptr model;  // null when nothing changed since the last sync
  std::string source;                 // "aggregated v2", "aggregated v2beta1", "legacy"
  std::string etag;                   // of /apis
  std::string api_etag;               // of /api
  // GET /openapi/v3 (the OpenAPI v3 index) when it changed since the last sync; an
  // empty string when the server has none (404).
  std::optional<std::string> openapi_index;
  std::string openapi_etag;
};

class discovery_syncer {
 public:
  // `peer`: the server is a peer sidecar; its reads carry x-kubernetes-peer-proxied so
  // that sidecar answers from its own apiserver only (SPEC §3 rule 2).
  discovery_syncer(https_client& client, bool peer) : client_(client), peer_(peer) {}

  // Throws std::runtime_error with a one-line reason on any failure (the caller counts
  // it and keeps the last good model).
  boost::asio::awaitable<discovery_result> sync();

 private:
  struct cached {
    std::string etag;
    std::string body;
    std::string content_type;
  };
  // GET with If-None-Match; returns the current body (from cache on 304) and whether it
  // changed. Throws on a status other than 200/304.
  boost::asio::awaitable<bool> fetch(const std::string& target, const char* accept, cached& out);
  // The OpenAPI v3 index into `out` (a 404 is an empty index).
  boost::asio::awaitable<void> fetch_openapi_index(discovery_result& out);

  https_client& client_;
  bool peer_;
  std::map<std::string, cached> docs_;  // by target
  bool have_model_ = false;
  bool have_openapi_ = false;
};

}  // namespace mvproxy::control
