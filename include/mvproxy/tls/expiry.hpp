#pragma once
// When the configured certificates expire, exported as
// mvproxy_certificate_expiration_timestamp_seconds{certificate} so an alert fires before
// a missed renewal (kubeadm's certificates last a year) breaks the sidecar.

#include <optional>
#include <string>
#include <vector>

namespace mvproxy::tls {

struct certificate_expiry {
  std::string certificate;  // serving, client-ca, requestheader-client-ca, upstream-ca, ...
  double not_after = 0;     // seconds since the Unix epoch
};

// The earliest notAfter of the PEM certificates in `file` (a CA bundle holds several;
// the first to expire is the one that matters); nullopt when none can be read.
std::optional<double> earliest_not_after(const std::string& file);

// One entry per non-empty, readable file of `files` (label, path), in that order.
std::vector<certificate_expiry> expirations_of(
    const std::vector<std::pair<std::string, std::string>>& files);

}  // namespace mvproxy::tls
