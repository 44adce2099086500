#pragma once
// HTTP/2 clients against the in-process proxy: curl, h2load and h2/h2_probe.py (a raw
// client for what well-behaved clients never send). The access log is captured, so a
// test can read the line its request left.

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <future>
#include <nlohmann/json.hpp>

#include "proxy_fixture.hpp"

namespace mvproxy::test {

using namespace std::chrono_literals;
using json = nlohmann::json;

inline const std::string& python() {
  static const std::string p = "/usr/bin/python3";  // Debian's, with python3-h2
  return p;
}

// Empty when the probe can run; else why not.
inline const std::string& probe_unavailable() {
  static const std::string why = [] {
    auto r = run_command(python() + " -c 'import h2, hpack'");
    return r.exit_code == 0 ? std::string() : "python3-h2 is not importable: " + r.output;
  }();
  return why;
}

class h2_test_base : public ::testing::Test {
 protected:
  void SetUp() override {
    access_ = capture("access");
    proxy_log_ = capture("proxy");
  }
  void TearDown() override {
    proxy_.stop();
    spdlog::drop("access");
    spdlog::drop("proxy");
  }
  // A logger the server picks up by name (server.cpp: component()), kept in memory.
  static std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> capture(const std::string& name) {
    spdlog::drop(name);
    auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256);
    sink->set_pattern("%v");
    auto logger = std::make_shared<spdlog::logger>(name, sink);
    logger->set_level(spdlog::level::info);
    spdlog::register_logger(logger);
    return sink;
  }
  void start(proxy::limits lim = {}) { proxy_.start(upstream_, metrics_, lim); }
  std::uint16_t port() const { return proxy_.port(); }
  std::string url(const std::string& path) const {
    return "https://127.0.0.1:" + std::to_string(port()) + path;
  }
  static std::string pki(const std::string& file) { return (shared_pki() / file).string(); }

  // curl over HTTP/2 as kubernetes-admin (O=system:masters); `args` go before the URL.
  command_result curl(const std::string& args, const std::string& path) const {
    return run_command("curl -sS --http2 --max-time 30 --cacert " + pki("ca.crt") + " --cert " +
                       pki("admin.crt") + " --key " + pki("admin.key") + " " + args + " '" +
                       url(path) + "'");
  }

  // Runs h2_probe.py CASE against the proxy and parses its line of JSON.
  json probe(const std::string& name, const std::string& args = "") const {
    auto r = run_command(python() + " " + MVPROXY_SOURCE_DIR +
                         "/tests/integration/inprocess/h2/h2_probe.py " + name + " 127.0.0.1 " +
                         std::to_string(port()) + " " + pki("ca.crt") + " " + pki("admin.crt") +
                         " " + pki("admin.key") + " " + args);
    auto line = r.output.substr(r.output.find_last_of('\n', r.output.size() - 2) + 1);
    auto j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return json{{"error", "probe output: " + r.output}};
    return j;
  }
  // The probe in the background, for cases the test steers through sync_ files.
  std::future<json> probe_async(const std::string& name, const std::string& args = "") const {
    return std::async(std::launch::async, [this, name, args] { return probe(name, args); });
  }

  // The proxy still serves a fresh HTTP/2 connection (after whatever a test did).
  void expect_still_serving() {
    auto r = curl("-o /dev/null -w '%{http_version} %{http_code}'", "/api/still-serving");
    EXPECT_EQ(r.output, "2 200") << "the proxy no longer serves: " << r.output;
  }

  // Access lines so far, in order.
  std::vector<std::string> access_lines() const { return access_->last_formatted(); }
  bool access_line_with(const std::string& needle, std::string* found = nullptr) const {
    return line_with(access_lines(), needle, found);
  }
  // The proxy's own log (connection errors among them).
  bool proxy_log_with(const std::string& needle) const {
    return line_with(proxy_log_->last_formatted(), needle, nullptr);
  }
  static bool line_with(const std::vector<std::string>& lines, const std::string& needle,
                        std::string* found) {
    for (auto& l : lines)
      if (l.find(needle) != std::string::npos) {
        if (found) *found = l;
        return true;
      }
    return false;
  }

  // Requests the upstream saw for targets starting with `prefix`.
  std::size_t upstream_saw(const std::string& prefix) const {
    std::size_t n = 0;
    for (auto& r : upstream_.requests()) n += r.target.rfind(prefix, 0) == 0;
    return n;
  }

  bool wait_for_file(const std::filesystem::path& p, std::chrono::milliseconds within = 10s) {
    return wait_until([&] { return std::filesystem::exists(p); }, within);
  }
  static void touch(const std::filesystem::path& p) { std::ofstream(p).put('\n'); }

  // A watch that sends its head and then nothing: it holds its upstream connection
  // until the proxy closes it. Shared with the handler's thread (it may outlive a test).
  struct quiet_watch {
    std::atomic<bool> watching{false}, saw_close{false};
  };
  std::shared_ptr<quiet_watch> serve_quiet_watch() {
    auto w = std::make_shared<quiet_watch>();
    upstream_.on("/api/v1/pods", [w](upstream_conn& c, const recorded&) {
      c.write(
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: "
          "chunked\r\n\r\n");
      w->watching = true;
      char b[256];
      beast::error_code ec;
      while (!ec) c.read_some(b, sizeof b, ec);  // the proxy sends nothing more: EOF/reset
      w->saw_close = true;
      c.close_after = true;
    });
    return w;
  }

  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> access_, proxy_log_;
  temp_dir sync_;  // files the probe and the test wait on
  fake_upstream upstream_{shared_pki()};
  metrics::registry registry_;
  metrics::standard_metrics metrics_{registry_};
  inprocess_proxy proxy_;
};

// The fate of one stream in a probe's result.
inline json stream_of(const json& result, const std::string& key) {
  if (!result.contains(key) || !result.contains("streams")) return json::object();
  auto id = std::to_string(result[key].get<int>());
  return result["streams"].contains(id) ? result["streams"][id] : json::object();
}

inline constexpr int h2_no_error = 0, h2_protocol_error = 1, h2_internal_error = 2,
                     h2_enhance_your_calm = 11;

}  // namespace mvproxy::test
