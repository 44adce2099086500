#include "mvproxy/http/h2_fields.hpp"

#include <algorithm>
#include <array>

#include "mvproxy/http/relay.hpp"
#include "mvproxy/util/text.hpp"

namespace mvproxy::http {

namespace {

// RFC 9110 §5.6.2 token characters (a method must be one).
bool is_tchar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  static constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
  return extra.find(c) != std::string_view::npos;
}

// A request-target HTTP/1.1 carries in one piece: no space or control character.
bool is_target(std::string_view p) {
  if (p.empty()) return false;
  return std::all_of(p.begin(), p.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u != 0x7f;
  });
}

// HTTP/1.1 fields HTTP/2 has no place for (RFC 9113 §8.2.2).
constexpr std::array<std::string_view, 5> connection_specific{
    "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"};

bool is_connection_specific(std::string_view lower_name) {
  return std::find(connection_specific.begin(), connection_specific.end(), lower_name) !=
         connection_specific.end();
}

}  // namespace

bool h2_request_builder::refuse(std::string why) {
  reason_ = std::move(why);
  return false;
}

bool h2_request_builder::add(std::string_view name, std::string_view value) {
  if (!name.empty() && name.front() == ':') {
    std::string* slot = name == ":method"      ? &method_
                        : name == ":scheme"    ? &scheme_
                        : name == ":authority" ? &authority_
                        : name == ":path"      ? &path_
                        : name == ":protocol"  ? &protocol_
                                               : nullptr;
    if (!slot) return refuse("unknown pseudo-header " + std::string(name));
    *slot = value;
    return true;
  }
  if (is_connection_specific(name)) return refuse("connection-specific field " + std::string(name));
  if (name == "te") {
    // Only "trailers" gets here; it is hop-by-hop in HTTP/1.1.
    if (value != "trailers") return refuse("te other than trailers");
    return true;
  }
  if (name == "cookie") {
    // Joined into one HTTP/1.1 field, which has a length limit (http::max_field_bytes).
    if (cookies_.size() + value.size() + 2 > max_field_bytes)
      return refuse("cookie fields too long to join");
    if (!cookies_.empty()) cookies_ += "; ";
    cookies_.append(value);
    return true;
  }
  if (name == "host") host_ = value;
  if (name == "content-length") has_content_length_ = true;
  head_.insert(name, value);
  return true;
}

bool h2_request_builder::finish(bool end_stream) {
  if (!reason_.empty()) return false;
  if (method_.empty() || path_.empty() || scheme_.empty())
    return refuse("missing :method, :scheme or :path");
  if (!protocol_.empty() || method_ == "CONNECT") return refuse("CONNECT is not supported");
  if (!std::all_of(method_.begin(), method_.end(), is_tchar)) return refuse("malformed :method");
  if (!is_target(path_)) return refuse("malformed :path");
  if (authority_.empty() && host_.empty()) return refuse("missing :authority");
  // RFC 9113 §8.3.1: a host field naming another entity than :authority is malformed.
  if (!authority_.empty() && !host_.empty() && !util::ascii_iequals(authority_, host_))
    return refuse("host differs from :authority");
  head_.method_string(method_);
  head_.target(path_);
  head_.version(11);
  head_.set(boost::beast::http::field::host, authority_.empty() ? host_ : authority_);
  if (!cookies_.empty()) head_.set(boost::beast::http::field::cookie, cookies_);
  chunked_ = !end_stream && !has_content_length_;
  return true;
}

std::vector<std::pair<std::string, std::string>> h2_response_fields(std::string_view head) {
  std::vector<std::pair<std::string, std::string>> out;
  auto eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  // "HTTP/1.1 200 OK": the three digits after the first space.
  auto sp = status_line.find(' ');
  out.emplace_back(":status", std::string(status_line.substr(
                                  sp == std::string_view::npos ? status_line.size() : sp + 1, 3)));
  while (eol != std::string_view::npos) {
    auto start = eol + 2;
    eol = head.find("\r\n", start);
    auto line =
        head.substr(start, eol == std::string_view::npos ? head.size() - start : eol - start);
    auto colon = line.find(':');
    if (line.empty() || colon == std::string_view::npos) continue;
    std::string name = util::ascii_lower(line.substr(0, colon));
    if (is_connection_specific(name)) continue;
    out.emplace_back(std::move(name), std::string(util::trim_ows(line.substr(colon + 1))));
  }
  return out;
}

}  // namespace mvproxy::http
