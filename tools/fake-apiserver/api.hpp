#pragma once
// The apiserver's request handling as a pure function of (profile, store, request):
// discovery, /version, health, the generic object REST API, selfsubjectreviews and
// the deny-list authorizer. Streaming requests (watch, exec) come back as plans the
// I/O layer carries out.

#include "auth.hpp"
#include "discovery.hpp"
#include "request_info.hpp"
#include "selectors.hpp"
#include "status.hpp"
#include "store.hpp"
#include "table.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace fake_apiserver {

struct api_request {
  std::string method;
  std::string path;
  std::string query;
  header_list headers;  // lower-case names
  std::string body;
  user_info user;
  std::string header(const std::string& lower_name) const;
};

struct watch_plan {
  group_resource gr;
  std::string api_version;
  std::string kind;
  std::string ns;
  label_selector labels;
  field_selector fields;
  std::vector<std::string> initial_lines;  // sent before live events
  uint64_t since = 0;                      // live events newer than this
  bool bookmarks = false;
  std::chrono::seconds timeout{1800};
  std::optional<std::string> table_api_version;  // events carry one-row Tables
  include_object include = include_object::metadata;
};

// One event as its JSON line (with '\n'), or nullopt when the watch filters it out.
std::optional<std::string> render_watch_event(const watch_plan& plan, const watch_event& ev);
std::string render_bookmark(const watch_plan& plan, uint64_t resource_version);

struct exec_plan {
  std::vector<std::string> command;
  bool stdin_requested = false;
  bool stdout_requested = false;
  bool stderr_requested = false;
  bool tty = false;
};

struct api_result {
  response resp;
  std::optional<watch_plan> watch;
  std::optional<exec_plan> exec;
  request_info info;
};

class api_handler {
 public:
  api_handler(object_store& store, const auth_config& auth) : store_(store), auth_(auth) {}
  api_result handle(const api_profile& profile, const api_request& req);

 private:
  response non_resource(const api_profile& profile, const api_request& req,
                        const request_info& info);
  api_result resource(const api_profile& profile, const api_request& req, request_info info,
                      const query_map& query);
  // What resource() worked out for a request, for the read verbs (api_read.cpp).
  struct read_target {
    const resource_info* res;
    group_resource gr;
    std::string gv;
    std::string ns;  // for the store: empty for cluster-scoped resources
    label_selector labels;
    field_selector fields;
  };
  api_result read(const api_request& req, const request_info& info, const query_map& query,
                  const read_target& target);

  // api_crd.cpp: CustomResourceDefinitions served dynamically.
  // The base profile plus the groups of every stored CRD, rebuilt only when the CRD set
  // changed (every instance shares the store, so every instance serves every CRD).
  std::shared_ptr<const api_profile> effective(const api_profile& base);
  // Before a write is stored: CRDs are validated (422) and given their status.
  std::optional<response> admit(const group_resource& gr, json& object, const json& previous);
  // After a delete: a deleted CRD takes its custom resources with it.
  void cascade_delete(const group_resource& gr, const json& object);

  object_store& store_;
  const auth_config& auth_;
  struct cached_profile {
    uint64_t crd_revision = 0;
    std::shared_ptr<const api_profile> profile;
  };
  std::map<const api_profile*, cached_profile> effective_;  // by base profile
};

}  // namespace fake_apiserver
