#pragma once
// Relaying one HTTP/1.1 message to the next hop without copying its body (pure: bytes
// in, bytes out). relay_parser reads the head like Beast's parser, then turns raw
// body bytes — Content-Length, chunked, or up to the end of the connection — into
// the body's own bytes, compacted in place at the front of the buffer it was fed.
// The caller frames them anew for the next hop: with chunk_prefix/chunk_suffix when
// the outgoing message is chunked (so the relay can always end a response on a chunk
// boundary), as they are when it carries a Content-Length.

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/message.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mvproxy::http {

// The longest field name or value a Beast header can hold (its offsets are 16 bits,
// two bytes go to ": "/CRLF); a longer one in a head collected into get() is
// header_limit.
constexpr std::size_t max_field_bytes = 65535 - 2;

template <bool isRequest>
class relay_parser : public boost::beast::http::basic_parser<isRequest> {
 public:
  using header_type = boost::beast::http::header<isRequest>;
  using error_code = boost::beast::error_code;

  // No body limit (relayed bodies are streamed), the given head limit.
  explicit relay_parser(std::uint32_t header_limit);

  // For a response relayed as it is: instead of collecting fields into get() (a node
  // allocated per field), the parser writes the head as it will go out — status line
  // and every field but the hop-by-hop ones, in order, without the final CRLF — into
  // *out. get() then has the status only. Call before the first feed.
  void write_head_to(std::string* out) { out_head_ = out; }
  // Lower-cased names listed in Connection besides close/keep-alive (write_head_to
  // mode): the caller removes those fields too (remove_fields).
  const std::vector<std::string>& connection_tokens() const { return connection_tokens_; }

  header_type& get() { return head_; }
  const header_type& get() const { return head_; }

  struct fed {
    std::size_t consumed = 0;  // bytes of `data` parsed; feed the rest again, with more
    std::size_t body = 0;      // body bytes now at data[0, body)
    error_code ec;             // a malformed message (need_more is not an error)
  };
  // Parses data[0, size). Unconsumed bytes (a head line or chunk line not yet
  // complete) must be fed again with more appended. With head_only, parsing stops
  // right after the head. A head over the limit, however it arrives, is header_limit.
  fed feed(char* data, std::size_t size, bool head_only = false);

 private:
  using sv = boost::beast::string_view;
  using field = boost::beast::http::field;
  using verb = boost::beast::http::verb;
  void on_request_impl(verb method, sv method_str, sv target, int version, error_code& ec) override;
  void on_response_impl(int code, sv reason, int version, error_code& ec) override;
  void on_field_impl(field name, sv name_string, sv value, error_code& ec) override;
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
  std::size_t on_body_impl(sv body, error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t, sv, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t remain, sv body, error_code& ec) override;
  void on_finish_impl(error_code&) override {}

  header_type head_;
  char* out_ = nullptr;  // where the next body byte goes during feed()
  // Beast checks its head limit within one put(); a head that trickles in, line by
  // line, over many feeds is measured here across them.
  std::uint32_t header_limit_;
  std::size_t head_consumed_ = 0;
  std::string* out_head_ = nullptr;
  std::vector<std::string> connection_tokens_;
};

using request_relay_parser = relay_parser<true>;
using response_relay_parser = relay_parser<false>;

// The head as it goes out: start line, the fields in order, CRLF. Framing and
// connection fields are the caller's to set on `h` first.
std::string serialize_head(const boost::beast::http::request_header<>& h);
std::string serialize_head(const boost::beast::http::response_header<>& h);

// Removes the lines of the fields named (lower-case names) from a head written by
// write_head_to.
void remove_fields(std::string& head, const std::vector<std::string>& names);

// Room a chunk prefix needs in front of the data ("ffffffffffffffff\r\n").
constexpr std::size_t chunk_prefix_room = 18;
// Writes "<hex size>\r\n" to end just before `data`; returns its length.
std::size_t chunk_prefix(char* data, std::size_t size);
constexpr std::string_view chunk_suffix = "\r\n";
constexpr std::string_view last_chunk = "0\r\n\r\n";

}  // namespace mvproxy::http
