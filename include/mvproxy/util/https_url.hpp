#pragma once
// An apiserver's URL as the --upstream flag takes it: "https://host[:port]", with an
// optional trailing "/" and port 443 when left out. One parser for the flag's check,
// the proxy's local target and the control plane's client, so they cannot disagree.

#include <string_view>

#include "mvproxy/util/host_port.hpp"

namespace mvproxy::util {

// Refuses a path, query, fragment or user part: mvproxy forwards paths as they are, so
// a path prefix could not be honoured. Throws std::invalid_argument whose what() names
// the URL (quoted) and the fault in one line, ready to follow "--upstream: ".
host_port parse_https_url(std::string_view url);

}  // namespace mvproxy::util
