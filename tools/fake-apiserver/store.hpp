#pragma once
// The one object store all instances share (as apiservers share etcd): objects by
// group/resource, namespace and name, a global resourceVersion counter, a bounded
// event history for watch resumption, and synchronous listeners for live watches.
// Single-threaded by design: the server runs one io_context thread.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace fake_apiserver {

using json = nlohmann::json;

struct group_resource {
  std::string group;
  std::string resource;
  auto operator<=>(const group_resource&) const = default;
};

struct watch_event {
  std::string type;  // ADDED, MODIFIED, DELETED
  json object;
  json previous;  // the object before a MODIFIED/DELETED, for selector transitions
  uint64_t resource_version = 0;
  group_resource gr;
};

class object_store {
 public:
  enum class outcome { ok, not_found, already_exists, conflict };
  struct result {
    outcome status = outcome::ok;
    json object;
  };

  // Starts with namespaces default, kube-system, kube-public, kube-node-lease.
  object_store();

  // `object` must carry metadata.name; uid, resourceVersion, creationTimestamp and
  // generation are filled here.
  result create(const group_resource& gr, const std::string& ns, json object);
  result get(const group_resource& gr, const std::string& ns, const std::string& name) const;
  // All objects of gr (in `ns`, or every namespace when empty), in key order.
  std::vector<json> list(const group_resource& gr, const std::string& ns) const;
  // Replaces the object; a non-empty metadata.resourceVersion must match (else conflict).
  result update(const group_resource& gr, const std::string& ns, const std::string& name,
                json object);
  result remove(const group_resource& gr, const std::string& ns, const std::string& name);
  bool namespace_exists(const std::string& ns) const;

  uint64_t resource_version() const { return rv_; }
  // The resourceVersion of gr's latest change (0: never changed): what derived state,
  // such as the CRD-served discovery, is cached against.
  uint64_t last_change(const group_resource& gr) const;

  using listener = std::function<void(const watch_event&)>;
  uint64_t subscribe(listener l);
  void unsubscribe(uint64_t id);

  // Appends events of gr newer than `since`; false when history no longer reaches
  // back that far (the client must relist: 410 Gone).
  bool events_since(const group_resource& gr, uint64_t since, std::vector<watch_event>& out) const;

 private:
  using key = std::pair<std::string, std::string>;  // namespace, name
  void emit(watch_event ev);

  std::map<group_resource, std::map<key, json>> objects_;
  uint64_t rv_ = 1;
  std::deque<watch_event> history_;
  std::map<group_resource, uint64_t> last_change_;
  uint64_t oldest_kept_ = 0;  // resourceVersion before the first event we still have
  std::map<uint64_t, listener> listeners_;
  uint64_t next_listener_ = 1;
};

// RFC 3339 UTC with seconds, as metav1.Time serialises.
std::string now_rfc3339();
std::string random_uid();

}  // namespace fake_apiserver
