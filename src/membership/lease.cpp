#include "mvproxy/membership/lease.hpp"

#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

namespace mvproxy::membership {

namespace {

using nlohmann::json;

std::string string_at(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

parsed<lease_record> lease_from_json(const json& j) {
  parsed<lease_record> out;
  if (!j.is_object()) {
    out.error = "lease is not a JSON object";
    return out;
  }
  if (auto kind = j.find("kind"); kind != j.end() && *kind != "Lease") {
    out.error = "kind is not Lease";
    return out;
  }
  auto meta = j.find("metadata");
  if (meta == j.end() || !meta->is_object()) {
    out.error = "lease has no metadata";
    return out;
  }
  lease_record l;
  l.name = string_at(*meta, "name");
  if (l.name.empty()) {
    out.error = "lease has no metadata.name";
    return out;
  }
  l.namespace_name = string_at(*meta, "namespace");
  l.resource_version = string_at(*meta, "resourceVersion");
  if (auto labels = meta->find("labels"); labels != meta->end() && labels->is_object()) {
    for (auto& [k, v] : labels->items())
      if (v.is_string()) l.labels[k] = v.get<std::string>();
  }
  if (auto ann = meta->find("annotations"); ann != meta->end() && ann->is_object())
    l.advertise_address = string_at(*ann, std::string(advertise_annotation).c_str());
  if (auto spec = j.find("spec"); spec != j.end() && spec->is_object()) {
    l.holder_identity = string_at(*spec, "holderIdentity");
    if (auto d = spec->find("leaseDurationSeconds"); d != spec->end() && d->is_number_integer())
      l.lease_duration_seconds = d->get<int>();
    if (auto t = spec->find("leaseTransitions"); t != spec->end() && t->is_number_integer())
      l.lease_transitions = t->get<int>();
    if (auto s = string_at(*spec, "renewTime"); !s.empty()) {
      l.renew_time = parse_rfc3339(s);
      if (!l.renew_time) {
        out.error = "lease " + l.name + ": bad spec.renewTime \"" + s + "\"";
        return out;
      }
    }
    if (auto s = string_at(*spec, "acquireTime"); !s.empty()) l.acquire_time = parse_rfc3339(s);
  }
  out.value = std::move(l);
  return out;
}

}  // namespace

parsed<lease_record> parse_lease(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return {std::nullopt, "lease is not valid JSON"};
  return lease_from_json(j);
}

parsed<lease_list> parse_lease_list(std::string_view text) {
  parsed<lease_list> out;
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    out.error = "lease list is not a JSON object";
    return out;
  }
  auto items = j.find("items");
  if (items == j.end() || !(items->is_array() || items->is_null())) {
    out.error = "lease list has no items array";
    return out;
  }
  lease_list list;
  if (auto meta = j.find("metadata"); meta != j.end() && meta->is_object())
    list.resource_version = string_at(*meta, "resourceVersion");
  if (items->is_array()) {
    for (auto& item : *items) {
      auto l = lease_from_json(item);
      if (l)
        list.items.push_back(std::move(*l.value));
      else
        list.skipped.push_back(l.error);
    }
  }
  out.value = std::move(list);
  return out;
}

bool is_live(const lease_record& l, clock::time_point now) {
  if (!l.renew_time || l.lease_duration_seconds <= 0) return false;
  return *l.renew_time + std::chrono::seconds(l.lease_duration_seconds) > now;
}

bool is_mvproxy_lease(const lease_record& l) {
  auto it = l.labels.find(std::string(lease_label_key));
  return it != l.labels.end() && it->second == lease_label_value;
}

std::string format_micro_time(clock::time_point t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(us / 1'000'000);
  long frac = static_cast<long>(us % 1'000'000);
  if (frac < 0) {
    frac += 1'000'000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

std::optional<clock::time_point> parse_rfc3339(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)
  auto digits = [&](std::size_t pos, std::size_t n, int& out) {
    if (pos + n > s.size()) return false;
    int v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      v = v * 10 + (s[i] - '0');
    }
    out = v;
    return true;
  };
  int year, mon, day, hour, min, sec;
  if (!digits(0, 4, year) || s.size() < 20 || s[4] != '-' || !digits(5, 2, mon) || s[7] != '-' ||
      !digits(8, 2, day) || (s[10] != 'T' && s[10] != 't') || !digits(11, 2, hour) ||
      s[13] != ':' || !digits(14, 2, min) || s[16] != ':' || !digits(17, 2, sec))
    return std::nullopt;
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
    return std::nullopt;
  std::size_t pos = 19;
  long long nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n < 9) nanos = nanos * 10 + (s[pos] - '0');
      ++n;
      ++pos;
    }
    if (n == 0) return std::nullopt;
    for (int i = n; i < 9; ++i) nanos *= 10;
  }
  long offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(pos + 4, 2, om))
      return std::nullopt;
    offset = (oh * 3600L + om * 60L) * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  std::time_t t = timegm(&tm);
  return clock::time_point(std::chrono::seconds(t - offset)) +
         std::chrono::duration_cast<clock::duration>(std::chrono::nanoseconds(nanos));
}

std::string build_lease_json(const own_lease& l) {
  json meta = {{"name", l.server_id},
               {"namespace", l.namespace_name},
               {"labels", {{std::string(lease_label_key), std::string(lease_label_value)}}},
               {"annotations", {{std::string(advertise_annotation), l.advertise_address}}}};
  if (!l.resource_version.empty()) meta["resourceVersion"] = l.resource_version;
  json j = {{"apiVersion", "coordination.k8s.io/v1"},
            {"kind", "Lease"},
            {"metadata", std::move(meta)},
            {"spec",
             {{"holderIdentity", l.holder_identity},
              {"leaseDurationSeconds", l.lease_duration_seconds},
              {"acquireTime", format_micro_time(l.acquire_time)},
              {"renewTime", format_micro_time(l.renew_time)}}}};
  return j.dump();
}

std::string make_holder_identity(std::string_view server_id, std::uint64_t r1, std::uint64_t r2) {
  // A UUIDv4-shaped suffix, as kube-apiserver's identity leases use.
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(r1 >> 32),
                static_cast<unsigned>((r1 >> 16) & 0xffff), static_cast<unsigned>(r1 & 0x0fff),
                static_cast<unsigned>(((r2 >> 48) & 0x3fff) | 0x8000),
                static_cast<unsigned long long>(r2 & 0xffffffffffffULL));
  return std::string(server_id) + "_" + buf;
}

}  // namespace mvproxy::membership
