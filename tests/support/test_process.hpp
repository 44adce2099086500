#pragma once
// A child process for integration and end-to-end tests: started with arguments,
// its stdout+stderr captured to a file, waited on by condition with a deadline,
// and always stopped (SIGTERM, then SIGKILL) when the object goes away.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace mvproxy::test {

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Polls `pred` until it returns true or the deadline passes.
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

// A fresh temporary directory, removed on destruction.
class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mvproxy-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

class process {
 public:
  process(std::vector<std::string> argv, std::filesystem::path log_file,
          std::vector<std::string> extra_env = {})
      : log_file_(std::move(log_file)) {
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      int fd = ::open(log_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
      }
      int devnull = ::open("/dev/null", O_RDONLY);
      if (devnull >= 0) dup2(devnull, 0);
      for (auto& e : extra_env) putenv(e.data());
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      execvp(args[0], args.data());
      _exit(127);
    }
  }
  ~process() { stop(); }
  process(const process&) = delete;
  process& operator=(const process&) = delete;

  pid_t pid() const { return pid_; }
  std::string output() const { return read_file(log_file_); }

  // Waits for `pattern` in the output; returns the first match and its groups
  // (index 0 is the whole match), or nullopt if the process exited or time ran out.
  std::optional<std::vector<std::string>> wait_for_output(
      const std::string& pattern, std::chrono::milliseconds deadline = std::chrono::seconds(20)) {
    std::regex re(pattern);
    std::optional<std::vector<std::string>> result;
    auto check = [&] {
      std::string text = output();
      std::smatch m;
      if (std::regex_search(text, m, re)) {
        result.emplace();
        for (auto& g : m) result->push_back(g.str());
        return true;
      }
      return false;
    };
    wait_until([&] { return check() || !running(); }, deadline);
    if (!result) check();
    return result;
  }

  bool running() {
    if (exited_) return false;
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      status_ = status;
      return false;
    }
    return true;
  }

  void signal(int sig) {
    if (running()) ::kill(pid_, sig);
  }

  // Waits for exit; returns the exit code, or -signal, or nullopt on timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
    if (!wait_until([&] { return !running(); }, deadline)) return std::nullopt;
    if (WIFEXITED(status_)) return WEXITSTATUS(status_);
    if (WIFSIGNALED(status_)) return -WTERMSIG(status_);
    return -1;
  }

  void stop(std::chrono::milliseconds grace = std::chrono::seconds(5)) {
    if (pid_ <= 0 || !running()) return;
    ::kill(pid_, SIGTERM);
    if (!wait_exit(grace)) {
      ::kill(pid_, SIGKILL);
      wait_exit(std::chrono::seconds(5));
    }
  }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
  std::filesystem::path log_file_;
};

// Runs a command to completion through the shell; returns exit code and output.
struct command_result {
  int exit_code = -1;
  std::string output;
};
inline command_result run_command(const std::string& cmd) {
  command_result r;
  std::string full = cmd + " 2>&1";
  FILE* p = popen(full.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int st = pclose(p);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// Makes the throwaway PKI (scripts/make-pki) in `dir` with serving certs `names`.
inline void make_pki(const std::filesystem::path& dir, const std::vector<std::string>& names) {
  std::string cmd = std::string(MVPROXY_SOURCE_DIR) + "/scripts/make-pki " + dir.string();
  for (auto& n : names) cmd += " " + n;
  auto r = run_command(cmd);
  if (r.exit_code != 0) throw std::runtime_error("make-pki failed: " + r.output);
}

}  // namespace mvproxy::test
