#pragma once
// The stand-in's OpenAPI documents, derived from the same profile as discovery: one
// object schema per kind (enough for `kubectl explain` and for kubectl to see that the
// server validates fields itself) and the PATCH operations that declare fieldValidation.

#include "discovery.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace fake_apiserver {

// /openapi/v3/apis/<group>/<version> (or /openapi/v3/api/v1 for the core group).
nlohmann::json openapi_v3_group_version(const std::string& group, const version_info& v);

// /openapi/v2: one Swagger 2.0 document for every group/version served.
nlohmann::json openapi_v2_document(const std::vector<group_info>& groups);

// That document as gnostic's openapi_v2.Document protobuf, which kubectl 1.27-1.28
// request (Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf).
std::string openapi_v2_protobuf(const nlohmann::json& doc);
inline constexpr const char* openapi_v2_protobuf_type =
    "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

}  // namespace fake_apiserver
