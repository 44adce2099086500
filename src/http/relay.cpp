#include "mvproxy/http/relay.hpp"

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <cstring>

#include "mvproxy/http/headers.hpp"
#include "mvproxy/util/text.hpp"

namespace mvproxy::http {

namespace bhttp = boost::beast::http;

template <bool isRequest>
relay_parser<isRequest>::relay_parser(std::uint32_t header_limit) : header_limit_(header_limit) {
  this->header_limit(header_limit);
  this->body_limit(boost::none);
  this->eager(true);
}

template <bool isRequest>
typename relay_parser<isRequest>::fed relay_parser<isRequest>::feed(char* data, std::size_t size,
                                                                    bool head_only) {
  fed r;
  out_ = data;
  // Not eager for a head alone: put() then returns right after it.
  this->eager(!head_only);
  while (r.consumed < size && !this->is_done() && !(head_only && this->is_header_done())) {
    // Beast's chunk-line parser presumes at least 5 bytes once it has seen the last
    // chunk (it asserts so); a chunked message still open always has 5 more to come.
    if (this->is_header_done() && this->chunked() && size - r.consumed < 5) break;
    error_code ec;
    std::size_t n = this->put(boost::asio::const_buffer(data + r.consumed, size - r.consumed), ec);
    r.consumed += n;
    if (ec == bhttp::error::need_more) break;
    if (ec) {
      r.ec = ec;
      break;
    }
    if (n == 0) break;
  }
  if (!this->is_header_done() && !r.ec) {
    head_consumed_ += r.consumed;
    if (head_consumed_ + (size - r.consumed) > header_limit_) r.ec = bhttp::error::header_limit;
  }
  r.body = static_cast<std::size_t>(out_ - data);
  out_ = nullptr;
  return r;
}

template <bool isRequest>
void relay_parser<isRequest>::on_request_impl(verb method, sv method_str, sv target, int version,
                                              error_code&) {
  if constexpr (isRequest) {
    if (method == verb::unknown)
      head_.method_string(method_str);
    else
      head_.method(method);
    head_.target(target);
  }
  head_.version(version);
}

template <bool isRequest>
void relay_parser<isRequest>::on_response_impl(int code, sv reason, int version, error_code&) {
  if constexpr (!isRequest) {
    head_.result(static_cast<unsigned>(code));
    if (out_head_) {
      if (reason.empty()) reason = bhttp::obsolete_reason(static_cast<bhttp::status>(code));
      out_head_->reserve(512);
      *out_head_ += "HTTP/1.1 ";
      *out_head_ += std::to_string(code);
      *out_head_ += ' ';
      out_head_->append(reason.data(), reason.size());
      *out_head_ += "\r\n";
    } else {
      head_.reason(reason);
    }
  }
  head_.version(version);
}

template <bool isRequest>
void relay_parser<isRequest>::on_field_impl(field name, sv name_string, sv value, error_code& ec) {
  // Fields after the head are chunked trailers: not relayed (Go's proxy drops them
  // unless announced, and the apiserver sends none).
  if (this->is_header_done()) return;
  if (!out_head_) {
    // Beast's fields keep a name's and a value's length in 16 bits and throw past
    // that: such a field is a head too large (431), not an exception.
    if (name_string.size() > max_field_bytes || value.size() > max_field_bytes) {
      ec = boost::beast::http::error::header_limit;
      return;
    }
    head_.insert(name, name_string, value);
    return;
  }
  if (is_hop_by_hop(name)) {
    // Fields Connection names are hop-by-hop too (RFC 9110 §7.6.1).
    if (name == field::connection) {
      for (auto tok : util::split_field_list(std::string_view(value.data(), value.size()))) {
        auto l = util::ascii_lower(tok);
        if (l != "close" && l != "keep-alive") connection_tokens_.push_back(std::move(l));
      }
    }
    return;
  }
  out_head_->append(name_string.data(), name_string.size());
  *out_head_ += ": ";
  out_head_->append(value.data(), value.size());
  *out_head_ += "\r\n";
}

template <bool isRequest>
std::size_t relay_parser<isRequest>::on_body_impl(sv body, error_code&) {
  // Body bytes never sit before out_: framing is only ever removed.
  if (out_ != body.data()) std::memmove(out_, body.data(), body.size());
  out_ += body.size();
  return body.size();
}

template <bool isRequest>
std::size_t relay_parser<isRequest>::on_chunk_body_impl(std::uint64_t, sv body, error_code& ec) {
  return on_body_impl(body, ec);
}

template class relay_parser<true>;
template class relay_parser<false>;

namespace {

void append_fields(std::string& out, const bhttp::fields& f) {
  for (const auto& field : f) {
    out.append(field.name_string().data(), field.name_string().size());
    out += ": ";
    out.append(field.value().data(), field.value().size());
    out += "\r\n";
  }
  out += "\r\n";
}

std::size_t fields_size(const bhttp::fields& f) {
  std::size_t n = 2;
  for (const auto& field : f) n += field.name_string().size() + field.value().size() + 4;
  return n;
}

}  // namespace

std::string serialize_head(const bhttp::request_header<>& h) {
  std::string out;
  auto method = h.method_string();
  auto target = h.target();
  out.reserve(method.size() + target.size() + 12 + fields_size(h));
  out.append(method.data(), method.size());
  out += ' ';
  out.append(target.data(), target.size());
  out += h.version() == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n";
  append_fields(out, h);
  return out;
}

std::string serialize_head(const bhttp::response_header<>& h) {
  std::string out;
  auto reason = h.reason();
  if (reason.empty()) reason = bhttp::obsolete_reason(h.result());
  out.reserve(reason.size() + 15 + fields_size(h));
  out += h.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(h.result_int());
  out += ' ';
  out.append(reason.data(), reason.size());
  out += "\r\n";
  append_fields(out, h);
  return out;
}

void remove_fields(std::string& head, const std::vector<std::string>& names) {
  std::string out;
  out.reserve(head.size());
  std::size_t pos = 0;
  bool first = true;  // the status line stays
  while (pos < head.size()) {
    auto end = head.find("\r\n", pos);
    if (end == std::string::npos) end = head.size();
    std::string_view line(head.data() + pos, end - pos);
    bool keep = first;
    if (!first) {
      auto colon = line.find(':');
      auto name = util::ascii_lower(line.substr(0, colon));
      // Content-Length and Host are never dropped: they frame or target the message.
      keep = name == "content-length" || name == "host" ||
             std::find(names.begin(), names.end(), name) == names.end();
    }
    if (keep) {
      out.append(line.data(), line.size());
      out += "\r\n";
    }
    first = false;
    pos = end + 2;
  }
  head.swap(out);
}

std::size_t chunk_prefix(char* data, std::size_t size) {
  char tmp[chunk_prefix_room];
  std::size_t n = 0;
  do {
    tmp[n++] = "0123456789abcdef"[size & 0xf];
    size >>= 4;
  } while (size != 0);
  char* p = data - n - 2;
  for (std::size_t i = 0; i < n; ++i) p[i] = tmp[n - 1 - i];
  p[n] = '\r';
  p[n + 1] = '\n';
  return n + 2;
}

}  // namespace mvproxy::http
