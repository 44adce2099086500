// HTTP/1.1 heads to and from HTTP/2 fields for upstreams that speak HTTP/2 (see
// h2_fields.hpp).

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/status.hpp>

#include "mvproxy/http/h2_fields.hpp"

namespace mvproxy::http {

namespace {

namespace bhttp = boost::beast::http;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// RFC 9113 §8.2.2: these mean something only to one HTTP/1.1 connection.
bool connection_specific(const std::string& name, std::string_view value) {
  if (name == "te") return !boost::beast::iequals(value, "trailers");
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
         name == "transfer-encoding" || name == "upgrade" || name == "host";
}

}  // namespace

h2_upstream_request h2_request_from_head(std::string_view head, std::string_view authority) {
  h2_upstream_request out;
  bhttp::request_parser<bhttp::empty_body> p;
  p.eager(false);
  p.header_limit(static_cast<std::uint32_t>(std::max<std::size_t>(head.size(), 8192)));
  boost::system::error_code ec;
  p.put(boost::asio::buffer(head.data(), head.size()), ec);
  if (ec && ec != bhttp::error::need_more) {
    out.error = "request head: " + ec.message();
    return out;
  }
  if (!p.is_header_done()) {
    out.error = "request head: incomplete";
    return out;
  }
  const auto& h = p.get();
  if (h.method() == bhttp::verb::connect) {
    out.error = "CONNECT cannot be sent over HTTP/2";
    return out;
  }
  std::string_view host = authority;
  if (auto it = h.find(bhttp::field::host); it != h.end() && !it->value().empty())
    host = std::string_view(it->value().data(), it->value().size());
  out.fields.emplace_back(":method", std::string(h.method_string()));
  out.fields.emplace_back(":scheme", "https");
  out.fields.emplace_back(":authority", std::string(host));
  out.fields.emplace_back(":path", std::string(h.target()));
  for (const auto& f : h) {
    auto name = lower(std::string_view(f.name_string().data(), f.name_string().size()));
    std::string_view value(f.value().data(), f.value().size());
    if (connection_specific(name, value)) continue;
    out.fields.emplace_back(std::move(name), std::string(value));
  }
  out.head_method = h.method() == bhttp::verb::head;
  if (p.chunked()) {
    out.has_body = true;
  } else if (auto len = p.content_length()) {
    out.length = *len;
    out.has_body = *len > 0;
  }
  return out;
}

std::string h1_response_head(int status, std::string_view fields, bool has_length, bool end_stream,
                             bool head_method, bool* chunked) {
  *chunked = false;
  std::string out = "HTTP/1.1 " + std::to_string(status) + " ";
  out += bhttp::obsolete_reason(static_cast<bhttp::status>(status));
  out += "\r\n";
  out += fields;
  const bool interim = status >= 100 && status < 200;
  const bool bodiless = interim || status == 204 || status == 304 || head_method;
  if (!bodiless && !has_length) {
    if (end_stream) {
      out += "content-length: 0\r\n";
    } else {
      out += "transfer-encoding: chunked\r\n";
      *chunked = true;
    }
  }
  out += "\r\n";
  return out;
}

}  // namespace mvproxy::http
