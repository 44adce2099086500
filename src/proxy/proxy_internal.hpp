#pragma once
// What the data plane's source files share: namespace aliases, the buffer sizes of a
// relay, and the GCC 12 pragma for Asio's coroutine frames. Private to src/proxy.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>
#include <cstring>
#include <string_view>

#include "mvproxy/http/relay.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on Asio's coroutine frames (sized
// operator delete of awaitable_frame_base) when it inlines deeply, as here at -O2.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace mvproxy::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// One read's worth of relayed bytes; a head and body up to this size leave as one write.
constexpr std::size_t relay_read_bytes = 64 * 1024;
constexpr std::size_t coalesce_bytes = 16 * 1024;

// The body bytes at base[0, body) framed in place for the next hop: as a chunk when
// `chunked_out` (the scratch has headroom and tail room for that), with the last chunk
// when the body is `done`.
inline std::string_view frame_in_place(char* base, std::size_t body, bool chunked_out, bool done) {
  char* start = base;
  std::size_t len = body;
  if (chunked_out && body > 0) {
    std::size_t k = http::chunk_prefix(base, body);
    start -= k;
    len += k;
    std::memcpy(start + len, http::chunk_suffix.data(), http::chunk_suffix.size());
    len += http::chunk_suffix.size();
  }
  if (chunked_out && done) {
    std::memcpy(start + len, http::last_chunk.data(), http::last_chunk.size());
    len += http::last_chunk.size();
  }
  return {start, len};
}

inline bool is_eof(const boost::system::error_code& ec) {
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
}

}  // namespace mvproxy::proxy
