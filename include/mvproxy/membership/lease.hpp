#pragma once
// coordination.k8s.io/v1 Leases as mvproxy uses them for peer membership (SPEC §6):
// parsing what the apiserver returns and building what the sidecar writes. Pure.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mvproxy::membership {

using clock = std::chrono::system_clock;

inline constexpr std::string_view lease_label_key = "app.kubernetes.io/name";
inline constexpr std::string_view lease_label_value = "mvproxy";
// The annotation kube-apiserver itself uses for a peer's reachable address.
inline constexpr std::string_view advertise_annotation = "kubernetes.io/peer-advertise-address";

struct lease_record {
  std::string name;
  std::string namespace_name;
  std::string resource_version;
  std::string holder_identity;
  std::string advertise_address;  // "ip:port", from the annotation
  std::map<std::string, std::string> labels;
  std::optional<clock::time_point> renew_time;
  std::optional<clock::time_point> acquire_time;
  int lease_duration_seconds = 0;
  int lease_transitions = 0;
};

template <class T>
struct parsed {
  std::optional<T> value;
  std::string error;  // one line; set when value is empty
  explicit operator bool() const { return value.has_value(); }
};

parsed<lease_record> parse_lease(std::string_view json);
// A LeaseList; items that fail to parse are skipped and named in `skipped`.
struct lease_list {
  std::vector<lease_record> items;
  std::string resource_version;
  std::vector<std::string> skipped;
};
parsed<lease_list> parse_lease_list(std::string_view json);

// A Lease is live while renewTime + leaseDurationSeconds lies in the future.
bool is_live(const lease_record& l, clock::time_point now);
bool is_mvproxy_lease(const lease_record& l);

// RFC 3339 with microseconds, as metav1.MicroTime serializes: 2023-07-04T21:58:48.065888Z
std::string format_micro_time(clock::time_point t);
std::optional<clock::time_point> parse_rfc3339(std::string_view s);

struct own_lease {
  std::string server_id;  // the Lease name
  std::string namespace_name;
  std::string holder_identity;  // "<server-id>_<random>", new at every start
  std::string advertise_address;
  int lease_duration_seconds = 15;
  clock::time_point acquire_time;
  clock::time_point renew_time;
  std::string resource_version;  // empty on create; the last seen one on update
};
// The JSON body for POST (create) or PUT (update) of the own Lease.
std::string build_lease_json(const own_lease& l);

// "<server-id>_<random uuid-like suffix>" from caller-provided randomness.
std::string make_holder_identity(std::string_view server_id, std::uint64_t r1, std::uint64_t r2);

}  // namespace mvproxy::membership
