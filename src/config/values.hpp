#pragma once
// Flag values as text -> typed values, each refusal one line saying what was wrong
// (the caller prefixes the flag). Private to src/config.

#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

#include "mvproxy/config/config.hpp"

namespace mvproxy::config {

// Go's strconv.ParseBool, which pflag and --feature-gates use.
bool parse_bool(std::string_view v);
std::uint16_t port_value(std::string_view v);
std::chrono::milliseconds duration_value(std::string_view v);
long long int_value(std::string_view v, long long min, long long max);
// A decimal number in [0, max].
double fraction_value(std::string_view v, double max);
// Peers are written id=host:port so one --peers value can serve every node.
std::vector<static_peer> peers_value(std::string_view v);
// Name=bool,... into c.feature_gates; unknown gates are errors, as in kube-apiserver.
void gates_value(config& c, std::string_view v);

}  // namespace mvproxy::config
