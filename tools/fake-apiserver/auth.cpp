#include "auth.hpp"

#include <algorithm>
#include <cctype>

namespace fake_apiserver {
namespace {

// One CSV record with RFC 4180 quoting (what Go's encoding/csv accepts).
std::optional<std::vector<std::string>> parse_csv_line(std::string_view line) {
  std::vector<std::string> fields;
  std::string cur;
  bool quoted = false;
  bool was_quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          cur += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        cur += c;
      }
    } else if (c == '"') {
      if (!cur.empty() || was_quoted) return std::nullopt;
      quoted = true;
      was_quoted = true;
    } else if (c == ',') {
      fields.push_back(std::move(cur));
      cur.clear();
      was_quoted = false;
    } else {
      if (was_quoted) return std::nullopt;
      cur += c;
    }
  }
  if (quoted) return std::nullopt;
  fields.push_back(std::move(cur));
  return fields;
}

void add_group(std::vector<std::string>& groups, const std::string& g) {
  if (!g.empty() && std::find(groups.begin(), groups.end(), g) == groups.end()) groups.push_back(g);
}

std::string percent_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::optional<user_info> from_request_header(const header_list& headers) {
  user_info u;
  bool have_user = false;
  const std::string extra_prefix = "x-remote-extra-";
  for (const auto& [name, value] : headers) {
    if (name == "x-remote-user" && !have_user && !value.empty()) {
      u.name = value;
      have_user = true;
    } else if (name == "x-remote-group") {
      add_group(u.groups, value);
    } else if (name.rfind(extra_prefix, 0) == 0 && name.size() > extra_prefix.size()) {
      u.extra[lower(percent_decode(name.substr(extra_prefix.size())))].push_back(value);
    }
  }
  if (!have_user) return std::nullopt;
  return u;
}

std::optional<user_info> from_bearer(const auth_config& config, const header_list& headers) {
  for (const auto& [name, value] : headers) {
    if (name != "authorization") continue;
    const std::string prefix = "bearer ";
    if (value.size() <= prefix.size() || lower(value.substr(0, prefix.size())) != prefix)
      return std::nullopt;
    std::string token = value.substr(prefix.size());
    while (!token.empty() && token.front() == ' ') token.erase(token.begin());
    for (const auto& t : config.tokens)
      if (t.token == token) return t.user;
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::vector<token_entry>> parse_token_file(std::string_view text,
                                                         std::string& error) {
  std::vector<token_entry> out;
  size_t line_no = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    std::string_view line = text.substr(start, nl == text.npos ? text.npos : nl - start);
    start = nl == text.npos ? text.size() + 1 : nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    auto fields = parse_csv_line(line);
    if (!fields || fields->size() < 3) {
      error = "token file line " + std::to_string(line_no) +
              ": want at least 3 fields (token,user,uid[,\"groups\"])";
      return std::nullopt;
    }
    token_entry e;
    e.token = (*fields)[0];
    e.user.name = (*fields)[1];
    e.user.uid = (*fields)[2];
    if (e.token.empty() || e.user.name.empty()) {
      error = "token file line " + std::to_string(line_no) + ": empty token or user";
      return std::nullopt;
    }
    if (fields->size() >= 4) {
      std::string_view groups = (*fields)[3];
      size_t gs = 0;
      while (gs <= groups.size()) {
        size_t comma = groups.find(',', gs);
        std::string g(groups.substr(gs, comma == groups.npos ? groups.npos : comma - gs));
        add_group(e.user.groups, g);
        gs = comma == groups.npos ? groups.size() + 1 : comma + 1;
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::optional<user_info> authenticate(const auth_config& config, const client_cert& cert,
                                      const header_list& headers) {
  std::optional<user_info> user;
  if (cert.present && cert.chains_to_requestheader_ca &&
      (config.requestheader_allowed_names.empty() ||
       config.requestheader_allowed_names.count(cert.subject_cn))) {
    user = from_request_header(headers);
  }
  if (!user && cert.present && cert.chains_to_client_ca && !cert.subject_cn.empty()) {
    user_info u;
    u.name = cert.subject_cn;
    for (const auto& o : cert.subject_o) add_group(u.groups, o);
    user = u;
  }
  if (!user) user = from_bearer(config, headers);
  if (!user) return std::nullopt;
  // kube-apiserver's AuthenticatedGroupAdder.
  add_group(user->groups, "system:authenticated");
  return user;
}

bool offered_credentials(const client_cert& cert, const header_list& headers) {
  if (cert.present) return true;
  for (const auto& [name, value] : headers) {
    if (name != "authorization") continue;
    const std::string prefix = "bearer ";
    if (value.size() <= prefix.size() || lower(value.substr(0, prefix.size())) != prefix)
      return false;  // not a bearer token: ignored, as kube-apiserver does
    return value.find_first_not_of(' ', prefix.size()) != std::string::npos;
  }
  return false;
}

bool is_denied(const auth_config& config, const user_info& user) {
  if (user.name == "system:anonymous" || config.deny_users.count(user.name)) return true;
  return std::any_of(user.groups.begin(), user.groups.end(),
                     [&](const std::string& g) { return config.deny_groups.count(g) > 0; });
}

impersonation impersonate(const auth_config& config, const user_info& requester,
                          const header_list& headers) {
  impersonation result;
  user_info target;
  bool asked = false;
  const std::string extra_prefix = "impersonate-extra-";
  for (const auto& [name, value] : headers) {
    if (name == "impersonate-user") {
      target.name = value;
      asked = true;
    } else if (name == "impersonate-group") {
      add_group(target.groups, value);
      asked = true;
    } else if (name == "impersonate-uid") {
      target.uid = value;
      asked = true;
    } else if (name.rfind(extra_prefix, 0) == 0 && name.size() > extra_prefix.size()) {
      target.extra[lower(percent_decode(name.substr(extra_prefix.size())))].push_back(value);
      asked = true;
    }
  }
  if (!asked) return result;
  if (target.name.empty()) {
    result.code = 400;
    result.message = "requested impersonation of groups, uid or extra without impersonating a user";
    return result;
  }
  if (is_denied(config, requester)) {
    result.code = 403;
    result.message =
        "users \"" + target.name + "\" is forbidden: User \"" + requester.name +
        "\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope";
    return result;
  }
  if (target.name != "system:anonymous") add_group(target.groups, "system:authenticated");
  result.user = target;
  return result;
}

bool is_public_info_path(const std::string& path) {
  for (const char* p : {"/healthz", "/livez", "/readyz", "/version"})
    if (path == p || path.rfind(std::string(p) + "/", 0) == 0) return true;
  return false;
}

user_info anonymous_user() { return {"system:anonymous", "", {"system:unauthenticated"}, {}}; }

}  // namespace fake_apiserver
