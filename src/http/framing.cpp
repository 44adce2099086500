#include "mvproxy/http/framing.hpp"

#include <algorithm>
#include <limits>

#include "mvproxy/util/text.hpp"

namespace mvproxy::http {
namespace {

// RFC 9110 §5.6.2 tchar.
bool is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

// field-vchar / SP / HTAB; obs-text (0x80-0xFF) is allowed as RFC 9110 §5.5 does.
bool is_field_value_char(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

using util::trim_ows;
// Field names and the "chunked" coding compare case-insensitively (RFC 9110 §5.1, §7.8).
constexpr auto iequals = util::ascii_iequals;

std::optional<std::uint64_t> parse_content_length(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

}  // namespace

head_scanner::head_scanner(std::size_t max_head_bytes) : max_head_bytes_(max_head_bytes) {}

void head_scanner::reset() { *this = head_scanner(max_head_bytes_); }

head_scan head_scanner::fail(head_state state, std::string_view reason) {
  result_ = {state, 0, reason};
  return result_;
}

head_scan head_scanner::feed(std::string_view buf) {
  if (result_.state != head_state::need_more) return result_;
  while (true) {
    auto lf = buf.find('\n', std::max(next_line_, scanned_to_));
    // Judged on where the line ends, so the verdict is the same whether the bytes come
    // at once or one by one.
    if (lf == std::string_view::npos) {
      scanned_to_ = buf.size();  // a long line fed piecemeal is searched once, not again per piece
      if (buf.size() > max_head_bytes_)
        return fail(head_state::too_large, "request head too large");
      return result_;
    }
    if (lf + 1 > max_head_bytes_) return fail(head_state::too_large, "request head too large");
    if (lf == next_line_ || buf[lf - 1] != '\r')
      return fail(head_state::bad, "bare LF line ending");
    std::string_view line = buf.substr(next_line_, lf - 1 - next_line_);
    if (line.find('\r') != std::string_view::npos) return fail(head_state::bad, "bare CR");
    next_line_ = lf + 1;
    bool ok;
    if (!seen_request_line_) {
      ok = request_line(line);
      seen_request_line_ = true;
    } else if (line.empty()) {
      if (!end_of_head()) return fail(head_state::bad, reason_);
      result_ = {head_state::complete, next_line_, {}};
      return result_;
    } else {
      ok = header_line(line);
    }
    if (!ok) return fail(head_state::bad, reason_);
  }
}

bool head_scanner::request_line(std::string_view line) {
  if (line.empty()) {
    reason_ = "empty line before the request line";
    return false;
  }
  auto sp1 = line.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    reason_ = "malformed request line";
    return false;
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method)) {
    reason_ = "malformed request method";
    return false;
  }
  if (target.empty()) {
    reason_ = "malformed request line";
    return false;
  }
  for (unsigned char c : target) {
    if (c <= 0x20 || c >= 0x7f) {
      reason_ = "invalid character in request target";
      return false;
    }
  }
  if (version == "HTTP/1.0") {
    http10_ = true;
  } else if (version != "HTTP/1.1") {
    reason_ = "unsupported HTTP version";
    return false;
  }
  return true;
}

bool head_scanner::header_line(std::string_view line) {
  if (line.front() == ' ' || line.front() == '\t') {
    reason_ = "obsolete line folding";
    return false;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) {
    reason_ = "header line without colon";
    return false;
  }
  std::string_view name = line.substr(0, colon);
  if (!is_token(name)) {
    reason_ = (!name.empty() && (name.back() == ' ' || name.back() == '\t'))
                  ? "whitespace between header name and colon"
                  : "invalid header name";
    return false;
  }
  std::string_view raw_value = line.substr(colon + 1);
  for (unsigned char c : raw_value) {
    if (!is_field_value_char(c)) {
      reason_ = "control character in header value";
      return false;
    }
  }
  std::string_view value = trim_ows(raw_value);

  if (iequals(name, "content-length")) {
    auto n = parse_content_length(value);
    if (!n) {
      reason_ = "invalid Content-Length";
      return false;
    }
    if (content_length_ && *content_length_ != *n) {
      reason_ = "conflicting Content-Length values";
      return false;
    }
    content_length_ = n;
    if (transfer_encoding_) {
      reason_ = "Content-Length with Transfer-Encoding";
      return false;
    }
  } else if (iequals(name, "transfer-encoding")) {
    if (transfer_encoding_) {
      reason_ = "repeated Transfer-Encoding";
      return false;
    }
    transfer_encoding_ = true;
    if (!iequals(value, "chunked")) {
      auto last_comma = value.rfind(',');
      bool ends_chunked = last_comma != std::string_view::npos &&
                          iequals(trim_ows(value.substr(last_comma + 1)), "chunked");
      reason_ = ends_chunked ? "unsupported Transfer-Encoding"
                             : "Transfer-Encoding does not end in chunked";
      return false;
    }
    if (content_length_) {
      reason_ = "Content-Length with Transfer-Encoding";
      return false;
    }
    if (http10_) {
      reason_ = "Transfer-Encoding in an HTTP/1.0 request";
      return false;
    }
  } else if (iequals(name, "host")) {
    if (++host_lines_ > 1) {
      reason_ = "multiple Host headers";
      return false;
    }
  }
  return true;
}

bool head_scanner::end_of_head() {
  if (!http10_ && host_lines_ == 0) {
    reason_ = "missing Host header";
    return false;
  }
  return true;
}

}  // namespace mvproxy::http
