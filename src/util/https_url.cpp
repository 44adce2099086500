#include "mvproxy/util/https_url.hpp"

#include <stdexcept>
#include <string>

#include "mvproxy/util/text.hpp"

namespace mvproxy::util {

host_port parse_https_url(std::string_view url) {
  auto fault = [&](std::string_view why) {
    return std::invalid_argument(quoted(url) + std::string(why));
  };
  constexpr std::string_view scheme = "https://";
  if (!url.starts_with(scheme)) throw fault(" is not an https URL");
  std::string_view rest = url.substr(scheme.size());
  if (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.empty() || rest.find_first_of("/?#@") != std::string_view::npos) {
    throw fault(" must be https://host[:port] without path, query or user");
  }
  // A bracketed IPv6 literal has colons of its own; only "]:" starts its port.
  bool has_port = rest.front() == '[' ? rest.find("]:") != std::string_view::npos
                                      : rest.find(':') != std::string_view::npos;
  host_port hp;
  try {
    hp = parse_host_port(has_port ? std::string(rest) : std::string(rest) + ":443");
  } catch (const std::invalid_argument& e) {
    throw fault(std::string(": ") + e.what());
  }
  if (hp.host.empty()) throw fault(" has no host");
  if (hp.port == 0) throw fault(" has port 0");
  return hp;
}

}  // namespace mvproxy::util
