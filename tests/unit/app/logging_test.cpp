// setup_logging: the access log is buffered (64 KiB / 1 s / flush_logs()), every other
// line reaches stderr at once, and neither cuts into the other's lines.
#include "mvproxy/app/logging.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace mvproxy::app {
namespace {

using namespace std::chrono_literals;

// Points fd 2 at a temporary file for the test's lifetime; restores it after writing
// out whatever is still buffered, so nothing leaks into the next test.
class captured_stderr {
 public:
  captured_stderr() {
    path_ = std::filesystem::temp_directory_path() /
            ("mvproxy-logging-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) throw std::runtime_error("open " + path_.string());
    std::fflush(stderr);
    saved_ = ::dup(STDERR_FILENO);
    ::dup2(fd, STDERR_FILENO);
    ::close(fd);
  }
  ~captured_stderr() {
    flush_logs();
    std::fflush(stderr);
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    std::filesystem::remove(path_);
  }
  captured_stderr(const captured_stderr&) = delete;
  captured_stderr& operator=(const captured_stderr&) = delete;

  std::string text() const {
    std::ifstream in(path_, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }

  // Polls the output until it contains `needle` or the deadline passes.
  bool wait_for(const std::string& needle, std::chrono::milliseconds deadline) const {
    auto until = std::chrono::steady_clock::now() + deadline;
    for (;;) {
      if (text().find(needle) != std::string::npos) return true;
      if (std::chrono::steady_clock::now() >= until) return false;
      std::this_thread::sleep_for(10ms);
    }
  }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
  int saved_ = -1;
};

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(logging, access_lines_complete_and_in_order_after_flush_logs) {
  setup_logging(config::log_format::text, 0);
  captured_stderr err;
  constexpr int threads = 4;
  constexpr int per_thread = 5000;  // ~0.5 MB in all: several 64 KiB blocks
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([t] {
      auto access = spdlog::get("access");
      auto proxy = spdlog::get("proxy");
      for (int i = 0; i < per_thread; ++i) {
        access->info("GET /api/v1/pods?limit=500 200 route=local bytes=1234 t={} n={}", t, i);
        // Unbuffered lines in between must not cut into the access blocks.
        if (i % 500 == 0) proxy->warn("upstream hiccup t={} n={}", t, i);
      }
    });
  for (auto& w : workers) w.join();
  flush_logs();

  std::regex access_re(
      R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z I access: GET /api/v1/pods\?limit=500 200 route=local bytes=1234 t=(\d) n=(\d+)$)");
  std::regex warn_re(
      R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z W proxy: upstream hiccup t=\d n=\d+$)");
  std::vector<int> next(threads, 0);
  int warnings = 0;
  auto text = err.text();
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  for (auto& line : split_lines(text)) {
    std::smatch m;
    if (std::regex_match(line, m, access_re)) {
      int t = std::stoi(m[1]);
      ASSERT_LT(t, threads) << line;
      ASSERT_EQ(std::stoi(m[2]), next[t]) << "out of order or lost: " << line;
      ++next[t];
    } else if (std::regex_match(line, warn_re)) {
      ++warnings;
    } else {
      ADD_FAILURE() << "broken line: " << line;
    }
  }
  for (int t = 0; t < threads; ++t) EXPECT_EQ(next[t], per_thread) << "thread " << t;
  EXPECT_EQ(warnings, threads * per_thread / 500);
}

TEST(logging, access_block_written_when_buffer_reaches_64k) {
  setup_logging(config::log_format::text, 0);
  captured_stderr err;
  auto access = spdlog::get("access");
  std::string filler(200, 'x');
  // ~145 KiB of lines with no flush_logs(): whatever the periodic flusher does meanwhile,
  // at most 64 KiB can still be buffered, so blocks were written at the 64 KiB mark.
  for (int i = 0; i < 600; ++i) access->info("{} {}", filler, i);
  auto text = err.text();
  EXPECT_GE(text.size(), 64u * 1024) << "the full buffer was not written";
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n') << "a block must end with a whole line";
}

TEST(logging, access_line_reaches_stderr_within_a_second_unflushed) {
  setup_logging(config::log_format::text, 0);
  captured_stderr err;
  auto start = std::chrono::steady_clock::now();
  spdlog::get("access")->info("GET /healthz 200 route=local lonely-request");
  // The periodic flusher runs every second; allow scheduling slack on a busy machine.
  ASSERT_TRUE(err.wait_for("lonely-request\n", 3s)) << err.text();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2500ms);
}

// --access-log=false: no access line at all, every other line as before.
TEST(logging, access_log_off_writes_no_access_line) {
  setup_logging(config::log_format::text, 0, false);
  captured_stderr err;
  spdlog::get("access")->info("GET /healthz 200 route=local should-not-appear");
  spdlog::get("proxy")->warn("still-here");
  flush_logs();
  EXPECT_EQ(err.text().find("should-not-appear"), std::string::npos) << err.text();
  EXPECT_NE(err.text().find(" W proxy: still-here\n"), std::string::npos) << err.text();
  setup_logging(config::log_format::text, 0);  // as the other tests expect
}

TEST(logging, other_lines_are_written_at_once) {
  setup_logging(config::log_format::text, 0);
  captured_stderr err;
  spdlog::get("main")->warn("certificate reload failed: no such file");
  // No wait: the line is on fd 2 when warn() returns.
  EXPECT_NE(err.text().find(" W main: certificate reload failed: no such file\n"),
            std::string::npos)
      << err.text();
  logger("control")->info("peer joined");
  EXPECT_NE(err.text().find(" I control: peer joined\n"), std::string::npos) << err.text();
}

TEST(logging, json_format_unchanged_for_access_and_others) {
  setup_logging(config::log_format::json, 0);
  {
    captured_stderr err;
    spdlog::get("access")->info("GET /a?b=\"c\" 200 route=local");
    spdlog::get("tls")->error("handshake\tfailed");
    flush_logs();
    auto lines = split_lines(err.text());
    ASSERT_EQ(lines.size(), 2u) << err.text();
    // Usually the error comes first (the access line waits for the flush), but the
    // periodic flusher may run in between.
    if (lines[0].find("\"access\"") != std::string::npos) std::swap(lines[0], lines[1]);
    EXPECT_TRUE(std::regex_match(
        lines[0],
        std::regex(
            R"(^\{"ts":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z","level":"error","component":"tls","msg":"handshake\\tfailed"\}$)")))
        << lines[0];
    EXPECT_TRUE(std::regex_match(
        lines[1],
        std::regex(
            R"(^\{"ts":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z","level":"info","component":"access","msg":"GET /a\?b=\\"c\\" 200 route=local"\}$)")))
        << lines[1];
  }
  setup_logging(config::log_format::text, 0);
}

TEST(logging, json_escape) {
  EXPECT_EQ(json_escape("plain"), "plain");
  EXPECT_EQ(json_escape("a\"b\\c\nd\re\tf"), "a\\\"b\\\\c\\nd\\re\\tf");
  EXPECT_EQ(json_escape(std::string_view("\x01 \x1f", 3)), "\\u0001 \\u001f");
  EXPECT_EQ(json_escape(""), "");
}

}  // namespace
}  // namespace mvproxy::app
