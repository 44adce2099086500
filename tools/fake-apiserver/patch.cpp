#include "patch.hpp"

namespace fake_apiserver {

patch_result apply_patch(const std::string& content_type, const nlohmann::json& current,
                         const std::string& body) {
  using nlohmann::json;
  patch_result r;
  json patch;
  try {
    patch = json::parse(body);
  } catch (const json::exception& e) {
    return {400, "BadRequest", std::string("error decoding patch: ") + e.what(), nullptr};
  }
  try {
    if (content_type == "application/json-patch+json") {
      if (!patch.is_array())
        return {400, "BadRequest", "json patch must be an array of operations", nullptr};
      r.object = current.patch(patch);
    } else if (content_type == "application/merge-patch+json" ||
               content_type == "application/strategic-merge-patch+json" ||
               content_type == "application/apply-patch+yaml") {
      if (!patch.is_object())
        return {400, "BadRequest", "a merge patch must be a JSON object", nullptr};
      r.object = current;
      r.object.merge_patch(patch);
    } else {
      return {415, "UnsupportedMediaType",
              "the body of the request was in an unknown format - accepted media types "
              "include: application/json-patch+json, application/merge-patch+json, "
              "application/apply-patch+yaml",
              nullptr};
    }
  } catch (const json::exception& e) {
    return {422, "Invalid", std::string("the patch could not be applied: ") + e.what(), nullptr};
  }
  if (!r.object.is_object())
    return {422, "Invalid", "the patch turned the object into a non-object", nullptr};
  if (!r.object.contains("metadata") || !r.object["metadata"].is_object())
    r.object["metadata"] = json::object();
  return r;
}

}  // namespace fake_apiserver
