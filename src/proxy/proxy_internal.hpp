#pragma once
// What the data plane's source files share: namespace aliases, the buffer sizes of a
// relay, and the GCC 12 pragma for Asio's coroutine frames. Private to src/proxy.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>

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

inline bool is_eof(const boost::system::error_code& ec) {
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
}

}  // namespace mvproxy::proxy
