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
