#pragma once
// Starts build/bin/mvproxy as a sidecar in front of one stand-in instance, on port 0,
// and reads back the ports it bound.

#include <cstdlib>
#include <string>
#include <vector>

#include "stand_in.hpp"
#include "test_process.hpp"

namespace mvproxy::test {

struct sidecar_options {
  std::string id;         // server id; its serving cert is PKI/<id>.crt
  int upstream_port = 0;  // the stand-in instance it fronts
  std::string peer_discovery = "lease";
  std::string peers;               // --peers for static mode
  std::vector<std::string> extra;  // more flags
};

class sidecar {
 public:
  static std::string binary() { return std::string(MVPROXY_BIN_DIR) + "/mvproxy"; }
  static bool available() { return std::filesystem::exists(binary()); }

  sidecar(const std::filesystem::path& pki, const std::filesystem::path& workdir,
          const sidecar_options& o, int port = 0)
      : id_(o.id) {
    auto f = [&](const std::string& name) { return (pki / name).string(); };
    std::vector<std::string> argv = {
        binary(),
        "--server-id=" + o.id,
        "--bind-address=127.0.0.1",
        "--secure-port=" + std::to_string(port),
        "--tls-cert-file=" + f(o.id + ".crt"),
        "--tls-private-key-file=" + f(o.id + ".key"),
        "--client-ca-file=" + f("ca.crt"),
        "--upstream=https://127.0.0.1:" + std::to_string(o.upstream_port),
        "--upstream-ca-file=" + f("ca.crt"),
        "--proxy-client-cert-file=" + f("front-proxy-client.crt"),
        "--proxy-client-key-file=" + f("front-proxy-client.key"),
        "--requestheader-client-ca-file=" + f("front-proxy-ca.crt"),
        "--requestheader-allowed-names=front-proxy-client",
        "--peer-ca-file=" + f("ca.crt"),
        "--peer-advertise-ip=127.0.0.1",
        "--peer-discovery=" + o.peer_discovery,
        "--lease-duration=2s",
        "--lease-renew-interval=500ms",
        "--discovery-sync-interval=500ms",
        "--admin-address=127.0.0.1:0",
        "--workers=1",
        "--shutdown-grace-period=2s"};
    if (!o.peers.empty()) argv.push_back("--peers=" + o.peers);
    // scripts/test runs the end-to-end tests twice: clients negotiate HTTP/2 with the
    // sidecars (as with kube-apiserver) and the sidecars with their apiservers and
    // peers; then, with this set, everything is HTTP/1.1.
    if (const char* h1 = std::getenv("MVPROXY_TEST_HTTP1"); h1 && *h1) {
      argv.push_back("--disable-http2-serving");
      argv.push_back("--disable-upstream-http2");
    }
    for (auto& e : o.extra) argv.push_back(e);
    proc_ = std::make_unique<process>(argv, workdir / ("mvproxy-" + o.id + ".log"));
    auto main = proc_->wait_for_output("listening on 127\\.0\\.0\\.1:(\\d+) \\(");
    auto admin = proc_->wait_for_output("admin listening on 127\\.0\\.0\\.1:(\\d+)");
    if (!main || !admin)
      throw std::runtime_error("mvproxy " + o.id + " did not start: " + proc_->output());
    port_ = std::stoi((*main)[1]);
    admin_port_ = std::stoi((*admin)[1]);
  }

  const std::string& id() const { return id_; }
  int port() const { return port_; }
  int admin_port() const { return admin_port_; }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  std::string admin(const std::string& path) const {
    return run_command("curl -s http://127.0.0.1:" + std::to_string(admin_port_) + path).output;
  }
  bool ready() const {
    return run_command("curl -sf http://127.0.0.1:" + std::to_string(admin_port_) + "/readyz")
               .exit_code == 0;
  }
  process& proc() { return *proc_; }

 private:
  std::string id_;
  std::unique_ptr<process> proc_;
  int port_ = 0;
  int admin_port_ = 0;
};

}  // namespace mvproxy::test
