#pragma once
// HTTP/2 header fields to and from the HTTP/1.1 heads the exchange works with (pure:
// values in, values out). nghttp2 has already enforced HTTP/2's own message rules
// (pseudo-headers, lower-case names, no connection-specific fields, `te` only
// "trailers", no CR/LF/NUL, content-length against DATA); what is checked here is
// what HTTP/1.1 would read differently, so nothing ambiguous reaches an upstream.

#include <boost/beast/http/message.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mvproxy::http {

// Collects one request's header block, field by field, into an HTTP/1.1 head.
class h2_request_builder {
 public:
  // One field as it arrived. False when the request must be refused (reason()).
  bool add(std::string_view name, std::string_view value);
  // After the last field. False when the request must be refused (reason()).
  // `end_stream`: the header block ended the stream (no body follows).
  bool finish(bool end_stream);

  boost::beast::http::request_header<>& head() { return head_; }
  // The body's length is unknown (no content-length and not ended with the headers):
  // it goes to an HTTP/1.1 upstream as chunks.
  bool body_chunked() const { return chunked_; }
  const std::string& reason() const { return reason_; }

 private:
  bool refuse(std::string why);

  boost::beast::http::request_header<> head_;
  std::string method_, scheme_, authority_, path_, protocol_;
  std::string host_;     // a host field, to compare with :authority
  std::string cookies_;  // cookie fields joined as HTTP/1.1 has them (RFC 9113 §8.2.3)
  bool has_content_length_ = false;
  bool chunked_ = false;
  std::string reason_;
};

// A response head as client_side gets it (status line and fields, each CRLF-ended,
// no blank line) as HTTP/2 fields: ":status" first, names lower-cased, HTTP/1.1's
// connection-specific fields left out.
std::vector<std::pair<std::string, std::string>> h2_response_fields(std::string_view head);

// The other direction, for an upstream that speaks HTTP/2 (src/proxy/h2_upstream*):
// a request head as the exchange writes it for HTTP/1.1 (status line, fields, blank
// line) as HTTP/2 fields. Pseudo-headers first, names lower-cased, Host as
// :authority, HTTP/1.1's connection-specific fields and its framing left out.
struct h2_upstream_request {
  std::vector<std::pair<std::string, std::string>> fields;
  bool has_body = false;                // DATA follows the head
  std::optional<std::uint64_t> length;  // the body's announced length
  bool head_method = false;             // HEAD: the response has no body
  std::string error;                    // not a head that can be sent (empty: fine)
};
h2_upstream_request h2_request_from_head(std::string_view head, std::string_view authority);

// An upstream's HTTP/2 response head as HTTP/1.1 bytes for the exchange's response
// parser: the status line, `fields` ("name: value\r\n" each) and the framing of the
// body that follows (its content-length as sent, else chunks), then the blank line.
// `end_stream`: the head ended the stream (no body). Interim (1xx) heads have no
// framing. *chunked says whether DATA must be framed as chunks.
std::string h1_response_head(int status, std::string_view fields, bool has_length, bool end_stream,
                             bool head_method, bool* chunked);

}  // namespace mvproxy::http
