// The proxy watches the client while it streams a response: a client that goes away
// ends the relay and its upstream connection at once (not at the upstream's next
// event), while a client that stays keeps receiving events and may pipeline requests.
// (Shutdown ending a quiet watch with its last chunk is covered in inprocess_test.cpp.)

#include <gtest/gtest.h>

#include <csignal>

#include "proxy_fixture.hpp"

namespace mvproxy::test {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

std::string chunk(std::string_view data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + std::string(data) + "\r\n";
}

// Reads into `p` until its body holds at least `n` bytes (or the client's io timeout).
void read_body_until(client& c, bhttp::response_parser<bhttp::string_body>& p, std::size_t n) {
  while (p.get().body().size() < n && !p.is_done()) bhttp::read_some(c.stream(), c.buffer(), p);
}

class inprocess_watch : public ::testing::Test {
 protected:
  void start(proxy::limits lim = {}) { proxy_.start(upstream_, metrics_, lim); }
  void TearDown() override { proxy_.stop(); }
  std::uint16_t port() const { return proxy_.port(); }
  double pool(const char* state) {
    return metrics_.upstream_connections.with({"local", state}).value();
  }

  // A watch that sends its head and then nothing: it holds the upstream connection
  // until the proxy closes it (the read fails), and records when that happened.
  void serve_quiet_watch() {
    upstream_.on("/api/v1/pods", [this](upstream_conn& c, const recorded&) {
      c.write(
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: "
          "chunked\r\n\r\n");
      watching_ = true;
      char b[256];
      beast::error_code ec;
      while (!ec) c.read_some(b, sizeof b, ec);  // the proxy sends nothing more: EOF/reset
      upstream_saw_close_ = true;
      c.close_after = true;
    });
  }

  // Opens the quiet watch through the proxy and reads its head.
  void open_quiet_watch(client& c) {
    c.send("GET /api/v1/pods?watch=true HTTP/1.1\r\nHost: kubernetes\r\n\r\n");
    bhttp::response_parser<bhttp::string_body> p;
    bhttp::read_header(c.stream(), c.buffer(), p);
    ASSERT_EQ(p.get().result_int(), 200);
    ASSERT_TRUE(p.chunked());
    ASSERT_TRUE(wait_until([&] { return watching_.load(); }, 2s));
    ASSERT_FALSE(upstream_saw_close_.load());
    ASSERT_EQ(upstream_.closed_connections(), 0);
    ASSERT_EQ(pool("active"), 1);
  }

  // The client is gone: its upstream connection closes within 2 s, nothing is left
  // open, nothing went back to the pool, and the next request needs a new connection.
  void expect_upstream_closed_at_once(clock_type::time_point gone) {
    EXPECT_TRUE(wait_until([&] { return upstream_saw_close_.load(); }, 2s))
        << "the upstream watch connection stayed open after the client closed";
    if (upstream_saw_close_) {
      auto took = clock_type::now() - gone;
      EXPECT_LT(took, 2s);
      RecordProperty(
          "upstream_closed_after_ms",
          static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
    }
    EXPECT_TRUE(wait_until([&] { return upstream_.closed_connections() == 1; }, 2s));
    EXPECT_TRUE(wait_until([&] { return proxy_.server->open_connections() == 0; }, 2s))
        << "open_connections() = " << proxy_.server->open_connections();
    EXPECT_TRUE(wait_until([&] { return pool("active") == 0; }, 2s))
        << "active = " << pool("active");
    EXPECT_EQ(pool("idle"), 0) << "the watch's upstream connection was returned to the pool";

    client next(port(), shared_pki(), "", 5s);
    EXPECT_EQ(next.get("/api").result_int(), 200);
    auto reqs = upstream_.requests();
    ASSERT_EQ(reqs.size(), 2u);
    EXPECT_EQ(reqs.back().connection, 2);  // not the watch's connection, from a pool
  }

  // One response streams slowly (two parts, the second only after the client has read
  // the first); a second request arrives meanwhile (in a separate write, or in the same
  // write as the first). Both are answered, in order, each complete.
  void serve_slow(bool chunked) {
    upstream_.on("/slow", [this, chunked](upstream_conn& c, const recorded&) {
      if (chunked)
        c.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk("first-part-"));
      else
        c.write("HTTP/1.1 200 OK\r\nContent-Length: 22\r\n\r\nfirst-part-");
      wait_until([&] { return release_.load(); }, 5s);
      c.write(chunked ? chunk("second-part") + "0\r\n\r\n" : std::string("second-part"));
    });
    upstream_.on("/next", [](upstream_conn& c, const recorded&) {
      c.respond(200, "the second response", {{"Content-Type", "text/plain"}});
    });
  }
  void run_pipelined(bool same_write) {
    const std::string first = "GET /slow HTTP/1.1\r\nHost: kubernetes\r\n\r\n";
    const std::string second = "GET /next HTTP/1.1\r\nHost: kubernetes\r\n\r\n";
    client c(port(), shared_pki(), "", 5s);
    c.send(same_write ? first + second : first);
    bhttp::response_parser<bhttp::string_body> p;
    bhttp::read_header(c.stream(), c.buffer(), p);
    ASSERT_EQ(p.get().result_int(), 200);
    read_body_until(c, p, 11);
    ASSERT_EQ(p.get().body(), "first-part-");
    if (!same_write) c.send(second);
    // Let the proxy see the second request while the first response is in progress.
    std::this_thread::sleep_for(200ms);
    release_ = true;
    auto targets = [&] {
      std::string t;
      for (auto& r : upstream_.requests()) t += r.target + " ";
      return t;
    };
    try {
      while (!p.is_done()) bhttp::read_some(c.stream(), c.buffer(), p);
    } catch (const std::exception& e) {
      FAIL() << "the first response was cut: " << e.what() << "; body so far \"" << p.get().body()
             << "\"; upstream saw: " << targets();
    }
    EXPECT_EQ(p.get().body(), "first-part-second-part");
    bhttp::response<bhttp::string_body> r2;
    try {
      r2 = c.read_response();
    } catch (const std::exception& e) {
      FAIL() << "no second response: " << e.what() << "; upstream saw: " << targets();
    }
    EXPECT_EQ(r2.result_int(), 200);
    EXPECT_EQ(r2.body(), "the second response");
    auto reqs = upstream_.requests();
    ASSERT_EQ(reqs.size(), 2u);
    EXPECT_EQ(reqs[0].target, "/slow");
    EXPECT_EQ(reqs[1].target, "/next");
    EXPECT_EQ(c.get("/api").body(), "ok");  // and the connection goes on
  }
  // Shared with the upstream's handler threads, which end before upstream_ is destroyed.
  std::atomic<bool> release_{false};
  std::atomic<bool> watching_{false};
  std::atomic<bool> upstream_saw_close_{false};
  std::atomic<int> received_{0};
  std::atomic<bool> lost_{false};

  // Opens a quiet watch, lets the client leave the way `leave` does, and expects the
  // upstream side closed at once.
  template <class Leave>
  void leave_a_quiet_watch(Leave leave) {
    start();
    serve_quiet_watch();
    client c(port(), shared_pki(), "", 5s);
    open_quiet_watch(c);
    if (HasFatalFailure()) return;
    auto gone = clock_type::now();
    leave(c);
    expect_upstream_closed_at_once(gone);
  }

  fake_upstream upstream_{shared_pki()};
  metrics::registry registry_;
  metrics::standard_metrics metrics_{registry_};
  inprocess_proxy proxy_;
};

TEST_F(inprocess_watch, client_closing_a_quiet_watch_closes_the_upstream_at_once) {
  leave_a_quiet_watch([](client& c) { c.close_notify_then_fin(); });
}

TEST_F(inprocess_watch, client_resetting_a_quiet_watch_closes_the_upstream_at_once) {
  leave_a_quiet_watch([](client& c) { c.reset(); });
}

// Same scenario with SIGPIPE at its default, in a child process: the proxy must not
// kill the process it runs in when a client resets (send with MSG_NOSIGNAL).
TEST_F(inprocess_watch, client_reset_does_not_raise_sigpipe_in_the_embedding_process) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        std::signal(SIGPIPE, SIG_DFL);
        start();
        serve_quiet_watch();
        client c(port(), shared_pki(), "", 5s);
        open_quiet_watch(c);
        c.reset();
        bool closed = wait_until([&] { return upstream_saw_close_.load(); }, 2s) &&
                      wait_until([&] { return proxy_.server->open_connections() == 0; }, 2s);
        std::_Exit(closed ? 0 : 3);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST_F(inprocess_watch, events_still_flow_while_the_client_is_watched) {
  start();
  static const std::vector<std::string> events = {
      R"({"type":"ADDED","object":{"kind":"Pod","metadata":{"name":"a"}}})"
      "\n",
      R"({"type":"MODIFIED","object":{"kind":"Pod","metadata":{"name":"a"}}})"
      "\n",
      R"({"type":"DELETED","object":{"kind":"Pod","metadata":{"name":"a"}}})"
      "\n",
  };
  upstream_.on("/api/v1/pods", [this](upstream_conn& c, const recorded&) {
    c.write(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (std::size_t i = 0; i < events.size(); ++i) {
      std::this_thread::sleep_for(150ms);  // a quiet spell: the proxy is only watching
      c.write(chunk(events[i]));
      if (!wait_until([&] { return received_.load() > static_cast<int>(i); }, 5s)) {
        lost_ = true;
        break;
      }
    }
    std::this_thread::sleep_for(150ms);
    c.write("0\r\n\r\n");
  });
  client c(port(), shared_pki(), "", 5s);
  c.send("GET /api/v1/pods?watch=true HTTP/1.1\r\nHost: kubernetes\r\n\r\n");
  bhttp::response_parser<bhttp::string_body> p;
  p.body_limit(boost::none);
  bhttp::read_header(c.stream(), c.buffer(), p);
  ASSERT_EQ(p.get().result_int(), 200);
  ASSERT_TRUE(p.chunked());
  std::string expected;
  for (auto& e : events) {
    expected += e;
    auto t0 = clock_type::now();
    read_body_until(c, p, expected.size());  // throws at the 5 s io timeout
    EXPECT_LT(clock_type::now() - t0, 2s);
    ASSERT_EQ(p.get().body(), expected);  // in order, nothing more, nothing held back
    ASSERT_FALSE(p.is_done());
    ++received_;
  }
  while (!p.is_done()) bhttp::read_some(c.stream(), c.buffer(), p);  // the last chunk
  EXPECT_EQ(p.get().body(), expected);
  EXPECT_FALSE(lost_.load());
  EXPECT_TRUE(p.keep_alive());
  EXPECT_EQ(c.buffer().size(), 0u);  // nothing after the last chunk

  auto again = c.get("/api");  // the same client connection, kept alive
  EXPECT_EQ(again.result_int(), 200);
  EXPECT_EQ(again.body(), "ok");
  EXPECT_EQ(proxy_.server->open_connections(), 1u);
  ASSERT_EQ(upstream_.requests().size(), 2u);
  EXPECT_EQ(upstream_.requests().back().target, "/api");
}

TEST_F(inprocess_watch, pipelined_request_during_a_response_is_served_after_it) {
  start();
  serve_slow(false);
  run_pipelined(false);
}

TEST_F(inprocess_watch, pipelined_request_during_a_chunked_response_is_served_after_it) {
  start();
  serve_slow(true);
  run_pipelined(false);
}

TEST_F(inprocess_watch, request_pipelined_with_a_slow_one_is_served_after_it) {
  start();
  serve_slow(false);
  run_pipelined(true);
}

TEST_F(inprocess_watch, request_pipelined_with_a_slow_chunked_one_is_served_after_it) {
  start();
  serve_slow(true);
  run_pipelined(true);
}

}  // namespace
}  // namespace mvproxy::test
