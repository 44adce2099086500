#include "mvproxy/config/parse.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config_fixture.hpp"
#include "mvproxy/config/validate.hpp"
#include "test_process.hpp"

namespace {

using namespace std::chrono_literals;
using mvproxy::config::config;
using mvproxy::config::outcome;
using mvproxy::config::parse;
using mvproxy::config::parse_result;
using mvproxy::config::peer_discovery_mode;
using mvproxy::config::static_peer;
using mvproxy::test::args;

using mvproxy::test::Config;

TEST_F(Config, ReferenceKubeadmSetup) {
  // SPEC §8, with this suite's PKI in place of /etc/kubernetes/pki.
  auto r =
      run({"--tls-cert-file=" + pki("apiserver.crt"),
           "--tls-private-key-file=" + pki("apiserver.key"), "--client-ca-file=" + pki("ca.crt"),
           "--upstream=https://127.0.0.1:6443", "--upstream-ca-file=" + pki("ca.crt"),
           "--proxy-client-cert-file=" + pki("front-proxy-client.crt"),
           "--proxy-client-key-file=" + pki("front-proxy-client.key"),
           "--requestheader-client-ca-file=" + pki("front-proxy-ca.crt"),
           "--requestheader-allowed-names=front-proxy-client", "--peer-ca-file=" + pki("ca.crt"),
           "--peer-advertise-ip=10.0.0.11", "--peer-advertise-port=7443", "--server-id=node-a"});
  ASSERT_EQ(r.what, outcome::run);
  const config& c = r.cfg;
  EXPECT_EQ(c.tls_cert_file, pki("apiserver.crt"));
  EXPECT_EQ(c.client_ca_file, pki("ca.crt"));
  EXPECT_EQ(c.requestheader_client_ca_file, pki("front-proxy-ca.crt"));
  EXPECT_EQ(c.requestheader_allowed_names, std::vector<std::string>{"front-proxy-client"});
  EXPECT_EQ(c.peer_ca_file, pki("ca.crt"));
  EXPECT_EQ(c.peer_advertise_ip, "10.0.0.11");
  EXPECT_EQ(c.peer_advertise_port, 7443);
  EXPECT_TRUE(c.peer_proxy_enabled());
  // Defaults.
  EXPECT_EQ(c.bind_address, "0.0.0.0");
  EXPECT_EQ(c.secure_port, 7443);
  EXPECT_EQ(c.upstream, "https://127.0.0.1:6443");
  EXPECT_EQ(c.peer_server_name, "kubernetes.default.svc");
  EXPECT_EQ(c.peer_discovery, peer_discovery_mode::lease);
  EXPECT_EQ(c.lease_namespace, "kube-system");
  EXPECT_EQ(c.lease_duration, 15s);
  EXPECT_EQ(c.lease_renew_interval, 5s);
  EXPECT_EQ(c.discovery_sync_interval, 10s);
  EXPECT_EQ(c.admin_address, "127.0.0.1:7444");
  EXPECT_EQ(c.workers, std::max(1u, std::thread::hardware_concurrency()));
  EXPECT_EQ(c.log_fmt, mvproxy::config::log_format::text);
  EXPECT_EQ(c.verbosity, 0);
  EXPECT_EQ(c.shutdown_grace_period, 30s);
  EXPECT_TRUE(c.mixed_version_proxy_enabled());
}

struct good_case {
  std::string name;
  args extra;
  std::function<void(const config&)> check;
};

TEST_F(Config, GoodArgumentVectors) {
  const std::vector<good_case> cases = {
      {"--flag value form",
       {"--secure-port", "8443", "--lease-namespace", "mvproxy"},
       [](const config& c) {
         EXPECT_EQ(c.secure_port, 8443);
         EXPECT_EQ(c.lease_namespace, "mvproxy");
       }},
      {"peer-advertise-port defaults to secure-port",
       {"--secure-port=8443"},
       [](const config& c) { EXPECT_EQ(c.peer_advertise_port, 8443); }},
      {"peer-advertise-port given",
       {"--secure-port=8443", "--peer-advertise-port=9443"},
       [](const config& c) { EXPECT_EQ(c.peer_advertise_port, 9443); }},
      {"secure-port 0 for tests",
       {"--secure-port=0"},
       [](const config& c) { EXPECT_EQ(c.secure_port, 0); }},
      {"-v N", {"-v", "3"}, [](const config& c) { EXPECT_EQ(c.verbosity, 3); }},
      {"-v=N", {"-v=4"}, [](const config& c) { EXPECT_EQ(c.verbosity, 4); }},
      {"-vN", {"-v5"}, [](const config& c) { EXPECT_EQ(c.verbosity, 5); }},
      {"--v=N", {"--v=6"}, [](const config& c) { EXPECT_EQ(c.verbosity, 6); }},
      {"--v N, last wins",
       {"--v", "2", "-v", "7"},
       [](const config& c) { EXPECT_EQ(c.verbosity, 7); }},
      {"static peers, own entry dropped",
       {"--peer-discovery=static",
        "--peers=node-a=10.0.0.11:7443,node-b=10.0.0.12:7443,node-c=[fd00::13]:8443"},
       [](const config& c) {
         EXPECT_EQ(c.peer_discovery, peer_discovery_mode::static_list);
         EXPECT_EQ(c.peers, (std::vector<static_peer>{{"node-b", "10.0.0.12", 7443},
                                                      {"node-c", "fd00::13", 8443}}));
       }},
      {"static peers, repeated flag appends",
       {"--peer-discovery", "static", "--peers", "node-b=b.example:7443",
        "--peers=node-c=c.example:7443"},
       [](const config& c) {
         EXPECT_EQ(c.peers, (std::vector<static_peer>{{"node-b", "b.example", 7443},
                                                      {"node-c", "c.example", 7443}}));
       }},
      {"one-node static cluster lists only itself",
       {"--peer-discovery=static", "--peers=node-a=10.0.0.11:7443"},
       [](const config& c) { EXPECT_TRUE(c.peers.empty()); }},
      {"static without --peers: a single sidecar, no peers yet",
       {"--peer-discovery=static"},
       [](const config& c) {
         EXPECT_EQ(c.peer_discovery, peer_discovery_mode::static_list);
         EXPECT_TRUE(c.peers.empty());
       }},
      {"static with an empty --peers: no peers",
       {"--peer-discovery=static", "--peers="},
       [](const config& c) { EXPECT_TRUE(c.peers.empty()); }},
      {"gate off: plain pass-through",
       {"--feature-gates=UnknownVersionInteroperabilityProxy=false"},
       [](const config& c) {
         EXPECT_FALSE(c.mixed_version_proxy_enabled());
         EXPECT_FALSE(c.peer_proxy_enabled());
       }},
      {"gate spelled as Go's ParseBool allows",
       {"--feature-gates", "UnknownVersionInteroperabilityProxy=T"},
       [](const config& c) { EXPECT_TRUE(c.mixed_version_proxy_enabled()); }},
      {"gate on without --peer-ca-file: serves locally only",
       {},
       [](const config& c) {
         EXPECT_TRUE(c.mixed_version_proxy_enabled());
         EXPECT_FALSE(c.peer_proxy_enabled());
       }},
      {"Go durations",
       {"--lease-duration=1m", "--lease-renew-interval=20s", "--discovery-sync-interval=1m30s",
        "--shutdown-grace-period=0"},
       [](const config& c) {
         EXPECT_EQ(c.lease_duration, 60s);
         EXPECT_EQ(c.lease_renew_interval, 20s);
         EXPECT_EQ(c.discovery_sync_interval, 90s);
         EXPECT_EQ(c.shutdown_grace_period, 0s);
       }},
      {"timeouts default as documented",
       {},
       [](const config& c) {
         EXPECT_EQ(c.request_timeout, 60s);
         EXPECT_EQ(c.upstream_connect_timeout, 5s);
         EXPECT_FALSE(c.disable_upstream_http2);
         EXPECT_EQ(c.upstream_http2_read_idle_timeout, 30s);
         EXPECT_EQ(c.upstream_http2_ping_timeout, 15s);
       }},
      {"upstream HTTP/2 flags",
       {"--disable-upstream-http2", "--upstream-http2-read-idle-timeout=10s",
        "--upstream-http2-ping-timeout=2500ms"},
       [](const config& c) {
         EXPECT_TRUE(c.disable_upstream_http2);
         EXPECT_EQ(c.upstream_http2_read_idle_timeout, 10s);
         EXPECT_EQ(c.upstream_http2_ping_timeout, 2500ms);
       }},
      {"timeouts",
       {"--request-timeout=2m30s", "--upstream-connect-timeout=1500ms"},
       [](const config& c) {
         EXPECT_EQ(c.request_timeout, 150s);
         EXPECT_EQ(c.upstream_connect_timeout, 1500ms);
       }},
      {"fractional duration",
       {"--lease-renew-interval=1.5s"},
       [](const config& c) { EXPECT_EQ(c.lease_renew_interval, 1500ms); }},
      {"allowed names: comma list and repeats",
       {"--requestheader-client-ca-file=" + pki("front-proxy-ca.crt"),
        "--requestheader-allowed-names=a, b", "--requestheader-allowed-names=c"},
       [](const config& c) {
         EXPECT_EQ(c.requestheader_allowed_names, (std::vector<std::string>{"a", "b", "c"}));
       }},
      {"operations flags",
       {"--log-format=json", "--workers=3", "--bind-address=::", "--admin-address=[::1]:9000"},
       [](const config& c) {
         EXPECT_EQ(c.log_fmt, mvproxy::config::log_format::json);
         EXPECT_EQ(c.workers, 3u);
         EXPECT_EQ(c.bind_address, "::");
         EXPECT_EQ(c.admin_address, "[::1]:9000");
       }},
      {"HTTP/2 flags as kube-apiserver's",
       {"--http2-max-streams-per-connection=1000", "--goaway-chance=0.001",
        "--disable-http2-serving"},
       [](const config& c) {
         EXPECT_TRUE(c.access_log);  // the default
         EXPECT_TRUE(c.disable_http2_serving);
         EXPECT_EQ(c.http2_max_streams_per_connection, 1000u);
         EXPECT_DOUBLE_EQ(c.goaway_chance, 0.001);
       }},
      {"access log off",
       {"--access-log=false"},
       [](const config& c) { EXPECT_FALSE(c.access_log); }},
      {"upstream without port, IPv6 with slash",
       {"--upstream=https://[::1]:6443/"},
       [](const config& c) { EXPECT_EQ(c.upstream, "https://[::1]:6443/"); }},
      {"upstream host name",
       {"--upstream=https://cp.example.com"},
       [](const config& c) { EXPECT_EQ(c.upstream, "https://cp.example.com"); }},
      {"kubeconfig instead of proxy client cert",
       {"--kubeconfig=" + pki("admin.conf")},  // overrides nothing; both are allowed
       [&](const config& c) { EXPECT_EQ(c.kubeconfig, pki("admin.conf")); }},
      {"-- ends the flags", {"--"}, [](const config& c) { EXPECT_EQ(c.secure_port, 7443); }},
      {"--help=false runs",
       {"--help=false"},
       [](const config& c) { EXPECT_EQ(c.server_id, "node-a"); }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    parse_result r;
    ASSERT_NO_THROW(r = run(with(base(), c.extra))) << error_of(with(base(), c.extra));
    EXPECT_EQ(r.what, outcome::run);
    c.check(r.cfg);
  }
}

TEST_F(Config, KubeconfigReplacesProxyClientCertForLeases) {
  auto r = run({"--tls-cert-file=" + pki("apiserver.crt"),
                "--tls-private-key-file=" + pki("apiserver.key"),
                "--kubeconfig=" + pki("admin.conf"), "--server-id=node-a"});
  EXPECT_TRUE(r.cfg.proxy_client_cert_file.empty());
}

TEST_F(Config, ServerIdDefaultsToHostName) {
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof host - 1), 0);
  std::string want(host);
  std::transform(want.begin(), want.end(), want.begin(),
                 [](unsigned char ch) { return std::tolower(ch); });
  if (!mvproxy::config::is_dns_subdomain(want))
    GTEST_SKIP() << "host name " << want << " is no Lease name";
  args a = base();
  a.pop_back();  // --server-id
  EXPECT_EQ(run(a).cfg.server_id, want);
}

TEST_F(Config, HelpAndVersion) {
  for (const args& a :
       {args{"--help"}, args{"-h"}, args{"--help=true"}, args{"--secure-port=x", "--help"}}) {
    auto r = run(a);
    EXPECT_EQ(r.what, outcome::help);
    EXPECT_EQ(r.text, mvproxy::config::help_text());
  }
  auto v = run({"--version"});
  EXPECT_EQ(v.what, outcome::version);
  EXPECT_EQ(v.text, "mvproxy " MVPROXY_VERSION "\n");
}

TEST_F(Config, HelpListsEveryFlagWithDefaults) {
  auto text = mvproxy::config::help_text();
  for (const char* name : {"bind-address",
                           "secure-port",
                           "tls-cert-file",
                           "tls-private-key-file",
                           "client-ca-file",
                           "requestheader-client-ca-file",
                           "requestheader-allowed-names",
                           "upstream",
                           "upstream-ca-file",
                           "proxy-client-cert-file",
                           "proxy-client-key-file",
                           "peer-ca-file",
                           "peer-server-name",
                           "peer-advertise-ip",
                           "peer-advertise-port",
                           "peer-discovery",
                           "peers",
                           "lease-namespace",
                           "lease-duration",
                           "lease-renew-interval",
                           "discovery-sync-interval",
                           "feature-gates",
                           "server-id",
                           "kubeconfig",
                           "admin-address",
                           "config",
                           "workers",
                           "http2-max-streams-per-connection",
                           "goaway-chance",
                           "disable-http2-serving",
                           "log-format",
                           "access-log",
                           "v",
                           "shutdown-grace-period",
                           "request-timeout",
                           "upstream-connect-timeout",
                           "disable-upstream-http2",
                           "upstream-http2-read-idle-timeout",
                           "upstream-http2-ping-timeout",
                           "version",
                           "help"}) {
    EXPECT_NE(text.find("  --" + std::string(name) + " "), std::string::npos) << name;
  }
  for (const char* d :
       {"(default 7443)", "(default 0.0.0.0)", "(default https://127.0.0.1:6443)",
        "(default kubernetes.default.svc)", "(default lease)", "(default kube-system)",
        "(default 15s)", "(default 5s)", "(default 10s)", "(default 127.0.0.1:7444)",
        "(default 30s)", "(default text)", "(default 1m)"}) {
    EXPECT_NE(text.find(d), std::string::npos) << d;
  }
  for (const char* group : {"\nListener:\n", "\nLocal apiserver:\n", "\nPeers:\n", "\nTimeouts:\n",
                            "\nOperations:\n"}) {
    EXPECT_NE(text.find(group), std::string::npos) << group;
  }
}

// --- Refused command lines -----------------------------------------------------------

struct bad_case {
  args a;
  std::string want;
};

TEST_F(Config, BadArgumentVectors) {
  const std::string cert = pki("apiserver.crt"), key = pki("apiserver.key");
  const std::vector<bad_case> cases = {
      {{}, "--tls-cert-file: required"},
      {{"--tls-cert-file=" + cert}, "--tls-private-key-file: required"},
      {{"--tls-cert-file=/nonexistent/x.crt", "--tls-private-key-file=" + key},
       "--tls-cert-file: /nonexistent/x.crt: no such file"},
      {{"--tls-cert-file=" + cert, "--tls-private-key-file=" + dir_->path().string()},
       "--tls-private-key-file: " + dir_->path().string() + ": is a directory"},
      {{"--tls-cert-file=" + key, "--tls-private-key-file=" + key},
       "--tls-cert-file: " + key + ": no PEM certificate found"},
      {{"--tls-cert-file=" + cert, "--tls-private-key-file=" + cert},
       "--tls-private-key-file: " + cert + ": no unencrypted PEM private key found"},
      {{"--tls-cert-file=" + cert, "--tls-private-key-file=" + pki("node-a.key")},
       "--tls-private-key-file: " + pki("node-a.key") + " does not match the certificate in " +
           cert},
      {with(base(), {"--proxy-client-key-file=" + pki("jane.key")}),
       "--proxy-client-key-file: " + pki("jane.key") + " does not match the certificate in " +
           pki("front-proxy-client.crt")},
      {{"--tls-cert-file=" + cert, "--tls-private-key-file=" + key, "--server-id=node-a",
        "--proxy-client-cert-file=" + pki("front-proxy-client.crt")},
       "--proxy-client-key-file: required"},
      {{"--tls-cert-file=" + cert, "--tls-private-key-file=" + key, "--server-id=node-a",
        "--peer-ca-file=" + pki("ca.crt")},
       "--proxy-client-cert-file: required for --peer-discovery=lease without --kubeconfig"},
      {with(base(), {"--client-ca-file=" + pki("ca.key")}),
       "--client-ca-file: " + pki("ca.key") + ": no PEM certificate found"},
      {with(base(), {"--requestheader-client-ca-file=" + pki("tokens.csv")}),
       "--requestheader-client-ca-file: " + pki("tokens.csv") + ": no PEM certificate found"},
      {with(base(), {"--upstream-ca-file=/nonexistent/ca.crt"}),
       "--upstream-ca-file: /nonexistent/ca.crt: no such file"},
      {with(base(), {"--peer-ca-file=/nonexistent/ca.crt"}),
       "--peer-ca-file: /nonexistent/ca.crt: no such file"},
      {with(base(), {"--kubeconfig=/nonexistent/admin.conf"}),
       "--kubeconfig: /nonexistent/admin.conf: no such file"},
      // Syntax.
      {with(base(), {"--secure-port=abc"}), "--secure-port: \"abc\" is not a port"},
      {with(base(), {"--secure-port=70000"}), "--secure-port: \"70000\" is not a port"},
      {with(base(), {"--secure-port=-1"}), "--secure-port: \"-1\" is not a port"},
      {with(base(), {"--secure-port"}), "--secure-port: flag needs an argument"},
      {with(base(), {"--bogus=1"}), "--bogus: unknown flag"},
      {with(base(), {"--Secure-Port=1"}), "--Secure-Port: unknown flag"},
      {with(base(), {"-x"}), "-x: unknown shorthand flag"},
      {with(base(), {"serve"}), "unexpected argument \"serve\""},
      {with(base(), {"--", "serve"}), "unexpected argument \"serve\""},
      {with(base(), {"--help=maybe"}), "--help: \"maybe\" is not a boolean"},
      {with(base(), {"-v", "x"}), "--v: \"x\" is not an integer"},
      {with(base(), {"-v=-1"}), "--v: \"-1\" is out of range [0, 10]"},
      {with(base(), {"--workers=0"}), "--workers: \"0\" is out of range [1, 1024]"},
      {with(base(), {"--log-format=xml"}), "--log-format: \"xml\" is not one of text, json"},
      {with(base(), {"--goaway-chance=0.05"}),
       "--goaway-chance: \"0.05\" is out of range [0, 0.02]"},
      {with(base(), {"--goaway-chance=-0.01"}),
       "--goaway-chance: \"-0.01\" is out of range [0, 0.02]"},
      {with(base(), {"--goaway-chance=1/50"}), "--goaway-chance: \"1/50\" is not a number"},
      {with(base(), {"--http2-max-streams-per-connection=-1"}),
       "--http2-max-streams-per-connection: \"-1\" is out of range [0, 100000]"},
      // Durations.
      {with(base(), {"--request-timeout=0"}), "--request-timeout: must be positive"},
      {with(base(), {"--upstream-http2-ping-timeout=0s"}),
       "--upstream-http2-ping-timeout: must be positive"},
      {with(base(), {"--upstream-http2-read-idle-timeout=0"}),
       "--upstream-http2-read-idle-timeout: must be positive"},
      {with(base(), {"--upstream-http2-read-idle-timeout=30"}),
       "--upstream-http2-read-idle-timeout: \"30\" is not a duration: missing unit in duration"},
      {with(base(), {"--disable-upstream-http2=maybe"}),
       "--disable-upstream-http2: \"maybe\" is not a boolean"},
      {with(base(), {"--request-timeout=60"}),
       "--request-timeout: \"60\" is not a duration: missing unit in duration"},
      {with(base(), {"--request-timeout=-1s"}),
       "--request-timeout: \"-1s\" is not a duration: negative duration"},
      {with(base(), {"--upstream-connect-timeout=0s"}),
       "--upstream-connect-timeout: 0s is out of range (above 0s, at most 5m)"},
      {with(base(), {"--upstream-connect-timeout=10m"}),
       "--upstream-connect-timeout: 10m0s is out of range (above 0s, at most 5m)"},
      {with(base(), {"--lease-duration=10"}),
       "--lease-duration: \"10\" is not a duration: missing unit in duration"},
      {with(base(), {"--lease-duration=-5s"}),
       "--lease-duration: \"-5s\" is not a duration: negative duration"},
      {with(base(), {"--discovery-sync-interval=10sec"}),
       "--discovery-sync-interval: \"10sec\" is not a duration: unknown unit \"sec\" in duration"},
      {with(base(), {"--discovery-sync-interval=0"}),
       "--discovery-sync-interval: must be positive"},
      {with(base(), {"--lease-renew-interval=15s"}),
       "--lease-renew-interval: 15s must be shorter than --lease-duration (15s)"},
      {with(base(), {"--lease-duration=1s", "--lease-renew-interval=1500ms"}),
       "--lease-renew-interval: 1.5s must be shorter than --lease-duration (1s)"},
      // Peers.
      {with(base(), {"--peer-discovery=dns"}),
       "--peer-discovery: \"dns\" is not one of lease, static"},
      {with(base(), {"--peer-discovery=static", "--peers=node-b=10.0.0.1"}),
       "--peers: \"node-b=10.0.0.1\": missing port in address"},
      {with(base(), {"--peer-discovery=static", "--peers=10.0.0.1:7443"}),
       "--peers: \"10.0.0.1:7443\" is not id=host:port"},
      {with(base(), {"--peer-discovery=static", "--peers=node-b=:7443"}),
       "--peers: \"node-b=:7443\": missing host"},
      {with(base(), {"--peer-discovery=static", "--peers=node-b=b:1,node-b=c:1"}),
       "--peers: server id \"node-b\" listed twice"},
      {with(base(), {"--peer-discovery=static", "--peers=Node_B=b:1"}),
       "--peers: \"Node_B\" is not a valid server id (lower-case RFC 1123 subdomain)"},
      {with(base(), {"--peers=node-b=b:1"}), "--peers: only used with --peer-discovery=static"},
      {with(base(), {"--server-id=Node_A"}),
       "--server-id: \"Node_A\" is not a valid Lease name (lower-case RFC 1123 subdomain); set "
       "--server-id"},
      {with(base(), {"--lease-namespace=Kube_System"}),
       "--lease-namespace: \"Kube_System\" is not a valid namespace name"},
      {with(base(), {"--peer-advertise-ip=node-a"}),
       "--peer-advertise-ip: \"node-a\" is not an IP address"},
      {with(base(), {"--peer-server-name="}), "--peer-server-name: must not be empty"},
      // Feature gates (kube-apiserver's wording).
      {with(base(), {"--feature-gates=Foo=true"}),
       "--feature-gates: unrecognized feature gate: Foo"},
      {with(base(), {"--feature-gates=UnknownVersionInteroperabilityProxy=maybe"}),
       "--feature-gates: invalid value of UnknownVersionInteroperabilityProxy=maybe: not a "
       "boolean"},
      {with(base(), {"--feature-gates=UnknownVersionInteroperabilityProxy"}),
       "--feature-gates: missing bool value for UnknownVersionInteroperabilityProxy"},
      {with(base(), {"--feature-gates=UnknownVersionInteroperabilityProxy=false",
                     "--peer-ca-file=" + pki("ca.crt")}),
       "--peer-ca-file: requires UnknownVersionInteroperabilityProxy feature to be turned on"},
      {with(base(), {"--feature-gates=UnknownVersionInteroperabilityProxy=false",
                     "--peer-advertise-ip=10.0.0.1"}),
       "--peer-advertise-ip: requires UnknownVersionInteroperabilityProxy feature to be turned on"},
      {with(base(), {"--feature-gates=UnknownVersionInteroperabilityProxy=false",
                     "--peer-advertise-port=7443"}),
       "--peer-advertise-port: requires UnknownVersionInteroperabilityProxy feature to be turned "
       "on"},
      // Addresses.
      {with(base(), {"--upstream=http://127.0.0.1:6443"}),
       "--upstream: \"http://127.0.0.1:6443\" is not an https URL"},
      {with(base(), {"--upstream=127.0.0.1:6443"}),
       "--upstream: \"127.0.0.1:6443\" is not an https URL"},
      {with(base(), {"--upstream=https://127.0.0.1:6443/api"}),
       "--upstream: \"https://127.0.0.1:6443/api\" must be https://host[:port] without path, query "
       "or user"},
      {with(base(), {"--upstream=https://127.0.0.1:http"}),
       "--upstream: \"https://127.0.0.1:http\": port is not a number"},
      {with(base(), {"--upstream=https://"}),
       "--upstream: \"https://\" must be https://host[:port] without path, query or user"},
      {with(base(), {"--bind-address=localhost"}),
       "--bind-address: \"localhost\" is not an IP address"},
      {with(base(), {"--admin-address=7444"}),
       "--admin-address: \"7444\": missing port in address"},
      {with(base(), {"--requestheader-allowed-names=front-proxy-client"}),
       "--requestheader-allowed-names: requires --requestheader-client-ca-file"},
      {with(base(), {"--config=/nonexistent/mvproxy.yaml"}),
       "--config: /nonexistent/mvproxy.yaml: cannot read file"},
  };
  for (const auto& c : cases) {
    std::string joined;
    for (const auto& s : c.a) joined += s + " ";
    EXPECT_EQ(error_of(c.a), c.want) << joined;
  }
}

TEST_F(Config, UnreadableFile) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads any file; permission errors cannot be produced";
  auto path = write("unreadable.crt", mvproxy::test::read_file(pki("apiserver.crt")));
  ASSERT_EQ(chmod(path.c_str(), 0), 0);
  EXPECT_EQ(error_of(with(base(), {"--client-ca-file=" + path})),
            "--client-ca-file: " + path + ": permission denied");
}

TEST_F(Config, EncryptedKeyIsRefusedWithoutPrompting) {
  auto enc = (dir_->path() / "encrypted.key").string();
  auto r = mvproxy::test::run_command("openssl pkey -in " + pki("apiserver.key") +
                                      " -aes256 -passout pass:secret -out " + enc);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(error_of({"--tls-cert-file=" + pki("apiserver.crt"), "--tls-private-key-file=" + enc,
                      "--server-id=a", "--kubeconfig=" + pki("admin.conf")}),
            "--tls-private-key-file: " + enc + ": no unencrypted PEM private key found");
}

// --- --config YAML -------------------------------------------------------------------

TEST_F(Config, YamlFileWithFlagOverrides) {
  auto file = write("mvproxy.yaml", "tls-cert-file: " + pki("apiserver.crt") +
                                        "\n"
                                        "tls-private-key-file: " +
                                        pki("apiserver.key") +
                                        "\n"
                                        "proxy-client-cert-file: " +
                                        pki("front-proxy-client.crt") +
                                        "\n"
                                        "proxy-client-key-file: " +
                                        pki("front-proxy-client.key") +
                                        "\n"
                                        "requestheader-client-ca-file: " +
                                        pki("front-proxy-ca.crt") +
                                        "\n"
                                        "requestheader-allowed-names: [front-proxy-client, other]\n"
                                        "secure-port: 7443\n"
                                        "server-id: node-a\n"
                                        "peer-discovery: static\n"
                                        "peers:\n"
                                        "  - node-a=10.0.0.11:7443\n"
                                        "  - node-b=10.0.0.12:7443\n"
                                        "lease-duration: 1m\n"
                                        "feature-gates:\n"
                                        "  UnknownVersionInteroperabilityProxy: true\n"
                                        "log-format: json\n"
                                        "v: 2\n");
  auto from_file = run({"--config=" + file});
  EXPECT_EQ(from_file.cfg.config_file, file);
  EXPECT_EQ(from_file.cfg.secure_port, 7443);
  EXPECT_EQ(from_file.cfg.requestheader_allowed_names,
            (std::vector<std::string>{"front-proxy-client", "other"}));
  EXPECT_EQ(from_file.cfg.peers, (std::vector<static_peer>{{"node-b", "10.0.0.12", 7443}}));
  EXPECT_EQ(from_file.cfg.lease_duration, 60s);
  EXPECT_EQ(from_file.cfg.log_fmt, mvproxy::config::log_format::json);
  EXPECT_EQ(from_file.cfg.verbosity, 2);

  // Flags win; a list flag replaces the file's list rather than adding to it.
  auto r = run({"--secure-port", "9443", "--config", file, "--peers=node-c=10.0.0.13:7443", "-v=4",
                "--feature-gates=UnknownVersionInteroperabilityProxy=false"});
  EXPECT_EQ(r.cfg.secure_port, 9443);
  EXPECT_EQ(r.cfg.peer_advertise_port, 9443);
  EXPECT_EQ(r.cfg.peers, (std::vector<static_peer>{{"node-c", "10.0.0.13", 7443}}));
  EXPECT_EQ(r.cfg.verbosity, 4);
  EXPECT_FALSE(r.cfg.mixed_version_proxy_enabled());
  EXPECT_EQ(r.cfg.lease_duration, 60s);  // from the file, not overridden
}

TEST_F(Config, YamlStringForms) {
  auto file = write("strings.yaml",
                    "peer-discovery: static\n"
                    "peers: node-b=10.0.0.12:7443,node-c=10.0.0.13:7443\n"
                    "feature-gates: UnknownVersionInteroperabilityProxy=true\n"
                    "requestheader-allowed-names: front-proxy-client\n"
                    "requestheader-client-ca-file: " +
                        pki("front-proxy-ca.crt") + "\n");
  auto r = run(with(base(), {"--config=" + file}));
  EXPECT_EQ(r.cfg.peers.size(), 2u);
  EXPECT_EQ(r.cfg.requestheader_allowed_names, std::vector<std::string>{"front-proxy-client"});
}

TEST_F(Config, EmptyYamlFileIsFine) {
  auto file = write("empty.yaml", "# nothing set here\n");
  EXPECT_EQ(run(with(base(), {"--config=" + file})).cfg.secure_port, 7443);
}

TEST_F(Config, BadYamlFiles) {
  struct yaml_case {
    std::string name, text, want;  // want: the error with FILE standing for the path
  };
  const std::vector<yaml_case> cases = {
      {"unknown key", "secure_port: 7443\n", "--config: FILE: unknown key \"secure_port\""},
      {"help is no setting", "help: true\n", "--config: FILE: unknown key \"help\""},
      {"config is no setting", "config: other.yaml\n", "--config: FILE: unknown key \"config\""},
      {"bad value names the flag and file", "secure-port: abc\n",
       "--secure-port: \"abc\" is not a port (in FILE)"},
      {"list for a scalar", "secure-port: [1, 2]\n",
       "--secure-port: expected a single value (in FILE)"},
      {"empty value", "upstream:\n", "--upstream: empty value (in FILE)"},
      {"map for a list", "peers: {a: b}\n",
       "--peers: expected a string or a list of strings (in FILE)"},
      {"comma inside a list item", "peers: [\"a=b:1,c=d:1\"]\n",
       "--peers: list item \"a=b:1,c=d:1\" contains a comma (in FILE)"},
      {"unknown gate", "feature-gates: {Foo: true}\n",
       "--feature-gates: unrecognized feature gate: Foo (in FILE)"},
      {"not a map", "- a\n- b\n", "--config: FILE: expected a map of flag names to values"},
      {"duplicate key", "v: 1\nv: 2\n", "--config: FILE: duplicate key \"v\""},
  };
  int n = 0;
  for (const auto& c : cases) {
    auto file = write("bad-" + std::to_string(n++) + ".yaml", c.text);
    std::string want = c.want;
    want.replace(want.find("FILE"), 4, file);
    EXPECT_EQ(error_of(with(base(), {"--config=" + file})), want) << c.name;
  }
  auto broken = write("broken.yaml", "secure-port: [7443\n");
  auto got = error_of(with(base(), {"--config=" + broken}));
  EXPECT_TRUE(got.starts_with("--config: " + broken + ": ")) << got;
  EXPECT_EQ(got.find('\n'), std::string::npos) << got;
}

// config/mvproxy.yaml, the documented example, with this suite's PKI for kubeadm's.
TEST_F(Config, ShippedExampleFileParses) {
  auto text = mvproxy::test::read_file(std::string(MVPROXY_SOURCE_DIR) + "/config/mvproxy.yaml");
  ASSERT_FALSE(text.empty());
  const std::string kubeadm = "/etc/kubernetes/pki";
  for (auto at = text.find(kubeadm); at != std::string::npos; at = text.find(kubeadm, at)) {
    text.replace(at, kubeadm.size(), dir_->path().string());
  }
  auto r = run({"--config=" + write("example.yaml", text), "--server-id=cp-1"});
  EXPECT_EQ(r.cfg.peer_ca_file, pki("ca.crt"));
  EXPECT_EQ(r.cfg.peer_advertise_ip, "10.0.0.11");
  EXPECT_EQ(r.cfg.requestheader_allowed_names, std::vector<std::string>{"front-proxy-client"});
  EXPECT_TRUE(r.cfg.peer_proxy_enabled());
}

TEST_F(Config, EveryErrorIsOneLine) {
  for (const args& a :
       {args{"--tls-cert-file=/x"}, args{"--bogus"}, with(base(), {"--lease-duration=x"})}) {
    auto e = error_of(a);
    EXPECT_FALSE(e.empty());
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  }
}

}  // namespace
