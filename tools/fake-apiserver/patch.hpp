#pragma once
// PATCH bodies by Content-Type: JSON merge patch (RFC 7386), JSON patch (RFC 6902),
// strategic merge patch (treated as merge patch: no schema here) and server-side
// apply (the JSON kubectl sends, merged onto the live object).

#include <nlohmann/json.hpp>

#include <string>

namespace fake_apiserver {

struct patch_result {
  int code = 200;  // 200 on success; otherwise the Status code to answer
  std::string reason;
  std::string message;
  nlohmann::json object;
  bool ok() const { return code == 200; }
};

patch_result apply_patch(const std::string& content_type, const nlohmann::json& current,
                         const std::string& body);

}  // namespace fake_apiserver
