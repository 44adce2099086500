#pragma once
// Peer-aggregated discovery documents (SPEC §5): the merge of the local apiserver's
// model and every healthy, synced peer's, walked in server-id order (this sidecar's own
// id included) so that every sidecar serves byte-identical documents. Rendered once per
// change of inputs and shared by all requests until the next change.

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "mvproxy/discovery/negotiate.hpp"
#include "mvproxy/view/cluster_state.hpp"

namespace mvproxy::metrics {
class counter;
}  // namespace mvproxy::metrics

namespace mvproxy::view {

struct merged_document {
  std::string body;
  std::string etag;  // quoted upper-case hex SHA-512 of body
  std::string_view content_type;
};

enum class discovery_root { api, apis };

class merged_discovery {
 public:
  // The counters (aggregator_discovery_peer_aggregated_cache_{hits,misses}_total) may be null.
  explicit merged_discovery(metrics::counter* hits = nullptr, metrics::counter* misses = nullptr)
      : hits_(hits), misses_(misses) {}

  // The merged document for GET /api or /apis in `format`; null when the local model
  // is not synced yet (the caller passes the request to the local apiserver).
  std::shared_ptr<const merged_document> get(const cluster_view& view, discovery_root root,
                                             discovery::discovery_format format);

  // GET /apis/<group> (legacy APIGroup) from the same merge, so it agrees with /apis;
  // null when the local model is not synced or nobody serves the group.
  std::shared_ptr<const merged_document> get_group(const cluster_view& view,
                                                   std::string_view group);

  // GET /openapi/v3: the union of every server's OpenAPI v3 index (the local entry first
  // for a group-version several serve; a peer's excluded group-versions left out), so
  // clients find the schema of every group-version the cluster serves. Null before the
  // local index is read.
  std::shared_ptr<const merged_document> get_openapi_index(const cluster_view& view);

  // The inputs of the current merge, for /debug/peers: server ids in merge order.
  std::string describe_inputs(const cluster_view& view) const;

 private:
  struct rendered {
    std::string key;
    // The inputs, held so that no model address in `key` can be reused by another
    // model while this entry exists.
    std::vector<discovery::server_model_ptr> inputs;
    // [root][format]: api/apis × legacy/v2/v2beta1
    std::array<std::shared_ptr<const merged_document>, 6> docs;
    discovery::server_model_ptr merged;
    // /apis/<group>, rendered on first use (under mu_).
    std::map<std::string, std::shared_ptr<const merged_document>, std::less<>> groups;
  };
  std::string key_for(const cluster_view& view) const;

  std::mutex mu_;
  std::shared_ptr<rendered> current_;
  std::string openapi_key_;
  std::shared_ptr<const merged_document> openapi_;
  metrics::counter* hits_ = nullptr;
  metrics::counter* misses_ = nullptr;
};

}  // namespace mvproxy::view
