#include "openapi.hpp"

#include <algorithm>

namespace fake_apiserver {
namespace {

using json = nlohmann::json;

bool patchable(const resource_info& r) {
  return std::find(r.verbs.begin(), r.verbs.end(), "patch") != r.verbs.end();
}

// Definition names as kube-apiserver spells them for built-in kinds:
// io.k8s.api.<first label of the group, "core" for "">.<version>.<Kind>.
std::string definition_name(const std::string& group, const std::string& version,
                            const std::string& kind) {
  std::string label = group.empty() ? "core" : group.substr(0, group.find('.'));
  return "io.k8s.api." + label + "." + version + "." + kind;
}

std::string object_path(const std::string& group, const std::string& version,
                        const resource_info& r) {
  std::string prefix = group.empty() ? "/api/v1" : "/apis/" + group + "/" + version;
  return prefix + (r.namespaced ? "/namespaces/{namespace}/" : "/") + r.name + "/{name}";
}

json gvk(const std::string& group, const std::string& version, const std::string& kind) {
  return {{"group", group}, {"version", version}, {"kind", kind}};
}

// The fields every object has; spec and status are open (the stand-in stores whatever
// it is given), which `kubectl explain` shows as plain objects.
json object_schema(const std::string& group, const std::string& version, const std::string& kind,
                   bool v3) {
  json open_object = {{"type", "object"}};
  if (v3) open_object["x-kubernetes-preserve-unknown-fields"] = true;
  json spec = open_object;
  spec["description"] = "Spec describes the desired state of the " + kind + ".";
  json status = open_object;
  status["description"] = "Status describes the observed state of the " + kind + ".";
  return {
      {"description", kind + " as served by " + (group.empty() ? "core" : group) + "/" + version +
                          " (fields below spec and status are not modelled by the stand-in)."},
      {"type", "object"},
      {"properties",
       {{"apiVersion",
         {{"type", "string"},
          {"description",
           "APIVersion defines the versioned schema of this representation of an object."}}},
        {"kind",
         {{"type", "string"},
          {"description",
           "Kind is a string value representing the REST resource this object represents."}}},
        {"metadata", {{"type", "object"}, {"description", "Standard object's metadata."}}},
        {"spec", spec},
        {"status", status}}},
      {"x-kubernetes-group-version-kind", json::array({gvk(group, version, kind)})}};
}

json patch_operation(const std::string& group, const std::string& version, const std::string& kind,
                     bool v3) {
  json param = {{"name", "fieldValidation"}, {"in", "query"}};
  if (v3)
    param["schema"] = {{"type", "string"}};
  else
    param["type"] = "string";
  return {{"x-kubernetes-group-version-kind", gvk(group, version, kind)},
          {"parameters", json::array({param})},
          {"responses", {{"200", {{"description", "OK"}}}}}};
}

}  // namespace

json openapi_v3_group_version(const std::string& group, const version_info& v) {
  json paths = json::object();
  json schemas = json::object();
  for (const auto& r : v.resources) {
    schemas[definition_name(group, v.version, r.kind)] =
        object_schema(group, v.version, r.kind, true);
    if (patchable(r))
      paths[object_path(group, v.version, r)] = {
          {"patch", patch_operation(group, v.version, r.kind, true)}};
  }
  return {{"openapi", "3.0.0"},
          {"info", {{"title", "Kubernetes"}, {"version", "unversioned"}}},
          {"paths", paths},
          {"components", {{"schemas", schemas}}}};
}

namespace {

// Protobuf writing for the OpenAPI v2 document (gnostic's openapi_v2.Document, the
// form kubectl 1.27-1.28 ask for): field numbers from openapiv2/OpenAPIv2.proto.
std::string varint(uint64_t v) {
  std::string out;
  do {
    auto b = static_cast<unsigned char>(v & 0x7f);
    v >>= 7;
    out += static_cast<char>(v ? b | 0x80 : b);
  } while (v);
  return out;
}

std::string field(uint32_t number, const std::string& bytes) {
  return varint(number << 3 | 2) + varint(bytes.size()) + bytes;
}

// NamedAny{name, Any{yaml}}: vendor extensions carry their value as YAML (JSON is YAML).
std::string extension(const std::string& name, const json& value) {
  return field(1, name) + field(2, field(2, value.dump()));
}

std::string schema_pb(const json& schema) {
  std::string out;
  if (schema.contains("description")) out += field(4, schema["description"].get<std::string>());
  if (schema.contains("type")) out += field(22, field(1, schema["type"].get<std::string>()));
  if (schema.contains("properties")) {
    std::string props;
    for (const auto& [name, sub] : schema["properties"].items())
      props += field(1, field(1, name) + field(2, schema_pb(sub)));
    out += field(25, props);
  }
  for (const auto& [name, value] : schema.items())
    if (name.rfind("x-", 0) == 0) out += field(31, extension(name, value));
  return out;
}

std::string operation_pb(const json& op) {
  std::string out;
  for (const auto& p : op["parameters"]) {
    std::string query = field(2, p["in"].get<std::string>()) +
                        field(4, p["name"].get<std::string>()) +
                        field(6, p["type"].get<std::string>());
    // ParametersItem{Parameter{NonBodyParameter{QueryParameterSubSchema}}}
    out += field(8, field(1, field(2, field(3, query))));
  }
  std::string responses;
  for (const auto& [code, r] : op["responses"].items())
    responses += field(
        1, field(1, code) + field(2, field(1, field(1, r["description"].get<std::string>()))));
  out += field(9, responses);
  for (const auto& [name, value] : op.items())
    if (name.rfind("x-", 0) == 0) out += field(13, extension(name, value));
  return out;
}

}  // namespace

std::string openapi_v2_protobuf(const json& doc) {
  std::string info = field(1, doc["info"]["title"].get<std::string>()) +
                     field(2, doc["info"]["version"].get<std::string>());
  std::string paths;
  for (const auto& [path, item] : doc["paths"].items())
    paths += field(2, field(1, path) + field(2, field(8, operation_pb(item["patch"]))));
  std::string definitions;
  for (const auto& [name, schema] : doc["definitions"].items())
    definitions += field(1, field(1, name) + field(2, schema_pb(schema)));
  return field(1, doc["swagger"].get<std::string>()) + field(2, info) + field(8, paths) +
         field(9, definitions);
}

json openapi_v2_document(const std::vector<group_info>& groups) {
  json paths = json::object();
  json definitions = json::object();
  for (const auto& g : groups) {
    for (const auto& v : g.versions) {
      for (const auto& r : v.resources) {
        definitions[definition_name(g.name, v.version, r.kind)] =
            object_schema(g.name, v.version, r.kind, false);
        if (patchable(r))
          paths[object_path(g.name, v.version, r)] = {
              {"patch", patch_operation(g.name, v.version, r.kind, false)}};
      }
    }
  }
  return {{"swagger", "2.0"},
          {"info", {{"title", "Kubernetes"}, {"version", "unversioned"}}},
          {"paths", paths},
          {"definitions", definitions}};
}

}  // namespace fake_apiserver
