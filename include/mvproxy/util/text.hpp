#pragma once
// Small text helpers shared by the flag parsers (the daemon's and the probe's).

#include <string>
#include <string_view>
#include <vector>

namespace mvproxy::util {

// "\"v\"", for error messages that show what was given.
std::string quoted(std::string_view v);
// Without leading and trailing ASCII white space.
std::string_view trim(std::string_view s);
// A comma-separated list: items trimmed, empty items dropped ("a, ,b" -> a, b).
std::vector<std::string> split_list(std::string_view v);

}  // namespace mvproxy::util
