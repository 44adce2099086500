#include "mvproxy/request/query.hpp"

#include "mvproxy/util/text.hpp"

namespace mvproxy::request {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

using util::ascii_lower;

// Calls emit(char) for each decoded char of a raw component with valid escapes.
template <class Emit>
void decode_each(std::string_view raw, Emit emit) {
  for (std::size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '%') {
      emit(static_cast<char>(hex_value(raw[i + 1]) * 16 + hex_value(raw[i + 2])));
      i += 2;
    } else if (c == '+') {
      emit(' ');
    } else {
      emit(c);
    }
  }
}

}  // namespace

bool valid_escapes(std::string_view raw) {
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '%') continue;
    if (i + 2 >= raw.size()) return false;
    if (hex_value(raw[i + 1]) < 0 || hex_value(raw[i + 2]) < 0) return false;
    i += 2;
  }
  return true;
}

bool query_decoded_equals(std::string_view raw, std::string_view plain, bool ignore_case) {
  std::size_t n = 0;
  bool equal = true;
  decode_each(raw, [&](char c) {
    if (!equal) return;
    if (n >= plain.size()) {
      equal = false;
      return;
    }
    char want = plain[n++];
    if (ignore_case ? ascii_lower(c) != ascii_lower(want) : c != want) equal = false;
  });
  return equal && n == plain.size();
}

std::size_t query_decode(std::string_view raw, char* out) {
  std::size_t n = 0;
  decode_each(raw, [&](char c) { out[n++] = c; });
  return n;
}

void first_query_values(std::string_view raw_query, std::span<const std::string_view> keys,
                        std::span<std::optional<std::string_view>> values) {
  std::size_t missing = keys.size();
  // One hand-written scan: these pairs are short, and memchr per pair costs more.
  std::size_t start = 0;
  std::size_t eq = std::string_view::npos;
  bool semicolon = false;
  bool plain_key = true;
  for (std::size_t i = 0; i <= raw_query.size() && missing > 0; ++i) {
    if (i < raw_query.size() && raw_query[i] != '&') {
      char c = raw_query[i];
      if (c == ';') {
        semicolon = true;
      } else if (eq == std::string_view::npos) {
        if (c == '=') {
          eq = i;
        } else if (c == '%' || c == '+') {
          plain_key = false;
        }
      }
      continue;
    }
    std::string_view pair = raw_query.substr(start, i - start);
    const std::size_t key_end = eq == std::string_view::npos ? pair.size() : eq - start;
    const bool skip = pair.empty() || semicolon;
    const bool plain = plain_key;
    start = i + 1;
    eq = std::string_view::npos;
    semicolon = false;
    plain_key = true;
    if (skip) continue;
    std::string_view k = pair.substr(0, key_end);
    std::string_view v = key_end < pair.size() ? pair.substr(key_end + 1) : std::string_view{};
    for (std::size_t n = 0; n < keys.size(); ++n) {
      if (values[n]) continue;
      const bool match =
          plain ? k == keys[n] : valid_escapes(k) && query_decoded_equals(k, keys[n]);
      if (!match) continue;
      if (valid_escapes(v)) {
        values[n] = v;
        --missing;
      }
      break;
    }
  }
}

std::optional<std::string_view> first_query_value(std::string_view raw_query,
                                                  std::string_view key) {
  std::optional<std::string_view> value;
  first_query_values(raw_query, std::span(&key, 1), std::span(&value, 1));
  return value;
}

}  // namespace mvproxy::request
