#pragma once
// Classifies a request path like kube-apiserver's RequestInfoFactory: resource vs
// non-resource, verb, group, version, namespace, resource, name, subresource.

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace fake_apiserver {

using query_map = std::multimap<std::string, std::string>;

// Splits "a=1&b=x%20y" into decoded pairs ('+' is a space, as Go's url.ParseQuery).
query_map parse_query(std::string_view query);
std::string query_value(const query_map& q, const std::string& key, const std::string& dflt = "");
// The apiserver's bool parameter rule: present and not "0"/"false" (any case).
bool query_true(const query_map& q, const std::string& key);
std::string percent_decode(std::string_view s);

struct request_info {
  bool is_resource = false;
  std::string verb;  // get list watch create update patch delete deletecollection
  std::string group;
  std::string version;
  std::string ns;
  std::string resource;
  std::string name;
  std::string subresource;
  std::string path;
};

request_info classify(const std::string& method, std::string_view path, const query_map& query);

}  // namespace fake_apiserver
