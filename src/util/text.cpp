#include "mvproxy/util/text.hpp"

#include <algorithm>

namespace mvproxy::util {
namespace {

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}
bool is_ows(char c) { return c == ' ' || c == '\t'; }

template <class Pred>
std::string_view trim_if(std::string_view s, Pred drop) {
  while (!s.empty() && drop(s.front())) s.remove_prefix(1);
  while (!s.empty() && drop(s.back())) s.remove_suffix(1);
  return s;
}

// Calls each(item) for every comma-separated item, trimmed by `trimmer`, that is not empty.
template <class Trim, class Each>
void for_each_item(std::string_view v, Trim trimmer, Each each) {
  while (true) {
    auto comma = v.find(',');
    auto item = trimmer(v.substr(0, comma));
    if (!item.empty()) each(item);
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
}

}  // namespace

std::string quoted(std::string_view v) { return "\"" + std::string(v) + "\""; }

std::string_view trim(std::string_view s) { return trim_if(s, is_ascii_space); }

std::vector<std::string> split_list(std::string_view v) {
  std::vector<std::string> out;
  for_each_item(v, trim, [&](std::string_view item) { out.emplace_back(item); });
  return out;
}

std::string_view trim_ows(std::string_view s) { return trim_if(s, is_ows); }

std::vector<std::string_view> split_field_list(std::string_view v) {
  std::vector<std::string_view> out;
  for_each_item(v, trim_ows, [&](std::string_view item) { out.push_back(item); });
  return out;
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

bool ascii_iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

}  // namespace mvproxy::util
