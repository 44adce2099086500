#include "crd.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <regex>

namespace fake_apiserver {
namespace {

using nlohmann::json;

const char* const dns1035_error =
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
    "an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_dns1035_label(const std::string& s) {
  static const std::regex label("[a-z]([-a-z0-9]*[a-z0-9])?");
  return s.size() <= 63 && std::regex_match(s, label);
}

bool is_dns1123_subdomain(const std::string& s) {
  static const std::regex sub("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
  return s.size() <= 253 && std::regex_match(s, sub);
}

std::string text(const json& j, const char* key) {
  auto it = j.find(key);
  return j.is_object() && it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

const json& member(const json& j, const char* key) {
  static const json none;
  if (!j.is_object()) return none;
  auto it = j.find(key);
  return it == j.end() ? none : *it;
}

crd_problem required(const std::string& field, const std::string& detail = "") {
  return {field, "FieldValueRequired",
          detail.empty() ? "Required value" : "Required value: " + detail};
}

crd_problem invalid_value(const std::string& field, const json& value, const std::string& detail) {
  return {field, "FieldValueInvalid", "Invalid value: " + value.dump() + ": " + detail};
}

std::vector<std::string> string_list(const json& j) {
  std::vector<std::string> out;
  if (j.is_array())
    for (const auto& s : j)
      if (s.is_string()) out.push_back(s.get<std::string>());
  return out;
}

void validate_names(const json& spec, std::vector<crd_problem>& out) {
  const json& names = member(spec, "names");
  std::string plural = text(names, "plural"), kind = text(names, "kind");
  if (plural.empty())
    out.push_back(required("spec.names.plural"));
  else if (!is_dns1035_label(plural))
    out.push_back(invalid_value("spec.names.plural", plural, dns1035_error));
  std::string singular = text(names, "singular");
  if (!singular.empty() && !is_dns1035_label(singular))
    out.push_back(invalid_value("spec.names.singular", singular, dns1035_error));
  if (kind.empty()) out.push_back(required("spec.names.kind"));
}

void validate_versions(const json& spec, std::vector<crd_problem>& out) {
  const json& versions = member(spec, "versions");
  int storage = 0;
  std::vector<std::string> seen;
  bool unique = true;
  for (size_t i = 0; versions.is_array() && i < versions.size(); ++i) {
    const json& v = versions[i];
    std::string at = "spec.versions[" + std::to_string(i) + "]";
    std::string name = text(v, "name");
    if (!is_dns1035_label(name)) out.push_back(invalid_value(at + ".name", name, dns1035_error));
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) unique = false;
    seen.push_back(name);
    if (member(v, "storage") == true) ++storage;
    // apiextensions.k8s.io/v1 requires a structural schema for every version.
    if (!member(member(v, "schema"), "openAPIV3Schema").is_object())
      out.push_back(required(at + ".schema.openAPIV3Schema", "schemas are required"));
  }
  json value = versions.is_array() ? versions : json::array();
  if (!unique)
    out.push_back(invalid_value("spec.versions", value, "must contain unique version names"));
  if (storage != 1)
    out.push_back(invalid_value("spec.versions", value,
                                "must have exactly one version marked as storage version"));
}

// The v1 API's defaulting: singular and listKind follow from kind.
json accepted_names(const json& spec) {
  json names = member(spec, "names").is_object() ? spec["names"] : json::object();
  std::string kind = text(names, "kind");
  if (text(names, "singular").empty()) names["singular"] = lower(kind);
  if (text(names, "listKind").empty()) names["listKind"] = kind + "List";
  return names;
}

json condition(const std::string& type, const std::string& reason, const std::string& message,
               const json& previous_status) {
  std::string since = now_rfc3339();
  for (const auto& c : member(previous_status, "conditions"))
    if (text(c, "type") == type && text(c, "status") == "True")
      since = text(c, "lastTransitionTime");
  return {{"type", type},
          {"status", "True"},
          {"reason", reason},
          {"message", message},
          {"lastTransitionTime", since}};
}

// v<major>[(alpha|beta)<minor>]; nullopt for a version outside the scheme.
struct kube_version {
  int stability = 0;  // 2 GA, 1 beta, 0 alpha
  long major = 0;
  long minor = 0;
};

std::optional<kube_version> parse_kube_version(const std::string& v) {
  static const std::regex re("v([1-9][0-9]*)(?:(alpha|beta)([1-9][0-9]*))?");
  std::smatch m;
  if (!std::regex_match(v, m, re)) return std::nullopt;
  kube_version k;
  k.major = std::stol(m[1]);
  k.stability = !m[2].matched ? 2 : m[2] == "beta" ? 1 : 0;
  if (m[3].matched) k.minor = std::stol(m[3]);
  return k;
}

resource_info resource_of(const json& spec, const json& version) {
  json names = accepted_names(spec);
  resource_info r;
  r.name = text(names, "plural");
  r.singular = text(names, "singular");
  r.kind = text(names, "kind");
  r.namespaced = text(spec, "scope") == "Namespaced";
  r.verbs = {"delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"};
  r.short_names = string_list(member(names, "shortNames"));
  r.categories = string_list(member(names, "categories"));
  if (member(member(version, "subresources"), "status").is_object())
    r.subresources.push_back({"status", r.kind, {"get", "patch", "update"}});
  r.custom = true;
  return r;
}

}  // namespace

std::vector<crd_problem> validate_crd(const json& crd) {
  std::vector<crd_problem> out;
  const json& spec = member(crd, "spec");
  std::string name = text(member(crd, "metadata"), "name");
  std::string group = text(spec, "group");
  std::string plural = text(member(spec, "names"), "plural");
  if (name != plural + "." + group)
    out.push_back(
        invalid_value("metadata.name", name, "must be spec.names.plural+\".\"+spec.group"));
  if (group.empty())
    out.push_back(required("spec.group"));
  else if (!is_dns1123_subdomain(group))
    out.push_back(invalid_value("spec.group", group, "a lowercase RFC 1123 subdomain"));
  else if (group.find('.') == std::string::npos)
    out.push_back(invalid_value("spec.group", group, "should be a domain with at least one dot"));
  std::string scope = text(spec, "scope");
  if (scope.empty())
    out.push_back(required("spec.scope"));
  else if (scope != "Cluster" && scope != "Namespaced")
    out.push_back(
        {"spec.scope", "FieldValueNotSupported",
         "Unsupported value: \"" + scope + "\": supported values: \"Cluster\", \"Namespaced\""});
  validate_versions(spec, out);
  validate_names(spec, out);
  return out;
}

response crd_invalid(const std::string& name, const std::vector<crd_problem>& problems) {
  json causes = json::array();
  std::string list;
  for (const auto& p : problems) {
    causes.push_back({{"reason", p.reason}, {"message", p.message}, {"field", p.field}});
    list += (list.empty() ? "" : ", ") + p.field + ": " + p.message;
  }
  if (problems.size() > 1) list = "[" + list + "]";
  return status_response(
      422, "Invalid",
      "CustomResourceDefinition.apiextensions.k8s.io \"" + name + "\" is invalid: " + list,
      {{"name", name},
       {"group", crd_resource.group},
       {"kind", "CustomResourceDefinition"},
       {"causes", causes}});
}

json crd_status(const json& crd, const json& previous_status) {
  const json& spec = member(crd, "spec");
  json stored = string_list(member(previous_status, "storedVersions"));
  for (const auto& v : member(spec, "versions")) {
    std::string name = text(v, "name");
    if (member(v, "storage") == true &&
        std::find(stored.begin(), stored.end(), name) == stored.end())
      stored.push_back(name);
  }
  return {{"conditions",
           {condition("NamesAccepted", "NoConflicts", "no conflicts found", previous_status),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted",
                      previous_status)}},
          {"acceptedNames", accepted_names(spec)},
          {"storedVersions", stored}};
}

std::optional<response> prepare_crd(json& crd, const json& previous) {
  auto problems = validate_crd(crd);
  if (!problems.empty()) return crd_invalid(text(member(crd, "metadata"), "name"), problems);
  crd["spec"]["names"] = accepted_names(crd["spec"]);
  // Status belongs to the apiextensions controllers, whatever the client sent.
  crd["status"] = crd_status(crd, member(previous, "status"));
  return std::nullopt;
}

group_resource custom_resource_of(const json& crd) {
  const json& spec = member(crd, "spec");
  return {text(spec, "group"), text(member(spec, "names"), "plural")};
}

std::vector<group_info> crd_groups(const std::vector<json>& crds) {
  std::map<std::string, std::map<std::string, std::vector<resource_info>>> by_group;
  for (const auto& crd : crds) {
    if (!validate_crd(crd).empty()) continue;  // never stored, but a store is no proof
    const json& spec = crd["spec"];
    for (const auto& v : spec["versions"])
      if (member(v, "served") == true)
        by_group[spec["group"]][text(v, "name")].push_back(resource_of(spec, v));
  }
  std::vector<group_info> out;
  for (auto& [name, versions] : by_group) {
    group_info g{name, {}};
    for (auto& [version, resources] : versions) {
      std::sort(resources.begin(), resources.end(),
                [](const resource_info& a, const resource_info& b) { return a.name < b.name; });
      g.versions.push_back({version, std::move(resources)});
    }
    std::sort(g.versions.begin(), g.versions.end(),
              [](const version_info& a, const version_info& b) {
                return version_before(a.version, b.version);
              });
    out.push_back(std::move(g));
  }
  return out;
}

bool version_before(const std::string& a, const std::string& b) {
  auto ka = parse_kube_version(a), kb = parse_kube_version(b);
  if (!ka || !kb) return ka ? true : kb ? false : a < b;
  if (ka->stability != kb->stability) return ka->stability > kb->stability;
  if (ka->major != kb->major) return ka->major > kb->major;
  return ka->minor > kb->minor;
}

}  // namespace fake_apiserver
