#include "mvproxy/config/parse.hpp"
#include "mvproxy/util/text.hpp"
#include "values.hpp"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <thread>
#include <vector>

#include "mvproxy/config/validate.hpp"
#include "mvproxy/util/duration.hpp"
#include "mvproxy/util/host_port.hpp"

namespace mvproxy::config {
namespace {

using std::string_view;

// How a flag's value is read, and how a YAML value is turned into flag text.
enum class kind {
  scalar,   // last one wins
  list,     // comma-separated; repeats append (pflag StringSlice)
  gates,    // Name=bool,...; repeats merge per gate (pflag mapStringBool)
  boolean,  // --flag alone means true
};

struct flag {
  string_view name;
  string_view group;
  string_view value_name;  // shown in --help
  string_view default_text;
  string_view help;
  kind k = kind::scalar;
  // first: the first time this flag is set from the current source, so a list from
  // the command line replaces the file's instead of adding to it.
  std::function<void(config&, string_view value, bool first)> set;
};

using util::quoted;
using util::split_list;

template <class Member>
auto text_into(Member member) {
  return [member](config& c, string_view v, bool) { c.*member = std::string(v); };
}

template <class Member>
auto port_into(Member member) {
  return [member](config& c, string_view v, bool) { c.*member = port_value(v); };
}

template <class Member>
auto duration_into(Member member) {
  return [member](config& c, string_view v, bool) { c.*member = duration_value(v); };
}

const std::vector<flag>& flags() {
  static const std::vector<flag> table = {
      // Listener.
      {"bind-address", "Listener", "ip", "0.0.0.0",
       "Address of the one TLS listener, for clients and peers alike.", kind::scalar,
       text_into(&config::bind_address)},
      {"secure-port", "Listener", "port", "7443",
       "Port of the TLS listener (0: any free port, for tests).", kind::scalar,
       port_into(&config::secure_port)},
      {"tls-cert-file", "Listener", "file", "",
       "Serving certificate, PEM, with intermediates (a kubeadm apiserver.crt works). Required.",
       kind::scalar, text_into(&config::tls_cert_file)},
      {"tls-private-key-file", "Listener", "file", "",
       "Private key of --tls-cert-file, PEM. Required.", kind::scalar,
       text_into(&config::tls_private_key_file)},
      {"client-ca-file", "Listener", "file", "",
       "Client certificates that chain to this bundle are authenticated (user = CN, groups = O) "
       "and forwarded as X-Remote-User/X-Remote-Group.",
       kind::scalar, text_into(&config::client_ca_file)},
      {"requestheader-client-ca-file", "Listener", "file", "",
       "Client certificates that chain to this bundle are trusted peers / front proxies "
       "(kubeadm front-proxy-ca.crt).",
       kind::scalar, text_into(&config::requestheader_client_ca_file)},
      {"requestheader-allowed-names", "Listener", "names", "",
       "Common names allowed among --requestheader-client-ca-file certificates; empty: any.",
       kind::list,
       [](config& c, string_view v, bool first) {
         if (first) c.requestheader_allowed_names.clear();
         for (auto& n : split_list(v)) c.requestheader_allowed_names.push_back(std::move(n));
       }},
      {"http2-max-streams-per-connection", "Listener", "n", "0",
       "Streams an HTTP/2 client may open on one connection (0: 250, as kube-apiserver).",
       kind::scalar,
       [](config& c, string_view v, bool) {
         c.http2_max_streams_per_connection = static_cast<std::uint32_t>(int_value(v, 0, 100000));
       }},
      {"disable-http2-serving", "Listener", "", "false",
       "As kube-apiserver: offer HTTP/1.1 only (no h2 in ALPN).", kind::boolean,
       [](config& c, string_view v, bool) { c.disable_http2_serving = parse_bool(v); }},
      {"goaway-chance", "Listener", "fraction", "0",
       "As kube-apiserver: the fraction of HTTP/2 requests after which the client is sent "
       "GOAWAY, so it reconnects, likely through the load balancer to another server "
       "(0: off; at most 0.02).",
       kind::scalar,
       [](config& c, string_view v, bool) { c.goaway_chance = fraction_value(v, 0.02); }},
      // Local apiserver.
      {"upstream", "Local apiserver", "url", "https://127.0.0.1:6443",
       "The local kube-apiserver (https://host[:port]).", kind::scalar,
       text_into(&config::upstream)},
      {"upstream-ca-file", "Local apiserver", "file", "",
       "CA bundle the local apiserver's serving certificate must chain to; empty: system roots.",
       kind::scalar, text_into(&config::upstream_ca_file)},
      {"proxy-client-cert-file", "Local apiserver", "file", "",
       "Client certificate presented to the local apiserver and to peers "
       "(kubeadm front-proxy-client.crt).",
       kind::scalar, text_into(&config::proxy_client_cert_file)},
      {"proxy-client-key-file", "Local apiserver", "file", "",
       "Private key of --proxy-client-cert-file.", kind::scalar,
       text_into(&config::proxy_client_key_file)},
      {"disable-upstream-http2", "Local apiserver", "", "false",
       "Speak HTTP/1.1 to the local apiserver and to peers even when they offer h2 (by "
       "default one multiplexed HTTP/2 connection per upstream carries every request but "
       "upgrades).",
       kind::boolean,
       [](config& c, string_view v, bool) { c.disable_upstream_http2 = parse_bool(v); }},
      {"upstream-http2-read-idle-timeout", "Local apiserver", "duration", "30s",
       "As client-go's HTTP2_READ_IDLE_TIMEOUT_SECONDS: an HTTP/2 upstream connection with "
       "no frame read for this long is sent a PING (to the local apiserver and to peers).",
       kind::scalar, duration_into(&config::upstream_http2_read_idle_timeout)},
      {"upstream-http2-ping-timeout", "Local apiserver", "duration", "15s",
       "As client-go's HTTP2_PING_TIMEOUT_SECONDS: the connection is closed, and its "
       "requests fail over, when that PING is not answered in this time.",
       kind::scalar, duration_into(&config::upstream_http2_ping_timeout)},
      // Peers.
      {"peer-ca-file", "Peers", "file", "",
       "CA bundle that peers' serving certificates must chain to. Without it nothing is proxied "
       "to peers (as kube-apiserver 1.36).",
       kind::scalar, text_into(&config::peer_ca_file)},
      {"peer-server-name", "Peers", "name", "kubernetes.default.svc",
       "Name verified on peers' serving certificates.", kind::scalar,
       text_into(&config::peer_server_name)},
      {"peer-advertise-ip", "Peers", "ip", "", "IP published for peers to reach this sidecar.",
       kind::scalar, text_into(&config::peer_advertise_ip)},
      {"peer-advertise-port", "Peers", "port", "--secure-port",
       "Port published for peers to reach this sidecar.", kind::scalar,
       port_into(&config::peer_advertise_port)},
      {"peer-discovery", "Peers", "lease|static", "lease",
       "How peers are found: Leases in --lease-namespace, or the --peers list.", kind::scalar,
       [](config& c, string_view v, bool) {
         if (v == "lease") {
           c.peer_discovery = peer_discovery_mode::lease;
         } else if (v == "static") {
           c.peer_discovery = peer_discovery_mode::static_list;
         } else {
           throw std::invalid_argument(quoted(v) + " is not one of lease, static");
         }
       }},
      {"peers", "Peers", "id=host:port,...", "",
       "Static peers; may list every sidecar, this one included (its entry is skipped), "
       "or none (a single sidecar).",
       kind::list,
       [](config& c, string_view v, bool first) {
         if (first) c.peers.clear();
         for (auto& p : peers_value(v)) c.peers.push_back(std::move(p));
       }},
      {"lease-namespace", "Peers", "namespace", "kube-system", "Namespace of the peer Leases.",
       kind::scalar, text_into(&config::lease_namespace)},
      {"lease-duration", "Peers", "duration", "15s",
       "How long a peer Lease stays valid without renewal.", kind::scalar,
       duration_into(&config::lease_duration)},
      {"lease-renew-interval", "Peers", "duration", "5s",
       "How often the own Lease is renewed; shorter than --lease-duration.", kind::scalar,
       duration_into(&config::lease_renew_interval)},
      {"discovery-sync-interval", "Peers", "duration", "10s",
       "How often discovery documents are re-read (with ETag).", kind::scalar,
       duration_into(&config::discovery_sync_interval)},
      {"local-recovery-wait", "Peers", "duration", "2s",
       "While the local apiserver is down or being re-read, how long a request that only it "
       "might serve waits for it (0: not at all).",
       kind::scalar, duration_into(&config::local_recovery_wait)},
      {"peer-exclusion-grace-period", "Peers", "duration", "5m",
       "How long a deleted CRD's or aggregated API's group-version stays excluded from peer "
       "routing and from peers' part of merged discovery.",
       kind::scalar, duration_into(&config::peer_exclusion_grace_period)},
      {"feature-gates", "Peers", "Name=bool,...", "UnknownVersionInteroperabilityProxy=true",
       "UnknownVersionInteroperabilityProxy=false makes mvproxy a plain pass-through proxy.",
       kind::gates, [](config& c, string_view v, bool) { gates_value(c, v); }},
      {"server-id", "Peers", "id", "the host name",
       "This sidecar's id (its Lease name); peers are ordered by it.", kind::scalar,
       text_into(&config::server_id)},
      {"kubeconfig", "Peers", "file", "",
       "Credentials for mvproxy's own API calls; without it they use the proxy client "
       "certificate.",
       kind::scalar, text_into(&config::kubeconfig)},
      // Timeouts.
      {"request-timeout", "Timeouts", "duration", "1m",
       "As kube-apiserver's (and with its default): for requests other than watches, exec, "
       "attach, port-forward, proxy and logs, the most an upstream may stay silent while its "
       "response is awaited or relayed, and a client while its request body is read.",
       kind::scalar, duration_into(&config::request_timeout)},
      {"upstream-connect-timeout", "Timeouts", "duration", "5s",
       "TCP connect and TLS handshake to the local apiserver or a peer, together; past it the "
       "next target is tried.",
       kind::scalar, duration_into(&config::upstream_connect_timeout)},
      // Operations.
      {"admin-address", "Operations", "host:port", "127.0.0.1:7444",
       "Plain-HTTP address of /metrics, /healthz, /livez, /readyz, /debug/peers.", kind::scalar,
       text_into(&config::admin_address)},
      {"config", "Operations", "file", "",
       "YAML file with these settings (keys are the flag names); flags win.", kind::scalar,
       text_into(&config::config_file)},
      {"workers", "Operations", "n", "number of cores", "Threads serving connections.",
       kind::scalar,
       [](config& c, string_view v, bool) {
         c.workers = static_cast<unsigned>(int_value(v, 1, 1024));
       }},
      {"log-format", "Operations", "text|json", "text", "Log line format.", kind::scalar,
       [](config& c, string_view v, bool) {
         if (v == "text") {
           c.log_fmt = log_format::text;
         } else if (v == "json") {
           c.log_fmt = log_format::json;
         } else {
           throw std::invalid_argument(quoted(v) + " is not one of text, json");
         }
       }},
      {"access-log", "Operations", "", "true",
       "One line per request on stderr (buffered, written at least every second). false: "
       "none; the metrics still count every request.",
       kind::boolean, [](config& c, string_view v, bool) { c.access_log = parse_bool(v); }},
      {"v", "Operations", "level", "0", "Log verbosity (also -v N).", kind::scalar,
       [](config& c, string_view v, bool) { c.verbosity = static_cast<int>(int_value(v, 0, 10)); }},
      {"shutdown-grace-period", "Operations", "duration", "30s",
       "On SIGTERM, how long in-flight requests may take before watches are closed.", kind::scalar,
       duration_into(&config::shutdown_grace_period)},
      {"version", "Operations", "", "", "Print the version and exit.", kind::boolean, {}},
      {"help", "Operations", "", "", "Print this help and exit (also -h).", kind::boolean, {}},
  };
  return table;
}

const flag* find_flag(string_view name) {
  for (const auto& f : flags()) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::string flag_error(string_view name, string_view reason, string_view file = {}) {
  std::string out = "--" + std::string(name) + ": " + std::string(reason);
  if (!file.empty()) out += " (in " + std::string(file) + ")";
  return out;
}

struct assignment {
  const flag* f;
  std::string value;
};

// The command line as (flag, value) pairs, in order; pflag's syntax.
std::vector<assignment> read_command_line(int argc, const char* const* argv) {
  std::vector<assignment> out;
  for (int i = 1; i < argc; ++i) {
    string_view arg = argv[i];
    string_view name;
    std::optional<string_view> value;
    if (arg == "--") {
      if (i + 1 < argc) throw error("unexpected argument " + quoted(argv[i + 1]));
      break;
    }
    if (arg.starts_with("--")) {
      name = arg.substr(2);
      if (auto eq = name.find('='); eq != string_view::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
    } else if (arg.size() > 1 && arg.front() == '-') {
      // Shorthands: -h, -v N, -v=N, -vN.
      char shorthand = arg[1];
      if (shorthand == 'h' && arg.size() == 2) {
        name = "help";
      } else if (shorthand == 'v') {
        name = "v";
        if (arg.size() > 2) value = arg[2] == '=' ? arg.substr(3) : arg.substr(2);
      } else {
        throw error(std::string(arg.substr(0, 2)) + ": unknown shorthand flag");
      }
    } else {
      throw error("unexpected argument " + quoted(arg));
    }
    const flag* f = find_flag(name);
    if (f == nullptr) throw error(flag_error(name, "unknown flag"));
    if (f->k == kind::boolean) {
      out.push_back({f, std::string(value.value_or("true"))});
      continue;
    }
    if (!value) {
      if (i + 1 >= argc) throw error(flag_error(name, "flag needs an argument"));
      value = argv[++i];
    }
    out.push_back({f, std::string(*value)});
  }
  return out;
}

// A YAML value as the text the flag would have been given.
std::string yaml_as_flag_text(const flag& f, const YAML::Node& node, const std::string& file) {
  auto bad = [&](string_view what) { return error(flag_error(f.name, what, file)); };
  if (node.IsScalar()) return node.Scalar();
  if (node.IsSequence() && f.k == kind::list) {
    std::string joined;
    for (const auto& item : node) {
      if (!item.IsScalar()) throw bad("list items must be strings");
      if (item.Scalar().find(',') != std::string::npos)
        throw bad("list item " + quoted(item.Scalar()) + " contains a comma");
      if (!joined.empty()) joined += ',';
      joined += item.Scalar();
    }
    return joined;
  }
  if (node.IsMap() && f.k == kind::gates) {
    std::string joined;
    for (const auto& kv : node) {
      if (!kv.first.IsScalar() || !kv.second.IsScalar()) throw bad("expected Name: bool");
      if (!joined.empty()) joined += ',';
      joined += kv.first.Scalar() + "=" + kv.second.Scalar();
    }
    return joined;
  }
  if (node.IsNull()) throw bad("empty value");
  throw bad(f.k == kind::list    ? "expected a string or a list of strings"
            : f.k == kind::gates ? "expected a map of Name: bool or Name=bool,..."
                                 : "expected a single value");
}

void apply(config& c, const flag& f, string_view value, std::set<string_view>& seen,
           const std::string& file) {
  bool first = seen.insert(f.name).second;
  try {
    f.set(c, value, first);
  } catch (const std::invalid_argument& e) {
    throw error(flag_error(f.name, e.what(), file));
  }
}

void apply_file(config& c, const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(file);
  } catch (const YAML::BadFile&) {
    throw error(flag_error("config", file + ": cannot read file"));
  } catch (const YAML::Exception& e) {
    throw error(flag_error("config", file + ": " + e.what()));
  }
  if (root.IsNull()) return;
  if (!root.IsMap())
    throw error(flag_error("config", file + ": expected a map of flag names to values"));
  std::set<string_view> seen;
  for (const auto& kv : root) {
    std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "";
    const flag* f = find_flag(key);
    // Booleans that only act (help, version) have no setter and no place in a file.
    if (f == nullptr || (f->k == kind::boolean && !f->set) || f->name == "config") {
      throw error(flag_error("config", file + ": unknown key " + quoted(key)));
    }
    if (seen.contains(f->name))
      throw error(flag_error("config", file + ": duplicate key " + quoted(key)));
    apply(c, *f, yaml_as_flag_text(*f, kv.second, file), seen, file);
  }
}

std::string default_server_id() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) {
    throw error(flag_error("server-id", "cannot read the host name; set --server-id"));
  }
  return util::ascii_lower(buf);
}

}  // namespace

parse_result parse(int argc, const char* const* argv) {
  parse_result result;
  auto given = read_command_line(argc, argv);
  std::set<string_view> explicit_flags;
  for (const auto& a : given) {
    if (a.f->k != kind::boolean) {
      explicit_flags.insert(a.f->name);
      continue;
    }
    bool on;
    try {
      on = parse_bool(a.value);
    } catch (const std::invalid_argument& e) {
      throw error(flag_error(a.f->name, e.what()));
    }
    if (on && a.f->name == "help" && result.what == outcome::run) result.what = outcome::help;
    if (on && a.f->name == "version" && result.what == outcome::run) result.what = outcome::version;
  }
  if (result.what == outcome::help) {
    result.text = help_text();
    return result;
  }
  if (result.what == outcome::version) {
    result.text = version_text();
    return result;
  }

  config& c = result.cfg;
  // --config first (its last occurrence), so the command line can override the file.
  for (const auto& a : given) {
    if (a.f->name == "config") c.config_file = a.value;
  }
  if (!c.config_file.empty()) apply_file(c, c.config_file);
  std::set<string_view> seen;
  for (const auto& a : given) {
    if (a.f->k != kind::boolean || a.f->set) apply(c, *a.f, a.value, seen, {});
  }

  // As kube-apiserver: the peer flags mean nothing with the gate off, so setting them
  // is a mistake worth stopping for (validateUnknownVersionInteroperabilityProxyFlags).
  if (!c.mixed_version_proxy_enabled()) {
    for (string_view name : {"peer-ca-file", "peer-advertise-ip", "peer-advertise-port"}) {
      bool set_by_file = name == "peer-ca-file"        ? !c.peer_ca_file.empty()
                         : name == "peer-advertise-ip" ? !c.peer_advertise_ip.empty()
                                                       : c.peer_advertise_port != 0;
      if (explicit_flags.contains(name) || set_by_file) {
        throw error(flag_error(
            name, "requires UnknownVersionInteroperabilityProxy feature to be turned on"));
      }
    }
  }

  if (c.workers == 0) c.workers = std::max(1u, std::thread::hardware_concurrency());
  if (c.peer_advertise_port == 0) c.peer_advertise_port = c.secure_port;
  if (c.server_id.empty()) c.server_id = default_server_id();
  // A static list may be empty: a single sidecar (no peers yet) is a normal first step,
  // and says so in its log at start.
  std::erase_if(c.peers, [&](const static_peer& p) { return p.id == c.server_id; });

  validate(c);
  return result;
}

std::string help_text() {
  std::ostringstream out;
  out << "mvproxy: a Mixed Version Proxy sidecar for kube-apiserver (KEP-4020).\n\n"
         "Usage: mvproxy [flags]\n"
         "       mvproxy probe [flags]   the canary for real upgrades (mvproxy probe --help)\n"
         "Flags take --flag=value or --flag value; durations use Go syntax (500ms, 10s, 1m30s).\n";
  string_view group;
  for (const auto& f : flags()) {
    if (f.group != group) {
      group = f.group;
      out << "\n" << group << ":\n";
    }
    std::string left = "  --" + std::string(f.name);
    if (!f.value_name.empty()) left += " " + std::string(f.value_name);
    out << left;
    if (left.size() < 40) {
      out << std::string(40 - left.size(), ' ');
    } else {
      out << "\n" << std::string(40, ' ');
    }
    out << f.help;
    if (!f.default_text.empty()) out << " (default " << f.default_text << ")";
    out << "\n";
  }
  return out.str();
}

std::string version_text() { return std::string("mvproxy ") + MVPROXY_VERSION + "\n"; }

}  // namespace mvproxy::config
