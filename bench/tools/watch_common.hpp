// What watchbench (HTTP/1.1) and h2watchbench (HTTP/2) share: flag parsing, the
// proxy's RSS and its upstream connections read from /proc, percentiles.
#pragma once

#include <boost/asio.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace watch_common {

using args = std::map<std::string, std::string>;

// "--flag value" pairs from argv[first] on (watchbench's argv[1] is its mode).
inline args parse_args(int argc, char** argv, int first = 2) {
  args a;
  for (int i = first; i + 1 < argc; i += 2) a[argv[i]] = argv[i + 1];
  return a;
}

inline std::string arg(const args& a, const std::string& k, const std::string& def = {}) {
  auto it = a.find(k);
  if (it != a.end()) return it->second;
  if (def.empty()) throw std::runtime_error("missing " + k);
  return def;
}

inline boost::asio::ip::tcp::endpoint parse_endpoint(const std::string& s) {
  auto colon = s.rfind(':');
  return {boost::asio::ip::make_address(s.substr(0, colon)),
          static_cast<unsigned short>(std::stoi(s.substr(colon + 1)))};
}

// kB of VmRSS in /proc/PID/status; 0 when no pid was given.
inline long rss_kib(int pid) {
  if (pid <= 0) return 0;
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

// Established TCP connections held by process pid whose remote end is port: the
// proxy's connections to the backend. -1 when no pid was given or /proc is unreadable.
inline long connections_to(int pid, int port) {
  if (pid <= 0 || port <= 0) return -1;
  namespace fs = std::filesystem;
  std::set<std::string> inodes;
  std::error_code ec;
  const std::string proc = "/proc/" + std::to_string(pid);
  for (const auto& fd : fs::directory_iterator(proc + "/fd", ec)) {
    auto target = fs::read_symlink(fd.path(), ec).string();
    if (!ec && target.rfind("socket:[", 0) == 0) inodes.insert(target.substr(8, target.size() - 9));
  }
  if (ec && inodes.empty()) return -1;
  long n = 0;
  for (const char* table : {"/net/tcp", "/net/tcp6"}) {
    std::ifstream f(proc + table);
    std::string line;
    std::getline(f, line);  // the header
    while (std::getline(f, line)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      std::istringstream in(line);
      std::string sl, local, remote, st, txrx, trwhen, retr, uid, timeout, inode;
      in >> sl >> local >> remote >> st >> txrx >> trwhen >> retr >> uid >> timeout >> inode;
      auto colon = remote.rfind(':');
      if (st != "01" || colon == std::string::npos) continue;  // 01: ESTABLISHED
      if (std::stoi(remote.substr(colon + 1), nullptr, 16) == port && inodes.count(inode)) ++n;
    }
  }
  return n;
}

inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

}  // namespace watch_common
