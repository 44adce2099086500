#include "mvproxy/discovery/render.hpp"

#include <openssl/evp.h>

#include <array>

namespace mvproxy::discovery {
namespace {

// Appends JSON text to one buffer. Strings are escaped like Go's encoding/json with
// HTML escaping on (its default): <, >, & and U+2028/U+2029 as \u escapes, invalid
// UTF-8 as U+FFFD.
class writer {
 public:
  explicit writer(std::size_t reserve) { out_.reserve(reserve); }

  writer& raw(std::string_view s) {
    out_.append(s);
    return *this;
  }
  writer& str(std::string_view s) {
    out_.push_back('"');
    escape(s);
    out_.push_back('"');
    return *this;
  }
  // "key":
  writer& key(std::string_view k) {
    str(k);
    out_.push_back(':');
    return *this;
  }
  writer& str_array(const std::vector<std::string>& items) {
    out_.push_back('[');
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i) out_.push_back(',');
      str(items[i]);
    }
    out_.push_back(']');
    return *this;
  }
  writer& gvk(const group_version_kind& k) {
    raw("{\"group\":").str(k.group).raw(",\"version\":").str(k.version);
    raw(",\"kind\":").str(k.kind).raw("}");
    return *this;
  }
  std::string finish() {
    out_.push_back('\n');  // Go's json.Encoder ends every value with a newline
    return std::move(out_);
  }

 private:
  void escape(std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    std::size_t i = 0;
    while (i < s.size()) {
      auto c = static_cast<unsigned char>(s[i]);
      if (c < 0x80) {
        switch (c) {
          case '"':
            out_.append("\\\"");
            break;
          case '\\':
            out_.append("\\\\");
            break;
          case '\n':
            out_.append("\\n");
            break;
          case '\r':
            out_.append("\\r");
            break;
          case '\t':
            out_.append("\\t");
            break;
          case '\b':
            out_.append("\\b");
            break;
          case '\f':
            out_.append("\\f");
            break;
          default:
            if (c < 0x20 || c == '<' || c == '>' || c == '&') {
              out_.append("\\u00");
              out_.push_back(hex[c >> 4]);
              out_.push_back(hex[c & 0xF]);
            } else {
              out_.push_back(static_cast<char>(c));
            }
        }
        ++i;
        continue;
      }
      std::size_t len = utf8_length(s, i);
      if (len == 0) {
        out_.append("\\ufffd");
        ++i;
        continue;
      }
      std::string_view seq = s.substr(i, len);
      if (seq == "\xE2\x80\xA8") {
        out_.append("\\u2028");
      } else if (seq == "\xE2\x80\xA9") {
        out_.append("\\u2029");
      } else {
        out_.append(seq);
      }
      i += len;
    }
  }

  // The length of the valid UTF-8 sequence starting at s[i] (a byte >= 0x80), or 0.
  static std::size_t utf8_length(std::string_view s, std::size_t i) {
    auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
    auto cont = [&](std::size_t k) { return i + k < s.size() && (b(k) & 0xC0) == 0x80; };
    unsigned char c = b(0);
    if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
      if (!cont(1) || !cont(2)) return 0;
      if (c == 0xE0 && b(1) < 0xA0) return 0;   // overlong
      if (c == 0xED && b(1) >= 0xA0) return 0;  // surrogate
      return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
      if (!cont(1) || !cont(2) || !cont(3)) return 0;
      if (c == 0xF0 && b(1) < 0x90) return 0;   // overlong
      if (c == 0xF4 && b(1) >= 0x90) return 0;  // above U+10FFFF
      return 4;
    }
    return 0;
  }

  std::string out_;
};

bool has_kind(const group_version_kind& k) {
  return !k.group.empty() || !k.version.empty() || !k.kind.empty();
}

std::string_view api_version_of(aggregated_version v) {
  return v == aggregated_version::v2 ? "apidiscovery.k8s.io/v2" : "apidiscovery.k8s.io/v2beta1";
}

void write_aggregated_resource(writer& w, const resource_info& r) {
  w.raw("{\"resource\":").str(r.name);
  if (has_kind(r.response_kind)) w.raw(",\"responseKind\":").gvk(r.response_kind);
  w.raw(",\"scope\":").str(r.namespaced ? "Namespaced" : "Cluster");
  w.raw(",\"singularResource\":").str(r.singular);
  w.raw(",\"verbs\":").str_array(r.verbs);
  if (!r.short_names.empty()) w.raw(",\"shortNames\":").str_array(r.short_names);
  if (!r.categories.empty()) w.raw(",\"categories\":").str_array(r.categories);
  if (!r.subresources.empty()) {
    w.raw(",\"subresources\":[");
    for (std::size_t i = 0; i < r.subresources.size(); ++i) {
      const auto& s = r.subresources[i];
      if (i) w.raw(",");
      w.raw("{\"subresource\":").str(s.name);
      if (has_kind(s.response_kind)) w.raw(",\"responseKind\":").gvk(s.response_kind);
      if (!s.accepted_types.empty()) {
        w.raw(",\"acceptedTypes\":[");
        for (std::size_t t = 0; t < s.accepted_types.size(); ++t) {
          if (t) w.raw(",");
          w.gvk(s.accepted_types[t]);
        }
        w.raw("]");
      }
      w.raw(",\"verbs\":").str_array(s.verbs).raw("}");
    }
    w.raw("]");
  }
  w.raw("}");
}

void write_aggregated_group(writer& w, const group_info& g) {
  // Go omits an empty name, but always writes the zero creationTimestamp as null.
  w.raw("{\"metadata\":{");
  if (!g.name.empty()) w.raw("\"name\":").str(g.name).raw(",");
  w.raw("\"creationTimestamp\":null},\"versions\":[");
  for (std::size_t i = 0; i < g.versions.size(); ++i) {
    const auto& v = g.versions[i];
    if (i) w.raw(",");
    w.raw("{\"version\":").str(v.version).raw(",\"resources\":[");
    for (std::size_t r = 0; r < v.resources.size(); ++r) {
      if (r) w.raw(",");
      write_aggregated_resource(w, v.resources[r]);
    }
    w.raw("]");
    if (!v.freshness.empty()) w.raw(",\"freshness\":").str(v.freshness);
    w.raw("}");
  }
  w.raw("]}");
}

std::string render_aggregated(const server_model& model, aggregated_version version, bool core) {
  writer w(64 * 1024);
  w.raw("{\"kind\":\"APIGroupDiscoveryList\",\"apiVersion\":").str(api_version_of(version));
  w.raw(",\"metadata\":{},\"items\":[");
  bool first = true;
  for (const auto& g : model.groups()) {
    if (g.name.empty() != core) continue;
    if (!first) w.raw(",");
    first = false;
    write_aggregated_group(w, g);
  }
  w.raw("]}");
  return w.finish();
}

std::string group_version(std::string_view group, std::string_view version) {
  std::string gv;
  gv.reserve(group.size() + version.size() + 1);
  if (!group.empty()) gv.append(group).push_back('/');
  gv.append(version);
  return gv;
}

// {"groupVersion":"g/v","version":"v"}
void write_group_version(writer& w, std::string_view group, std::string_view version) {
  w.raw("{\"groupVersion\":").str(group_version(group, version));
  w.raw(",\"version\":").str(version).raw("}");
}

// The body of an APIGroup after its kind and apiVersion: name, versions, preferred.
void write_legacy_group(writer& w, const group_info& g) {
  w.raw("\"name\":").str(g.name).raw(",\"versions\":[");
  for (std::size_t i = 0; i < g.versions.size(); ++i) {
    if (i) w.raw(",");
    write_group_version(w, g.name, g.versions[i].version);
  }
  w.raw("]");
  if (!g.versions.empty()) {
    w.raw(",\"preferredVersion\":");
    write_group_version(w, g.name, g.versions.front().version);
  }
}

void write_legacy_resource(writer& w, std::string_view name, std::string_view singular,
                           bool namespaced, const group_version_kind& kind,
                           const std::vector<std::string>& verbs,
                           const std::vector<std::string>* short_names,
                           const std::vector<std::string>* categories) {
  w.raw("{\"name\":").str(name).raw(",\"singularName\":").str(singular);
  w.raw(namespaced ? ",\"namespaced\":true" : ",\"namespaced\":false");
  if (!kind.group.empty()) w.raw(",\"group\":").str(kind.group);
  if (!kind.version.empty()) w.raw(",\"version\":").str(kind.version);
  w.raw(",\"kind\":").str(kind.kind).raw(",\"verbs\":").str_array(verbs);
  if (short_names && !short_names->empty()) w.raw(",\"shortNames\":").str_array(*short_names);
  if (categories && !categories->empty()) w.raw(",\"categories\":").str_array(*categories);
  w.raw("}");
}

}  // namespace

std::string render_aggregated_apis(const server_model& model, aggregated_version version) {
  return render_aggregated(model, version, false);
}

std::string render_aggregated_api(const server_model& model, aggregated_version version) {
  return render_aggregated(model, version, true);
}

std::string render_group_list(const server_model& model) {
  writer w(8 * 1024);
  w.raw("{\"kind\":\"APIGroupList\",\"apiVersion\":\"v1\",\"groups\":[");
  bool first = true;
  for (const auto& g : model.groups()) {
    if (g.name.empty()) continue;
    if (!first) w.raw(",");
    first = false;
    w.raw("{");
    write_legacy_group(w, g);
    w.raw("}");
  }
  w.raw("]}");
  return w.finish();
}

std::string render_api_versions(const server_model& model, std::string_view server_address) {
  writer w(256);
  w.raw("{\"kind\":\"APIVersions\",\"versions\":[");
  if (const group_info* core = model.find_group("")) {
    for (std::size_t i = 0; i < core->versions.size(); ++i) {
      if (i) w.raw(",");
      w.str(core->versions[i].version);
    }
  }
  w.raw("]");
  if (!server_address.empty()) {
    w.raw(",\"serverAddressByClientCIDRs\":[{\"clientCIDR\":\"0.0.0.0/0\",\"serverAddress\":");
    w.str(server_address).raw("}]");
  }
  w.raw("}");
  return w.finish();
}

std::optional<std::string> render_api_group(const server_model& model, std::string_view group) {
  const group_info* g = group.empty() ? nullptr : model.find_group(group);
  if (g == nullptr) return std::nullopt;
  writer w(512);
  w.raw("{\"kind\":\"APIGroup\",\"apiVersion\":\"v1\",");
  write_legacy_group(w, *g);
  w.raw("}");
  return w.finish();
}

std::optional<std::string> render_resource_list(const server_model& model, std::string_view group,
                                                std::string_view version) {
  const version_info* v = model.find_version(group, version);
  if (v == nullptr) return std::nullopt;
  writer w(16 * 1024);
  // kube-apiserver leaves apiVersion out of the core group's list.
  w.raw("{\"kind\":\"APIResourceList\",");
  if (!group.empty()) w.raw("\"apiVersion\":\"v1\",");
  w.raw("\"groupVersion\":").str(group_version(group, version)).raw(",\"resources\":[");
  bool first = true;
  auto comma = [&] {
    if (!first) w.raw(",");
    first = false;
  };
  std::string sub_name;
  for (const auto& r : v->resources) {
    comma();
    write_legacy_resource(w, r.name, r.singular, r.namespaced, r.response_kind, r.verbs,
                          &r.short_names, &r.categories);
    for (const auto& s : r.subresources) {
      comma();
      sub_name.assign(r.name).append("/").append(s.name);
      write_legacy_resource(w, sub_name, "", r.namespaced, s.response_kind, s.verbs, nullptr,
                            nullptr);
    }
  }
  w.raw("]}");
  return w.finish();
}

std::string etag_for(std::string_view body) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_Digest(body.data(), body.size(), digest.data(), &length, EVP_sha512(), nullptr);
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(2 * length + 2);
  out.push_back('"');
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 0xF]);
  }
  out.push_back('"');
  return out;
}

}  // namespace mvproxy::discovery
