// The feature gate, --peer-ca-file and the Lease credentials, flags -> outcome, as
// docs/configuration.md ("The feature gate and --peer-ca-file") promises: with the gate
// on, --peer-ca-file is what turns peer proxying on (kube-apiserver's rule), and only
// then does the sidecar join the peer set and need credentials for its Lease.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config_fixture.hpp"

namespace {

using mvproxy::test::args;
using mvproxy::test::Config;

struct gate_case {
  std::string name;
  args flags;          // after the serving pair and --server-id
  std::string error;   // "" when accepted
  bool gate = false;   // mixed_version_proxy_enabled(), when accepted
  bool proxy = false;  // peer_proxy_enabled(), when accepted
};

TEST_F(Config, GateAndPeerCaFileToOutcome) {
  const std::string ca = "--peer-ca-file=" + pki("ca.crt");
  const args client_pair{"--proxy-client-cert-file=" + pki("front-proxy-client.crt"),
                         "--proxy-client-key-file=" + pki("front-proxy-client.key")};
  const std::string kubeconfig = "--kubeconfig=" + pki("admin.conf");
  const std::string gate_off = "--feature-gates=UnknownVersionInteroperabilityProxy=false";
  const std::string no_credentials =
      "--proxy-client-cert-file: required for --peer-discovery=lease without --kubeconfig";
  const std::string needs_gate =
      ": requires UnknownVersionInteroperabilityProxy feature to be turned on";
  const std::vector<gate_case> cases = {
      {"gate on, CA, proxy client pair: full proxy", with({ca}, client_pair), "", true, true},
      {"gate on, CA, kubeconfig: full proxy", {ca, kubeconfig}, "", true, true},
      {"gate on, CA, no credentials for the Lease", {ca}, no_credentials},
      {"gate on, CA, static peers need no Lease", {ca, "--peer-discovery=static"}, "", true, true},
      {"gate on, no CA: local only, no Lease, no credentials", {}, "", true, false},
      {"gate on, no CA, peer flags accepted and unused",
       {"--peer-advertise-ip=10.0.0.11", "--peer-advertise-port=7443", "--lease-namespace=x"},
       "",
       true,
       false},
      {"gate on, no CA, with a client pair: still local only", client_pair, "", true, false},
      {"gate off: pass-through, no credentials", {gate_off}, "", false, false},
      {"gate off with a CA", {gate_off, ca}, "--peer-ca-file" + needs_gate},
      {"gate off with an advertised IP",
       {gate_off, "--peer-advertise-ip=10.0.0.11"},
       "--peer-advertise-ip" + needs_gate},
      {"gate off with an advertised port",
       {gate_off, "--peer-advertise-port=7443"},
       "--peer-advertise-port" + needs_gate},
  };
  for (const auto& c : cases) {
    args a = with({"--tls-cert-file=" + pki("apiserver.crt"),
                   "--tls-private-key-file=" + pki("apiserver.key"), "--server-id=node-a"},
                  c.flags);
    EXPECT_EQ(error_of(a), c.error) << c.name;
    if (!c.error.empty()) continue;
    auto r = run(a);
    EXPECT_EQ(r.cfg.mixed_version_proxy_enabled(), c.gate) << c.name;
    EXPECT_EQ(r.cfg.peer_proxy_enabled(), c.proxy) << c.name;
  }
}

}  // namespace
