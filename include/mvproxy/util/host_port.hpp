#pragma once
// host:port as Go's net.SplitHostPort reads it: "10.0.0.1:7443", "node-a:7443",
// "[::1]:7443", ":7443" (empty host). IPv6 literals need brackets.

#include <cstdint>
#include <string>
#include <string_view>

namespace mvproxy::util {

struct host_port {
  std::string host;  // without brackets
  std::uint16_t port = 0;
  bool operator==(const host_port&) const = default;
};

// Throws std::invalid_argument whose what() says why.
host_port parse_host_port(std::string_view text);

// Decimal 0..65535, digits only (no sign, no spaces). Throws std::invalid_argument.
std::uint16_t parse_port(std::string_view text);

// Inverse of parse_host_port: brackets a host that contains ':'.
std::string format_host_port(std::string_view host, std::uint16_t port);

}  // namespace mvproxy::util
