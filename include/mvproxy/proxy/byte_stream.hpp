#pragma once
// What the relay needs of a connection's byte stream, whatever carries it: a TLS
// connection (tls_stream) or one stream of a multiplexed HTTP/2 upstream connection
// (h2_upstream_stream), so one relay serves both.

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstddef>
#include <utility>

namespace mvproxy::proxy {

using clock = std::chrono::steady_clock;
using error_code = boost::system::error_code;

class byte_stream {
 public:
  virtual ~byte_stream() = default;

  // A read attempt that never waits: bytes (up to `size`), or would_block with nothing
  // read, or an error (eof for a clean end).
  struct read_result {
    error_code ec;
    std::size_t bytes = 0;
    bool would_block = false;
  };
  virtual read_result try_read(void* data, std::size_t size) = 0;
  // try_read, waiting as long as needed for at least one byte.
  virtual boost::asio::awaitable<std::pair<error_code, std::size_t>> read_some(
      void* data, std::size_t size) = 0;
  // Writes all of it. The bytes need stay valid only until the first suspension.
  virtual boost::asio::awaitable<error_code> write(const void* data, std::size_t size) = 0;
  // Waits until try_read has something to say (bytes or an error). Ends with an error
  // on the deadline (timed_out() then) or on cancel().
  virtual boost::asio::awaitable<error_code> wait_readable() = 0;

  virtual void expires_after(clock::duration d) = 0;
  virtual void expires_never() = 0;
  virtual bool timed_out() const = 0;
  // Pending waits end with operation_aborted.
  virtual void cancel() = 0;
  // Gives buffers back while nothing is in them (before a likely long wait).
  virtual void release_buffers() = 0;
  // Nothing received waits unread.
  virtual bool input_drained() const = 0;
};

}  // namespace mvproxy::proxy
