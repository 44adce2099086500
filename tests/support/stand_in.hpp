#pragma once
// Starts the kube-apiserver stand-in (build/bin/fake-apiserver) with a fresh PKI, for
// integration and end-to-end tests, and talks to its control API.

#include <map>
#include <string>
#include <vector>

#include "test_process.hpp"

namespace mvproxy::test {

struct stand_in_instance {
  std::string name;
  std::string profile;  // v1.30, v1.31, v1.21-legacy
};

struct stand_in_options {
  // --disable-http2-serving: ALPN offers http/1.1 only (by default h2 first, as
  // kube-apiserver), to see how a client falls back.
  bool disable_http2_serving = false;
};

class stand_in {
 public:
  static std::string binary() { return std::string(MVPROXY_BIN_DIR) + "/fake-apiserver"; }
  static bool available() { return std::filesystem::exists(binary()); }

  // `pki` must hold make_pki output with a serving cert per instance name.
  stand_in(const std::filesystem::path& pki, const std::filesystem::path& workdir,
           std::vector<stand_in_instance> instances, stand_in_options options = {}) {
    std::vector<std::string> argv = {binary()};
    for (auto& i : instances) {
      argv.push_back("--instance");
      argv.push_back("name=" + i.name + ",profile=" + i.profile +
                     ",cert=" + (pki / (i.name + ".crt")).string() +
                     ",key=" + (pki / (i.name + ".key")).string());
    }
    request_log_ = workdir / "stand-in-requests.jsonl";
    for (std::string a :
         {"--client-ca-file=" + (pki / "ca.crt").string(),
          "--requestheader-client-ca-file=" + (pki / "front-proxy-ca.crt").string(),
          std::string("--requestheader-allowed-names=front-proxy-client"),
          "--token-auth-file=" + (pki / "tokens.csv").string(), std::string("--deny-users=mallory"),
          "--request-log=" + request_log_.string(), std::string("--control-address=127.0.0.1:0")})
      argv.push_back(a);
    if (options.disable_http2_serving) argv.push_back("--disable-http2-serving");
    proc_ = std::make_unique<process>(argv, workdir / "stand-in.log");
    if (!proc_->wait_for_output("\\bready\\b"))
      throw std::runtime_error("stand-in did not start: " + proc_->output());
    auto out = proc_->output();
    std::regex re("instance (\\S+) listening on 127\\.0\\.0\\.1:(\\d+)");
    for (std::sregex_iterator it(out.begin(), out.end(), re), end; it != end; ++it)
      ports_[(*it)[1]] = std::stoi((*it)[2]);
    std::smatch m;
    if (std::regex_search(out, m, std::regex("control listening on 127\\.0\\.0\\.1:(\\d+)")))
      control_port_ = std::stoi(m[1]);
  }

  int port(const std::string& instance) const { return ports_.at(instance); }
  std::string url(const std::string& instance) const {
    return "https://127.0.0.1:" + std::to_string(port(instance));
  }
  int control_port() const { return control_port_; }
  const std::filesystem::path& request_log() const { return request_log_; }
  process& proc() { return *proc_; }

  // POST /instances/<name>/<action>[?query] on the control API; returns curl's output.
  command_result control(const std::string& instance, const std::string& action) {
    return run_command("curl -sS -X POST 'http://127.0.0.1:" + std::to_string(control_port_) +
                       "/instances/" + instance + "/" + action + "'");
  }

 private:
  std::unique_ptr<process> proc_;
  std::map<std::string, int> ports_;
  int control_port_ = 0;
  std::filesystem::path request_log_;
};

}  // namespace mvproxy::test
