#pragma once
// fake-apiserver's command line. Pure: argv in, options or one error line out.

#include <optional>
#include <string>
#include <vector>

namespace fake_apiserver {

struct instance_options {
  std::string name;
  std::string profile;
  std::string cert_file;
  std::string key_file;
  unsigned short port = 0;
};

struct options {
  std::vector<instance_options> instances;
  std::string client_ca_file;
  std::string requestheader_client_ca_file;
  std::vector<std::string> requestheader_allowed_names;
  std::string token_auth_file;
  std::vector<std::string> deny_users;
  std::vector<std::string> deny_groups;
  std::string request_log;
  std::string control_address = "127.0.0.1:0";
  std::string fixtures_dir;
  bool disable_http2_serving = false;  // ALPN offers http/1.1 only, as kube-apiserver's flag
};

std::optional<options> parse_options(const std::vector<std::string>& args, std::string& error);

// Splits "host:port"; nullopt when malformed.
std::optional<std::pair<std::string, unsigned short>> split_host_port(const std::string& s);

}  // namespace fake_apiserver
