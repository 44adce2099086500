#include "mvproxy/config/validate.hpp"
#include "mvproxy/util/text.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <string>

#include "mvproxy/util/duration.hpp"
#include "mvproxy/util/host_port.hpp"
#include "mvproxy/util/https_url.hpp"

namespace mvproxy::config {
namespace {

using util::quoted;

[[noreturn]] void fail(std::string_view flag, std::string_view reason) {
  throw error("--" + std::string(flag) + ": " + std::string(reason));
}

std::string errno_text(int e) {
  switch (e) {
    case ENOENT:
      return "no such file";
    case EACCES:
      return "permission denied";
    case EISDIR:
      return "is a directory";
    default: {
      std::string s = std::strerror(e);
      if (!s.empty()) s[0] = util::ascii_lower(s[0]);
      return s;
    }
  }
}

std::string read_file(std::string_view flag, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail(flag, path + ": " + errno_text(errno));
  if (S_ISDIR(st.st_mode)) fail(flag, path + ": " + errno_text(EISDIR));
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) fail(flag, path + ": " + errno_text(errno));
  std::string out;
  char buf[8192];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) out.append(buf, n);
  if (std::ferror(f.get())) fail(flag, path + ": read error");
  return out;
}

struct bio_deleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct x509_deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct pkey_deleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using bio_ptr = std::unique_ptr<BIO, bio_deleter>;
using x509_ptr = std::unique_ptr<X509, x509_deleter>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_deleter>;

bio_ptr memory_bio(const std::string& data) {
  return bio_ptr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

// An encrypted key is refused rather than prompting on the terminal.
int no_password(char*, int, int, void*) { return -1; }

// The first certificate of a PEM file that must hold at least one.
x509_ptr load_certificates(std::string_view flag, const std::string& path) {
  auto data = read_file(flag, path);
  auto bio = memory_bio(data);
  x509_ptr first;
  int count = 0;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, no_password, nullptr)) {
    if (count++ == 0) {
      first.reset(x);
    } else {
      X509_free(x);
    }
  }
  ERR_clear_error();  // the loop always ends on a "no start line" error
  if (count == 0) fail(flag, path + ": no PEM certificate found");
  return first;
}

pkey_ptr load_private_key(std::string_view flag, const std::string& path) {
  auto data = read_file(flag, path);
  auto bio = memory_bio(data);
  pkey_ptr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr));
  ERR_clear_error();
  if (!key) fail(flag, path + ": no unencrypted PEM private key found");
  return key;
}

void check_pair(std::string_view cert_flag, const std::string& cert_path, std::string_view key_flag,
                const std::string& key_path) {
  if (cert_path.empty()) fail(cert_flag, "required");
  if (key_path.empty()) fail(key_flag, "required");
  auto cert = load_certificates(cert_flag, cert_path);
  auto key = load_private_key(key_flag, key_path);
  bool match = X509_check_private_key(cert.get(), key.get()) == 1;
  ERR_clear_error();
  if (!match) fail(key_flag, key_path + " does not match the certificate in " + cert_path);
}

void check_ca_bundle(std::string_view flag, const std::string& path) {
  if (!path.empty()) load_certificates(flag, path);
}

bool is_ip(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

void check_upstream(const std::string& url) {
  try {
    util::parse_https_url(url);
  } catch (const std::invalid_argument& e) {
    fail("upstream", e.what());
  }
}

}  // namespace

bool is_dns_label(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  auto alnum = [](char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'); };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [&](char ch) { return alnum(ch) || ch == '-'; });
}

bool is_dns_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  while (true) {
    auto dot = s.find('.');
    if (!is_dns_label(s.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    s.remove_prefix(dot + 1);
  }
}

void validate(const config& c) {
  // Listener.
  if (!is_ip(c.bind_address))
    fail("bind-address", quoted(c.bind_address) + " is not an IP address");
  check_pair("tls-cert-file", c.tls_cert_file, "tls-private-key-file", c.tls_private_key_file);
  check_ca_bundle("client-ca-file", c.client_ca_file);
  check_ca_bundle("requestheader-client-ca-file", c.requestheader_client_ca_file);
  if (!c.requestheader_allowed_names.empty() && c.requestheader_client_ca_file.empty()) {
    fail("requestheader-allowed-names", "requires --requestheader-client-ca-file");
  }

  // Local apiserver.
  check_upstream(c.upstream);
  check_ca_bundle("upstream-ca-file", c.upstream_ca_file);
  if (!c.proxy_client_cert_file.empty() || !c.proxy_client_key_file.empty()) {
    check_pair("proxy-client-cert-file", c.proxy_client_cert_file, "proxy-client-key-file",
               c.proxy_client_key_file);
  }

  // Peers.
  check_ca_bundle("peer-ca-file", c.peer_ca_file);
  if (c.peer_server_name.empty()) fail("peer-server-name", "must not be empty");
  if (!c.peer_advertise_ip.empty() && !is_ip(c.peer_advertise_ip)) {
    fail("peer-advertise-ip", quoted(c.peer_advertise_ip) + " is not an IP address");
  }
  if (!is_dns_subdomain(c.server_id)) {
    fail("server-id",
         quoted(c.server_id) +
             " is not a valid Lease name (lower-case RFC 1123 subdomain); set --server-id");
  }
  std::set<std::string> ids;
  for (const auto& p : c.peers) {
    if (!is_dns_subdomain(p.id)) {
      fail("peers", quoted(p.id) + " is not a valid server id (lower-case RFC 1123 subdomain)");
    }
    if (!ids.insert(p.id).second) fail("peers", "server id " + quoted(p.id) + " listed twice");
  }
  if (c.peer_discovery == peer_discovery_mode::lease && !c.peers.empty()) {
    fail("peers", "only used with --peer-discovery=static");
  }
  if (!is_dns_label(c.lease_namespace)) {
    fail("lease-namespace", quoted(c.lease_namespace) + " is not a valid namespace name");
  }
  using std::chrono::milliseconds;
  if (c.lease_duration <= milliseconds::zero()) fail("lease-duration", "must be positive");
  if (c.upstream_http2_read_idle_timeout <= milliseconds::zero())
    fail("upstream-http2-read-idle-timeout", "must be positive");
  if (c.upstream_http2_ping_timeout <= milliseconds::zero())
    fail("upstream-http2-ping-timeout", "must be positive");
  if (c.lease_renew_interval <= milliseconds::zero())
    fail("lease-renew-interval", "must be positive");
  if (c.lease_renew_interval >= c.lease_duration) {
    fail("lease-renew-interval", util::format_duration(c.lease_renew_interval) +
                                     " must be shorter than --lease-duration (" +
                                     util::format_duration(c.lease_duration) + ")");
  }
  if (c.discovery_sync_interval <= milliseconds::zero()) {
    fail("discovery-sync-interval", "must be positive");
  }
  if (c.local_recovery_wait < milliseconds::zero() ||
      c.local_recovery_wait > std::chrono::minutes(1)) {
    fail("local-recovery-wait",
         util::format_duration(c.local_recovery_wait) + " is out of range (0s to 1m)");
  }
  if (c.peer_exclusion_grace_period < milliseconds::zero())
    fail("peer-exclusion-grace-period", "must not be negative");
  if (!c.kubeconfig.empty()) read_file("kubeconfig", c.kubeconfig);
  // The own Lease is written with some credentials; better to say so now than to fail
  // on the first renewal. Only a sidecar that proxies to peers writes one: with the gate
  // on but no --peer-ca-file it serves locally only (config::peer_proxy_enabled).
  if (c.peer_proxy_enabled() && c.peer_discovery == peer_discovery_mode::lease &&
      c.kubeconfig.empty() && c.proxy_client_cert_file.empty()) {
    fail("proxy-client-cert-file", "required for --peer-discovery=lease without --kubeconfig");
  }

  // Operations.
  try {
    util::parse_host_port(c.admin_address);
  } catch (const std::invalid_argument& e) {
    fail("admin-address", quoted(c.admin_address) + ": " + e.what());
  }
  if (c.workers == 0) fail("workers", "must be at least 1");
  if (c.verbosity < 0) fail("v", "must not be negative");
  if (c.shutdown_grace_period < milliseconds::zero())
    fail("shutdown-grace-period", "must not be negative");

  // Timeouts: 0 would fail every request at once.
  if (c.request_timeout <= milliseconds::zero()) fail("request-timeout", "must be positive");
  if (c.upstream_connect_timeout <= milliseconds::zero() ||
      c.upstream_connect_timeout > std::chrono::minutes(5)) {
    fail("upstream-connect-timeout", util::format_duration(c.upstream_connect_timeout) +
                                         " is out of range (above 0s, at most 5m)");
  }
}

}  // namespace mvproxy::config
