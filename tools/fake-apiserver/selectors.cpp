#include "selectors.hpp"

#include <algorithm>
#include <cctype>

namespace fake_apiserver {
namespace {

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// Splits on commas that are not inside parentheses: "a in (x,y),b".
std::vector<std::string> split_top_level(std::string_view s) {
  std::vector<std::string> out;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || (s[i] == ',' && depth == 0)) {
      out.push_back(trim(s.substr(start, i - start)));
      start = i + 1;
    } else if (s[i] == '(') {
      ++depth;
    } else if (s[i] == ')') {
      --depth;
    }
  }
  return out;
}

bool valid_key(const std::string& k) {
  if (k.empty() || k.size() > 317) return false;
  return std::all_of(k.begin(), k.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
           c == '/';
  });
}

bool valid_value(const std::string& v) {
  return v.size() <= 63 && std::all_of(v.begin(), v.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
         });
}

std::optional<std::string> label_value(const nlohmann::json& labels, const std::string& key) {
  if (!labels.is_object()) return std::nullopt;
  auto it = labels.find(key);
  if (it == labels.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::optional<label_requirement> parse_set_requirement(const std::string& term, size_t pos,
                                                       size_t word_len, bool negate,
                                                       std::string& error) {
  label_requirement r;
  r.key = trim(std::string_view(term).substr(0, pos));
  r.operation = negate ? label_requirement::op::not_in : label_requirement::op::in;
  std::string rest = trim(std::string_view(term).substr(pos + word_len));
  if (rest.size() < 2 || rest.front() != '(' || rest.back() != ')') {
    error = "found '" + rest + "', expected: '('";
    return std::nullopt;
  }
  std::string inner = rest.substr(1, rest.size() - 2);
  size_t start = 0;
  while (true) {
    size_t comma = inner.find(',', start);
    std::string v = trim(std::string_view(inner).substr(
        start, comma == std::string::npos ? std::string::npos : comma - start));
    if (!valid_value(v)) {
      error = "invalid label value: \"" + v + "\"";
      return std::nullopt;
    }
    r.values.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return r;
}

// Finds " in " / " notin " as whole words after the key.
size_t find_word(const std::string& term, const std::string& word) {
  size_t p = term.find(" " + word + " ");
  if (p != std::string::npos) return p + 1;
  p = term.find(" " + word + "(");
  if (p != std::string::npos) return p + 1;
  return std::string::npos;
}

std::optional<label_requirement> parse_term(const std::string& term, std::string& error) {
  label_requirement r;
  if (size_t p = find_word(term, "notin"); p != std::string::npos) {
    auto req = parse_set_requirement(term, p, 5, true, error);
    if (req && !valid_key(req->key)) {
      error = "invalid label key \"" + req->key + "\"";
      return std::nullopt;
    }
    return req;
  }
  if (size_t p = find_word(term, "in"); p != std::string::npos) {
    auto req = parse_set_requirement(term, p, 2, false, error);
    if (req && !valid_key(req->key)) {
      error = "invalid label key \"" + req->key + "\"";
      return std::nullopt;
    }
    return req;
  }
  std::string value;
  if (size_t p = term.find("!="); p != std::string::npos) {
    r.key = trim(std::string_view(term).substr(0, p));
    r.operation = label_requirement::op::not_equals;
    value = trim(std::string_view(term).substr(p + 2));
  } else if (size_t p2 = term.find("=="); p2 != std::string::npos) {
    r.key = trim(std::string_view(term).substr(0, p2));
    r.operation = label_requirement::op::equals;
    value = trim(std::string_view(term).substr(p2 + 2));
  } else if (size_t p3 = term.find('='); p3 != std::string::npos) {
    r.key = trim(std::string_view(term).substr(0, p3));
    r.operation = label_requirement::op::equals;
    value = trim(std::string_view(term).substr(p3 + 1));
  } else if (!term.empty() && term[0] == '!') {
    r.key = trim(std::string_view(term).substr(1));
    r.operation = label_requirement::op::not_exists;
  } else {
    r.key = term;
    r.operation = label_requirement::op::exists;
  }
  if (!valid_key(r.key)) {
    error = "invalid label key \"" + r.key + "\"";
    return std::nullopt;
  }
  if (r.operation == label_requirement::op::equals ||
      r.operation == label_requirement::op::not_equals) {
    if (!valid_value(value)) {
      error = "invalid label value: \"" + value + "\"";
      return std::nullopt;
    }
    r.values.push_back(value);
  }
  return r;
}

}  // namespace

bool label_selector::matches(const nlohmann::json& labels) const {
  for (const auto& r : requirements) {
    auto v = label_value(labels, r.key);
    bool in_set = v && std::find(r.values.begin(), r.values.end(), *v) != r.values.end();
    switch (r.operation) {
      case label_requirement::op::equals:
      case label_requirement::op::in:
        if (!in_set) return false;
        break;
      case label_requirement::op::not_equals:
      case label_requirement::op::not_in:
        if (in_set) return false;  // a missing key satisfies != and notin
        break;
      case label_requirement::op::exists:
        if (!v) return false;
        break;
      case label_requirement::op::not_exists:
        if (v) return false;
        break;
    }
  }
  return true;
}

std::optional<label_selector> parse_label_selector(std::string_view text, std::string& error) {
  label_selector sel;
  if (trim(text).empty()) return sel;
  for (const auto& term : split_top_level(text)) {
    if (term.empty()) {
      error = "found '', expected: identifier";
      return std::nullopt;
    }
    auto r = parse_term(term, error);
    if (!r) return std::nullopt;
    sel.requirements.push_back(std::move(*r));
  }
  return sel;
}

bool field_selector::matches(const nlohmann::json& object) const {
  const auto& meta = object.contains("metadata") ? object["metadata"] : nlohmann::json();
  for (const auto& r : requirements) {
    std::string key = r.field == "metadata.name" ? "name" : "namespace";
    std::string actual = meta.is_object() ? meta.value(key, "") : "";
    if ((actual == r.value) == r.negate) return false;
  }
  return true;
}

std::optional<field_selector> parse_field_selector(std::string_view text, std::string& error) {
  field_selector sel;
  if (trim(text).empty()) return sel;
  for (const auto& term : split_top_level(text)) {
    field_requirement r;
    size_t op_len = 0;
    size_t p = term.find("!=");
    if (p != std::string::npos) {
      r.negate = true;
      op_len = 2;
    } else if ((p = term.find("==")) != std::string::npos) {
      op_len = 2;
    } else if ((p = term.find('=')) != std::string::npos) {
      op_len = 1;
    } else {
      error = "invalid selector: '" + term + "'; can't understand '" + term + "'";
      return std::nullopt;
    }
    r.field = trim(std::string_view(term).substr(0, p));
    r.value = trim(std::string_view(term).substr(p + op_len));
    if (r.field != "metadata.name" && r.field != "metadata.namespace") {
      error = "field label not supported: " + r.field;
      return std::nullopt;
    }
    sel.requirements.push_back(std::move(r));
  }
  return sel;
}

}  // namespace fake_apiserver
