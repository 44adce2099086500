#include "mvproxy/control/kubeconfig.hpp"

#include <openssl/evp.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <yaml-cpp/yaml.h>

namespace mvproxy::control {

namespace {

std::string base64_decode(const std::string& in) {
  std::string out(3 * ((in.size() + 3) / 4), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) throw std::runtime_error("bad base64");
  std::size_t pad = 0;
  for (auto it = in.rbegin(); it != in.rend() && *it == '='; ++it) ++pad;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

YAML::Node named(const YAML::Node& list, const std::string& name, const char* field) {
  if (list.IsSequence())
    for (const auto& item : list)
      if (item["name"] && item["name"].as<std::string>() == name) return item[field];
  throw std::runtime_error(std::string(field) + " \"" + name + "\" not found");
}

// Relative paths in a kubeconfig are relative to the kubeconfig's own directory.
std::string resolve(const std::filesystem::path& base, const std::string& p) {
  if (p.empty() || std::filesystem::path(p).is_absolute()) return p;
  return (base / p).string();
}

std::string str(const YAML::Node& n, const char* key) {
  return n && n[key] ? n[key].as<std::string>() : std::string{};
}

}  // namespace

kubeconfig_credentials load_kubeconfig(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const std::exception& e) {
    throw std::runtime_error("kubeconfig " + path + ": " + e.what());
  }
  auto base = std::filesystem::path(path).parent_path();
  std::string ctx_name = str(root, "current-context");
  if (ctx_name.empty()) throw std::runtime_error("kubeconfig " + path + ": no current-context");
  auto ctx = named(root["contexts"], ctx_name, "context");
  auto cluster = named(root["clusters"], str(ctx, "cluster"), "cluster");
  auto user = named(root["users"], str(ctx, "user"), "user");
  kubeconfig_credentials c;
  c.ca_file = resolve(base, str(cluster, "certificate-authority"));
  if (auto d = str(cluster, "certificate-authority-data"); !d.empty()) c.ca_pem = base64_decode(d);
  c.cert_file = resolve(base, str(user, "client-certificate"));
  c.key_file = resolve(base, str(user, "client-key"));
  if (auto d = str(user, "client-certificate-data"); !d.empty()) c.cert_pem = base64_decode(d);
  if (auto d = str(user, "client-key-data"); !d.empty()) c.key_pem = base64_decode(d);
  c.token = str(user, "token");
  if (auto f = str(user, "tokenFile"); c.token.empty() && !f.empty()) {
    std::ifstream in(resolve(base, f));
    std::stringstream ss;
    ss << in.rdbuf();
    c.token = ss.str();
    while (!c.token.empty() && (c.token.back() == '\n' || c.token.back() == '\r'))
      c.token.pop_back();
  }
  if (c.token.empty() && c.cert_file.empty() && c.cert_pem.empty())
    throw std::runtime_error("kubeconfig " + path +
                             ": user has neither a token nor a client certificate");
  return c;
}

}  // namespace mvproxy::control
