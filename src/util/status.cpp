#include "mvproxy/util/status.hpp"

#include <nlohmann/json.hpp>

namespace mvproxy::util {
namespace {

std::string json_string(std::string_view s) {
  return nlohmann::json(std::string(s))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string status_json(int code, std::string_view reason, std::string_view message) {
  std::string out =
      R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":)";
  out += json_string(message);
  if (!reason.empty()) {
    out += R"(,"reason":)";
    out += json_string(reason);
  }
  out += R"(,"code":)";
  out += std::to_string(code);
  out += '}';
  return out;
}

std::string status_json(int code, std::string_view message) {
  return status_json(code, reason_for(code), message);
}

std::string_view reason_for(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 406:
      return "NotAcceptable";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 413:
      return "RequestEntityTooLarge";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return code >= 500 ? "InternalError" : "";
  }
}

}  // namespace mvproxy::util
