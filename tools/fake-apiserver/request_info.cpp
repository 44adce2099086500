#include "request_info.hpp"

#include <cctype>

namespace fake_apiserver {

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

query_map parse_query(std::string_view query) {
  query_map out;
  size_t start = 0;
  while (start <= query.size()) {
    size_t amp = query.find('&', start);
    std::string_view pair = query.substr(start, amp == query.npos ? query.npos : amp - start);
    start = amp == query.npos ? query.size() + 1 : amp + 1;
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string k(pair.substr(0, eq));
    std::string v(eq == pair.npos ? "" : pair.substr(eq + 1));
    for (auto* s : {&k, &v})
      for (auto& c : *s)
        if (c == '+') c = ' ';
    out.emplace(percent_decode(k), percent_decode(v));
  }
  return out;
}

std::string query_value(const query_map& q, const std::string& key, const std::string& dflt) {
  auto it = q.find(key);
  return it == q.end() ? dflt : it->second;
}

// As the apiserver decodes a bool query parameter (Convert_Slice_string_To_bool): absent,
// "0" or any case of "false" is false; anything else, even empty or "True", is true.
bool query_true(const query_map& q, const std::string& key) {
  auto it = q.lower_bound(key);  // the first value, as Go's url.Values.Get
  if (it == q.end() || it->first != key) return false;
  std::string v = it->second;
  for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return v != "0" && v != "false";
}

request_info classify(const std::string& method, std::string_view path, const query_map& query) {
  request_info info;
  info.path = std::string(path);
  std::vector<std::string> parts;
  size_t start = 0;
  while (start < path.size()) {
    size_t slash = path.find('/', start);
    std::string_view seg = path.substr(start, slash == path.npos ? path.npos : slash - start);
    if (!seg.empty()) parts.push_back(percent_decode(seg));
    if (slash == path.npos) break;
    start = slash + 1;
  }
  size_t i = 0;
  if (parts.size() >= 2 && parts[0] == "api") {
    info.version = parts[1];
    i = 2;
  } else if (parts.size() >= 3 && parts[0] == "apis") {
    info.group = parts[1];
    info.version = parts[2];
    i = 3;
  } else {
    return info;  // non-resource
  }
  if (i == parts.size()) return info;  // discovery of a group/version
  info.is_resource = true;
  bool watch_path = false;
  if (parts[i] == "watch") {
    watch_path = true;
    ++i;
  }
  std::vector<std::string> rest(parts.begin() + static_cast<long>(i), parts.end());
  if (!rest.empty() && rest[0] == "namespaces" && rest.size() > 1) {
    info.ns = rest[1];
    // "namespaces/<n>/status" and "/finalize" are subresources of the namespace itself.
    if (rest.size() > 2 && rest[2] != "status" && rest[2] != "finalize")
      rest.erase(rest.begin(), rest.begin() + 2);
  }
  if (rest.empty()) {
    info.is_resource = false;
    return info;
  }
  info.resource = rest[0];
  if (rest.size() > 1) info.name = rest[1];
  if (rest.size() > 2) info.subresource = rest[2];
  if (info.resource == "namespaces") info.ns.clear();
  if (watch_path) {
    info.verb = "watch";
  } else if (method == "GET" || method == "HEAD") {
    info.verb = info.name.empty() ? (query_true(query, "watch") ? "watch" : "list") : "get";
  } else if (method == "POST") {
    info.verb = "create";
  } else if (method == "PUT") {
    info.verb = "update";
  } else if (method == "PATCH") {
    info.verb = "patch";
  } else if (method == "DELETE") {
    info.verb = info.name.empty() ? "deletecollection" : "delete";
  } else {
    info.verb = "";
  }
  return info;
}

}  // namespace fake_apiserver
