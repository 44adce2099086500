#pragma once
// What the HTTP/2 source files share: the settings mvproxy offers and the limits it
// holds clients to. Private to src/proxy.

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "exchange_internal.hpp"
#include "mvproxy/proxy/h2_connection.hpp"

namespace mvproxy::proxy {

// As kube-apiserver (k8s.io/apiserver secure serving): a stream may hold 256 KiB of an
// upload unread (most POST bodies fit in one window), and frames may be that large.
constexpr std::uint32_t h2_stream_window = 256 * 1024;
constexpr std::uint32_t h2_max_frame = 256 * 1024;
// Stream resets a client may send: a burst, then a rate per second (CVE-2023-44487).
constexpr double h2_reset_burst = 1000;
constexpr double h2_reset_rate = 33;

// Writes every frame `session` has ready to `to`, gathered in `buf` (the worker's
// scratch: ours until a write first waits, as tls_stream::write copies what it cannot
// send at once). False when a write fails or times out. Both sides of HTTP/2 use it.
asio::awaitable<bool> write_frames(nghttp2_session* session, tls_stream& to, char* buf,
                                   clock::duration write_timeout);

// A DATA payload for nghttp2 from a stream's queue `q` (unread past `off`): up to
// `length` bytes into `buf`. A drained queue is emptied (freed when its capacity is over
// `keep`, so a quiet stream holds no buffer); then the stream ends when `ended`, and an
// empty read defers until nghttp2_session_resume_data. Both sides of HTTP/2 send bodies
// this way.
inline ssize_t take_data(std::string& q, std::size_t& off, std::uint8_t* buf, std::size_t length,
                         bool ended, std::uint32_t* flags, std::size_t keep) {
  const std::size_t n = std::min(length, q.size() - off);
  if (n > 0) q.copy(reinterpret_cast<char*>(buf), n, off);
  off += n;
  if (off == q.size()) {
    if (q.capacity() > keep)
      std::string().swap(q);
    else
      q.clear();
    off = 0;
    if (ended)
      *flags |= NGHTTP2_DATA_FLAG_EOF;
    else if (n == 0)
      return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(n);
}

inline std::array<nghttp2_settings_entry, 3> server_settings(std::uint32_t max_streams) {
  return {{{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, max_streams},
           {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, h2_stream_window},
           {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, h2_max_frame}}};
}

// The connection's window: every stream's, as kube-apiserver sizes it.
inline std::int32_t connection_window(std::uint32_t max_streams) {
  return static_cast<std::int32_t>(
      std::min<std::uint64_t>(std::uint64_t{h2_stream_window} * max_streams, 0x7fffffff));
}

// The floods an HTTP/2 server must survive: rapid resets (CVE-2023-44487), endless
// CONTINUATION frames (CVE-2024-27316 / CVE-2024-28182), SETTINGS and PING floods that
// queue acknowledgements. Each ends the connection with GOAWAY.
inline void apply_flood_limits(nghttp2_option* opt, std::size_t max_head_bytes) {
  // Resets are limited by take_reset_token; nghttp2's own limit stays as a backstop.
  nghttp2_option_set_stream_reset_rate_limit(opt, 2 * 1000, 2 * 33);
  // A header block within the 1 MiB head limit must not count as a flood (it is
  // answered 431 past it): clients such as curl (nghttp2) send 16 KiB frames, so a
  // 1 MiB block takes 64 CONTINUATION frames, not nghttp2's default of 8.
  nghttp2_option_set_max_continuations(opt, max_head_bytes / 16384 + 8);
  nghttp2_option_set_max_outbound_ack(opt, 1000);
  nghttp2_option_set_max_settings(opt, 32);
}

}  // namespace mvproxy::proxy
