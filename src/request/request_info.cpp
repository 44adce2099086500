#include "mvproxy/request/request_info.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>

#include "mvproxy/request/query.hpp"
#include "mvproxy/util/text.hpp"

namespace mvproxy::request {
namespace {

using namespace std::string_view_literals;

// More than any rule looks at: prefix, group, version, verb, "namespaces", namespace,
// resource, name, subresource. Counts are capped here; every comparison upstream makes
// is "at least k" with k small enough for the cap to keep it exact.
constexpr std::size_t max_segments = 12;

struct path_segments {
  std::array<std::string_view, max_segments> at;
  std::size_t count = 0;
};

// Plain loops: path segments are short, and a memchr call per segment costs more.
std::size_t index_of(std::string_view s, char c) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == c) return i;
  }
  return std::string_view::npos;
}

bool has_escape(std::string_view s) { return index_of(s, '%') != std::string_view::npos; }

bool has_encoded_slash(std::string_view s) {
  for (std::size_t i = 0; i + 2 < s.size(); ++i) {
    if (s[i] == '%' && s[i + 1] == '2' && (s[i + 2] == 'f' || s[i + 2] == 'F')) return true;
  }
  return false;
}

// "." or "..", also spelled with %2e (paths have valid escapes by now).
bool is_dot_segment(std::string_view s) {
  int dots = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '.') {
      ++dots;
    } else if (s[i] == '%' && s[i + 1] == '2' && (s[i + 2] == 'e' || s[i + 2] == 'E')) {
      ++dots;
      i += 2;
    } else {
      return false;
    }
  }
  return dots == 1 || dots == 2;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

// Whether the path-decoded `raw` ('+' stays '+'), up to its first decoded '/', is
// `plain`: what the apiserver takes for the first segment. Needs valid escapes.
bool decoded_head_equals(std::string_view raw, std::string_view plain) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < raw.size(); ++i, ++n) {
    char c = raw[i];
    if (c == '%') {
      c = static_cast<char>(hex_value(raw[i + 1]) * 16 + hex_value(raw[i + 2]));
      i += 2;
    }
    if (c == '/') break;
    if (n >= plain.size() || plain[n] != c) return false;
  }
  return n == plain.size();
}

// Why the path as a whole cannot be classified safely; empty when it can.
std::string_view path_problem(std::string_view path) {
  if (path.empty() || path.front() != '/') return "path does not start with '/'"sv;
  if (!valid_escapes(path)) return "invalid %-escape in path"sv;
  std::string_view rest = path.substr(1);
  for (;;) {
    std::size_t slash = index_of(rest, '/');
    std::string_view segment = rest.substr(0, slash);
    if (slash == std::string_view::npos) {
      // An empty last segment is the root or one trailing slash: both fine.
      return is_dot_segment(segment) ? "dot segment in path"sv : std::string_view{};
    }
    if (segment.empty()) return "empty segment in path"sv;
    if (is_dot_segment(segment)) return "dot segment in path"sv;
    rest = rest.substr(slash + 1);
  }
}

// Upstream's splitPath (strings.Trim(path, "/") then split), for a path that passed
// path_problem: one leading slash and at most one trailing slash to trim.
path_segments split_path(std::string_view path, std::string_view& trimmed) {
  trimmed = path.substr(1);
  if (!trimmed.empty() && trimmed.back() == '/') trimmed.remove_suffix(1);
  path_segments s;
  std::string_view rest = trimmed;
  while (!rest.empty() && s.count < max_segments) {
    std::size_t slash = index_of(rest, '/');
    s.at[s.count++] = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
  }
  return s;
}

discovery_path discovery_of(const path_segments& s) {
  if (s.count == 0 || s.count > 3) return {};
  for (std::size_t i = 1; i < s.count; ++i) {
    if (has_escape(s.at[i])) return {};
  }
  if (s.at[0] == "api"sv) {
    if (s.count == 1) return {discovery_kind::api_root, {}, {}};
    if (s.count == 2) return {discovery_kind::api_version, {}, s.at[1]};
  } else if (s.at[0] == "apis"sv) {
    if (s.count == 1) return {discovery_kind::apis_root, {}, {}};
    if (s.count == 2) return {discovery_kind::group, s.at[1], {}};
    return {discovery_kind::group_version, s.at[1], s.at[2]};
  }
  return {};
}

std::string_view resource_verb(std::string_view method) {
  if (method == "POST"sv) return "create"sv;
  if (method == "GET"sv || method == "HEAD"sv) return "get"sv;
  if (method == "PUT"sv) return "update"sv;
  if (method == "PATCH"sv) return "patch"sv;
  if (method == "DELETE"sv) return "delete"sv;
  return {};
}

// Static spellings for the usual methods; empty when the caller must lower-case it.
std::optional<std::string_view> lower_method(std::string_view method) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 9> known{
      {{"GET", "get"},
       {"HEAD", "head"},
       {"POST", "post"},
       {"PUT", "put"},
       {"PATCH", "patch"},
       {"DELETE", "delete"},
       {"OPTIONS", "options"},
       {"CONNECT", "connect"},
       {"TRACE", "trace"}}};
  for (const auto& [upper, lower] : known) {
    if (method == upper) return lower;
  }
  for (char c : method) {
    if (c >= 'A' && c <= 'Z') return std::nullopt;
  }
  return method;
}

// A query value decoded into a stack buffer, or the heap when it is long.
class decoded_value {
 public:
  explicit decoded_value(std::string_view raw) {
    char* out = stack_.data();
    if (raw.size() > stack_.size()) {
      heap_.resize(raw.size());
      out = heap_.data();
    }
    view_ = {out, query_decode(raw, out)};
  }
  decoded_value(const decoded_value&) = delete;
  decoded_value& operator=(const decoded_value&) = delete;
  std::string_view view() const { return view_; }

 private:
  std::array<char, 256> stack_;
  std::string heap_;
  std::string_view view_;
};

// strconv.ParseInt(s, 10, 64) succeeds.
bool parses_as_int64(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return false;
  const std::uint64_t limit = negative ? 9223372036854775808ULL : 9223372036854775807ULL;
  std::uint64_t value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (limit - digit) / 10) return false;
    value = value * 10 + digit;
  }
  return true;
}

// fields.UnescapeValue: "\\" "\," "\=" are the only escapes; a bare ',' or '=' is an
// error. Writes into `out` when given (room for s.size()).
bool unescape_selector_value(std::string_view s, char* out, std::size_t* out_len) {
  std::size_t n = 0;
  bool in_slash = false;
  for (char c : s) {
    if (in_slash) {
      if (c != '\\' && c != ',' && c != '=') return false;
      if (out) out[n] = c;
      ++n;
      in_slash = false;
    } else if (c == '\\') {
      in_slash = true;
    } else if (c == ',' || c == '=') {
      return false;
    } else {
      if (out) out[n] = c;
      ++n;
    }
  }
  if (out_len) *out_len = n;
  return !in_slash;
}

// fields.ParseSelector then RequiresExactMatch("metadata.name"): the raw right-hand
// side of the smallest (in sort order) "metadata.name=" or "==" term, if the whole
// selector parses.
std::optional<std::string_view> selector_name_term(std::string_view selector) {
  std::optional<std::string_view> best_term;
  std::optional<std::string_view> best_rhs;
  std::size_t start = 0;
  bool in_slash = false;
  for (std::size_t i = 0; i <= selector.size(); ++i) {
    if (i < selector.size()) {
      char c = selector[i];
      if (in_slash) {
        in_slash = false;
        continue;
      }
      if (c == '\\') {
        in_slash = true;
        continue;
      }
      if (c != ',') continue;
    }
    std::string_view term = selector.substr(start, i - start);
    start = i + 1;
    if (term.empty()) continue;
    // The first position where an operator starts, trying "!=" then "==" then "=".
    std::size_t op_at = std::string_view::npos;
    std::size_t op_len = 0;
    bool negated = false;
    for (std::size_t j = 0; j < term.size() && op_at == std::string_view::npos; ++j) {
      std::string_view rest = term.substr(j);
      if (rest.starts_with("!="sv)) {
        op_at = j, op_len = 2, negated = true;
      } else if (rest.starts_with("=="sv)) {
        op_at = j, op_len = 2;
      } else if (rest.starts_with("="sv)) {
        op_at = j, op_len = 1;
      }
    }
    if (op_at == std::string_view::npos) return std::nullopt;
    std::string_view rhs = term.substr(op_at + op_len);
    if (!unescape_selector_value(rhs, nullptr, nullptr)) return std::nullopt;
    if (!negated && term.substr(0, op_at) == "metadata.name"sv &&
        (!best_term || term < *best_term)) {
      best_term = term;
      best_rhs = rhs;
    }
  }
  return best_rhs;
}

// path.IsValidPathSegmentName
bool valid_path_segment_name(std::string_view name) {
  if (name == "."sv || name == ".."sv) return false;
  return name.find('/') == std::string_view::npos && name.find('%') == std::string_view::npos;
}

}  // namespace

discovery_path classify_discovery_path(std::string_view path) {
  if (!path_problem(path).empty()) return {};
  std::string_view trimmed;
  return discovery_of(split_path(path, trimmed));
}

bool is_discovery_path(std::string_view path) {
  return classify_discovery_path(path).kind != discovery_kind::none;
}

request_info::request_info(const request_info& other)
    : request_fields(other),
      name_storage_(other.name_storage_),
      verb_storage_(other.verb_storage_),
      name_owned_(other.name_owned_),
      verb_owned_(other.verb_owned_) {
  if (name_owned_) name = name_storage_;
  if (verb_owned_) verb = verb_storage_;
}

request_info& request_info::operator=(const request_info& other) {
  if (this == &other) return *this;
  request_fields::operator=(other);
  name_storage_ = other.name_storage_;
  verb_storage_ = other.verb_storage_;
  name_owned_ = other.name_owned_;
  verb_owned_ = other.verb_owned_;
  if (name_owned_) name = name_storage_;
  if (verb_owned_) verb = verb_storage_;
  return *this;
}

std::vector<std::string_view> request_info::split_parts() const {
  std::vector<std::string_view> out;
  std::string_view rest = parts;
  while (!rest.empty()) {
    std::size_t slash = rest.find('/');
    out.push_back(rest.substr(0, slash));
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
  }
  return out;
}

request_info classify(std::string_view method, std::string_view path, std::string_view query) {
  request_info info;
  info.path = path;
  if (auto lower = lower_method(method)) {
    info.verb = *lower;
  } else {
    info.verb_storage_ = util::ascii_lower(method);
    info.verb_owned_ = true;
    info.verb = info.verb_storage_;
  }

  if (auto problem = path_problem(path); !problem.empty()) {
    info.malformed = problem;
    return info;
  }
  std::string_view trimmed;
  const path_segments s = split_path(path, trimmed);
  if (s.count == 0) return info;

  const std::string_view prefix = s.at[0];
  if (prefix != "api"sv && prefix != "apis"sv) {
    // The apiserver decodes before it looks: an escaped "api" or '/' would make this
    // an API path to it but not to us.
    if (has_escape(prefix) &&
        (decoded_head_equals(prefix, "api"sv) || decoded_head_equals(prefix, "apis"sv))) {
      info.malformed = "%-escape in API path segment"sv;
    }
    return info;
  }
  const bool groupless = prefix == "api"sv;
  if (s.count < (groupless ? 3u : 4u)) {
    for (std::size_t i = 1; i < s.count; ++i) {
      if (has_escape(s.at[i])) {
        info.malformed = "%-escape in API path segment"sv;
        return info;
      }
    }
    info.discovery = discovery_of(s);
    return info;
  }

  std::size_t i = 1;
  const std::string_view group = groupless ? std::string_view{} : s.at[i++];
  const std::string_view version = s.at[i++];
  std::string_view verb;
  if (s.at[i] == "proxy"sv || s.at[i] == "watch"sv) {
    // Upstream answers 500 for a special verb with nothing after it; the local
    // apiserver will say the same when this goes there as a non-resource request.
    if (s.count - i < 2) return info;
    verb = s.at[i++];
  } else {
    verb = resource_verb(method);
  }

  std::size_t namespace_at = 0;
  if (s.at[i] == "namespaces"sv && s.count - i > 1) {
    namespace_at = i + 1;
    if (s.count - i > 2 && s.at[i + 2] != "status"sv && s.at[i + 2] != "finalize"sv) i += 2;
  }
  const std::size_t parts_at = i;
  const std::size_t n = s.count - parts_at;
  const bool has_subresource = n >= 3 && verb != "proxy"sv;

  // Escapes: none where the segment decides the route, no encoded '/' in the name.
  for (std::size_t k = 1; k <= parts_at; ++k) {
    if (has_escape(s.at[k])) {
      info.malformed = "%-escape in API path segment"sv;
      return info;
    }
  }
  if ((namespace_at && has_escape(s.at[namespace_at])) ||
      (has_subresource && has_escape(s.at[parts_at + 2]))) {
    info.malformed = "%-escape in API path segment"sv;
    return info;
  }
  if (n >= 2 && has_encoded_slash(s.at[parts_at + 1])) {
    info.malformed = "encoded '/' in object name"sv;
    return info;
  }

  info.is_resource_request = true;
  info.api_prefix = prefix;
  info.api_group = group;
  info.api_version = version;
  info.verb = verb;
  info.verb_owned_ = false;
  info.verb_storage_.clear();
  if (namespace_at) info.namespace_name = s.at[namespace_at];
  info.parts = trimmed.substr(static_cast<std::size_t>(s.at[parts_at].data() - trimmed.data()));
  info.resource = s.at[parts_at];
  if (n >= 2) info.name = s.at[parts_at + 1];
  if (has_subresource) info.subresource = s.at[parts_at + 2];

  if (info.name.empty() && info.verb == "get"sv) {
    static constexpr std::array<std::string_view, 4> keys{"watch", "limit", "timeoutSeconds",
                                                          "fieldSelector"};
    std::array<std::optional<std::string_view>, keys.size()> values;
    first_query_values(query, keys, values);
    const auto& [watch_value, limit, timeout_seconds, raw_selector] = values;

    bool watch = false;
    if (watch_value) {
      watch = !query_decoded_equals(*watch_value, "0") &&
              !query_decoded_equals(*watch_value, "false", true);
    }
    info.verb = watch ? "watch"sv : "list"sv;

    // The name of a list, from ListOptions as the apiserver decodes them: any
    // decoding error (a bad integer, a bad field selector) drops it.
    bool options_decode = true;
    for (const auto& number : {limit, timeout_seconds}) {
      if (number) {
        decoded_value value(*number);
        options_decode = options_decode && parses_as_int64(value.view());
      }
    }
    if (options_decode && raw_selector) {
      decoded_value selector(*raw_selector);
      if (auto rhs = selector_name_term(selector.view())) {
        const bool plain_in_query = selector.view() == *raw_selector;
        const bool needs_unescape = rhs->find('\\') != std::string_view::npos;
        if (plain_in_query && !needs_unescape) {
          // The same bytes sit in the query: point there.
          const auto offset = static_cast<std::size_t>(rhs->data() - selector.view().data());
          info.name = raw_selector->substr(offset, rhs->size());
        } else {
          info.name_storage_.resize(rhs->size());
          std::size_t len = 0;
          unescape_selector_value(*rhs, info.name_storage_.data(), &len);
          info.name_storage_.resize(len);
          info.name_owned_ = true;
          info.name = info.name_storage_;
        }
        if (!valid_path_segment_name(info.name)) {
          info.name = {};
          info.name_owned_ = false;
        }
      }
    }
  }
  if (info.name.empty() && info.verb == "delete"sv) info.verb = "deletecollection"sv;
  return info;
}

bool is_long_running(const request_fields& info) {
  if (!info.malformed.empty()) return false;
  if (info.verb == "watch"sv || info.verb == "proxy"sv) return true;
  if (info.is_resource_request) {
    static constexpr std::array<std::string_view, 5> streaming{"attach", "exec", "proxy", "log",
                                                               "portforward"};
    return std::find(streaming.begin(), streaming.end(), info.subresource) != streaming.end();
  }
  return info.path.substr(0, "/debug/pprof/"sv.size()) == "/debug/pprof/"sv;
}

}  // namespace mvproxy::request
