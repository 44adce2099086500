#pragma once
// Request bodies in Kubernetes' protobuf encoding ("k8s\0" + runtime.Unknown), which
// client-go sends for built-in kinds (kubectl 1.33 `create namespace`, `create
// configmap`). The stand-in stores JSON, so the body is decoded to the JSON object the
// apiserver's JSON codec would have given: ObjectMeta's client-set fields for every
// kind, and the fields of the kinds kubectl creates this way (Namespace, ConfigMap,
// Secret, ServiceAccount). Other fields are not modelled and are dropped.

#include "auth.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace fake_apiserver {

inline constexpr std::string_view protobuf_media_type = "application/vnd.kubernetes.protobuf";

// nullopt with `error` set when the body is not a well-formed envelope.
std::optional<nlohmann::json> protobuf_to_json(std::string_view body, std::string& error);

// A request whose Content-Type is protobuf gets its body rewritten as JSON (and the
// header with it), so the API handler sees one encoding; false when malformed.
bool protobuf_body_to_json(header_list& headers, std::string& body, std::string& error);

}  // namespace fake_apiserver
