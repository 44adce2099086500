#pragma once
// Header fields as an ordered list of (name, value), for table tests of header code.

#include <boost/beast/http/fields.hpp>
#include <string>
#include <utility>
#include <vector>

namespace mvproxy::test {

using field_list = std::vector<std::pair<std::string, std::string>>;

inline boost::beast::http::fields make_fields(const field_list& in) {
  boost::beast::http::fields f;
  for (const auto& [n, v] : in) f.insert(n, v);
  return f;
}

inline field_list dump_fields(const boost::beast::http::fields& f) {
  field_list out;
  for (const auto& field : f)
    out.emplace_back(std::string(field.name_string()), std::string(field.value()));
  return out;
}

}  // namespace mvproxy::test
