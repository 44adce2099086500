#include "spdy.hpp"

#include <zlib.h>

#include <array>
#include <stdexcept>

namespace fake_apiserver::spdy {
namespace {

// Decompressed header blocks larger than this are refused: exec's are tens of
// bytes, and a few compressed bytes can inflate to megabytes.
constexpr size_t max_header_block = 256 * 1024;

uint32_t get32(std::string_view s, size_t at) {
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(s[at + i])); };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

void put32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift & 0xff));
}

parse_result fail(std::string why) {
  parse_result r;
  r.st = parse_result::status::error;
  r.error = std::move(why);
  return r;
}

// Fills the type-specific fields of a control frame from its body; "" when
// valid.
std::string parse_control_body(frame& f, std::string_view body) {
  const size_t n = body.size();
  switch (f.type) {
    case frame_type::syn_stream:
      if (n < 10) return "SYN_STREAM shorter than 10 bytes";
      f.stream_id = get32(body, 0) & 0x7fffffff;
      f.associated_id = get32(body, 4) & 0x7fffffff;
      f.priority = static_cast<uint8_t>(static_cast<unsigned char>(body[8]) >> 5);
      f.slot = static_cast<uint8_t>(body[9]);
      f.payload = std::string(body.substr(10));
      break;
    case frame_type::syn_reply:
    case frame_type::headers:
      if (n < 4) return "header frame shorter than 4 bytes";
      f.stream_id = get32(body, 0) & 0x7fffffff;
      f.payload = std::string(body.substr(4));
      break;
    case frame_type::rst_stream:
      if (n != 8) return "RST_STREAM length is not 8";
      f.stream_id = get32(body, 0) & 0x7fffffff;
      f.value = get32(body, 4);
      if (f.value == 0) return "RST_STREAM with status 0";
      break;
    case frame_type::settings: {
      if (n < 4) return "SETTINGS shorter than 4 bytes";
      uint32_t count = get32(body, 0);
      if ((n - 4) / 8 != count || (n - 4) % 8 != 0) return "SETTINGS length does not match count";
      for (uint32_t i = 0; i < count; ++i) {
        uint32_t word = get32(body, 4 + 8 * i);
        f.settings.push_back(
            {static_cast<uint8_t>(word >> 24), word & 0xffffff, get32(body, 8 + 8 * i)});
      }
      return "";
    }
    case frame_type::ping:
      if (n != 4) return "PING length is not 4";
      f.value = get32(body, 0);
      return "";
    case frame_type::goaway:
      if (n != 8) return "GOAWAY length is not 8";
      f.stream_id = get32(body, 0) & 0x7fffffff;
      f.value = get32(body, 4);
      return "";
    case frame_type::window_update:
      if (n != 8) return "WINDOW_UPDATE length is not 8";
      f.stream_id = get32(body, 0) & 0x7fffffff;
      f.value = get32(body, 4) & 0x7fffffff;
      return "";
    default:
      f.payload = std::string(body);
      return "";
  }
  if (f.stream_id == 0) return "stream id 0 on a stream frame";
  return "";
}

}  // namespace

parse_result parse_frame(std::string_view in) {
  if (in.size() < 8) return {};
  const uint32_t first = get32(in, 0);
  const uint32_t second = get32(in, 4);
  const uint32_t length = second & 0xffffff;
  const bool control = (first & 0x80000000u) != 0;
  if (control && (first >> 16 & 0x7fff) != version)
    return fail("unsupported SPDY version " + std::to_string(first >> 16 & 0x7fff));
  if (length > max_frame_length)
    return fail("frame length " + std::to_string(length) + " over the limit");
  if (in.size() < 8 + size_t{length}) return {};
  parse_result r;
  r.f.flags = static_cast<uint8_t>(second >> 24);
  std::string_view body = in.substr(8, length);
  if (control) {
    r.f.type = static_cast<frame_type>(first & 0xffff);
    if (std::string why = parse_control_body(r.f, body); !why.empty()) return fail(why);
  } else {
    r.f.stream_id = first & 0x7fffffff;
    if (r.f.stream_id == 0) return fail("DATA frame on stream 0");
    r.f.payload = std::string(body);
  }
  r.st = parse_result::status::ok;
  r.consumed = 8 + length;
  return r;
}

std::string serialize(const frame& f) {
  std::string body;
  switch (f.type) {
    case frame_type::data:
      body = f.payload;
      break;
    case frame_type::syn_stream:
      put32(body, f.stream_id & 0x7fffffff);
      put32(body, f.associated_id & 0x7fffffff);
      body.push_back(static_cast<char>((f.priority & 0x7) << 5));
      body.push_back(static_cast<char>(f.slot));
      body += f.payload;
      break;
    case frame_type::syn_reply:
    case frame_type::headers:
      put32(body, f.stream_id & 0x7fffffff);
      body += f.payload;
      break;
    case frame_type::rst_stream:
    case frame_type::goaway:
    case frame_type::window_update:
      put32(body, f.stream_id & 0x7fffffff);
      put32(body, f.value);
      break;
    case frame_type::settings:
      put32(body, static_cast<uint32_t>(f.settings.size()));
      for (const auto& s : f.settings) {
        put32(body, static_cast<uint32_t>(s.flags) << 24 | (s.id & 0xffffff));
        put32(body, s.value);
      }
      break;
    case frame_type::ping:
      put32(body, f.value);
      break;
    default:
      body = f.payload;
  }
  std::string out;
  if (f.type == frame_type::data)
    put32(out, f.stream_id & 0x7fffffff);
  else
    put32(out, 0x80000000u | uint32_t{version} << 16 | static_cast<uint16_t>(f.type));
  put32(out,
        static_cast<uint32_t>(f.flags) << 24 | (static_cast<uint32_t>(body.size()) & 0xffffff));
  return out + body;
}

std::string encode_header_block(const header_list& headers) {
  std::string out;
  put32(out, static_cast<uint32_t>(headers.size()));
  for (const auto& [name, value] : headers) {
    put32(out, static_cast<uint32_t>(name.size()));
    out += name;
    put32(out, static_cast<uint32_t>(value.size()));
    out += value;
  }
  return out;
}

std::optional<header_list> decode_header_block(std::string_view block) {
  if (block.size() < 4) return std::nullopt;
  uint32_t count = get32(block, 0);
  size_t at = 4;
  // Each pair takes at least 8 bytes: a count beyond that is a lie, not a
  // reason to reserve memory.
  if (count > (block.size() - at) / 8) return std::nullopt;
  auto field = [&]() -> std::optional<std::string> {
    if (block.size() - at < 4) return std::nullopt;
    uint32_t len = get32(block, at);
    at += 4;
    if (block.size() - at < len) return std::nullopt;
    std::string s(block.substr(at, len));
    at += len;
    return s;
  };
  header_list out;
  for (uint32_t i = 0; i < count; ++i) {
    auto name = field();
    if (!name || name->empty()) return std::nullopt;
    auto value = field();
    if (!value) return std::nullopt;
    out.emplace_back(std::move(*name), std::move(*value));
  }
  if (at != block.size()) return std::nullopt;
  return out;
}

std::string header_value(const header_list& headers, std::string_view name) {
  for (const auto& [n, v] : headers)
    if (n == name) return v;
  return "";
}

const std::string& header_dictionary() {
  // SPDY/3 §2.6.10.1: 65 length-prefixed words, then a run of bare status
  // lines, dates and media types. Built rather than pasted as 1423 hex bytes so
  // it can be read; the unit test pins its size and zlib dictionary id
  // (adler32).
  static const std::string dict = [] {
    // clang-format off
    static constexpr std::array<std::string_view, 65> words = {
        "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset",
        "accept-encoding", "accept-language", "accept-ranges", "age", "allow", "authorization",
        "cache-control", "connection", "content-base", "content-encoding", "content-language",
        "content-length", "content-location", "content-md5", "content-range", "content-type",
        "date", "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since",
        "if-none-match", "if-range", "if-unmodified-since", "last-modified", "location",
        "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range",
        "referer", "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade",
        "user-agent", "vary", "via", "warning", "www-authenticate", "method", "get", "status",
        "200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"};
    // clang-format on
    std::string d;
    for (auto w : words) {
      put32(d, static_cast<uint32_t>(w.size()));
      d += w;
    }
    d += "100101201202205206300302303304305306307402405406407408409410411412413"
         "414415416417502504505"
         "203 Non-Authoritative Information204 No Content301 Moved "
         "Permanently400 Bad Request401 "
         "Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 "
         "Not Implemented503 "
         "Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec "
         "00:00:00 Mon, Tue, "
         "Wed, Thu, Fri, Sat, Sun, "
         "GMTchunked,text/html,image/png,image/jpg,image/gif,application/"
         "xml,application/xhtml+xml,text/plain,text/"
         "javascript,publicprivatemax-age=gzip,deflate,"
         "sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";
    return d;
  }();
  return dict;
}

namespace {
const Bytef* dict_bytes() { return reinterpret_cast<const Bytef*>(header_dictionary().data()); }
uInt dict_size() { return static_cast<uInt>(header_dictionary().size()); }
}  // namespace

struct header_compressor::state {
  z_stream z{};
};

header_compressor::header_compressor() : state_(std::make_unique<state>()) {
  if (deflateInit(&state_->z, Z_DEFAULT_COMPRESSION) != Z_OK ||
      deflateSetDictionary(&state_->z, dict_bytes(), dict_size()) != Z_OK)
    throw std::runtime_error("spdy: zlib deflate setup failed");
}

header_compressor::~header_compressor() { deflateEnd(&state_->z); }

std::string header_compressor::compress(const header_list& headers) {
  std::string in = encode_header_block(headers);
  z_stream& z = state_->z;
  z.next_in = reinterpret_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  std::string out;
  std::array<Bytef, 4096> buf;
  // A sync flush ends each block on a byte boundary, so the peer can inflate it
  // alone while the dictionary window carries on to the next block.
  do {
    z.next_out = buf.data();
    z.avail_out = static_cast<uInt>(buf.size());
    deflate(&z, Z_SYNC_FLUSH);
    out.append(reinterpret_cast<const char*>(buf.data()), buf.size() - z.avail_out);
  } while (z.avail_out == 0);
  return out;
}

struct header_decompressor::state {
  z_stream z{};
  bool broken = false;
};

header_decompressor::header_decompressor() : state_(std::make_unique<state>()) {
  if (inflateInit(&state_->z) != Z_OK) throw std::runtime_error("spdy: zlib inflate setup failed");
}

header_decompressor::~header_decompressor() { inflateEnd(&state_->z); }

std::optional<header_list> header_decompressor::decompress(std::string_view block) {
  if (state_->broken) return std::nullopt;
  z_stream& z = state_->z;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(block.data()));
  z.avail_in = static_cast<uInt>(block.size());
  std::string out;
  std::array<Bytef, 4096> buf;
  while (true) {
    z.next_out = buf.data();
    z.avail_out = static_cast<uInt>(buf.size());
    int rc = inflate(&z, Z_SYNC_FLUSH);
    if (rc == Z_NEED_DICT) rc = inflateSetDictionary(&z, dict_bytes(), dict_size());
    out.append(reinterpret_cast<const char*>(buf.data()), buf.size() - z.avail_out);
    // Z_BUF_ERROR only says there was nothing left to do; Z_STREAM_END would be
    // a peer that closed its zlib stream, which SPDY never does.
    bool fine = rc == Z_OK || (rc == Z_BUF_ERROR && z.avail_in == 0);
    if (!fine || out.size() > max_header_block) {
      state_->broken = true;
      return std::nullopt;
    }
    if (z.avail_in == 0 && z.avail_out != 0) break;
  }
  auto headers = decode_header_block(out);
  if (!headers) state_->broken = true;
  return headers;
}

}  // namespace fake_apiserver::spdy
