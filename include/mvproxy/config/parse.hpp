#pragma once
// Command line (pflag-style, as kube-apiserver reads it) and --config YAML into a
// validated config. Nothing here opens a socket.

#include <stdexcept>
#include <string>

#include "mvproxy/config/config.hpp"

namespace mvproxy::config {

// what() is one line naming the flag and the reason, e.g.
// "--tls-cert-file: /x/y.crt: no such file" or "--secure-port: \"abc\" is not a port".
struct error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class outcome { run, help, version };

struct parse_result {
  outcome what = outcome::run;
  config cfg;
  std::string text;  // help/version text
};

// Accepted forms: --flag=value, --flag value, --bool-flag[=true|false], -v N, -v=N,
// -vN, --v=N, -h. Defaults, then --config YAML (keys are the flag names), then flags
// (flags win; a list flag given on the command line replaces the file's list,
// --feature-gates merge per gate). Fills the derived defaults (workers, server-id,
// peer-advertise-port), drops the --peers entry whose id is the server id, and calls
// validate(). Throws config::error.
parse_result parse(int argc, const char* const* argv);

// Every flag with its default and meaning, grouped as SPEC §2.
std::string help_text();

std::string version_text();

}  // namespace mvproxy::config
