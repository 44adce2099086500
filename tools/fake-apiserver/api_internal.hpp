#pragma once
// Small helpers the REST handler's files (api.cpp, api_read.cpp) share.

#include "status.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace fake_apiserver::api_internal {

inline nlohmann::json with_type(nlohmann::json obj, const std::string& api_version,
                                const std::string& kind) {
  obj["apiVersion"] = api_version;
  obj["kind"] = kind;
  return obj;
}

inline response bad_request(const std::string& message) {
  return status_response(400, "BadRequest", message);
}

}  // namespace fake_apiserver::api_internal
