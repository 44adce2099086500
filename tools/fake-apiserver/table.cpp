#include "table.hpp"

#include <ctime>

namespace fake_apiserver {
namespace {

using nlohmann::json;

std::chrono::system_clock::time_point parse_time(const std::string& s) {
  std::tm tm{};
  if (!strptime(s.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm)) return {};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

json row_object(const json& obj, include_object include) {
  if (include == include_object::object) return obj;
  json meta = obj.value("metadata", json::object());
  meta.erase("managedFields");
  return {{"kind", "PartialObjectMetadata"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", meta}};
}

}  // namespace

include_object parse_include_object(const std::string& v) {
  if (v == "None") return include_object::none;
  if (v == "Object") return include_object::object;
  return include_object::metadata;
}

std::string human_age(std::chrono::seconds age) {
  long long s = age.count();
  if (s < 0) s = 0;
  if (s < 120) return std::to_string(s) + "s";
  long long m = s / 60;
  if (m < 10) return std::to_string(m) + "m" + (s % 60 ? std::to_string(s % 60) + "s" : "");
  if (m < 180) return std::to_string(m) + "m";
  long long h = m / 60;
  if (h < 8) return std::to_string(h) + "h" + (m % 60 ? std::to_string(m % 60) + "m" : "");
  if (h < 48) return std::to_string(h) + "h";
  long long d = h / 24;
  if (d < 8) return std::to_string(d) + "d" + (h % 24 ? std::to_string(h % 24) + "h" : "");
  if (d < 365 * 2) return std::to_string(d) + "d";
  return std::to_string(d / 365) + "y";
}

json make_table(const std::vector<json>& objects, const json& list_metadata, include_object include,
                const std::string& api_version, std::chrono::system_clock::time_point now) {
  json columns = json::array();
  columns.push_back({{"name", "Name"},
                     {"type", "string"},
                     {"format", "name"},
                     {"description", "Name must be unique within a namespace."},
                     {"priority", 0}});
  columns.push_back({{"name", "Age"},
                     {"type", "string"},
                     {"format", ""},
                     {"description",
                      "CreationTimestamp is a timestamp representing the server "
                      "time when this object was created."},
                     {"priority", 0}});
  json rows = json::array();
  for (const auto& obj : objects) {
    const json& meta = obj.value("metadata", json::object());
    std::string created = meta.value("creationTimestamp", "");
    auto age = std::chrono::duration_cast<std::chrono::seconds>(now - parse_time(created));
    json row = {
        {"cells", {meta.value("name", ""), created.empty() ? "<unknown>" : human_age(age)}}};
    if (include != include_object::none) row["object"] = row_object(obj, include);
    rows.push_back(row);
  }
  return {{"kind", "Table"},
          {"apiVersion", api_version},
          {"metadata", list_metadata},
          {"columnDefinitions", columns},
          {"rows", rows}};
}

}  // namespace fake_apiserver
