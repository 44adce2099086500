#pragma once
// Classifies a request the way kube-apiserver's RequestInfo does
// (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go), so mvproxy routes exactly
// the requests the apiserver would count as the same resource. Runs on every request:
// the result is views into the caller's strings, and nothing allocates in the common
// case.
//
// Where mvproxy differs from upstream, on purpose:
// - Upstream classifies the *decoded* path (Go's URL.Path). mvproxy sees the raw path
//   and refuses, as `malformed` (the caller answers 400), any path whose raw and decoded
//   readings could classify differently, or that a later hop could normalise into
//   another resource: empty segments ("//"), dot segments ("." "..", also when
//   %-encoded), bad %-escapes (Go's server answers 400 for those too), and a
//   %-escape in a segment that names the API, group, version, verb, namespace, resource
//   or subresource (e.g. "p%6Fds" is "pods" to the apiserver; no real client encodes
//   these). A %-escape in an object name is fine ("system%3Anode"), except an encoded
//   '/', which would move the segment boundaries. Segments after the subresource
//   (proxy sub-paths) are not interpreted and may hold any escape.
// - Upstream fails "/api/v1/watch" and "/api/v1/proxy" (a special verb with nothing
//   after it) with 500; mvproxy classifies them as non-resource requests so the local
//   apiserver gives that same answer.
// - The fieldSelector name is taken when the list options decode, as upstream; the
//   labelSelector syntax is not checked (upstream drops the name when it is invalid).
//   The name is informational only: routing never reads it.

#include <string>
#include <string_view>
#include <vector>

namespace mvproxy::request {

// Discovery documents addressed by path: /api, /apis (aggregated or legacy lists),
// /api/<v> (core resource list), /apis/<g> (legacy APIGroup), /apis/<g>/<v> (legacy
// APIResourceList). A single trailing slash is allowed, as the apiserver allows it.
enum class discovery_kind { none, api_root, apis_root, api_version, group, group_version };

struct discovery_path {
  discovery_kind kind = discovery_kind::none;
  std::string_view group;    // group and group_version
  std::string_view version;  // api_version and group_version
};

// For any raw path; malformed paths and %-escaped group or version give none.
discovery_path classify_discovery_path(std::string_view path);
bool is_discovery_path(std::string_view path);

struct request_fields {
  bool is_resource_request = false;
  // Why the path cannot be classified safely; empty when it can. A malformed request
  // must be answered 400 and never forwarded.
  std::string_view malformed;
  std::string_view path;  // raw, as given
  // Kubernetes verb for resource requests: get list watch create update patch delete
  // deletecollection proxy, or "" for other methods. The lower-case method otherwise.
  std::string_view verb;
  std::string_view api_prefix;  // "api" or "apis"
  std::string_view api_group;   // "" for the core group
  std::string_view api_version;
  std::string_view namespace_name;
  std::string_view resource;
  std::string_view subresource;
  std::string_view name;
  // Upstream's Parts (resource/name/subresource/uninterpreted...) joined with '/'.
  std::string_view parts;
  // Set for the non-resource discovery paths (see classify_discovery_path).
  discovery_path discovery;
};

// Views point into the method, path and query given to classify(), or into this object
// (a %-decoded fieldSelector name, the lower-cased spelling of an unusual method).
// Copies rebind their own views, so a copy stays valid as long as the inputs do.
class request_info : public request_fields {
 public:
  request_info() = default;
  request_info(const request_info& other);
  request_info& operator=(const request_info& other);

  bool is_malformed() const { return !malformed.empty(); }
  std::vector<std::string_view> split_parts() const;

 private:
  friend request_info classify(std::string_view method, std::string_view path,
                               std::string_view query);
  std::string name_storage_;  // used only when the name had to be decoded
  std::string verb_storage_;  // used only for a method without a static spelling
  bool name_owned_ = false;
  bool verb_owned_ = false;
};

// method: as sent ("GET"); path: raw, without the query; query: raw, without '?'.
request_info classify(std::string_view method, std::string_view path, std::string_view query);

// kube-apiserver's notion of a long-running request (its LongRunningFunc,
// BasicLongRunningRequestCheck with verbs watch and proxy, subresources attach, exec,
// proxy, log and portforward, and non-resource paths under /debug/pprof/): requests
// the apiserver exempts from --request-timeout, because they stream for as long as
// they last. A malformed request is not long-running (it is refused).
bool is_long_running(const request_fields& info);

}  // namespace mvproxy::request
