#include "values.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>
#include <stdexcept>
#include <string>

#include "mvproxy/util/duration.hpp"
#include "mvproxy/util/host_port.hpp"
#include "mvproxy/util/text.hpp"

namespace mvproxy::config {

using std::string_view;
using util::quoted;
using util::split_list;
using util::trim;

namespace {
const std::set<std::string, std::less<>> known_gates = {"UnknownVersionInteroperabilityProxy"};
}  // namespace

bool parse_bool(string_view v) {
  if (v == "1" || v == "t" || v == "T" || v == "true" || v == "TRUE" || v == "True") return true;
  if (v == "0" || v == "f" || v == "F" || v == "false" || v == "FALSE" || v == "False")
    return false;
  throw std::invalid_argument(quoted(v) + " is not a boolean");
}

std::uint16_t port_value(string_view v) {
  try {
    return util::parse_port(v);
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument(quoted(v) + " is not a port");
  }
}

std::chrono::milliseconds duration_value(string_view v) {
  try {
    return util::parse_duration_ms(v);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(quoted(v) + " is not a duration: " + e.what());
  }
}

long long int_value(string_view v, long long min, long long max) {
  long long n = 0;
  bool negative = !v.empty() && v.front() == '-';
  string_view digits = negative ? v.substr(1) : v;
  if (digits.empty() || digits.size() > 9 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    throw std::invalid_argument(quoted(v) + " is not an integer");
  }
  for (char c : digits) n = n * 10 + (c - '0');
  if (negative) n = -n;
  if (n < min || n > max) {
    throw std::invalid_argument(quoted(v) + " is out of range [" + std::to_string(min) + ", " +
                                std::to_string(max) + "]");
  }
  return n;
}

namespace {
// 0.02 as 0.02, not 0.020000.
std::string fmt_max(double d) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(d);
}
}  // namespace

double fraction_value(string_view v, double max) {
  double d = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size() || !std::isfinite(d))
    throw std::invalid_argument(quoted(v) + " is not a number");
  if (d < 0 || d > max)
    throw std::invalid_argument(quoted(v) + " is out of range [0, " + std::string(fmt_max(max)) +
                                "]");
  return d;
}

std::vector<static_peer> peers_value(string_view v) {
  std::vector<static_peer> out;
  for (const auto& item : split_list(v)) {
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw std::invalid_argument(quoted(item) + " is not id=host:port");
    }
    util::host_port hp;
    try {
      hp = util::parse_host_port(std::string_view(item).substr(eq + 1));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(quoted(item) + ": " + e.what());
    }
    if (hp.host.empty()) throw std::invalid_argument(quoted(item) + ": missing host");
    if (hp.port == 0) throw std::invalid_argument(quoted(item) + ": port 0");
    out.push_back({item.substr(0, eq), hp.host, hp.port});
  }
  return out;
}

void gates_value(config& c, string_view v) {
  for (const auto& item : split_list(v)) {
    auto eq = item.find('=');
    if (eq == std::string::npos) throw std::invalid_argument("missing bool value for " + item);
    std::string name(trim(std::string_view(item).substr(0, eq)));
    std::string_view value = trim(std::string_view(item).substr(eq + 1));
    // kube-apiserver's own wording for these two.
    if (!known_gates.contains(name))
      throw std::invalid_argument("unrecognized feature gate: " + name);
    bool on;
    try {
      on = parse_bool(value);
    } catch (const std::invalid_argument&) {
      throw std::invalid_argument("invalid value of " + item + ": not a boolean");
    }
    c.feature_gates[name] = on;
  }
}

}  // namespace mvproxy::config
