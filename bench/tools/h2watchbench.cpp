// h2watchbench: idle watches over HTTP/2, the client half of bench/run's h2watch.
//
//   h2watchbench --connect HOST:PORT --control HOST:PORT --ca F --watches N
//                [--max-streams M] [--initial-events E] [--rss-pid PID]
//                [--upstream-port P] [--path P] [--timeout S] [--settle S]
//     Opens N watches (GET ?watch=true) as HTTP/2 streams (ALPN h2, nothing else
//     accepted), filling each TLS connection up to min(M, the server's
//     SETTINGS_MAX_CONCURRENT_STREAMS) before opening the next, at most 128 watches
//     opening at a time. A watch is open once it has a 200 head and E events (lines);
//     every one must open and stay open. Then it reads the RSS of --rss-pid (before
//     opening, right after, and --settle seconds later), counts that process's
//     connections to --upstream-port, pokes watchbench backend's control port and
//     times until every stream has received the event. Prints one JSON line; exits 1
//     unless every watch opened, stayed open and got the event.
//
// One thread, nghttp2's client session on Asio: the proxy in between is what is
// measured, so the tool must stay out of its way.
#include <nghttp2/nghttp2.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <algorithm>
#include <chrono>
#include <deque>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "watch_common.hpp"

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using tls_stream = ssl::stream<tcp::socket>;
using asio::awaitable;
using clock_type = std::chrono::steady_clock;
using watch_common::arg;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

namespace {

constexpr std::size_t opening_at_once = 128;  // as watchbench's 128 handshakes in flight

struct client_state;

struct watch_stream {
  int status = 0;
  bool head = false;     // the response head arrived
  bool settled = false;  // opened, or failed: no longer awaited
  bool opened = false;   // a 200 head and the initial events
  bool closed = false;   // the stream ended (a watch must not)
  std::size_t events = 0;
  double event_ms = -1;  // when the poked event arrived, from the poke
};

struct h2_conn {
  h2_conn(tls_stream s, client_state& c) : stream(std::move(s)), st(c) {}
  ~h2_conn() { nghttp2_session_del(session); }
  tls_stream stream;
  client_state& st;
  nghttp2_session* session = nullptr;
  std::deque<watch_stream> streams;  // stable addresses: nghttp2 holds pointers to them
  std::string out;                   // frames waiting for the write in flight
  bool writing = false, settings = false, dead = false;
};

struct client_state {
  explicit client_state(const asio::any_io_executor& ex) : progress(ex) {}
  std::vector<std::unique_ptr<h2_conn>> conns;
  std::size_t wanted = 0, submitted = 0, pending = 0, opened = 0, failed = 0, received = 0;
  std::size_t initial_events = 0;  // lines a watch gets before it counts as open
  std::string first_error;
  bool poked = false;
  clock_type::time_point t0;    // the poke
  asio::steady_timer progress;  // cancelled whenever something changes: waiters re-check

  void wake() { progress.cancel(); }
  void error(std::string what) {
    ++failed;
    std::replace_if(
        what.begin(), what.end(), [](char ch) { return ch == '"' || ch == '\\' || ch < ' '; }, ' ');
    if (first_error.empty()) first_error = std::move(what);
  }
};

// Waits until done() or the deadline; false on the deadline.
template <class Done>
awaitable<bool> wait_until(client_state& st, clock_type::time_point deadline, Done done) {
  while (!done()) {
    if (clock_type::now() >= deadline) co_return false;
    st.progress.expires_at(deadline);
    co_await st.progress.async_wait(nothrow);
  }
  co_return true;
}

// ------------------------------------------------------------ nghttp2 callbacks

// A watch no longer awaited: opened when error is empty, failed otherwise.
void settle(client_state& st, watch_stream& ws, std::string error) {
  if (ws.settled) return;
  ws.settled = true;
  --st.pending;
  if (!error.empty()) {
    st.error(std::move(error));
    return;
  }
  ws.opened = true;
  ++st.opened;
}

void settle_if_open(client_state& st, watch_stream& ws) {
  if (ws.head && ws.status == 200 && ws.events >= st.initial_events) settle(st, ws, {});
}

int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
              const uint8_t* value, size_t valuelen, uint8_t, void* user) {
  auto* c = static_cast<h2_conn*>(user);
  auto* ws = static_cast<watch_stream*>(
      nghttp2_session_get_stream_user_data(c->session, frame->hd.stream_id));
  if (ws && frame->hd.type == NGHTTP2_HEADERS &&
      std::string_view(":status") == std::string_view(reinterpret_cast<const char*>(name), namelen))
    ws->status = std::stoi(std::string(reinterpret_cast<const char*>(value), valuelen));
  return 0;
}

int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* c = static_cast<h2_conn*>(user);
  if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
    c->settings = true;
  } else if (frame->hd.type == NGHTTP2_GOAWAY) {
    c->dead = true;
    c->st.error("GOAWAY, error code " + std::to_string(frame->goaway.error_code));
  } else if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_RESPONSE) {
    auto* ws = static_cast<watch_stream*>(
        nghttp2_session_get_stream_user_data(c->session, frame->hd.stream_id));
    if (ws && !ws->head) {
      ws->head = true;
      if (ws->status != 200) settle(c->st, *ws, "status " + std::to_string(ws->status));
      settle_if_open(c->st, *ws);
    }
  }
  c->st.wake();
  return 0;
}

int on_data(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len, void* user) {
  auto* c = static_cast<h2_conn*>(user);
  auto* ws = static_cast<watch_stream*>(nghttp2_session_get_stream_user_data(c->session, id));
  if (!ws) return 0;
  // A watch event is one JSON object per line; the one after the initial events is
  // the poked one, timed.
  ws->events += static_cast<std::size_t>(std::count(data, data + len, '\n'));
  settle_if_open(c->st, *ws);
  if (c->st.poked && ws->event_ms < 0 && ws->events > c->st.initial_events) {
    ws->event_ms = std::chrono::duration<double, std::milli>(clock_type::now() - c->st.t0).count();
    ++c->st.received;
  }
  c->st.wake();
  return 0;
}

int on_close(nghttp2_session*, int32_t id, uint32_t code, void* user) {
  auto* c = static_cast<h2_conn*>(user);
  auto* ws = static_cast<watch_stream*>(nghttp2_session_get_stream_user_data(c->session, id));
  if (!ws || ws->closed) return 0;
  ws->closed = true;
  auto why = "stream " + std::to_string(id) + " closed, error code " + std::to_string(code) +
             (ws->opened ? " (after it opened)" : " (before it opened)");
  if (ws->settled)
    c->st.error(std::move(why));
  else
    settle(c->st, *ws, std::move(why));
  c->st.wake();
  return 0;
}

// ------------------------------------------------------------ connection I/O

awaitable<void> write_out(h2_conn& c) {
  c.writing = true;
  while (!c.out.empty() && !c.dead) {
    std::string buf;
    buf.swap(c.out);
    auto [ec, n] = co_await asio::async_write(c.stream, asio::buffer(buf), nothrow);
    if (ec) c.dead = true;
  }
  c.writing = false;
}

// Moves what nghttp2 has to send (requests, acknowledgements, PING answers) out.
void flush(h2_conn& c) {
  for (;;) {
    const uint8_t* data = nullptr;
    auto n = nghttp2_session_mem_send(c.session, &data);
    if (n <= 0) break;
    c.out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
  }
  if (!c.out.empty() && !c.writing)
    asio::co_spawn(c.stream.get_executor(), write_out(c), asio::detached);
}

void mark_dead(h2_conn& c, const std::string& why) {
  if (c.dead) return;
  c.dead = true;
  for (auto& ws : c.streams) {
    ws.closed = true;
    if (!ws.settled) settle(c.st, ws, "its connection ended");
  }
  c.st.error(why);
  c.st.wake();
}

awaitable<void> read_loop(h2_conn& c) {
  char buf[16384];
  while (!c.dead) {
    auto [ec, n] = co_await c.stream.async_read_some(asio::buffer(buf), nothrow);
    if (ec) {
      mark_dead(c, "read: " + ec.message());
      break;
    }
    auto used = nghttp2_session_mem_recv(c.session, reinterpret_cast<const uint8_t*>(buf), n);
    if (used < 0) {
      mark_dead(c, std::string("nghttp2: ") + nghttp2_strerror(static_cast<int>(used)));
      break;
    }
    flush(c);
  }
}

void start_session(h2_conn& c) {
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
  nghttp2_session_client_new(&c.session, cb, &c);
  nghttp2_session_callbacks_del(cb);
  // Go's HTTP/2 transport (client-go's) windows: 4 MiB per stream, 1 GiB per
  // connection, so the client's window does not pace the fan-out of an event.
  const nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                             {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 4 << 20}};
  nghttp2_submit_settings(c.session, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(c.session, NGHTTP2_FLAG_NONE, 0, 1 << 30);
  flush(c);
  asio::co_spawn(c.stream.get_executor(), read_loop(c), asio::detached);
}

struct request {
  std::string authority, path;
};

void submit_watch(h2_conn& c, const request& req) {
  auto nv = [](const char* name, const std::string& value) {
    return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name)),
                      reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())),
                      std::char_traits<char>::length(name), value.size(), NGHTTP2_NV_FLAG_NONE};
  };
  static const std::string get = "GET", https = "https", json = "application/json",
                           bearer = "Bearer mvproxy-bench-token", agent = "h2watchbench";
  const nghttp2_nv head[] = {
      nv(":method", get),     nv(":scheme", https), nv(":authority", req.authority),
      nv(":path", req.path),  nv("accept", json),   nv("authorization", bearer),
      nv("user-agent", agent)};
  auto& ws = c.streams.emplace_back();
  auto id = nghttp2_submit_request(c.session, nullptr, head, std::size(head), nullptr, &ws);
  ++c.st.submitted;
  if (id < 0) {
    ws.closed = true;
    c.st.error(std::string("submit: ") + nghttp2_strerror(id));
    return;
  }
  ++c.st.pending;
}

struct options {
  tcp::endpoint target, control;
  request req;
  std::size_t watches = 0, max_streams = 0;
  int pid = 0, upstream_port = 0;
  std::size_t initial_events = 0;
  std::chrono::seconds timeout{60}, settle{0};
};

// One TLS connection with h2 negotiated and the server's SETTINGS read; null on error.
awaitable<h2_conn*> connect(client_state& st, ssl::context& ctx, const options& o) {
  auto ex = co_await asio::this_coro::executor;
  tls_stream s(ex, ctx);
  if (auto [ec] = co_await s.next_layer().async_connect(o.target, nothrow); ec) {
    st.error("connect: " + ec.message());
    co_return nullptr;
  }
  s.next_layer().set_option(tcp::no_delay(true));  // WINDOW_UPDATEs must not wait
  if (auto [ec] = co_await s.async_handshake(ssl::stream_base::client, nothrow); ec) {
    st.error("handshake: " + ec.message());
    co_return nullptr;
  }
  const unsigned char* alpn = nullptr;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(s.native_handle(), &alpn, &alpn_len);
  if (std::string_view(reinterpret_cast<const char*>(alpn), alpn_len) != "h2") {
    st.error("the server did not select ALPN h2");
    co_return nullptr;
  }
  auto& c = *st.conns.emplace_back(std::make_unique<h2_conn>(std::move(s), st));
  start_session(c);
  auto deadline = clock_type::now() + o.timeout;
  if (!co_await wait_until(st, deadline, [&] { return c.settings || c.dead; }) || c.dead) {
    st.error("no SETTINGS from the server");
    co_return nullptr;
  }
  co_return &c;
}

// Fills connection after connection up to the server's stream limit, opening_at_once
// watches opening at a time; returns once every watch has opened (or failed).
awaitable<std::uint32_t> open_watches(client_state& st, ssl::context& ctx, const options& o) {
  const auto deadline = clock_type::now() + o.timeout;
  std::uint32_t limit = 0;
  while (st.submitted < st.wanted && st.failed == 0) {
    h2_conn* c = co_await connect(st, ctx, o);
    if (!c) break;
    limit =
        nghttp2_session_get_remote_settings(c->session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    auto room = std::min<std::size_t>(limit, o.max_streams);
    for (std::size_t i = 0; i < room && st.submitted < st.wanted && st.failed == 0; ++i) {
      if (!co_await wait_until(st, deadline, [&] { return st.pending < opening_at_once; })) {
        st.error("watches still opening after the timeout");
        co_return limit;
      }
      if (c->dead) break;
      submit_watch(*c, o.req);
      flush(*c);
    }
  }
  if (!co_await wait_until(st, deadline, [&] { return st.pending == 0; }))
    st.error(std::to_string(st.pending) + " watches still opening after the timeout");
  co_return limit;
}

std::size_t still_open(const client_state& st) {
  std::size_t n = 0;
  for (auto& c : st.conns)
    for (auto& ws : c->streams) n += ws.opened && !ws.closed && !c->dead;
  return n;
}

// Pokes the backend's control port: it sends one event to every watch it holds.
awaitable<std::size_t> poke(const tcp::endpoint& control) {
  tcp::socket ctl(co_await asio::this_coro::executor);
  co_await ctl.async_connect(control, asio::use_awaitable);
  co_await asio::async_write(ctl, asio::buffer(std::string("event\n")), asio::use_awaitable);
  std::string reply;
  co_await asio::async_read_until(ctl, asio::dynamic_buffer(reply), "\n", asio::use_awaitable);
  co_return std::stoul(reply.substr(5));
}

struct results {
  long rss_before = 0, rss_open = 0, rss_after = 0, upstream = -1;
  double open_s = 0, fanout_ms = -1;
  std::size_t open_at_rss = 0, sent = 0, max_streams = 0, initial_window = 0;
};

awaitable<void> run(client_state& st, ssl::context& ctx, const options& o, results& r) {
  auto ex = co_await asio::this_coro::executor;
  r.rss_before = watch_common::rss_kib(o.pid);
  auto t_open = clock_type::now();
  r.max_streams = co_await open_watches(st, ctx, o);
  if (!st.conns.empty())
    r.initial_window = nghttp2_session_get_remote_settings(st.conns.front()->session,
                                                           NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE);
  r.open_s = std::chrono::duration<double>(clock_type::now() - t_open).count();
  r.rss_open = watch_common::rss_kib(o.pid);
  if (o.settle.count() > 0) {
    asio::steady_timer settle(ex, o.settle);
    co_await settle.async_wait(nothrow);
  }
  r.rss_after = watch_common::rss_kib(o.pid);
  r.upstream = watch_common::connections_to(o.pid, o.upstream_port);
  r.open_at_rss = still_open(st);
  if (st.opened == 0) co_return;

  st.t0 = clock_type::now();
  st.poked = true;
  r.sent = co_await poke(o.control);
  const auto deadline = clock_type::now() + o.timeout;
  if (!co_await wait_until(st, deadline, [&] { return st.received >= st.opened; }))
    st.error(std::to_string(st.opened - st.received) + " watches without the event");
  double last = -1;
  for (auto& c : st.conns)
    for (auto& ws : c->streams) last = std::max(last, ws.event_ms);
  if (st.received == st.opened) r.fanout_ms = last;
}

// Ends every connection, whatever state run() left them in: their read loops end and
// io.run() returns; the proxy sees the connections go.
void close_all(client_state& st) {
  for (auto& c : st.conns) {
    c->dead = true;
    boost::system::error_code ignored;
    c->stream.next_layer().close(ignored);
  }
}

std::string json(const client_state& st, const options& o, const results& r) {
  std::vector<double> arrivals;
  for (auto& c : st.conns)
    for (auto& ws : c->streams)
      if (ws.event_ms >= 0) arrivals.push_back(ws.event_ms);
  std::ostringstream out;
  out << "{\"watches\":" << o.watches << ",\"opened\":" << st.opened
      << ",\"open_at_rss\":" << r.open_at_rss << ",\"failed\":" << st.failed
      << ",\"connections\":" << st.conns.size() << ",\"server_max_streams\":" << r.max_streams
      << ",\"server_initial_window\":" << r.initial_window << ",\"backend_sent\":" << r.sent
      << ",\"received\":" << st.received << ",\"open_s\":" << r.open_s
      << ",\"rss_before_kib\":" << r.rss_before << ",\"rss_open_kib\":" << r.rss_open
      << ",\"rss_after_kib\":" << r.rss_after << ",\"upstream_connections\":" << r.upstream
      << ",\"fanout_ms\":" << r.fanout_ms
      << ",\"arrival_p50_ms\":" << watch_common::percentile(arrivals, 0.5) << ",\"first_error\":\""
      << st.first_error << "\"}";
  return out.str();
}

options parse_options(const watch_common::args& a) {
  options o;
  o.target = watch_common::parse_endpoint(arg(a, "--connect"));
  o.control = watch_common::parse_endpoint(arg(a, "--control"));
  o.req = {arg(a, "--connect"),
           arg(a, "--path", "/api/v1/namespaces/default/pods?watch=true&allowWatchBookmarks=true")};
  o.watches = std::stoul(arg(a, "--watches"));
  o.max_streams = std::stoul(arg(a, "--max-streams", "250"));
  o.pid = std::stoi(arg(a, "--rss-pid", "0"));
  o.upstream_port = std::stoi(arg(a, "--upstream-port", "0"));
  o.timeout = std::chrono::seconds(std::stoi(arg(a, "--timeout", "60")));
  o.settle = std::chrono::seconds(std::stoi(arg(a, "--settle", "0")));
  o.initial_events = std::stoul(arg(a, "--initial-events", "0"));
  return o;
}

int run_client(const watch_common::args& a) {
  const options o = parse_options(a);
  asio::io_context io(1);
  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(arg(a, "--ca"));
  ctx.set_verify_mode(ssl::verify_peer);
  static const unsigned char h2[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(ctx.native_handle(), h2, sizeof h2);
  client_state st(io.get_executor());
  st.wanted = o.watches;
  st.initial_events = o.initial_events;
  results r;
  std::exception_ptr failure;
  asio::co_spawn(io, run(st, ctx, o, r), [&](std::exception_ptr e) {
    failure = std::move(e);
    close_all(st);
  });
  io.run();
  if (failure) std::rethrow_exception(failure);
  std::cout << json(st, o, r) << std::endl;
  const bool ok =
      st.failed == 0 && st.opened == o.watches && r.open_at_rss == o.watches && r.fanout_ms >= 0;
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run_client(watch_common::parse_args(argc, argv, 1));
  } catch (const std::exception& e) {
    std::cerr << "h2watchbench: " << e.what() << "\n";
    return 1;
  }
}
