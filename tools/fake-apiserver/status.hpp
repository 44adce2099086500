#pragma once
// Kubernetes Status bodies and the plain response value every handler returns.

#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

namespace fake_apiserver {

using json = nlohmann::json;

struct response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// {"kind":"Status",...,"status":"Failure"}; details omitted when null.
json failure_status(int code, const std::string& reason, const std::string& message,
                    const json& details = nullptr);

response status_response(int code, const std::string& reason, const std::string& message,
                         const json& details = nullptr);

response json_response(int code, const json& body);

// The 404 kube-apiserver gives for a path it does not serve at all.
response not_served();

// `pods "x" not found` with details {name, kind}.
response object_not_found(const std::string& group, const std::string& resource,
                          const std::string& name);

}  // namespace fake_apiserver
