#pragma once
// Label selectors (=, ==, !=, in, notin, exists, !exists) and the field selectors
// every resource supports (metadata.name, metadata.namespace), as kube-apiserver
// parses them from ?labelSelector= and ?fieldSelector=.

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fake_apiserver {

struct label_requirement {
  enum class op { equals, not_equals, in, not_in, exists, not_exists };
  std::string key;
  op operation = op::exists;
  std::vector<std::string> values;
};

struct label_selector {
  std::vector<label_requirement> requirements;  // ANDed; empty matches everything
  bool matches(const nlohmann::json& labels) const;
};

// nullopt + error message on a malformed selector.
std::optional<label_selector> parse_label_selector(std::string_view text, std::string& error);

struct field_requirement {
  std::string field;  // metadata.name or metadata.namespace
  bool negate = false;
  std::string value;
};

struct field_selector {
  std::vector<field_requirement> requirements;
  bool matches(const nlohmann::json& object) const;
};

std::optional<field_selector> parse_field_selector(std::string_view text, std::string& error);

}  // namespace fake_apiserver
