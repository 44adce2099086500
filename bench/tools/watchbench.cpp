// watchbench: the idle-watch half of bench/run.
//
//   watchbench backend --cert F --key F [--client-ca F] --event-file F
//     A TLS "apiserver" that answers `?watch=true` requests with a chunked 200 and
//     holds them open (with `sendInitialEvents=true`, after one BOOKMARK event, as
//     kube-apiserver ends the initial events of an empty collection), and any other
//     GET with a small JSON object; over HTTP/1.1, or over HTTP/2 to a client that
//     offers ALPN h2 (bench/tools/h2_backend.hpp). It prints
//     "listening on 127.0.0.1:PORT" and "control on 127.0.0.1:PORT"; each connection
//     to the control port sends one event (the first line of --event-file) to every
//     open watch and is answered "sent N".
//
//   watchbench client --connect HOST:PORT --control HOST:PORT --ca F --watches N
//                     [--cert F --key F] [--rss-pid PID] [--upstream-port P] [--path P]
//                     [--timeout S]
//     Opens N watches, reads the RSS of --rss-pid before and after (and counts its
//     connections to --upstream-port), pokes the control port and times until every
//     watch has received the event. Prints one JSON line.
//
// Both run on one thread: what is measured is the proxy in between, so the tool
// must stay out of its way (C++/Asio rather than a scripting language for that).
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <list>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "h2_backend.hpp"
#include "watch_common.hpp"

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using tls_stream = ssl::stream<tcp::socket>;
using asio::awaitable;
using clock_type = std::chrono::steady_clock;
using args = watch_common::args;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

namespace {

using watch_common::arg;
using watch_common::parse_endpoint;
using watch_common::percentile;
using watch_common::rss_kib;

std::string chunk(const std::string& data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + data + "\r\n";
}

// ---------------------------------------------------------------- backend

struct watcher {
  explicit watcher(tls_stream s) : stream(std::move(s)) {}
  tls_stream stream;
  std::string pending;  // bytes waiting for the write in flight to finish
  bool writing = false;
};

struct backend_state {
  std::list<std::shared_ptr<watcher>> watchers;
  std::string event;
  h2_backend::state h2;  // the watches and answers of HTTP/2 connections
};

awaitable<void> flush(std::shared_ptr<watcher> w) {
  w->writing = true;
  while (!w->pending.empty()) {
    std::string out;
    out.swap(w->pending);
    auto [ec, n] = co_await asio::async_write(w->stream, asio::buffer(out), nothrow);
    if (ec) break;
  }
  w->writing = false;
}

void send_to(const std::shared_ptr<watcher>& w, const std::string& bytes) {
  w->pending += bytes;
  if (!w->writing) asio::co_spawn(w->stream.get_executor(), flush(w), asio::detached);
}

const std::string small_object =
    R"({"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"small","namespace":"default"},"data":{}})";

const std::string bookmark =
    R"({"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":)"
    R"("123456","creationTimestamp":null,"annotations":{"k8s.io/initial-events-end":"true"}},)"
    R"("spec":{"containers":null},"status":{}}})"
    "\n";

awaitable<void> serve(tls_stream s, backend_state& st) {
  if (auto [ec] = co_await s.async_handshake(ssl::stream_base::server, nothrow); ec) co_return;
  if (h2_backend::negotiated_h2(s)) {
    co_await h2_backend::serve(std::move(s), st.h2);
    co_return;
  }
  std::string buf;
  for (;;) {
    auto [ec, n] =
        co_await asio::async_read_until(s, asio::dynamic_buffer(buf), "\r\n\r\n", nothrow);
    if (ec) co_return;
    std::string head = buf.substr(0, n);
    buf.erase(0, n);
    auto line_end = head.find("\r\n");
    std::string target = head.substr(0, line_end);
    if (target.find("watch=true") != std::string::npos) {
      auto w = std::make_shared<watcher>(std::move(s));
      auto pos = st.watchers.insert(st.watchers.end(), w);
      send_to(w,
              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
              "Transfer-Encoding: chunked\r\n\r\n");
      // A watch-list (client-go's reflector with WatchListClient) of an empty
      // collection: kube-apiserver ends its initial events with this bookmark at once.
      if (target.find("sendInitialEvents=true") != std::string::npos) send_to(w, chunk(bookmark));
      // Reading only notices the client going away; watches send nothing more.
      char sink[512];
      for (;;) {
        auto [rec, rn] = co_await w->stream.async_read_some(asio::buffer(sink), nothrow);
        if (rec) break;
      }
      st.watchers.erase(pos);
      co_return;
    }
    std::string resp = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                       std::to_string(small_object.size()) + "\r\n\r\n" + small_object;
    if (auto [wec, wn] = co_await asio::async_write(s, asio::buffer(resp), nothrow); wec) co_return;
  }
}

awaitable<void> accept_tls(tcp::acceptor& acc, ssl::context& ctx, backend_state& st) {
  for (;;) {
    auto [ec, sock] = co_await acc.async_accept(nothrow);
    if (ec) continue;  // EMFILE and the like: keep serving those already open
    asio::co_spawn(acc.get_executor(), serve(tls_stream(std::move(sock), ctx), st), asio::detached);
  }
}

awaitable<void> control(tcp::socket sock, backend_state& st) {
  std::string buf;
  co_await asio::async_read_until(sock, asio::dynamic_buffer(buf), "\n", nothrow);
  const std::string bytes = chunk(st.event);
  for (auto& w : st.watchers) send_to(w, bytes);
  const auto sent = st.watchers.size() + h2_backend::send_event(st.h2, st.event);
  std::string reply = "sent " + std::to_string(sent) + "\n";
  co_await asio::async_write(sock, asio::buffer(reply), nothrow);
}

awaitable<void> accept_control(tcp::acceptor& acc, backend_state& st) {
  for (;;) {
    auto [ec, sock] = co_await acc.async_accept(nothrow);
    if (!ec) asio::co_spawn(acc.get_executor(), control(std::move(sock), st), asio::detached);
  }
}

int run_backend(const args& a) {
  asio::io_context io(1);
  ssl::context ctx(ssl::context::tls_server);
  ctx.use_certificate_chain_file(arg(a, "--cert"));
  ctx.use_private_key_file(arg(a, "--key"), ssl::context::pem);
  if (a.count("--client-ca")) {
    ctx.load_verify_file(a.at("--client-ca"));
    ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    // Proxies resume TLS sessions; with client verification OpenSSL refuses that
    // (internal_error alert) unless the server names a session id context.
    static const unsigned char id[] = "watchbench";
    SSL_CTX_set_session_id_context(ctx.native_handle(), id, sizeof id - 1);
  }
  h2_backend::offer_h2(ctx.native_handle());
  backend_state st;
  std::ifstream ev(arg(a, "--event-file"));
  std::getline(ev, st.event);
  st.event += "\n";
  st.h2.small_object = small_object;
  st.h2.bookmark = bookmark;

  tcp::acceptor tls_acc(io, parse_endpoint(arg(a, "--listen", "127.0.0.1:0")));
  tls_acc.listen(4096);
  tcp::acceptor ctl_acc(io, parse_endpoint("127.0.0.1:0"));
  std::cout << "listening on 127.0.0.1:" << tls_acc.local_endpoint().port() << "\n"
            << "control on 127.0.0.1:" << ctl_acc.local_endpoint().port() << std::endl;
  asio::co_spawn(io, accept_tls(tls_acc, ctx, st), asio::detached);
  asio::co_spawn(io, accept_control(ctl_acc, st), asio::detached);
  asio::signal_set stop(io, SIGTERM, SIGINT);
  stop.async_wait([&](auto, int) { io.stop(); });
  io.run();
  return 0;
}

// ---------------------------------------------------------------- client

struct watch_conn {
  explicit watch_conn(tls_stream s) : stream(std::move(s)) {}
  tls_stream stream;
  std::string buf;  // bytes read past the response head
  bool chunked = false;
};

struct client_state {
  tcp::endpoint target;
  std::string request;
  std::vector<std::shared_ptr<watch_conn>> conns;
  std::size_t next = 0, wanted = 0, failed = 0;
  std::string first_error;
  std::vector<double> arrival_ms;
  clock_type::time_point t0;
};

void note_error(client_state& st, std::string what) {
  ++st.failed;
  std::replace_if(
      what.begin(), what.end(), [](char ch) { return ch == '"' || ch == '\\' || ch < ' '; }, ' ');
  if (st.first_error.empty()) st.first_error = what;
}

awaitable<void> open_watches(client_state& st, ssl::context& ctx) {
  auto ex = co_await asio::this_coro::executor;
  while (st.next < st.wanted) {
    ++st.next;
    tls_stream s(ex, ctx);
    if (auto [ec] = co_await s.next_layer().async_connect(st.target, nothrow); ec) {
      note_error(st, "connect: " + ec.message());
      continue;
    }
    if (auto [ec] = co_await s.async_handshake(ssl::stream_base::client, nothrow); ec) {
      note_error(st, "handshake: " + ec.message());
      continue;
    }
    if (auto [ec, n] = co_await asio::async_write(s, asio::buffer(st.request), nothrow); ec) {
      note_error(st, "write: " + ec.message());
      continue;
    }
    auto c = std::make_shared<watch_conn>(std::move(s));
    auto [ec, n] = co_await asio::async_read_until(c->stream, asio::dynamic_buffer(c->buf),
                                                   "\r\n\r\n", nothrow);
    if (ec) {
      note_error(st, "read head: " + ec.message());
      continue;
    }
    std::string head = c->buf.substr(0, n);
    c->buf.erase(0, n);
    if (head.rfind("HTTP/1.1 200", 0) != 0) {
      note_error(st, "status: " + head.substr(0, head.find("\r\n")));
      continue;
    }
    std::transform(head.begin(), head.end(), head.begin(),
                   [](unsigned char ch) { return std::tolower(ch); });
    c->chunked = head.find("transfer-encoding: chunked") != std::string::npos;
    st.conns.push_back(std::move(c));
  }
}

// True once the decoded body holds a newline: one whole watch event.
bool has_event(watch_conn& c) {
  if (!c.chunked) return c.buf.find('\n') != std::string::npos;
  std::size_t pos = 0;
  for (;;) {
    auto eol = c.buf.find("\r\n", pos);
    if (eol == std::string::npos) return false;
    std::size_t size = std::stoul(c.buf.substr(pos, eol - pos), nullptr, 16);
    std::size_t data = eol + 2;
    std::size_t avail = std::min(size, c.buf.size() - data);
    if (c.buf.find('\n', data) < data + avail) return true;
    if (avail < size || c.buf.size() < data + size + 2) return false;
    pos = data + size + 2;
  }
}

awaitable<void> await_event(std::shared_ptr<watch_conn> c, client_state& st) {
  char tmp[16384];
  while (!has_event(*c)) {
    auto [ec, n] = co_await c->stream.async_read_some(asio::buffer(tmp), nothrow);
    if (ec) co_return;
    c->buf.append(tmp, n);
  }
  st.arrival_ms.push_back(
      std::chrono::duration<double, std::milli>(clock_type::now() - st.t0).count());
}

// Runs fn() in parallel copies and returns when all have finished.
template <class Make>
awaitable<void> all_of(std::size_t copies, Make make) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer done(ex, clock_type::time_point::max());
  std::size_t left = copies;
  for (std::size_t i = 0; i < copies; ++i)
    asio::co_spawn(ex, make(i), [&](std::exception_ptr) {
      if (--left == 0) done.cancel();
    });
  if (left > 0) co_await done.async_wait(nothrow);
}

int run_client(const args& a) {
  asio::io_context io(1);
  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(arg(a, "--ca"));
  ctx.set_verify_mode(ssl::verify_peer);
  if (a.count("--cert")) {
    ctx.use_certificate_chain_file(a.at("--cert"));
    ctx.use_private_key_file(arg(a, "--key"), ssl::context::pem);
  }
  client_state st;
  st.target = parse_endpoint(arg(a, "--connect"));
  st.wanted = std::stoul(arg(a, "--watches"));
  const int pid = std::stoi(arg(a, "--rss-pid", "0"));
  const int upstream_port = std::stoi(arg(a, "--upstream-port", "0"));
  const auto timeout = std::chrono::seconds(std::stoi(arg(a, "--timeout", "60")));
  st.request =
      "GET " +
      arg(a, "--path", "/api/v1/namespaces/default/pods?watch=true&allowWatchBookmarks=true") +
      " HTTP/1.1\r\nHost: " + arg(a, "--connect") +
      "\r\nAccept: application/json\r\n"
      "Authorization: Bearer mvproxy-bench-token\r\nUser-Agent: watchbench\r\n\r\n";
  const auto control_ep = parse_endpoint(arg(a, "--control"));

  std::ostringstream out;
  long rss_before = 0, rss_after = 0, upstream = -1;
  double open_s = 0, fanout_ms = -1;
  std::size_t sent = 0;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        rss_before = rss_kib(pid);
        auto t_open = clock_type::now();
        // A bounded number of handshakes in flight, like a fleet of clients reconnecting.
        co_await all_of(std::min<std::size_t>(128, st.wanted),
                        [&](std::size_t) { return open_watches(st, ctx); });
        open_s = std::chrono::duration<double>(clock_type::now() - t_open).count();
        rss_after = rss_kib(pid);
        upstream = watch_common::connections_to(pid, upstream_port);
        if (st.conns.empty()) co_return;

        asio::steady_timer deadline(ex, timeout);
        std::size_t left = st.conns.size();
        asio::steady_timer all_arrived(ex, clock_type::time_point::max());
        for (auto& c : st.conns)
          asio::co_spawn(ex, await_event(c, st), [&](std::exception_ptr) {
            if (--left == 0) all_arrived.cancel();
          });
        deadline.async_wait([&](boost::system::error_code ec) {
          if (!ec) all_arrived.cancel();
        });
        tcp::socket ctl(ex);
        st.t0 = clock_type::now();
        co_await ctl.async_connect(control_ep, asio::use_awaitable);
        co_await asio::async_write(ctl, asio::buffer(std::string("event\n")), asio::use_awaitable);
        std::string reply;
        co_await asio::async_read_until(ctl, asio::dynamic_buffer(reply), "\n",
                                        asio::use_awaitable);
        sent = std::stoul(reply.substr(5));
        if (left > 0) co_await all_arrived.async_wait(nothrow);
        deadline.cancel();
        if (st.arrival_ms.size() == st.conns.size())
          fanout_ms = *std::max_element(st.arrival_ms.begin(), st.arrival_ms.end());
        for (auto& c : st.conns) c->stream.next_layer().close();
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  io.run();

  out << "{\"watches\":" << st.wanted << ",\"opened\":" << st.conns.size()
      << ",\"failed\":" << st.failed << ",\"backend_sent\":" << sent
      << ",\"received\":" << st.arrival_ms.size() << ",\"open_s\":" << open_s
      << ",\"rss_before_kib\":" << rss_before << ",\"rss_after_kib\":" << rss_after
      << ",\"upstream_connections\":" << upstream << ",\"fanout_ms\":" << fanout_ms
      << ",\"arrival_p50_ms\":" << percentile(st.arrival_ms, 0.5) << ",\"first_error\":\""
      << st.first_error << "\"}";
  std::cout << out.str() << std::endl;
  return fanout_ms >= 0 && st.failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "backend") return run_backend(watch_common::parse_args(argc, argv));
    if (mode == "client") return run_client(watch_common::parse_args(argc, argv));
    std::cerr << "usage: watchbench backend|client --flag value ...\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "watchbench: " << e.what() << "\n";
    return 1;
  }
}
