// The read verbs of the REST API: get, list (selectors, pagination, Tables) and the
// plan of a watch (its initial events or replay; server.cpp streams the rest).

#include "accept.hpp"
#include "api.hpp"
#include "api_internal.hpp"

#include <openssl/evp.h>

#include <algorithm>

namespace fake_apiserver {
namespace {

using api_internal::bad_request;
using api_internal::with_type;

std::string base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> unbase64(const std::string& in) {
  if (in.empty() || in.size() % 4 != 0) return std::nullopt;
  std::string out(in.size() / 4 * 3 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  size_t len = static_cast<size_t>(n);
  for (size_t i = in.size(); i > 0 && in[i - 1] == '='; --i) --len;  // padding
  out.resize(len);
  return out;
}

// The representation negotiated for reads: plain JSON or a meta.k8s.io Table.
struct read_format {
  std::optional<std::string> table_api_version;
};

std::optional<read_format> negotiate_read(const std::string& accept) {
  std::vector<media_offer> offers = {
      {"application", "json", {}},
      {"application", "json", {{"g", "meta.k8s.io"}, {"v", "v1"}, {"as", "Table"}}},
      {"application", "json", {{"g", "meta.k8s.io"}, {"v", "v1beta1"}, {"as", "Table"}}},
  };
  auto chosen = negotiate(accept, offers);
  if (!chosen) return std::nullopt;
  read_format f;
  if (*chosen == 1) f.table_api_version = "meta.k8s.io/v1";
  if (*chosen == 2) f.table_api_version = "meta.k8s.io/v1beta1";
  return f;
}

response not_acceptable() {
  return status_response(406, "NotAcceptable",
                         "only the following media types are accepted: application/json, "
                         "application/json;as=Table;v=v1;g=meta.k8s.io, "
                         "application/json;as=Table;v=v1beta1;g=meta.k8s.io");
}

}  // namespace

std::string render_bookmark(const watch_plan& plan, uint64_t resource_version) {
  json obj = {{"kind", plan.kind},
              {"apiVersion", plan.api_version},
              {"metadata", {{"resourceVersion", std::to_string(resource_version)}}}};
  return json({{"type", "BOOKMARK"}, {"object", obj}}).dump() + "\n";
}

std::optional<std::string> render_watch_event(const watch_plan& plan, const watch_event& ev) {
  if (ev.gr != plan.gr) return std::nullopt;
  auto visible = [&](const json& obj) {
    if (obj.is_null()) return false;
    const json& meta = obj["metadata"];
    if (!plan.ns.empty() && meta.value("namespace", "") != plan.ns) return false;
    return plan.labels.matches(meta.value("labels", json::object())) && plan.fields.matches(obj);
  };
  bool now = ev.type != "DELETED" && visible(ev.object);
  bool before = ev.type != "ADDED" && visible(ev.previous);
  std::string type;
  if (ev.type == "DELETED") {
    if (!before) return std::nullopt;
    type = "DELETED";
  } else if (now && before) {
    type = "MODIFIED";
  } else if (now) {
    type = "ADDED";
  } else if (before) {
    type = "DELETED";  // it left the selection
  } else {
    return std::nullopt;
  }
  json obj = with_type(ev.object, plan.api_version, plan.kind);
  if (plan.table_api_version)
    obj = make_table({obj}, {{"resourceVersion", obj["metadata"].value("resourceVersion", "")}},
                     plan.include, *plan.table_api_version, std::chrono::system_clock::now());
  return json({{"type", type}, {"object", obj}}).dump() + "\n";
}

api_result api_handler::read(const api_request& req, const request_info& info,
                             const query_map& query, const read_target& target) {
  api_result out;
  out.info = info;
  const resource_info* res = target.res;
  const group_resource& gr = target.gr;
  const std::string& gv = target.gv;
  const std::string& ns_for_store = target.ns;
  const label_selector* label_sel = &target.labels;
  const field_selector* field_sel = &target.fields;
  auto selected = [&](const json& obj) {
    return label_sel->matches(obj["metadata"].value("labels", json::object())) &&
           field_sel->matches(obj);
  };
  auto format = negotiate_read(req.header("accept"));
  if (!format) {
    out.resp = not_acceptable();
    return out;
  }
  include_object include = parse_include_object(query_value(query, "includeObject"));
  if (info.verb == "get") {
    auto r = store_.get(gr, ns_for_store, info.name);
    if (r.status != object_store::outcome::ok) {
      out.resp = object_not_found(info.group, info.resource, info.name);
      return out;
    }
    json obj = with_type(r.object, gv, res->kind);
    if (format->table_api_version)
      obj = make_table({obj}, {{"resourceVersion", obj["metadata"]["resourceVersion"]}}, include,
                       *format->table_api_version, std::chrono::system_clock::now());
    out.resp = json_response(200, obj);
    return out;
  }
  if (info.verb == "watch") {
    watch_plan plan;
    plan.gr = gr;
    plan.api_version = gv;
    plan.kind = res->kind;
    plan.ns = ns_for_store;
    plan.labels = *label_sel;
    plan.fields = *field_sel;
    if (!info.name.empty()) plan.fields.requirements.push_back({"metadata.name", false, info.name});
    plan.bookmarks = query_true(query, "allowWatchBookmarks");
    plan.table_api_version = format->table_api_version;
    plan.include = include;
    std::string timeout = query_value(query, "timeoutSeconds");
    if (!timeout.empty()) {
      try {
        plan.timeout = std::chrono::seconds(std::stoll(timeout));
      } catch (const std::exception&) {
        out.resp = bad_request("invalid timeoutSeconds \"" + timeout + "\"");
        return out;
      }
    }
    std::string rv = query_value(query, "resourceVersion");
    std::string send_initial = query_value(query, "sendInitialEvents");
    bool initial = rv.empty() || rv == "0" ? send_initial != "false" : send_initial == "true";
    uint64_t now_rv = store_.resource_version();
    if (initial) {
      for (const auto& obj : store_.list(gr, ns_for_store)) {
        if (!selected(obj)) continue;
        watch_event ev{"ADDED", obj, nullptr, now_rv, gr};
        if (auto line = render_watch_event(plan, ev)) plan.initial_lines.push_back(*line);
      }
      if (send_initial == "true" && plan.bookmarks) {
        json obj = {{"kind", plan.kind},
                    {"apiVersion", gv},
                    {"metadata",
                     {{"resourceVersion", std::to_string(now_rv)},
                      {"annotations", {{"k8s.io/initial-events-end", "true"}}}}}};
        plan.initial_lines.push_back(json({{"type", "BOOKMARK"}, {"object", obj}}).dump() + "\n");
      }
      plan.since = now_rv;
    } else {
      uint64_t since = 0;
      try {
        since = std::stoull(rv);
      } catch (const std::exception&) {
        out.resp = bad_request("invalid resource version \"" + rv + "\"");
        return out;
      }
      std::vector<watch_event> history;
      if (!store_.events_since(gr, since, history)) {
        json err =
            failure_status(410, "Expired",
                           "too old resource version: " + rv + " (" + std::to_string(now_rv) + ")");
        plan.initial_lines.push_back(json({{"type", "ERROR"}, {"object", err}}).dump() + "\n");
        plan.timeout = std::chrono::seconds(0);
      }
      for (const auto& ev : history)
        if (auto line = render_watch_event(plan, ev)) plan.initial_lines.push_back(*line);
      plan.since = std::max(since, now_rv);
    }
    out.watch = std::move(plan);
    out.resp.status = 200;
    return out;
  }
  // list
  std::vector<json> items;
  for (auto& obj : store_.list(gr, ns_for_store))
    if (selected(obj)) items.push_back(obj);
  std::string cont = query_value(query, "continue");
  size_t start = 0;
  if (!cont.empty()) {
    auto decoded = unbase64(cont);
    json token;
    try {
      if (decoded) token = json::parse(*decoded);
    } catch (const json::exception&) {
    }
    if (!token.is_object() || !token.contains("ns") || !token.contains("name")) {
      out.resp = bad_request("continue key is not valid: malformed continue token");
      return out;
    }
    auto after = std::make_pair(token["ns"].get<std::string>(), token["name"].get<std::string>());
    while (start < items.size() &&
           std::make_pair(items[start]["metadata"].value("namespace", ""),
                          items[start]["metadata"].value("name", "")) <= after)
      ++start;
  }
  size_t limit = 0;
  std::string limit_s = query_value(query, "limit");
  if (!limit_s.empty()) {
    try {
      limit = static_cast<size_t>(std::stoull(limit_s));
    } catch (const std::exception&) {
      limit = 0;
    }
  }
  size_t end = limit == 0 ? items.size() : std::min(items.size(), start + limit);
  json meta = {{"resourceVersion", std::to_string(store_.resource_version())}};
  if (end < items.size()) {
    const json& last = items[end - 1]["metadata"];
    meta["continue"] = base64(
        json({{"ns", last.value("namespace", "")}, {"name", last.value("name", "")}}).dump());
    meta["remainingItemCount"] = items.size() - end;
  }
  std::vector<json> page(items.begin() + static_cast<long>(start),
                         items.begin() + static_cast<long>(end));
  if (format->table_api_version) {
    for (auto& obj : page) obj = with_type(obj, gv, res->kind);
    out.resp = json_response(200, make_table(page, meta, include, *format->table_api_version,
                                             std::chrono::system_clock::now()));
    return out;
  }
  json list = {{"kind", res->kind + "List"},
               {"apiVersion", gv},
               {"metadata", meta},
               {"items", json::array()}};
  for (auto& obj : page) {
    // Typed lists carry no kind/apiVersion on their items.
    obj.erase("kind");
    obj.erase("apiVersion");
    list["items"].push_back(std::move(obj));
  }
  out.resp = json_response(200, list);
  return out;
}

}  // namespace fake_apiserver
