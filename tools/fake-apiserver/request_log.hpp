#pragma once
// --request-log: one JSON object per line per request, flushed at once so tests
// can read it while the server runs.

#include "auth.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <fstream>
#include <optional>
#include <string>

namespace fake_apiserver {

struct request_record {
  std::string instance;
  std::string method;
  std::string path;
  std::string query;
  int status = 0;
  header_list headers;
  client_cert cert;
  std::optional<user_info> user;          // as authenticated
  std::optional<user_info> impersonated;  // when Impersonate-User was honoured
  std::string proto = "HTTP/1.1";         // as Go's Request.Proto: HTTP/1.1, HTTP/2.0
  uint64_t conn = 0;                      // the connection it came on (per process)
};

// The log line for one request (without the newline).
nlohmann::json to_log_json(const request_record& r);

class request_log {
 public:
  // Empty path: logging off. Throws std::runtime_error when the file cannot be opened.
  explicit request_log(const std::string& path);
  void write(const request_record& r);

 private:
  std::ofstream out_;
  bool enabled_ = false;
};

}  // namespace fake_apiserver
