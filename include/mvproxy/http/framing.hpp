#pragma once
// A resumable scanner over the raw bytes of a request head (request line, header lines,
// CRLF CRLF). It runs before any parser sees the bytes so that a request whose framing
// two HTTP implementations could read differently (request smuggling) is refused with
// 400 and never forwarded (SPEC §4, RFC 9112 §6.3, §11.2).
//
// Refused (head_state::bad):
// - request line not METHOD SP request-target SP HTTP/1.0|HTTP/1.1, or an empty line
//   before it;
// - bare CR, bare LF (every line must end in CRLF), obs-fold (a line starting SP/HTAB);
// - a header name that is not a token (incl. whitespace before the colon), a line
//   without a colon, a control character (NUL, DEL, ...) in a value;
// - Content-Length that is not 1*DIGIT (so "+1", "1, 2", "" and also "5, 5"), or
//   several Content-Length lines with different values. Identical repeated lines are
//   merged, as RFC 9110 §8.6 allows and as Go's net/http (the apiserver) does; a comma
//   list is refused because Go refuses it;
// - Transfer-Encoding other than exactly one "chunked" (case-insensitive): so
//   "chunked, identity", "xchunked", "gzip, chunked", two Transfer-Encoding lines, or
//   Transfer-Encoding in an HTTP/1.0 request. Go's net/http accepts only "chunked",
//   so anything else could never be relayed faithfully;
// - Content-Length together with Transfer-Encoding;
// - several Host lines, or none in HTTP/1.1 (RFC 9112 §3.2).
// A head longer than max_head_bytes is head_state::too_large (answer 431).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace mvproxy::http {

enum class head_state { need_more, complete, bad, too_large };

struct head_scan {
  head_state state = head_state::need_more;
  std::size_t head_size = 0;  // bytes of the head incl. the final CRLF CRLF, when complete
  std::string_view reason;    // static text for bad/too_large
};

class head_scanner {
 public:
  explicit head_scanner(std::size_t max_head_bytes = 64 * 1024);

  // `all_bytes_so_far` is the whole buffer from the head's first byte; each call may
  // pass the same buffer extended. Only lines not yet seen are examined. Once a final
  // verdict (complete/bad/too_large) is reached it is returned again until reset().
  head_scan feed(std::string_view all_bytes_so_far);

  // For the next request on the same connection.
  void reset();

 private:
  head_scan fail(head_state state, std::string_view reason);
  bool request_line(std::string_view line);
  bool header_line(std::string_view line);
  bool end_of_head();

  std::size_t max_head_bytes_;
  std::size_t next_line_ = 0;   // offset of the first line not yet examined
  std::size_t scanned_to_ = 0;  // bytes already searched for the end of that line
  bool seen_request_line_ = false;
  bool http10_ = false;
  std::optional<std::uint64_t> content_length_;
  bool transfer_encoding_ = false;
  int host_lines_ = 0;
  std::string_view reason_;
  head_scan result_;
};

}  // namespace mvproxy::http
