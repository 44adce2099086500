#include "mvproxy/probe/options.hpp"
#include "mvproxy/util/text.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>

#include "mvproxy/util/duration.hpp"
#include "mvproxy/util/host_port.hpp"

namespace mvproxy::probe {
namespace {

using std::string_view;

struct flag {
  string_view name;
  string_view value_name;  // shown in --help; empty: a boolean flag
  string_view default_text;
  string_view help;
  std::function<void(options&, string_view)> set;
};

using util::quoted;
using util::split_list;

// Lower-case letters, digits, '-' and '.', starting and ending alphanumeric: ids and
// namespaces show up in tables and metric labels, so keep them to what Kubernetes
// allows in names.
bool is_dns_name(string_view s, bool allow_dots) {
  if (s.empty() || s.size() > 253) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return alnum(c) || c == '-' || (allow_dots && c == '.'); });
}

std::chrono::milliseconds duration_value(string_view v) {
  try {
    return util::parse_duration_ms(v);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(quoted(v) + " is not a duration: " + e.what());
  }
}

std::chrono::milliseconds positive_duration(string_view v) {
  auto d = duration_value(v);
  if (d.count() <= 0) throw std::invalid_argument(quoted(v) + ": must be at least 1ms");
  return d;
}

double rate_value(string_view v) {
  std::string text(v);
  char* end = nullptr;
  double r = text.empty() ? 0 : std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(r)) {
    throw std::invalid_argument(quoted(v) + " is not a number");
  }
  if (r <= 0 || r > 10'000) throw std::invalid_argument(quoted(v) + " is out of range (0, 10000]");
  return r;
}

sidecar_address sidecar_value(const std::string& item) {
  auto eq = item.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw std::invalid_argument(quoted(item) + " is not id=host:port");
  }
  std::string id = item.substr(0, eq);
  if (!is_dns_name(id, true)) {
    throw std::invalid_argument(quoted(id) + " is not a lower-case RFC 1123 name");
  }
  util::host_port hp;
  try {
    hp = util::parse_host_port(string_view(item).substr(eq + 1));
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(quoted(item) + ": " + e.what());
  }
  if (hp.host.empty()) throw std::invalid_argument(quoted(item) + ": missing host");
  if (hp.port == 0) throw std::invalid_argument(quoted(item) + ": port 0");
  return {id, hp.host, hp.port};
}

bool is_ip(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// The admin server binds an endpoint, so the host must be an IP literal.
std::string metrics_address_value(string_view v) {
  if (v.empty()) return {};
  util::host_port hp;
  try {
    hp = util::parse_host_port(v);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(quoted(v) + ": " + e.what());
  }
  if (!is_ip(hp.host)) throw std::invalid_argument(quoted(v) + ": host must be an IP address");
  return std::string(v);
}

// kubectl's spelling: "pods", "deployments.apps", "resourceclaims.resource.k8s.io".
std::string resource_value(const std::string& item) {
  if (!is_dns_name(item, true)) {
    throw std::invalid_argument(quoted(item) + " is not resource[.group]");
  }
  return item;
}

const std::vector<flag>& flags() {
  static const std::vector<flag> table = {
      {"kubeconfig", "file", "", "Credentials (token and/or client certificate) and CA. Required.",
       [](options& o, string_view v) { o.kubeconfig = std::string(v); }},
      {"sidecars", "id=host:port,...", "",
       "The mvproxy sidecars to probe (IPv6 as [::1]:7443); repeats add. Required.",
       [](options& o, string_view v) {
         for (auto& item : split_list(v)) o.sidecars.push_back(sidecar_value(item));
       }},
      {"server-name", "name", "kubernetes.default.svc",
       "Name verified on the sidecars' serving certificates; empty: each sidecar's host.",
       [](options& o, string_view v) { o.server_name = std::string(v); }},
      {"rate", "n", "20", "Most requests per second, over all sidecars.",
       [](options& o, string_view v) { o.rate = rate_value(v); }},
      {"interval", "duration", "10s",
       "How often discovery is re-read (and, without a terminal, the table printed).",
       [](options& o, string_view v) { o.interval = positive_duration(v); }},
      {"window", "duration", "1m", "Availability in the live table is over this last stretch.",
       [](options& o, string_view v) { o.window = positive_duration(v); }},
      {"duration", "duration", "0", "Stop after this long; 0: at SIGINT/SIGTERM.",
       [](options& o, string_view v) { o.duration = duration_value(v); }},
      {"timeout", "duration", "10s", "Per request, connect to last byte.",
       [](options& o, string_view v) { o.timeout = positive_duration(v); }},
      {"metrics-address", "ip:port", "off",
       "Serve Prometheus /metrics (plain HTTP) here; port 0 picks one (printed).",
       [](options& o, string_view v) { o.metrics_address = metrics_address_value(v); }},
      {"namespace", "name", "all namespaces", "Namespace of LISTs of namespaced resources.",
       [](options& o, string_view v) {
         if (!v.empty() && !is_dns_name(v, false)) {
           throw std::invalid_argument(quoted(v) + " is not a namespace name");
         }
         o.namespace_ = std::string(v);
       }},
      {"resources", "resource[.group],...", "all",
       "Probe only these (kubectl spelling: pods, deployments.apps); repeats add.",
       [](options& o, string_view v) {
         for (auto& item : split_list(v)) o.resources.push_back(resource_value(item));
       }},
      {"output", "text|json", "text", "Format of the final summary on stdout.",
       [](options& o, string_view v) {
         if (v == "text") {
           o.output = output_format::text;
         } else if (v == "json") {
           o.output = output_format::json;
         } else {
           throw std::invalid_argument(quoted(v) + " is not one of text, json");
         }
       }},
      {"help", "", "", "Print this help and exit (also -h).", {}},
  };
  return table;
}

const flag* find_flag(string_view name) {
  for (const auto& f : flags()) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::string error_line(string_view name, string_view reason) {
  return "--" + std::string(name) + ": " + std::string(reason);
}

// Go's strconv.ParseBool, as pflag reads --help=false.
bool bool_value(string_view name, string_view v) {
  if (v == "1" || v == "t" || v == "T" || v == "true" || v == "TRUE" || v == "True") return true;
  if (v == "0" || v == "f" || v == "F" || v == "false" || v == "FALSE" || v == "False")
    return false;
  throw flag_error(error_line(name, quoted(v) + " is not a boolean"));
}

void check_required(const options& o) {
  if (o.kubeconfig.empty()) throw flag_error(error_line("kubeconfig", "required"));
  if (o.sidecars.empty()) throw flag_error(error_line("sidecars", "required (id=host:port,...)"));
  std::set<std::string> ids;
  for (const auto& s : o.sidecars) {
    if (!ids.insert(s.id).second)
      throw flag_error(error_line("sidecars", "duplicate id " + quoted(s.id)));
  }
}

}  // namespace

options parse_options(int argc, const char* const* argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    string_view arg = argv[i];
    if (arg == "--") {
      if (i + 1 < argc) throw flag_error("unexpected argument " + quoted(argv[i + 1]));
      break;
    }
    if (arg == "-h") arg = "--help";
    if (!arg.starts_with("--")) throw flag_error("unexpected argument " + quoted(arg));
    string_view name = arg.substr(2);
    std::optional<string_view> value;
    if (auto eq = name.find('='); eq != string_view::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const flag* f = find_flag(name);
    if (f == nullptr) throw flag_error(error_line(name, "unknown flag"));
    if (f->value_name.empty()) {
      if (bool_value(name, value.value_or("true"))) o.help = true;
      continue;
    }
    if (!value) {
      if (i + 1 >= argc) throw flag_error(error_line(name, "flag needs an argument"));
      value = argv[++i];
    }
    try {
      f->set(o, *value);
    } catch (const std::invalid_argument& e) {
      throw flag_error(error_line(name, e.what()));
    }
  }
  if (!o.help) check_required(o);
  return o;
}

std::string help_text() {
  std::ostringstream out;
  out << "mvproxy probe: a read-only canary for a control plane mid-upgrade. Reads the merged\n"
         "discovery through every sidecar, then LISTs (limit=1) and GETs every served resource\n"
         "through every sidecar, round robin under --rate, printing a live availability table;\n"
         "at the end prints availability per resource per sidecar. Exit 0 when every request\n"
         "succeeded, 1 when some did not, 2 for a bad flag.\n\n"
         "Usage: mvproxy probe --kubeconfig FILE --sidecars id=host:port,... [flags]\n\n"
         "Flags:\n";
  for (const auto& f : flags()) {
    std::string left = "  --" + std::string(f.name);
    if (!f.value_name.empty()) left += " " + std::string(f.value_name);
    out << left;
    if (left.size() < 36) {
      out << std::string(36 - left.size(), ' ');
    } else {
      out << "\n" << std::string(36, ' ');
    }
    out << f.help;
    if (!f.default_text.empty()) out << " (default " << f.default_text << ")";
    out << "\n";
  }
  return out.str();
}

}  // namespace mvproxy::probe
