#pragma once
// The daemon's settings (SPEC §2). Filled by config::parse (flags, then --config YAML
// under them), validated before any socket is opened, then shared read-only.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mvproxy::config {

enum class peer_discovery_mode { static_list, lease };
enum class log_format { text, json };

struct static_peer {
  std::string id;
  std::string host;
  std::uint16_t port = 0;
  bool operator==(const static_peer&) const = default;
};

struct config {
  // Listener (clients and peers alike).
  std::string bind_address = "0.0.0.0";
  std::uint16_t secure_port = 7443;
  std::string tls_cert_file;
  std::string tls_private_key_file;
  std::string client_ca_file;                            // optional
  std::string requestheader_client_ca_file;              // trusted peers / front proxies
  std::vector<std::string> requestheader_allowed_names;  // empty: any CN

  // Local apiserver.
  std::string upstream = "https://127.0.0.1:6443";
  std::string upstream_ca_file;
  std::string proxy_client_cert_file;
  std::string proxy_client_key_file;

  // Peers.
  std::string peer_ca_file;
  std::string peer_server_name = "kubernetes.default.svc";
  std::string peer_advertise_ip;
  std::uint16_t peer_advertise_port = 0;  // parse() sets it to secure_port when not given
  peer_discovery_mode peer_discovery = peer_discovery_mode::lease;
  std::vector<static_peer> peers;  // --peers, own entry already removed
  std::string lease_namespace = "kube-system";
  std::chrono::milliseconds lease_duration{15'000};
  std::chrono::milliseconds lease_renew_interval{5'000};
  std::chrono::milliseconds discovery_sync_interval{10'000};
  // How long a request only the local apiserver might serve waits while that apiserver
  // is down or its discovery is being re-read (--local-recovery-wait).
  std::chrono::milliseconds local_recovery_wait{2'000};
  // How long a deleted CRD's or aggregated APIService's group-version stays excluded
  // from peer routing (--peer-exclusion-grace-period), while peers' views catch up.
  std::chrono::milliseconds peer_exclusion_grace_period{300'000};

  std::map<std::string, bool> feature_gates{{"UnknownVersionInteroperabilityProxy", true}};
  bool mixed_version_proxy_enabled() const {
    auto it = feature_gates.find("UnknownVersionInteroperabilityProxy");
    return it == feature_gates.end() || it->second;
  }
  // As kube-apiserver 1.36: with the gate on, --peer-ca-file is what turns peer proxying
  // on; without it the sidecar serves locally only. It then publishes no Lease and
  // reads no peers either (no use for them), so validate() asks for no Lease
  // credentials. docs/configuration.md, "The feature gate and --peer-ca-file".
  bool peer_proxy_enabled() const { return mixed_version_proxy_enabled() && !peer_ca_file.empty(); }

  std::string server_id;   // default: derived from the host name
  std::string kubeconfig;  // optional
  std::string admin_address = "127.0.0.1:7444";
  std::string config_file;
  std::uint32_t http2_max_streams_per_connection = 0;  // 0: 250
  bool disable_http2_serving = false;
  double goaway_chance = 0;
  bool disable_upstream_http2 = false;
  std::chrono::milliseconds upstream_http2_read_idle_timeout{30'000};
  std::chrono::milliseconds upstream_http2_ping_timeout{15'000};
  unsigned workers = 0;  // 0 before defaults are applied; then hardware_concurrency
  log_format log_fmt = log_format::text;
  int verbosity = 0;  // -v
  bool access_log = true;
  std::chrono::milliseconds shutdown_grace_period{30'000};
  // Timeouts (docs/operations.md, "Timeouts"). --request-timeout: the silence allowed
  // while an ordinary request's response or body is read; --upstream-connect-timeout:
  // TCP connect plus TLS handshake to an upstream.
  std::chrono::milliseconds request_timeout{60'000};
  std::chrono::milliseconds upstream_connect_timeout{5'000};
};

}  // namespace mvproxy::config
