#pragma once
// The credentials of a kubeconfig's current context, for mvproxy's own API calls when
// --kubeconfig is given: a bearer token and/or a client certificate, and the cluster CA.

#include <string>

namespace mvproxy::control {

struct kubeconfig_credentials {
  std::string token;
  std::string cert_file, key_file;  // or the *_pem fields from *-data
  std::string cert_pem, key_pem;
  std::string ca_file, ca_pem;
};

// Throws std::runtime_error naming what is missing or malformed.
kubeconfig_credentials load_kubeconfig(const std::string& path);

}  // namespace mvproxy::control
