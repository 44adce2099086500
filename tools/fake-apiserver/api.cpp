#include "api.hpp"

#include "accept.hpp"
#include "api_internal.hpp"
#include "patch.hpp"

#include <algorithm>
#include <random>

namespace fake_apiserver {
namespace {

using api_internal::bad_request;
using api_internal::with_type;

std::string group_version(const std::string& group, const std::string& version) {
  return group.empty() ? version : group + "/" + version;
}

std::string qualified(const std::string& group, const std::string& resource) {
  return group.empty() ? resource : resource + "." + group;
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string name_suffix() {
  static std::mt19937 rng{std::random_device{}()};
  static const std::string alphabet = "bcdfghjklmnpqrstvwxz2456789";
  std::uniform_int_distribution<size_t> d(0, alphabet.size() - 1);
  std::string s;
  for (int i = 0; i < 5; ++i) s += alphabet[d(rng)];
  return s;
}

response forbidden(const request_info& info, const user_info& user) {
  std::string resource = info.resource;
  if (!info.subresource.empty()) resource += "/" + info.subresource;
  std::string reason = "User \"" + user.name + "\" cannot " + info.verb + " resource \"" +
                       resource + "\" in API group \"" + info.group + "\"";
  reason += info.ns.empty() ? " at the cluster scope" : " in the namespace \"" + info.ns + "\"";
  std::string what = qualified(info.group, info.resource);
  std::string message = info.name.empty() ? what + " is forbidden: " + reason
                                          : what + " \"" + info.name + "\" is forbidden: " + reason;
  json details = {{"kind", info.resource}};
  if (!info.name.empty()) details["name"] = info.name;
  if (!info.group.empty()) details["group"] = info.group;
  return status_response(403, "Forbidden", message, details);
}

response conflict(const request_info& info) {
  json details = {{"name", info.name}, {"kind", info.resource}};
  if (!info.group.empty()) details["group"] = info.group;
  return status_response(409, "Conflict",
                         "Operation cannot be fulfilled on " +
                             qualified(info.group, info.resource) + " \"" + info.name +
                             "\": the object has been modified; please apply your changes to "
                             "the latest version and try again",
                         details);
}

response already_exists(const request_info& info, const std::string& name) {
  json details = {{"name", name}, {"kind", info.resource}};
  if (!info.group.empty()) details["group"] = info.group;
  return status_response(409, "AlreadyExists",
                         qualified(info.group, info.resource) + " \"" + name + "\" already exists",
                         details);
}

response invalid(const std::string& kind, const std::string& name, const std::string& field,
                 const std::string& detail, const std::string& group) {
  json details = {{"name", name},
                  {"kind", kind},
                  {"causes",
                   {{{"reason", "FieldValueRequired"},
                     {"message", "Required value: " + detail},
                     {"field", field}}}}};
  if (!group.empty()) details["group"] = group;
  return status_response(
      422, "Invalid",
      kind + " \"" + name + "\" is invalid: " + field + ": Required value: " + detail, details);
}

std::optional<json> parse_object(const std::string& body, std::string& error) {
  try {
    json j = json::parse(body);
    if (!j.is_object()) {
      error = "the body of the request was not a JSON object";
      return std::nullopt;
    }
    if (!j.contains("metadata") || !j["metadata"].is_object()) j["metadata"] = json::object();
    return j;
  } catch (const json::exception& e) {
    error = std::string("the body of the request was in an unknown format: ") + e.what();
    return std::nullopt;
  }
}

// Objects a fresh apiserver fills in that kubectl relies on.
void default_new_object(const std::string& group, const std::string& resource, json& obj) {
  if (group.empty() && resource == "namespaces") {
    obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = obj["metadata"]["name"];
    if (!obj.contains("spec")) obj["spec"] = {{"finalizers", {"kubernetes"}}};
    obj["status"] = {{"phase", "Active"}};
  } else if (group.empty() && resource == "pods" && !obj.contains("status")) {
    // No kubelet here: pods are "running" as soon as they exist, so exec works.
    obj["status"] = {{"phase", "Running"}, {"startTime", now_rfc3339()}};
  }
}

}  // namespace

std::string api_request::header(const std::string& lower_name) const {
  for (const auto& [n, v] : headers)
    if (n == lower_name) return v;
  return "";
}

api_result api_handler::handle(const api_profile& base, const api_request& req) {
  auto served = effective(base);
  const api_profile& profile = *served;
  auto query = parse_query(req.query);
  request_info info = classify(req.method, req.path, query);
  if (!info.is_resource) {
    api_result r;
    r.resp = non_resource(profile, req, info);
    r.info = info;
    return r;
  }
  try {
    return resource(profile, req, info, query);
  } catch (const json::exception& e) {
    // A body of the right shape with wrong types, e.g. a numeric metadata.name.
    api_result r;
    r.info = info;
    r.resp = bad_request(std::string("the request body is not valid: ") + e.what());
    return r;
  }
}

response api_handler::non_resource(const api_profile& profile, const api_request& req,
                                   const request_info& info) {
  const std::string& p = info.path;
  if (req.method != "GET" && req.method != "HEAD") return not_served();
  if (p == "/version" || p == "/version/") return json_response(200, profile.version_document());
  for (const char* h : {"/healthz", "/livez", "/readyz"}) {
    if (p == h || p.rfind(std::string(h) + "/", 0) == 0) {
      response r;
      r.content_type = "text/plain; charset=utf-8";
      r.body = "ok";
      r.headers.push_back({"X-Content-Type-Options", "nosniff"});
      return r;
    }
  }
  std::string trimmed = p.size() > 1 && p.back() == '/' ? p.substr(0, p.size() - 1) : p;
  if (auto d = profile.discovery(trimmed, req.header("accept"), req.header("if-none-match")))
    return *d;
  return not_served();
}

api_result api_handler::resource(const api_profile& profile, const api_request& req,
                                 request_info info, const query_map& query) {
  api_result out;
  out.info = info;
  const resource_info* res = profile.find(info.group, info.version, info.resource);
  if (!res) {
    out.resp = not_served();
    return out;
  }
  const std::vector<std::string>* verbs = &res->verbs;
  if (!info.subresource.empty()) {
    const auto* sub = res->find_subresource(info.subresource);
    if (!sub || info.name.empty()) {
      out.resp = not_served();
      return out;
    }
    verbs = &sub->verbs;
  }
  if (!res->namespaced && info.resource != "namespaces") info.ns.clear();
  // A namespaced object is addressed inside its namespace; otherwise no route matches.
  if (res->namespaced && info.ns.empty() && (!info.name.empty() || info.verb == "create")) {
    out.resp = not_served();
    return out;
  }
  if (info.verb.empty()) {
    out.resp = status_response(405, "MethodNotAllowed",
                               "the server does not allow this method on the requested resource");
    return out;
  }
  // exec is a "create" on pods/exec (POST) or a "get" (GET) in RBAC; kubectl uses both.
  bool is_exec = info.subresource == "exec" && info.group.empty() && info.resource == "pods";
  std::string verb_needed = info.verb;
  if (is_exec) verb_needed = has(*verbs, info.verb) ? info.verb : "create";
  if (!has(*verbs, verb_needed) && !(info.verb == "watch" && has(*verbs, "watch"))) {
    out.resp = status_response(405, "MethodNotAllowed",
                               "the server does not allow this method on the requested resource");
    return out;
  }
  if (is_denied(auth_, req.user)) {
    out.resp = forbidden(info, req.user);
    return out;
  }

  const std::string gv = group_version(info.group, info.version);
  const group_resource gr{info.group, info.resource};
  const std::string ns_for_store = res->namespaced ? info.ns : "";

  // Review resources are computed from the caller, never stored.
  if (info.group == "authentication.k8s.io" && info.resource == "selfsubjectreviews") {
    json user = {{"username", req.user.name}, {"groups", req.user.groups}};
    if (!req.user.uid.empty()) user["uid"] = req.user.uid;
    if (!req.user.extra.empty()) user["extra"] = req.user.extra;
    out.resp = json_response(201, {{"kind", "SelfSubjectReview"},
                                   {"apiVersion", gv},
                                   {"metadata", {{"creationTimestamp", nullptr}}},
                                   {"status", {{"userInfo", user}}}});
    return out;
  }
  if (info.group == "authorization.k8s.io" && info.resource == "selfsubjectaccessreviews") {
    std::string error;
    auto body = parse_object(req.body, error);
    if (!body) {
      out.resp = bad_request(error);
      return out;
    }
    json review = *body;
    review["apiVersion"] = gv;
    review["kind"] = "SelfSubjectAccessReview";
    review["metadata"] = {{"creationTimestamp", nullptr}};
    review["status"] = {{"allowed", true}};
    out.resp = json_response(201, review);
    return out;
  }

  if (is_exec) {
    if (store_.get(gr, ns_for_store, info.name).status != object_store::outcome::ok) {
      out.resp = object_not_found(info.group, info.resource, info.name);
      return out;
    }
    exec_plan plan;
    auto range = query.equal_range("command");
    for (auto it = range.first; it != range.second; ++it) plan.command.push_back(it->second);
    plan.stdin_requested = query_true(query, "stdin");
    plan.stdout_requested = query_true(query, "stdout");
    plan.stderr_requested = query_true(query, "stderr");
    plan.tty = query_true(query, "tty");
    if (plan.command.empty()) {
      out.resp = bad_request("you must specify at least 1 command");
      return out;
    }
    out.exec = plan;
    return out;
  }
  if (!info.subresource.empty() && info.subresource != "status") {
    out.resp = status_response(
        405, "MethodNotAllowed",
        "fake-apiserver does not implement the " + info.subresource + " subresource");
    return out;
  }

  std::string error;
  auto label_sel = parse_label_selector(query_value(query, "labelSelector"), error);
  if (!label_sel) {
    out.resp = bad_request("unable to parse requirement: " + error);
    return out;
  }
  auto field_sel = parse_field_selector(query_value(query, "fieldSelector"), error);
  if (!field_sel) {
    out.resp = bad_request(error);
    return out;
  }
  auto selected = [&](const json& obj) {
    return label_sel->matches(obj["metadata"].value("labels", json::object())) &&
           field_sel->matches(obj);
  };

  if (info.verb == "get" || info.verb == "list" || info.verb == "watch")
    return read(req, info, query, {res, gr, gv, ns_for_store, *label_sel, *field_sel});

  std::string content_type = req.header("content-type");
  content_type = content_type.substr(0, content_type.find(';'));
  if ((info.verb == "create" || info.verb == "update") && !content_type.empty() &&
      content_type != "application/json") {
    // Protobuf bodies (typed clients of kubectl 1.32+) cannot be decoded here.
    out.resp = status_response(415, "UnsupportedMediaType",
                               "the body of the request was in an unknown format - accepted "
                               "media types include: application/json");
    return out;
  }

  if (info.verb == "create") {
    auto obj = parse_object(req.body, error);
    if (!obj) {
      out.resp = bad_request(error);
      return out;
    }
    auto& meta = (*obj)["metadata"];
    std::string body_ns = meta.value("namespace", "");
    if (res->namespaced && !body_ns.empty() && body_ns != info.ns) {
      out.resp = bad_request(
          "the namespace of the provided object does not match the namespace sent on the request");
      return out;
    }
    std::string name = meta.value("name", "");
    if (name.empty()) {
      std::string generate = meta.value("generateName", "");
      if (generate.empty()) {
        out.resp =
            invalid(res->kind, "", "metadata.name", "name or generateName is required", info.group);
        return out;
      }
      name = generate + name_suffix();
      meta["name"] = name;
    }
    if (res->namespaced && !store_.namespace_exists(info.ns)) {
      out.resp = object_not_found("", "namespaces", info.ns);
      return out;
    }
    meta.erase("resourceVersion");
    default_new_object(info.group, info.resource, *obj);
    if (auto refused = admit(gr, *obj, nullptr)) {
      out.resp = *refused;
      return out;
    }
    auto r = store_.create(gr, ns_for_store, with_type(*obj, gv, res->kind));
    if (r.status == object_store::outcome::already_exists) {
      out.resp = already_exists(info, name);
      return out;
    }
    out.resp = json_response(201, r.object);
    return out;
  }

  if (info.verb == "delete" || info.verb == "deletecollection") {
    std::vector<json> deleted;
    if (info.verb == "delete") {
      auto r = store_.remove(gr, ns_for_store, info.name);
      if (r.status != object_store::outcome::ok) {
        out.resp = object_not_found(info.group, info.resource, info.name);
        return out;
      }
      cascade_delete(gr, r.object);
      out.resp = json_response(200, with_type(r.object, gv, res->kind));
      return out;
    }
    for (const auto& obj : store_.list(gr, ns_for_store)) {
      if (!selected(obj)) continue;
      auto r = store_.remove(gr, ns_for_store, obj["metadata"].value("name", ""));
      if (r.status == object_store::outcome::ok) {
        cascade_delete(gr, r.object);
        r.object.erase("kind");
        r.object.erase("apiVersion");
        deleted.push_back(r.object);
      }
    }
    out.resp = json_response(
        200, {{"kind", res->kind + "List"},
              {"apiVersion", gv},
              {"metadata", {{"resourceVersion", std::to_string(store_.resource_version())}}},
              {"items", deleted}});
    return out;
  }

  // update / patch
  auto current = store_.get(gr, ns_for_store, info.name);
  json updated;
  bool apply = info.verb == "patch" && content_type == "application/apply-patch+yaml";
  if (current.status != object_store::outcome::ok && !apply) {
    out.resp = object_not_found(info.group, info.resource, info.name);
    return out;
  }
  if (info.verb == "update") {
    auto obj = parse_object(req.body, error);
    if (!obj) {
      out.resp = bad_request(error);
      return out;
    }
    std::string body_name = (*obj)["metadata"].value("name", "");
    if (!body_name.empty() && body_name != info.name) {
      out.resp = bad_request("the name of the object (" + body_name +
                             ") does not match the name on the URL (" + info.name + ")");
      return out;
    }
    updated = *obj;
  } else {
    if (res->custom && content_type == "application/strategic-merge-patch+json") {
      // Custom resources have no Go type to carry patch strategies.
      out.resp = status_response(415, "UnsupportedMediaType",
                                 "the body of the request was in an unknown format - accepted "
                                 "media types include: application/json-patch+json, "
                                 "application/merge-patch+json, application/apply-patch+yaml");
      return out;
    }
    auto patched = apply_patch(content_type,
                               current.status == object_store::outcome::ok
                                   ? current.object
                                   : json{{"metadata", {{"name", info.name}}}},
                               req.body);
    if (!patched.ok()) {
      out.resp = status_response(patched.code, patched.reason, patched.message);
      return out;
    }
    updated = patched.object;
  }
  if (info.subresource == "status") {
    // Only status changes through the status subresource.
    json merged = current.object;
    merged["status"] = updated.value("status", json::object());
    if (updated["metadata"].contains("resourceVersion"))
      merged["metadata"]["resourceVersion"] = updated["metadata"]["resourceVersion"];
    updated = merged;
  }
  if (apply && current.status != object_store::outcome::ok) {
    if (res->namespaced && !store_.namespace_exists(info.ns)) {
      out.resp = object_not_found("", "namespaces", info.ns);
      return out;
    }
    updated["metadata"]["name"] = info.name;
    updated["metadata"].erase("resourceVersion");
    default_new_object(info.group, info.resource, updated);
    if (auto refused = admit(gr, updated, nullptr)) {
      out.resp = *refused;
      return out;
    }
    auto r = store_.create(gr, ns_for_store, with_type(updated, gv, res->kind));
    out.resp = json_response(201, r.object);
    return out;
  }
  updated["metadata"]["name"] = info.name;  // the store would set it; admission reads it
  if (auto refused = admit(gr, updated, current.object)) {
    out.resp = *refused;
    return out;
  }
  auto r = store_.update(gr, ns_for_store, info.name, with_type(updated, gv, res->kind));
  if (r.status == object_store::outcome::conflict) {
    out.resp = conflict(info);
    return out;
  }
  if (r.status != object_store::outcome::ok) {
    out.resp = object_not_found(info.group, info.resource, info.name);
    return out;
  }
  out.resp = json_response(200, r.object);
  return out;
}

}  // namespace fake_apiserver
