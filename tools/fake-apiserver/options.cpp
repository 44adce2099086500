#include "options.hpp"

#include <set>

namespace fake_apiserver {
namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string item =
        s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::optional<unsigned short> parse_port(const std::string& s) {
  if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  unsigned long v = std::stoul(s);
  if (v > 65535) return std::nullopt;
  return static_cast<unsigned short>(v);
}

std::optional<instance_options> parse_instance(const std::string& spec, std::string& error) {
  instance_options inst;
  for (const auto& kv : split_list(spec)) {
    auto eq = kv.find('=');
    if (eq == std::string::npos) {
      error = "--instance: \"" + kv + "\" is not key=value";
      return std::nullopt;
    }
    std::string k = kv.substr(0, eq), v = kv.substr(eq + 1);
    if (k == "name") {
      inst.name = v;
    } else if (k == "profile") {
      inst.profile = v;
    } else if (k == "cert") {
      inst.cert_file = v;
    } else if (k == "key") {
      inst.key_file = v;
    } else if (k == "port") {
      auto p = parse_port(v);
      if (!p) {
        error = "--instance: bad port \"" + v + "\"";
        return std::nullopt;
      }
      inst.port = *p;
    } else {
      error = "--instance: unknown key \"" + k + "\" (want name, profile, cert, key, port)";
      return std::nullopt;
    }
  }
  for (auto [field, what] :
       {std::pair{&inst.name, "name"}, std::pair{&inst.profile, "profile"},
        std::pair{&inst.cert_file, "cert"}, std::pair{&inst.key_file, "key"}}) {
    if (field->empty()) {
      error = std::string("--instance: missing ") + what + "= in \"" + spec + "\"";
      return std::nullopt;
    }
  }
  return inst;
}

}  // namespace

std::optional<std::pair<std::string, unsigned short>> split_host_port(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  auto port = parse_port(s.substr(colon + 1));
  if (!port) return std::nullopt;
  return std::make_pair(s.substr(0, colon), *port);
}

std::optional<options> parse_options(const std::vector<std::string>& args, std::string& error) {
  options o;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::string value;
    bool inline_value = false;
    if (auto eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      inline_value = true;
    }
    auto take = [&]() -> bool {
      if (inline_value) return true;
      if (i + 1 >= args.size()) {
        error = flag + ": missing value";
        return false;
      }
      value = args[++i];
      return true;
    };
    if (flag == "--disable-http2-serving") {
      // A boolean flag as Go's pflag takes it: bare, or =true / =false.
      if (inline_value && value != "true" && value != "false") {
        error = "--disable-http2-serving: want true or false, got \"" + value + "\"";
        return std::nullopt;
      }
      o.disable_http2_serving = !inline_value || value == "true";
      continue;
    }
    if (flag == "--instance") {
      if (!take()) return std::nullopt;
      auto inst = parse_instance(value, error);
      if (!inst) return std::nullopt;
      o.instances.push_back(*inst);
      continue;
    }
    std::string* target = nullptr;
    std::vector<std::string>* list = nullptr;
    if (flag == "--client-ca-file")
      target = &o.client_ca_file;
    else if (flag == "--requestheader-client-ca-file")
      target = &o.requestheader_client_ca_file;
    else if (flag == "--requestheader-allowed-names")
      list = &o.requestheader_allowed_names;
    else if (flag == "--token-auth-file")
      target = &o.token_auth_file;
    else if (flag == "--deny-users")
      list = &o.deny_users;
    else if (flag == "--deny-groups")
      list = &o.deny_groups;
    else if (flag == "--request-log")
      target = &o.request_log;
    else if (flag == "--control-address")
      target = &o.control_address;
    else if (flag == "--fixtures-dir")
      target = &o.fixtures_dir;
    else {
      error = "unknown flag: " + flag;
      return std::nullopt;
    }
    if (!take()) return std::nullopt;
    if (target) *target = value;
    if (list)
      for (auto& item : split_list(value)) list->push_back(item);
  }
  if (o.instances.empty()) {
    error = "--instance: at least one is required";
    return std::nullopt;
  }
  std::set<std::string> names;
  for (const auto& inst : o.instances) {
    if (!names.insert(inst.name).second) {
      error = "--instance: duplicate name \"" + inst.name + "\"";
      return std::nullopt;
    }
  }
  if (o.client_ca_file.empty()) {
    error = "--client-ca-file: required";
    return std::nullopt;
  }
  if (o.requestheader_client_ca_file.empty()) {
    error = "--requestheader-client-ca-file: required";
    return std::nullopt;
  }
  if (!split_host_port(o.control_address)) {
    error = "--control-address: want host:port, got \"" + o.control_address + "\"";
    return std::nullopt;
  }
  return o;
}

}  // namespace fake_apiserver
