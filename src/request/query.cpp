#include "mvproxy/request/query.hpp"

namespace mvproxy::request {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

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

std::optional<std::string_view> first_query_value(std::string_view raw_query,
                                                  std::string_view key) {
  while (!raw_query.empty()) {
    std::size_t amp = raw_query.find('&');
    std::string_view pair = raw_query.substr(0, amp);
    raw_query = amp == std::string_view::npos ? std::string_view{} : raw_query.substr(amp + 1);
    if (pair.empty() || pair.find(';') != std::string_view::npos) continue;
    std::size_t eq = pair.find('=');
    std::string_view k = pair.substr(0, eq);
    std::string_view v = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    if (!valid_escapes(k) || !valid_escapes(v)) continue;
    if (query_decoded_equals(k, key)) return v;
  }
  return std::nullopt;
}

}  // namespace mvproxy::request
