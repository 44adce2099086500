#pragma once
// `mvproxy probe` flags: pflag syntax like the daemon's (--flag=value, --flag value,
// -h), checked before any file is read or socket opened. Nothing here does I/O.

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace mvproxy::probe {

// what() is one line naming the flag and the reason, as the daemon's config::error:
// "--rate: \"abc\" is not a number".
struct flag_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct sidecar_address {
  std::string id;
  std::string host;  // without brackets
  std::uint16_t port = 0;
  bool operator==(const sidecar_address&) const = default;
};

enum class output_format { text, json };

struct options {
  std::string kubeconfig;
  std::vector<sidecar_address> sidecars;               // in the order given; ids unique
  std::string server_name = "kubernetes.default.svc";  // empty: each sidecar's host
  double rate = 20;                                    // requests per second, overall
  std::chrono::milliseconds interval{10'000};          // discovery re-read, table
  std::chrono::milliseconds window{60'000};            // live table cells
  std::chrono::milliseconds duration{0};               // 0: until SIGINT/SIGTERM
  std::chrono::milliseconds timeout{10'000};           // per request
  std::string metrics_address;                         // host:port; empty: off
  std::string namespace_;                              // empty: all namespaces
  std::vector<std::string> resources;                  // "pods", "deployments.apps"; empty: all
  output_format output = output_format::text;
  bool help = false;
};

// argv[0] is the subcommand name ("probe"). Throws flag_error. --help stops
// validation, so `probe --help` works without the required flags.
options parse_options(int argc, const char* const* argv);

std::string help_text();

}  // namespace mvproxy::probe
