#include "accept.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace fake_apiserver {
namespace {

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t p = s.find(sep, start);
    out.push_back(s.substr(start, p == std::string_view::npos ? s.npos : p - start));
    if (p == std::string_view::npos) break;
    start = p + 1;
  }
  return out;
}

std::optional<media_range> parse_range(std::string_view text) {
  auto parts = split(text, ';');
  std::string mt = lower(trim(parts[0]));
  auto slash = mt.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == mt.size()) return std::nullopt;
  media_range r;
  r.type = mt.substr(0, slash);
  r.subtype = mt.substr(slash + 1);
  for (size_t i = 1; i < parts.size(); ++i) {
    std::string p = trim(parts[i]);
    if (p.empty()) continue;
    auto eq = p.find('=');
    if (eq == std::string::npos) return std::nullopt;
    std::string key = lower(trim(std::string_view(p).substr(0, eq)));
    std::string value = trim(std::string_view(p).substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    if (key == "q") {
      char* end = nullptr;
      double q = std::strtod(value.c_str(), &end);
      if (end == value.c_str() || *end != '\0' || q < 0 || q > 1) return std::nullopt;
      r.q = q;
    } else {
      r.params[key] = value;
    }
  }
  return r;
}

bool matches(const media_range& r, const media_offer& o) {
  if (r.type != "*" && r.type != o.type) return false;
  if (r.subtype != "*" && r.subtype != o.subtype) return false;
  // The identifying parameters must agree exactly; others (profile, charset) are ignored.
  for (const char* key : {"g", "v", "as"}) {
    auto ri = r.params.find(key);
    auto oi = o.params.find(key);
    std::string rv = ri == r.params.end() ? "" : ri->second;
    std::string ov = oi == o.params.end() ? "" : oi->second;
    if (rv != ov) return false;
  }
  return true;
}

}  // namespace

std::vector<media_range> parse_accept(std::string_view header) {
  std::vector<media_range> out;
  for (auto piece : split(header, ',')) {
    if (trim(piece).empty()) continue;
    if (auto r = parse_range(piece)) out.push_back(std::move(*r));
  }
  return out;
}

std::optional<size_t> negotiate(std::string_view accept_header,
                                const std::vector<media_offer>& offers) {
  if (offers.empty()) return std::nullopt;
  if (trim(accept_header).empty()) return 0;
  auto ranges = parse_accept(accept_header);
  std::stable_sort(ranges.begin(), ranges.end(),
                   [](const media_range& a, const media_range& b) { return a.q > b.q; });
  for (const auto& r : ranges) {
    if (r.q <= 0) continue;
    for (size_t i = 0; i < offers.size(); ++i)
      if (matches(r, offers[i])) return i;
  }
  return std::nullopt;
}

std::string to_content_type(const media_offer& offer) {
  std::string s = offer.type + "/" + offer.subtype;
  for (const char* key : {"g", "v", "as"}) {
    auto it = offer.params.find(key);
    if (it != offer.params.end()) s += std::string(";") + key + "=" + it->second;
  }
  return s;
}

}  // namespace fake_apiserver
