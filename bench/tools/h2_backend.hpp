// The HTTP/2 side of `watchbench backend`: a client that offers ALPN h2 (a proxy with
// HTTP/2 upstreams) gets the answers the HTTP/1.1 side gives, as streams on one
// connection: watches held open (events sent as DATA), any other GET the small object.
// nginx and haproxy as configured here, and watchbench's own client, offer no ALPN to
// it and keep HTTP/1.1.
#pragma once

#include <nghttp2/nghttp2.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <cstring>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <utility>

namespace h2_backend {

namespace asio = boost::asio;
using tls_stream = asio::ssl::stream<asio::ip::tcp::socket>;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t max_streams = 1000;  // per connection: 10,000 watches on 10

struct stream {
  std::string path;
  std::string body;       // bytes nghttp2 has not taken yet
  bool watch = false;     // held open: the body never ends
  bool deferred = false;  // nghttp2 waits for resume_data
};

struct conn;

struct state {
  std::list<std::pair<std::weak_ptr<conn>, std::int32_t>> watches;
  std::string small_object, bookmark;
};

struct conn : std::enable_shared_from_this<conn> {
  conn(tls_stream s, state& st) : sock(std::move(s)), st(st) {}
  ~conn() { nghttp2_session_del(session); }
  conn(const conn&) = delete;
  conn& operator=(const conn&) = delete;
  tls_stream sock;
  state& st;
  nghttp2_session* session = nullptr;
  std::map<std::int32_t, stream> streams;
  std::string out;  // frames waiting for the write in flight
  bool writing = false, dead = false;
};

inline asio::awaitable<void> write_out(std::shared_ptr<conn> c) {
  c->writing = true;
  while (!c->out.empty() && !c->dead) {
    std::string buf;
    buf.swap(c->out);
    auto [ec, n] = co_await asio::async_write(c->sock, asio::buffer(buf), nothrow);
    if (ec) c->dead = true;
  }
  c->writing = false;
}

inline void flush(conn& c) {
  for (;;) {
    const uint8_t* data = nullptr;
    auto n = nghttp2_session_mem_send(c.session, &data);
    if (n <= 0) break;
    c.out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
  }
  if (!c.out.empty() && !c.writing)
    asio::co_spawn(c.sock.get_executor(), write_out(c.shared_from_this()), asio::detached);
}

// nghttp2 takes a stream's body from here; a watch with nothing queued waits.
inline ssize_t read_body(nghttp2_session*, std::int32_t id, uint8_t* buf, size_t len,
                         uint32_t* flags, nghttp2_data_source*, void* user) {
  auto& c = *static_cast<conn*>(user);
  auto it = c.streams.find(id);
  if (it == c.streams.end()) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  auto& s = it->second;
  const std::size_t n = std::min(len, s.body.size());
  std::memcpy(buf, s.body.data(), n);
  s.body.erase(0, n);
  if (n == 0 && s.watch) {
    s.deferred = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  if (s.body.empty() && !s.watch) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

inline void respond(conn& c, std::int32_t id, stream& s) {
  s.watch = s.path.find("watch=true") != std::string::npos;
  if (s.watch) {
    c.st.watches.emplace_back(c.weak_from_this(), id);
    // As the HTTP/1.1 side: the bookmark that ends an empty watch-list's initial events.
    if (s.path.find("sendInitialEvents=true") != std::string::npos) s.body = c.st.bookmark;
  } else {
    s.body = c.st.small_object;
  }
  auto nv = [](const char* name, const char* value) {
    return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name)),
                      reinterpret_cast<uint8_t*>(const_cast<char*>(value)), std::strlen(name),
                      std::strlen(value), NGHTTP2_NV_FLAG_NONE};
  };
  const nghttp2_nv head[] = {nv(":status", "200"), nv("content-type", "application/json")};
  nghttp2_data_provider body{};
  body.read_callback = read_body;
  nghttp2_submit_response(c.session, id, head, std::size(head), &body);
}

inline int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  if (frame->hd.type == NGHTTP2_HEADERS) static_cast<conn*>(user)->streams[frame->hd.stream_id];
  return 0;
}

inline int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                     size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* user) {
  auto& c = *static_cast<conn*>(user);
  auto it = c.streams.find(frame->hd.stream_id);
  if (it != c.streams.end() &&
      std::string_view(reinterpret_cast<const char*>(name), namelen) == std::string_view(":path"))
    it->second.path.assign(reinterpret_cast<const char*>(value), valuelen);
  return 0;
}

inline int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto& c = *static_cast<conn*>(user);
  const bool request_done = (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
                            (frame->hd.flags & NGHTTP2_FLAG_END_STREAM);
  auto it = c.streams.find(frame->hd.stream_id);
  if (request_done && it != c.streams.end()) respond(c, frame->hd.stream_id, it->second);
  return 0;
}

inline int on_close(nghttp2_session*, std::int32_t id, uint32_t, void* user) {
  static_cast<conn*>(user)->streams.erase(id);
  return 0;
}

inline void start_session(conn& c) {
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
  nghttp2_session_server_new(&c.session, cb, &c);
  nghttp2_session_callbacks_del(cb);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, max_streams}};
  nghttp2_submit_settings(c.session, NGHTTP2_FLAG_NONE, settings, std::size(settings));
}

// Serves one connection on which ALPN chose h2, until it ends.
inline asio::awaitable<void> serve(tls_stream s, state& st) {
  boost::system::error_code ignored;
  s.next_layer().set_option(asio::ip::tcp::no_delay(true), ignored);  // small frames go at once
  auto c = std::make_shared<conn>(std::move(s), st);
  start_session(*c);
  flush(*c);
  char buf[16384];
  while (!c->dead) {
    auto [ec, n] = co_await c->sock.async_read_some(asio::buffer(buf), nothrow);
    if (ec) break;
    if (nghttp2_session_mem_recv(c->session, reinterpret_cast<const uint8_t*>(buf), n) < 0) break;
    flush(*c);
  }
  c->dead = true;
  c->streams.clear();  // the watch list's entries for them are dropped at the next event
}

// Queues event on every open HTTP/2 watch; returns how many there were.
inline std::size_t send_event(state& st, const std::string& event) {
  std::size_t sent = 0;
  for (auto it = st.watches.begin(); it != st.watches.end();) {
    auto c = it->first.lock();
    if (!c || c->dead || !c->streams.count(it->second)) {
      it = st.watches.erase(it);  // its stream or connection has ended
      continue;
    }
    auto s = c->streams.find(it->second);
    s->second.body += event;
    if (s->second.deferred) {
      s->second.deferred = false;
      nghttp2_session_resume_data(c->session, it->second);
    }
    flush(*c);
    ++sent;
    ++it;
  }
  return sent;
}

// Offers h2 to clients that ask for it, http/1.1 to those that ask for that only, and
// no ALPN to those that offer none.
inline void offer_h2(SSL_CTX* ctx) {
  SSL_CTX_set_alpn_select_cb(
      ctx,
      [](SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
         unsigned inlen, void*) {
        for (const char* want : {"h2", "http/1.1"})
          for (unsigned i = 0; i < inlen; i += 1 + in[i])
            if (in[i] == std::strlen(want) && std::memcmp(in + i + 1, want, in[i]) == 0) {
              *out = in + i + 1;
              *outlen = in[i];
              return SSL_TLSEXT_ERR_OK;
            }
        return SSL_TLSEXT_ERR_NOACK;
      },
      nullptr);
}

inline bool negotiated_h2(tls_stream& s) {
  const unsigned char* p = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(s.native_handle(), &p, &len);
  return len == 2 && std::memcmp(p, "h2", 2) == 0;
}

}  // namespace h2_backend
