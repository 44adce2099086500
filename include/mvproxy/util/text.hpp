#pragma once
// Small text helpers shared by the flag parsers (the daemon's and the probe's) and the
// HTTP code. ASCII only on purpose: HTTP field names, tokens and Kubernetes names are
// ASCII, and std::tolower/std::isspace would follow the C locale.

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

// Without leading and trailing OWS (SP and HTAB, RFC 9110 §5.6.3): how an HTTP field
// value or list item is trimmed. Other white space is part of the value.
std::string_view trim_ows(std::string_view s);
// An HTTP comma-separated list (RFC 9110 §5.6.1): items OWS-trimmed, empty ones dropped.
std::vector<std::string_view> split_field_list(std::string_view v);

// 'A'-'Z' to 'a'-'z'; every other byte (UTF-8 included) unchanged.
char ascii_lower(char c);
std::string ascii_lower(std::string_view s);
// Equal but for the case of ASCII letters.
bool ascii_iequals(std::string_view a, std::string_view b);

}  // namespace mvproxy::util
