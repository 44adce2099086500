#include "status.hpp"

namespace fake_apiserver {

json failure_status(int code, const std::string& reason, const std::string& message,
                    const json& details) {
  json s = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
            {"status", "Failure"}, {"message", message}, {"reason", reason}};
  if (!details.is_null()) s["details"] = details;
  s["code"] = code;
  return s;
}

response status_response(int code, const std::string& reason, const std::string& message,
                         const json& details) {
  return json_response(code, failure_status(code, reason, message, details));
}

response json_response(int code, const json& body) {
  response r;
  r.status = code;
  r.body = body.dump();
  return r;
}

response not_served() {
  return status_response(404, "NotFound", "the server could not find the requested resource",
                         json::object());
}

response object_not_found(const std::string& group, const std::string& resource,
                          const std::string& name) {
  json details = {{"name", name}, {"kind", resource}};
  if (!group.empty()) details["group"] = group;
  std::string what = group.empty() ? resource : resource + "." + group;
  return status_response(404, "NotFound", what + " \"" + name + "\" not found", details);
}

}  // namespace fake_apiserver
