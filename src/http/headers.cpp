#include "mvproxy/http/headers.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <string_view>

#include <boost/beast/core/string.hpp>

#include "mvproxy/http/relay.hpp"
#include "mvproxy/util/text.hpp"
#include "mvproxy/util/x509_subject.hpp"

namespace mvproxy::http {
namespace bh = boost::beast::http;
namespace {

using util::trim_ows;

// Every value of `name`, in order. Walks the whole list on purpose: beast's
// find()+++ and equal_range() follow insertion order, which also visits other fields
// lying between two same-named ones.
std::vector<std::string_view> values_of(const bh::fields& f, bh::field name) {
  std::vector<std::string_view> out;
  for (const auto& field : f) {
    if (field.name() == name) out.push_back(field.value());
  }
  return out;
}

// The lower-cased, non-empty comma-separated tokens of every `name` field.
std::vector<std::string> tokens_of(const bh::fields& f, bh::field name) {
  std::vector<std::string> out;
  for (std::string_view v : values_of(f, name)) {
    for (auto tok : util::split_field_list(v)) out.push_back(util::ascii_lower(tok));
  }
  return out;
}

// The first Audit-ID field's value, trimmed; nullopt without one.
std::optional<std::string_view> first_audit_id(const bh::fields& f) {
  for (const auto& field : f)
    if (boost::beast::iequals(field.name_string(), audit_id_field)) return trim_ows(field.value());
  return std::nullopt;
}

}  // namespace

bool is_hop_by_hop(bh::field f) {
  return std::find(hop_by_hop_fields.begin(), hop_by_hop_fields.end(), f) !=
         hop_by_hop_fields.end();
}

bool is_upgrade_request(const bh::fields& f) {
  auto conn = tokens_of(f, bh::field::connection);
  if (std::find(conn.begin(), conn.end(), "upgrade") == conn.end()) return false;
  auto upgrades = values_of(f, bh::field::upgrade);
  return std::any_of(upgrades.begin(), upgrades.end(),
                     [](std::string_view v) { return !trim_ows(v).empty(); });
}

void strip_hop_by_hop(bh::fields& f, bool keep_upgrade) {
  std::vector<std::string> upgrades;
  if (keep_upgrade && is_upgrade_request(f)) {
    for (std::string_view v : values_of(f, bh::field::upgrade)) upgrades.emplace_back(v);
  }
  for (const auto& name : tokens_of(f, bh::field::connection)) {
    if (name == "content-length" || name == "host") continue;
    f.erase(name);
  }
  for (auto name : hop_by_hop_fields) f.erase(name);
  if (!upgrades.empty()) {
    f.set(bh::field::connection, "Upgrade");
    for (const auto& u : upgrades) f.insert(bh::field::upgrade, u);
  }
}

void apply_identity(bh::fields& f, const client_identity* verified_client, bool from_trusted_peer) {
  if (from_trusted_peer) return;
  std::vector<std::string> remote;
  for (const auto& field : f) {
    auto name = util::ascii_lower(field.name_string());
    if (name.starts_with("x-remote-")) remote.push_back(std::move(name));
  }
  for (const auto& name : remote) f.erase(name);
  if (verified_client == nullptr || verified_client->user.empty()) return;
  f.set("X-Remote-User", verified_client->user);
  for (const auto& g : verified_client->groups) f.insert("X-Remote-Group", g);
}

client_identity identity_from_certificate(X509* cert) {
  return {util::subject_common_name(cert), util::subject_values(cert, NID_organizationName)};
}

std::string uuid_v4(uuid_bytes b) {
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3f) | 0x80);  // variant 10 (RFC 4122)
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += hex[b[i] >> 4];
    out += hex[b[i] & 0x0f];
  }
  return out;
}

std::string audit_id_for(const bh::fields& request, const std::function<uuid_bytes()>& random) {
  auto given = first_audit_id(request);
  if (given && !given->empty()) return std::string(*given);
  return uuid_v4(random());
}

void set_audit_id(bh::fields& request, std::string_view id) { request.set(audit_id_field, id); }

void add_audit_id(bh::fields& response, std::string_view id) {
  if (id.empty()) return;
  auto have = first_audit_id(response);
  if (have && !have->empty()) return;
  response.set(audit_id_field, id);
}

std::optional<std::string_view> field_in_head(std::string_view head, std::string_view name) {
  // Each line after the status line is "Name: value".
  for (std::size_t pos = head.find("\r\n"); pos != std::string_view::npos;) {
    pos += 2;
    auto end = head.find("\r\n", pos);
    auto line =
        head.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    auto colon = line.find(':');
    if (colon != std::string_view::npos && boost::beast::iequals(line.substr(0, colon), name)) {
      auto v = line.substr(colon + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      return v;
    }
    pos = end;
  }
  return std::nullopt;
}

void add_audit_id(std::string& head, std::string_view id) {
  if (id.empty()) return;
  // The first Audit-ID field decides; an empty one counts as none.
  if (auto v = field_in_head(head, audit_id_field)) {
    if (!trim_ows(*v).empty()) return;
    remove_fields(head, {util::ascii_lower(audit_id_field)});
  }
  head.append(audit_id_field);
  head += ": ";
  head.append(id);
  head += "\r\n";
}

std::string_view audit_id_for_log(std::string_view id) {
  constexpr std::size_t max_audit_id_length = 64;
  if (id.empty()) return "-";
  return id.substr(0, max_audit_id_length);
}

}  // namespace mvproxy::http
