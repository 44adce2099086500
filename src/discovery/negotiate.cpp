#include "mvproxy/discovery/negotiate.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <map>
#include <optional>
#include <vector>

namespace mvproxy::discovery {

const char* const discovery_accept =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;profile=nopeer,"
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0.9,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList;q=0.8,"
    "application/json;q=0.7";

namespace {

// One clause of an Accept header, as goautoneg parses it.
struct clause {
  std::string_view type;
  std::string_view subtype;
  double q = 1.0;
  std::map<std::string_view, std::string_view> params;  // a later duplicate wins
};

// Spaces only, not util::trim_ows: goautoneg trims with strings.Trim(s, " "), so a tab
// stays part of the type or parameter, and the choice must match kube-apiserver's.
std::string_view trim_spaces(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// Splits on every `sep`, keeping empty pieces (Go's strings.Split).
std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    auto at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

// Go's strconv.ParseFloat(s, 32) as goautoneg uses it: any error reads as 0, an
// overflow as infinity.
double parse_q(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
    if (!s.empty() && (s.front() == '+' || s.front() == '-')) return 0;
  }
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || end != s.data() + s.size()) return 0;
  if (ec == std::errc::result_out_of_range)
    v = std::numeric_limits<double>::infinity();
  else if (ec != std::errc())
    return 0;
  if (v > std::numeric_limits<float>::max()) v = std::numeric_limits<double>::infinity();
  return negative ? -v : v;
}

std::vector<clause> parse_accept(std::string_view header) {
  std::vector<clause> out;
  for (std::string_view part : split(header, ',')) {
    part = trim_spaces(part);
    std::vector<std::string_view> mrp = split(part, ';');
    std::vector<std::string_view> sp = split(mrp[0], '/');
    clause c;
    c.type = trim_spaces(sp[0]);
    if (sp.size() == 1 && c.type == "*") {
      c.subtype = "*";
    } else if (sp.size() == 2) {
      c.subtype = trim_spaces(sp[1]);
    } else {
      continue;
    }
    for (std::size_t i = 1; i < mrp.size(); ++i) {
      auto eq = mrp[i].find('=');
      if (eq == std::string_view::npos) continue;
      std::string_view token = trim_spaces(mrp[i].substr(0, eq));
      std::string_view value = mrp[i].substr(eq + 1);
      if (token == "q") {
        c.q = parse_q(value);
      } else {
        c.params[token] = trim_spaces(value);
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

// goautoneg's ordering. It is not a strict weak order (a lower q can still sort first
// on specificity), so the result depends on the algorithm: Go's sort.Sort runs an
// insertion sort up to 12 elements, reproduced here exactly. Longer headers, which no
// client sends, get a stable sort by (q, specificity).
bool goautoneg_less(const clause& a, const clause& b) {
  if (a.q > b.q) return true;
  if (a.type != "*" && b.type == "*") return true;
  if (a.subtype != "*" && b.subtype == "*") return true;
  return false;
}

void sort_clauses(std::vector<clause>& clauses) {
  if (clauses.size() <= 12) {
    for (std::size_t i = 1; i < clauses.size(); ++i)
      for (std::size_t j = i; j > 0 && goautoneg_less(clauses[j], clauses[j - 1]); --j)
        std::swap(clauses[j], clauses[j - 1]);
    return;
  }
  std::stable_sort(clauses.begin(), clauses.end(), [](const clause& a, const clause& b) {
    auto rank = [](const clause& c) {
      return (c.type == "*" ? 2 : 0) + (c.subtype == "*" ? 1 : 0);
    };
    if (a.q != b.q) return a.q > b.q;
    return rank(a) < rank(b);
  });
}

bool matches_json(const clause& c) {
  if (c.type == "*" && c.subtype == "*") return true;
  return c.type == "application" && (c.subtype == "json" || c.subtype == "*");
}

// upstream acceptMediaTypeOptions with the discovery endpoint's restrictions: a
// conversion is allowed only to APIGroupDiscoveryList, a server version never, a
// stream schema only "watch".
std::optional<discovery_negotiation> accept_options(const clause& c) {
  bool convert = false;
  std::string_view group, version, kind, profile;
  for (const auto& [key, value] : c.params) {
    if (key == "as") {
      convert = true;
      kind = value;
    } else if (key == "g") {
      convert = true;
      group = value;
    } else if (key == "v") {
      convert = true;
      version = value;
    } else if (key == "stream") {
      if (!value.empty() && value != "watch") return std::nullopt;
    } else if (key == "sv") {
      if (!value.empty()) return std::nullopt;
    } else if (key == "profile") {
      profile = value;
    }
  }
  discovery_negotiation out;
  out.nopeer = profile == "nopeer";
  if (!convert) return out;
  if (group != "apidiscovery.k8s.io" || kind != "APIGroupDiscoveryList") return std::nullopt;
  if (version == "v2") {
    out.format = discovery_format::aggregated_v2;
  } else if (version == "v2beta1") {
    out.format = discovery_format::aggregated_v2beta1;
  } else {
    return std::nullopt;
  }
  return out;
}

}  // namespace

discovery_negotiation negotiate_discovery(std::string_view accept_header) {
  if (accept_header.empty()) return {};
  std::vector<clause> clauses = parse_accept(accept_header);
  sort_clauses(clauses);
  for (const auto& c : clauses) {
    if (!matches_json(c)) continue;
    if (auto options = accept_options(c)) return *options;
  }
  return {};
}

std::string_view content_type_for(discovery_format format) {
  switch (format) {
    case discovery_format::aggregated_v2:
      return "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
    case discovery_format::aggregated_v2beta1:
      return "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";
    case discovery_format::legacy:
      break;
  }
  return "application/json";
}

}  // namespace mvproxy::discovery
