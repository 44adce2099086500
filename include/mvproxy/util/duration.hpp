#pragma once
// Durations written the way Kubernetes components write them (Go's time.ParseDuration
// syntax: "500ms", "10s", "1m30s", "1.5h", "0"), so flags and YAML read like kube's.

#include <chrono>
#include <string>
#include <string_view>

namespace mvproxy::util {

// Throws std::invalid_argument whose what() says why (no input echo: callers add it).
// Units: ns, us, µs (U+00B5 or U+03BC), ms, s, m, h. A bare "0" is allowed; any other
// number needs a unit. Negative values only when allow_negative.
std::chrono::nanoseconds parse_duration(std::string_view text, bool allow_negative = false);

// As parse_duration, truncated to whole milliseconds (what the settings hold).
std::chrono::milliseconds parse_duration_ms(std::string_view text, bool allow_negative = false);

// Go's Duration.String(): "0s", "500ms", "1.5s", "1m30s", "1h0m0s", "-2s".
std::string format_duration(std::chrono::nanoseconds d);

}  // namespace mvproxy::util
