#pragma once
// A mixed-version control plane for end-to-end tests: the stand-in with apiservers
// "old" (v1.30), "new" and "new2" (v1.31), and mvproxy sidecars beside them.

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "sidecar.hpp"
#include "stand_in.hpp"

namespace mvproxy::test {

struct http_result {
  int code = 0;
  std::string headers;
  std::string body;
};

class cluster {
 public:
  // Skips the test (with the reason) when a binary or kubectl is missing.
  static bool can_run(std::string& why) {
    if (!stand_in::available())
      why = "stand-in not built: " + stand_in::binary();
    else if (!sidecar::available())
      why = "mvproxy not built: " + sidecar::binary();
    else if (run_command("command -v kubectl").exit_code != 0)
      why = "no kubectl on PATH";
    return why.empty();
  }

  cluster() {
    make_pki(dir_.path(), {"old", "new", "new2"});
    api_ = std::make_unique<stand_in>(
        dir_.path(), dir_.path(),
        std::vector<stand_in_instance>{{"old", "v1.30"}, {"new", "v1.31"}, {"new2", "v1.31"}});
  }

  // Lease mode binds port 0 and advertises the port it got. Static mode must name
  // every sidecar's address up front, so it reserves free ports first (bind port 0,
  // read it, release it) — the one place a test passes a concrete port.
  sidecar& start(const std::string& id, const std::string& mode = "lease",
                 const std::vector<std::string>& static_ids = {},
                 const std::vector<std::string>& extra = {}) {
    sidecar_options o;
    o.extra = extra;
    o.id = id;
    o.upstream_port = api_->port(id);
    o.peer_discovery = mode;
    int port = 0;
    if (mode == "static") {
      for (auto& sid : static_ids) {
        if (!static_ports_.count(sid)) static_ports_[sid] = free_port();
        o.peers +=
            (o.peers.empty() ? "" : ",") + sid + "=127.0.0.1:" + std::to_string(static_ports_[sid]);
      }
      port = static_ports_.at(id);
    }
    sidecars_.erase(id);
    auto [it, _] =
        sidecars_.emplace(id, std::make_unique<sidecar>(dir_.path(), dir_.path(), o, port));
    return *it->second;
  }

  static int free_port() {
    auto r = run_command(
        "python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0)); "
        "print(s.getsockname()[1])'");
    return std::atoi(r.output.c_str());
  }
  void stop(const std::string& id) { sidecars_.erase(id); }
  sidecar& at(const std::string& id) { return *sidecars_.at(id); }

  // Waits until `id` is ready and sees `n` synced, healthy peers.
  bool wait_peers(const std::string& id, std::size_t n,
                  std::chrono::milliseconds d = std::chrono::seconds(15)) {
    return wait_until(
        [&] {
          auto doc = nlohmann::json::parse(at(id).admin("/debug/peers"), nullptr, false);
          if (!doc.is_object() || !doc["local"]["synced"].get<bool>()) return false;
          std::size_t synced = 0;
          for (auto& p : doc["peers"])
            if (p["synced"].get<bool>() && p.value("healthy", true)) ++synced;
          return synced == n && doc["peers"].size() == n;
        },
        d);
  }

  std::string pki(const std::string& f) const { return (dir_.path() / f).string(); }
  const std::filesystem::path& dir() const { return dir_.path(); }
  stand_in& api() { return *api_; }

  // kubectl as the admin (client certificate) against a URL.
  command_result kubectl(const std::string& url, const std::string& args) {
    // A discovery cache of this cluster's own: kubectl's default one is keyed by
    // host:port, and ports come back between tests, so another cluster's discovery
    // would be believed.
    return run_command("kubectl --kubeconfig " + pki("admin.conf") + " --cache-dir " +
                       (dir() / "kube-cache").string() + " --server " + url + " " + args);
  }

  // curl with the given client certificate name (admin, jane, intruder,
  // front-proxy-client; "" for none).
  http_result curl(const std::string& url, const std::string& cert = "admin",
                   const std::vector<std::string>& headers = {}, const std::string& method = "GET",
                   const std::string& data = "") {
    auto body = dir_.path() / "curl-body";
    auto head = dir_.path() / "curl-head";
    // curl leaves the output file alone when there is no body (304): start empty.
    std::filesystem::remove(body);
    std::filesystem::remove(head);
    std::string cmd = "curl -s -o " + body.string() + " -D " + head.string() +
                      " -w '%{http_code}' --cacert " + pki("ca.crt") + " -X " + method;
    if (!cert.empty()) cmd += " --cert " + pki(cert + ".crt") + " --key " + pki(cert + ".key");
    for (auto& h : headers) cmd += " -H '" + h + "'";
    if (!data.empty()) cmd += " -H 'Content-Type: application/json' --data '" + data + "'";
    cmd += " '" + url + "'";
    auto r = run_command(cmd);
    http_result out;
    out.code = r.exit_code == 0 ? std::atoi(r.output.c_str()) : -r.exit_code;
    out.headers = read_file(head);
    out.body = read_file(body);
    return out;
  }

  // Request-log entries of the stand-in whose path starts with `prefix`.
  std::vector<nlohmann::json> served(const std::string& prefix) {
    std::vector<nlohmann::json> out;
    std::istringstream in(read_file(api_->request_log()));
    for (std::string line; std::getline(in, line);) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_object() && j.value("path", "").rfind(prefix, 0) == 0) out.push_back(j);
    }
    return out;
  }

 private:
  temp_dir dir_;
  std::unique_ptr<stand_in> api_;
  std::map<std::string, std::unique_ptr<sidecar>> sidecars_;
  std::map<std::string, int> static_ports_;
};

// A test with the old and new apiservers, each with its sidecar (Lease mode), started
// and seeing each other before the test body runs; skipped with the reason when a
// binary or kubectl is missing.
class old_and_new_sidecars : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!cluster::can_run(why)) GTEST_SKIP() << why;
    c_ = std::make_unique<cluster>();
    c_->start("old");
    c_->start("new");
    ASSERT_TRUE(c_->wait_peers("old", 1)) << c_->at("old").admin("/debug/peers");
    ASSERT_TRUE(c_->wait_peers("new", 1)) << c_->at("new").admin("/debug/peers");
  }
  std::unique_ptr<cluster> c_;
};

inline std::string header_value(const std::string& headers, const std::string& name) {
  std::istringstream in(headers);
  for (std::string line; std::getline(in, line);) {
    if (line.size() > name.size() && strncasecmp(line.c_str(), name.c_str(), name.size()) == 0 &&
        line[name.size()] == ':') {
      auto v = line.substr(name.size() + 1);
      while (!v.empty() && (v.front() == ' ')) v.erase(0, 1);
      while (!v.empty() && (v.back() == '\r' || v.back() == '\n')) v.pop_back();
      return v;
    }
  }
  return {};
}

}  // namespace mvproxy::test
