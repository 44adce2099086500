#include "request_log.hpp"

#include "store.hpp"

#include <stdexcept>

namespace fake_apiserver {

nlohmann::json to_log_json(const request_record& r) {
  using nlohmann::json;
  json headers = {{"authorization", false}};
  json groups = json::array();
  for (const auto& [name, value] : r.headers) {
    if (name == "x-kubernetes-peer-proxied" || name == "x-remote-user" ||
        name == "impersonate-user")
      headers[name] = value;
    else if (name == "x-remote-group")
      groups.push_back(value);
    else if (name == "authorization")
      headers["authorization"] = true;  // presence only: never log credentials
  }
  if (!groups.empty()) headers["x-remote-group"] = groups;
  json j = {{"time", now_rfc3339()}, {"instance", r.instance}, {"method", r.method},
            {"path", r.path},        {"query", r.query},       {"status", r.status},
            {"headers", headers},    {"proto", r.proto},       {"conn", r.conn}};
  if (r.cert.present)
    j["client_cert"] = {{"subject_cn", r.cert.subject_cn},
                        {"subject_o", r.cert.subject_o},
                        {"issuer_cn", r.cert.issuer_cn}};
  else
    j["client_cert"] = nullptr;
  if (r.user) {
    j["user"] = r.user->name;
    j["groups"] = r.user->groups;
  } else {
    j["user"] = nullptr;
    j["groups"] = json::array();
  }
  if (r.impersonated) j["impersonated_user"] = r.impersonated->name;
  return j;
}

request_log::request_log(const std::string& path) {
  if (path.empty()) return;
  out_.open(path, std::ios::app);
  if (!out_) throw std::runtime_error("cannot open request log " + path);
  enabled_ = true;
}

void request_log::write(const request_record& r) {
  if (!enabled_) return;
  out_ << to_log_json(r).dump() << '\n';
  out_.flush();
}

}  // namespace fake_apiserver
