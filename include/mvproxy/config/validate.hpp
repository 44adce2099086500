#pragma once
// Checks a config before any socket is opened: files exist and are readable,
// certificates, keys and CA bundles parse (PEM) and each key matches its certificate,
// values are in range and consistent. Throws config::error (one line, naming the flag).

#include <string_view>

#include "mvproxy/config/config.hpp"
#include "mvproxy/config/parse.hpp"

namespace mvproxy::config {

void validate(const config& c);

// Kubernetes object-name rules (RFC 1123): a Lease name is a subdomain, a namespace a label.
bool is_dns_subdomain(std::string_view s);
bool is_dns_label(std::string_view s);

}  // namespace mvproxy::config
