#include "protobuf.hpp"

#include <cstdint>
#include <functional>

namespace fake_apiserver {
namespace {

using json = nlohmann::json;

// One field of a protobuf message: its number and either a varint or bytes.
struct field {
  uint32_t number = 0;
  uint32_t wire_type = 0;
  uint64_t varint = 0;
  std::string_view bytes;
};

// Walks a message's fields; false (with `error`) on malformed wire data.
class reader {
 public:
  explicit reader(std::string_view data) : data_(data) {}
  bool failed() const { return failed_; }

  bool next(field& f, std::string& error) {
    if (pos_ == data_.size()) return false;
    uint64_t key = 0;
    if (!varint(key)) return fail(error, "truncated field key");
    f.number = static_cast<uint32_t>(key >> 3);
    f.wire_type = static_cast<uint32_t>(key & 7);
    if (f.number == 0) return fail(error, "field number 0");
    switch (f.wire_type) {
      case 0:
        if (!varint(f.varint)) return fail(error, "truncated varint");
        return true;
      case 1:
        return skip(8) || fail(error, "truncated 64-bit field");
      case 2: {
        uint64_t len = 0;
        if (!varint(len) || len > data_.size() - pos_)
          return fail(error, "length-delimited field runs past the end");
        f.bytes = data_.substr(pos_, len);
        pos_ += len;
        return true;
      }
      case 5:
        return skip(4) || fail(error, "truncated 32-bit field");
      default:
        return fail(error, "unknown wire type " + std::to_string(f.wire_type));
    }
  }

 private:
  bool varint(uint64_t& out) {
    out = 0;
    for (int shift = 0; shift < 64 && pos_ < data_.size(); shift += 7) {
      auto b = static_cast<unsigned char>(data_[pos_++]);
      out |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  bool skip(std::size_t n) {
    if (n > data_.size() - pos_) return false;
    pos_ += n;
    return true;
  }
  bool fail(std::string& error, std::string why) {
    error = std::move(why);
    failed_ = true;
    pos_ = data_.size();
    return false;
  }

  std::string_view data_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

using visitor = std::function<void(const field&)>;

bool each_field(std::string_view message, std::string& error, const visitor& visit) {
  reader r(message);
  field f;
  while (r.next(f, error)) visit(f);
  return !r.failed();
}

std::string base64(std::string_view in) {
  static constexpr char table[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < in.size(); i += 3) {
    uint32_t n = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<unsigned char>(in[i + 1]) << 8;
    if (i + 2 < in.size()) n |= static_cast<unsigned char>(in[i + 2]);
    out += table[(n >> 18) & 63];
    out += table[(n >> 12) & 63];
    out += i + 1 < in.size() ? table[(n >> 6) & 63] : '=';
    out += i + 2 < in.size() ? table[n & 63] : '=';
  }
  return out;
}

// A map<string, string|bytes> entry: key = 1, value = 2.
bool map_entry(std::string_view entry, bool bytes_value, json& into, std::string& error) {
  std::string key, value;
  bool ok = each_field(entry, error, [&](const field& f) {
    if (f.wire_type != 2) return;
    if (f.number == 1) key = f.bytes;
    if (f.number == 2) value = f.bytes;
  });
  if (ok) into[key] = bytes_value ? base64(value) : value;
  return ok;
}

bool object_meta(std::string_view message, json& meta, std::string& error) {
  bool ok = true;
  bool walked = each_field(message, error, [&](const field& f) {
    // gogo-protobuf writes empty strings; the JSON codec omits them.
    if (f.wire_type != 2 || f.bytes.empty()) return;
    switch (f.number) {
      case 1:
        meta["name"] = f.bytes;
        break;
      case 2:
        meta["generateName"] = f.bytes;
        break;
      case 3:
        meta["namespace"] = f.bytes;
        break;
      case 11:
        ok = ok && map_entry(f.bytes, false, meta["labels"], error);
        break;
      case 12:
        ok = ok && map_entry(f.bytes, false, meta["annotations"], error);
        break;
      case 14:
        meta["finalizers"].push_back(std::string(f.bytes));
        break;
      default:
        break;  // server-set fields
    }
  });
  return walked && ok;
}

// The kind-specific fields (numbers from k8s.io/api/core/v1/generated.proto).
bool kind_field(const std::string& kind, const field& f, json& obj, std::string& error) {
  auto str = [&] { return std::string(f.bytes); };
  if (kind == "Namespace" && f.number == 2 && f.wire_type == 2)
    return each_field(f.bytes, error, [&](const field& s) {
      if (s.number == 1 && s.wire_type == 2)
        obj["spec"]["finalizers"].push_back(std::string(s.bytes));
    });
  if (kind == "ConfigMap") {
    if (f.number == 2 && f.wire_type == 2) return map_entry(f.bytes, false, obj["data"], error);
    if (f.number == 3 && f.wire_type == 2)
      return map_entry(f.bytes, true, obj["binaryData"], error);
    if (f.number == 4 && f.wire_type == 0) obj["immutable"] = f.varint != 0;
  }
  if (kind == "Secret") {
    if (f.number == 2 && f.wire_type == 2) return map_entry(f.bytes, true, obj["data"], error);
    if (f.number == 3 && f.wire_type == 2 && !f.bytes.empty()) obj["type"] = str();
    if (f.number == 4 && f.wire_type == 2)
      return map_entry(f.bytes, false, obj["stringData"], error);
    if (f.number == 5 && f.wire_type == 0) obj["immutable"] = f.varint != 0;
  }
  if (kind == "ServiceAccount" && f.number == 4 && f.wire_type == 0)
    obj["automountServiceAccountToken"] = f.varint != 0;
  return true;
}

}  // namespace

bool protobuf_body_to_json(header_list& headers, std::string& body, std::string& error) {
  for (auto& [name, value] : headers) {
    if (name != "content-type") continue;
    if (value.substr(0, value.find(';')) != protobuf_media_type) return true;
    auto obj = protobuf_to_json(body, error);
    if (!obj) {
      error = "the protobuf request body is not a Kubernetes object: " + error;
      return false;
    }
    value = "application/json";
    body = obj->dump();
    return true;
  }
  return true;
}

std::optional<json> protobuf_to_json(std::string_view body, std::string& error) {
  static constexpr std::string_view magic{"k8s\0", 4};
  if (body.substr(0, magic.size()) != magic) {
    error = "missing the \"k8s\\x00\" prefix";
    return std::nullopt;
  }
  std::string api_version, kind;
  std::string_view raw;
  bool envelope = each_field(body.substr(magic.size()), error, [&](const field& f) {
    if (f.wire_type != 2) return;
    if (f.number == 2) raw = f.bytes;
    if (f.number != 1) return;
    each_field(f.bytes, error, [&](const field& t) {
      if (t.number == 1 && t.wire_type == 2) api_version = t.bytes;
      if (t.number == 2 && t.wire_type == 2) kind = t.bytes;
    });
  });
  if (!envelope) return std::nullopt;
  if (kind.empty()) {
    error = "the envelope names no kind";
    return std::nullopt;
  }
  json obj = {{"apiVersion", api_version}, {"kind", kind}, {"metadata", json::object()}};
  bool ok = true;
  bool walked = each_field(raw, error, [&](const field& f) {
    if (!ok) return;
    if (f.number == 1 && f.wire_type == 2)
      ok = object_meta(f.bytes, obj["metadata"], error);
    else
      ok = kind_field(kind, f, obj, error);
  });
  if (!walked || !ok) return std::nullopt;
  return obj;
}

}  // namespace fake_apiserver
