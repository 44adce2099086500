#include "mvproxy/util/host_port.hpp"

#include <stdexcept>

namespace mvproxy::util {

std::uint16_t parse_port(std::string_view text) {
  if (text.empty()) throw std::invalid_argument("missing port");
  if (text.size() > 5) throw std::invalid_argument("port out of range");
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') throw std::invalid_argument("port is not a number");
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > 65535) throw std::invalid_argument("port out of range");
  return static_cast<std::uint16_t>(value);
}

host_port parse_host_port(std::string_view text) {
  host_port out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("missing ']' in address");
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      throw std::invalid_argument("missing port in address");
    }
    out.host = std::string(text.substr(1, close - 1));
    if (out.host.find_first_of("[]") != std::string::npos) {
      throw std::invalid_argument("unexpected '[' or ']' in address");
    }
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) throw std::invalid_argument("missing port in address");
    out.host = std::string(text.substr(0, colon));
    if (out.host.find(':') != std::string::npos) {
      throw std::invalid_argument("too many colons in address (IPv6 needs [brackets])");
    }
    if (out.host.find_first_of("[]") != std::string::npos) {
      throw std::invalid_argument("unexpected '[' or ']' in address");
    }
    port_text = text.substr(colon + 1);
  }
  out.port = parse_port(port_text);
  return out;
}

std::string format_host_port(std::string_view host, std::uint16_t port) {
  std::string out;
  if (host.find(':') != std::string_view::npos) {
    out.append("[").append(host).append("]");
  } else {
    out.append(host);
  }
  return out + ":" + std::to_string(port);
}

}  // namespace mvproxy::util
