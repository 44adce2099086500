// The data plane's seams with routing set: a test planner hands out plans (local with
// failover peers, peer routes) and "peer sidecars" are fake upstreams serving the
// PKI's peer certificate. Each test checks what the client got on the wire and what
// the data plane recorded: metrics, and the peers' view::peer_runtime.

#include <gtest/gtest.h>

#include <future>
#include <nlohmann/json.hpp>

#include "mvproxy/view/peer_runtime.hpp"
#include "proxy_fixture.hpp"

namespace mvproxy::test {
namespace {

using runtime_ptr = std::shared_ptr<view::peer_runtime>;
using steady = std::chrono::steady_clock;
using response = bhttp::response<bhttp::string_body>;

constexpr const char* pods = "/api/v1/namespaces/default/pods";
const std::string endpoint_resolution(metrics::proxy_error_endpoint_resolution);
const std::string proxy_transport(metrics::proxy_error_transport);

// Every request gets the plan the test set last (called concurrently by the workers).
class fixed_planner : public dispatch::planner {
 public:
  void set(dispatch::plan p) {
    std::lock_guard lock(mutex_);
    plan_ = std::move(p);
  }
  dispatch::plan plan_for(const bhttp::request_header<>&, bool, bool) override {
    std::lock_guard lock(mutex_);
    return plan_;
  }

 private:
  std::mutex mutex_;
  dispatch::plan plan_;  // default: forward to the local apiserver
};

// A port nothing listens on: connecting to it is refused.
std::uint16_t closed_port() {
  asio::io_context ioc;
  tcp::acceptor a(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

dispatch::target_ref peer(const std::string& id, std::uint16_t port, runtime_ptr rt) {
  return {id, "127.0.0.1", port, true, std::move(rt)};
}

runtime_ptr runtime(const std::string& id, membership::ejection_policy p = {}) {
  return std::make_shared<view::peer_runtime>(id, p);
}

void expect_status(const response& r, int code, const std::string& message_part) {
  EXPECT_EQ(r.result_int(), code);
  EXPECT_EQ(r[bhttp::field::content_type], "application/json");
  auto j = nlohmann::json::parse(r.body(), nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.body();
  EXPECT_EQ(j["kind"], "Status");
  EXPECT_EQ(j["code"], code);
  EXPECT_NE(j["message"].get<std::string>().find(message_part), std::string::npos) << r.body();
  EXPECT_EQ(r[bhttp::field::retry_after], code == 503 ? "1" : "");
}

// Runs the requests at once, each on its thread; their statuses (-1: none came).
std::vector<int> at_once(const std::vector<std::function<int()>>& requests) {
  std::vector<int> out(requests.size(), -1);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < requests.size(); ++i)
    threads.emplace_back([&, i] {
      try {
        out[i] = requests[i]();
      } catch (const std::exception&) {
      }
    });
  for (auto& t : threads) t.join();
  return out;
}

class seam : public ::testing::Test {
 protected:
  void SetUp() override { proxy_.start(local_, metrics_, {}, &planner_); }
  void TearDown() override { proxy_.stop(); }

  client connect() { return client(proxy_.port(), shared_pki(), "jane"); }
  std::unique_ptr<client> connect_new() {
    return std::make_unique<client>(proxy_.port(), shared_pki(), "jane");
  }
  static response upgrade(client& c) {
    c.send(std::string("GET ") + pods +
           "/p/exec?command=ls HTTP/1.1\r\nHost: k\r\nConnection: Upgrade\r\n"
           "Upgrade: SPDY/3.1\r\n\r\n");
    return c.read_response();
  }

  // The local apiserver first; peers only while it refuses connections.
  void plan_local_then(std::vector<dispatch::target_ref> failover) {
    dispatch::plan p = labelled();
    p.targets.push_back({"local", {}, 0, false, nullptr});
    for (auto& t : failover) p.targets.push_back(std::move(t));
    planner_.set(std::move(p));
  }
  // Capable peers in turn.
  void plan_peers(std::vector<dispatch::target_ref> peers) {
    dispatch::plan p = labelled();
    p.route = dispatch::route_kind::peer;
    p.local_first = false;
    p.targets = std::move(peers);
    planner_.set(std::move(p));
  }
  static dispatch::plan labelled() {
    dispatch::plan p;
    p.version = "v1";
    p.resource = "pods";
    return p;
  }

  double errors(const std::string& target, const std::string& type) {
    return metrics_.upstream_errors_total.with({target, type}).value();
  }
  double peer_errors(const std::string& type) {
    return metrics_.peer_proxy_errors_total.with({type, "", "v1", "pods"}).value();
  }
  double rerouted(const std::string& code) {
    return metrics_.rerouted_request_total.with({code, "", "v1", "pods"}).value();
  }
  // Counted after the response went out: waited for.
  bool served(const std::string& route, const std::string& code, double n) {
    return wait_until([&] { return metrics_.requests_total.with({route, code}).value() == n; });
  }

  // `n` clients, each with a request held at the local apiserver until all arrived:
  // `n` pooled keep-alive connections to it afterwards (split over the two workers).
  std::vector<std::unique_ptr<client>> warm_pool(int n) {
    local_.on("/warm", [this, n](upstream_conn& c, const recorded&) {
      wait_until([&] { return static_cast<int>(local_.requests().size()) >= n; });
      c.respond(200, "warm");
    });
    std::vector<std::unique_ptr<client>> clients;
    std::vector<std::function<int()>> gets;
    for (int i = 0; i < n; ++i) {
      clients.push_back(connect_new());
      auto* c = clients.back().get();
      gets.push_back([c, i] { return c->get("/warm/" + std::to_string(i)).result_int(); });
    }
    EXPECT_EQ(at_once(gets), std::vector<int>(n, 200));
    EXPECT_TRUE(wait_until([&] {
      return metrics_.upstream_connections.with({"local", "idle"}).value() == n;
    }));
    EXPECT_EQ(local_.connections(), n);
    return clients;
  }
  // The requests the local apiserver saw for `target`, on connections up to `old`
  // (made before the restart) and after.
  std::pair<int, int> attempts(const std::string& target, int old) {
    std::pair<int, int> out;
    for (auto& r : local_.requests())
      if (r.target == target) ++(r.connection <= old ? out.first : out.second);
    return out;
  }

  fake_upstream local_{shared_pki()};
  fake_upstream peer_a_{shared_pki(), "peer"};
  fake_upstream peer_b_{shared_pki(), "peer"};
  metrics::registry registry_;
  metrics::standard_metrics metrics_{registry_};
  fixed_planner planner_;
  inprocess_proxy proxy_;
};

TEST_F(seam, a_refusing_local_apiserver_fails_over_to_the_peer_after_it) {
  auto a = runtime("peer-a");
  plan_local_then({peer("peer-a", peer_a_.port(), a)});
  peer_a_.on("/api", [](upstream_conn& c, const recorded&) { c.respond(200, "from peer-a"); });
  local_.stop();  // its port refuses now, as while the apiserver restarts

  auto c = connect();
  auto r = c.get(pods);
  EXPECT_EQ(r.result_int(), 200);
  EXPECT_EQ(r.body(), "from peer-a");
  auto seen = peer_a_.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].get("x-kubernetes-peer-proxied"), "true");
  EXPECT_EQ(seen[0].get("x-remote-user"), "jane");
  EXPECT_EQ(seen[0].client_cn, "front-proxy-client");

  EXPECT_EQ(errors("local", "connect"), 1);
  EXPECT_EQ(proxy_.local_troubles.load(), 1);      // a probe of it is asked for
  EXPECT_EQ(peer_errors(endpoint_resolution), 0);  // the local apiserver is no peer
  EXPECT_TRUE(served("peer-a", "200", 1));
  EXPECT_EQ(rerouted("200"), 1);
  EXPECT_TRUE(wait_until([&] { return a->in_flight_count() == 0; }));
  EXPECT_EQ(a->consecutive_failures(), 0);
  EXPECT_TRUE(a->healthy(steady::now()));
}

TEST_F(seam, a_peer_route_moves_past_an_unreachable_peer_to_the_next) {
  auto dead = runtime("peer-dead");
  auto b = runtime("peer-b");
  plan_peers({peer("peer-dead", closed_port(), dead), peer("peer-b", peer_b_.port(), b)});
  peer_b_.on("/api", [](upstream_conn& c, const recorded&) { c.respond(200, "from peer-b"); });

  auto c = connect();
  auto r = c.get(pods);
  EXPECT_EQ(r.result_int(), 200);
  EXPECT_EQ(r.body(), "from peer-b");
  auto seen = peer_b_.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].get("x-kubernetes-peer-proxied"), "true");
  EXPECT_TRUE(local_.requests().empty());

  EXPECT_EQ(errors("peer-dead", "connect"), 1);
  EXPECT_EQ(peer_errors(endpoint_resolution), 1);
  EXPECT_EQ(dead->consecutive_failures(), 1);
  EXPECT_EQ(b->consecutive_failures(), 0);
  EXPECT_TRUE(served("peer-b", "200", 1));
  EXPECT_TRUE(wait_until([&] { return b->in_flight_count() == 0; }));
}

TEST_F(seam, a_peer_whose_certificate_is_not_trusted_is_skipped_and_counted) {
  fake_upstream impostor(shared_pki(), "intruder");  // signed by a CA peers do not trust
  auto x = runtime("peer-x");
  plan_peers({peer("peer-x", impostor.port(), x), peer("peer-b", peer_b_.port(), nullptr)});
  auto c = connect();
  EXPECT_EQ(c.get(pods).result_int(), 200);
  EXPECT_TRUE(impostor.requests().empty());
  EXPECT_EQ(peer_b_.requests().size(), 1u);
  EXPECT_EQ(errors("peer-x", "tls"), 1);
  EXPECT_EQ(peer_errors(proxy_transport), 1);
  EXPECT_EQ(x->consecutive_failures(), 1);
}

TEST_F(seam, a_request_to_a_peer_is_in_flight_while_it_is_served) {
  auto a = runtime("peer-a");
  plan_peers({peer("peer-a", peer_a_.port(), a)});
  std::atomic<bool> release{false};
  peer_a_.on("/api", [&](upstream_conn& c, const recorded&) {
    wait_until([&] { return release.load(); });
    c.respond(200, "late");
  });
  auto got = std::async(std::launch::async, [&] { return connect().get(pods).result_int(); });
  EXPECT_TRUE(wait_until([&] { return a->in_flight_count() == 1; }));
  release = true;
  EXPECT_EQ(got.get(), 200);
  EXPECT_TRUE(wait_until([&] { return a->in_flight_count() == 0; }));
}

// peer_health's rule: 3 consecutive failures eject; the planner leaves an ejected peer
// out (here the test's planner keeps it, so every failure is seen).
TEST_F(seam, a_peer_that_keeps_refusing_is_ejected) {
  auto dead = runtime("peer-dead", {3, std::chrono::seconds(30), std::chrono::seconds(60)});
  plan_peers({peer("peer-dead", closed_port(), dead), peer("peer-b", peer_b_.port(), nullptr)});
  auto c = connect();
  for (int i = 1; i <= 3; ++i) {
    EXPECT_EQ(c.get(pods).result_int(), 200);  // peer-b served it
    EXPECT_EQ(errors("peer-dead", "connect"), i);
    EXPECT_EQ(peer_errors(endpoint_resolution), i);
    EXPECT_EQ(dead->healthy(steady::now()), i < 3) << "after failure " << i;
  }
  EXPECT_EQ(peer_b_.requests().size(), 3u);
}

TEST_F(seam, a_broken_peer_is_ejected_and_an_answer_resets_its_count) {
  auto a = runtime("peer-a", {3, std::chrono::seconds(1), std::chrono::seconds(60)});
  plan_peers({peer("peer-a", peer_a_.port(), a)});
  std::atomic<bool> answer{false};
  // Breaking: the connection closes on the request without a byte of response.
  peer_a_.on("/api", [&](upstream_conn& c, const recorded&) {
    if (answer)
      c.respond(200, "fine");
    else
      c.close_after = true;
  });
  auto c = connect();
  auto fail_once = [&] { expect_status(c.get(pods), 502, "error trying to reach peer peer-a"); };
  fail_once();
  fail_once();
  EXPECT_EQ(a->consecutive_failures(), 2);
  answer = true;
  EXPECT_EQ(c.get(pods).result_int(), 200);
  EXPECT_EQ(a->consecutive_failures(), 0);  // on_success: counting starts over
  answer = false;
  fail_once();
  fail_once();
  EXPECT_TRUE(a->healthy(steady::now()));
  fail_once();
  EXPECT_FALSE(a->healthy(steady::now()));  // 3 in a row since the success
  EXPECT_EQ(errors("peer-a", "broken"), 5);
  EXPECT_EQ(peer_errors(proxy_transport), 5);

  // Let back in after the ejection, on probation: one failure ejects it again.
  ASSERT_TRUE(wait_until([&] { return a->healthy(steady::now()); }));
  fail_once();
  EXPECT_FALSE(a->healthy(steady::now()));
  EXPECT_EQ(peer_errors(proxy_transport), 6);
}

TEST_F(seam, an_upgrade_to_an_unreachable_peer_is_refused_and_recorded_as_a_request) {
  auto dead = runtime("peer-dead");
  plan_peers({peer("peer-dead", closed_port(), dead)});
  const std::string why = "no peer apiserver could be reached";
  auto c = connect();
  expect_status(c.get(pods), 503, why);
  EXPECT_EQ(errors("peer-dead", "connect"), 1);
  EXPECT_EQ(peer_errors(endpoint_resolution), 1);
  EXPECT_EQ(dead->consecutive_failures(), 1);

  auto u = connect();
  expect_status(upgrade(u), 503, why);
  EXPECT_TRUE(u.closed_by_peer());  // an upgrade's connection is never reused
  EXPECT_EQ(errors("peer-dead", "connect"), 2);
  EXPECT_EQ(peer_errors(endpoint_resolution), 2);
  EXPECT_EQ(dead->consecutive_failures(), 2);
  EXPECT_TRUE(served("peer-dead", "503", 2));
  EXPECT_EQ(rerouted("503"), 2);
}

TEST_F(seam, an_upgrade_a_peer_breaks_gets_a_502_and_is_recorded_as_a_request) {
  auto a = runtime("peer-a");
  plan_peers({peer("peer-a", peer_a_.port(), a)});
  peer_a_.on("/api", [](upstream_conn& c, const recorded&) { c.close_after = true; });
  auto c = connect();
  expect_status(c.get(pods), 502, "error trying to reach peer peer-a");
  EXPECT_EQ(errors("peer-a", "broken"), 1);
  EXPECT_EQ(peer_errors(proxy_transport), 1);
  EXPECT_EQ(a->consecutive_failures(), 1);

  auto u = connect();
  expect_status(upgrade(u), 502, "upgrading: ");
  EXPECT_TRUE(u.closed_by_peer());
  EXPECT_EQ(errors("peer-a", "broken"), 2);
  EXPECT_EQ(peer_errors(proxy_transport), 2);
  EXPECT_EQ(a->consecutive_failures(), 2);
  auto seen = peer_a_.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].get("upgrade"), "SPDY/3.1");
  EXPECT_EQ(seen[1].get("x-kubernetes-peer-proxied"), "true");
  EXPECT_TRUE(served("peer-a", "502", 2));
  EXPECT_EQ(rerouted("502"), 2);
  EXPECT_TRUE(wait_until([&] { return a->in_flight_count() == 0; }));
}

TEST_F(seam, an_upgrade_fails_over_to_a_peer_and_tunnels_through_it) {
  auto a = runtime("peer-a");
  plan_local_then({peer("peer-a", peer_a_.port(), a)});
  peer_a_.on("/api", [](upstream_conn& c, const recorded&) {
    c.write("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n");
    char buf[256];
    beast::error_code ec;
    while (!ec)
      if (auto n = c.read_some(buf, sizeof buf, ec)) c.write(std::string_view(buf, n));
    c.close_after = true;
  });
  local_.stop();
  auto u = connect();
  u.send(std::string("GET ") + pods +
         "/p/exec HTTP/1.1\r\nHost: k\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n");
  bhttp::response_parser<bhttp::empty_body> head;
  bhttp::read_header(u.stream(), u.buffer(), head);
  EXPECT_EQ(head.get().result_int(), 101);
  u.send("ping");
  std::string echo(4, '\0');
  asio::read(u.stream(), asio::buffer(echo));
  EXPECT_EQ(echo, "ping");
  EXPECT_EQ(a->in_flight_count(), 1);  // for as long as the tunnel lasts
  EXPECT_EQ(errors("local", "connect"), 1);
  auto seen = peer_a_.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].get("x-kubernetes-peer-proxied"), "true");
  u.reset();
  EXPECT_TRUE(wait_until([&] { return a->in_flight_count() == 0; }));
  EXPECT_EQ(a->consecutive_failures(), 0);
}

// The pool sees the restart (its peek finds the connections closed) and drops them,
// so a POST, which is not replayed once written, goes on a new connection as do the
// GETs after it.
TEST_F(seam, after_an_upstream_restart_requests_go_on_new_connections) {
  auto clients = warm_pool(4);
  const int old = local_.connections();
  local_.restart();
  EXPECT_EQ(local_.closed_connections(), old);
  EXPECT_EQ(proxy_.local_troubles.load(), 0);

  // Alone, first: its worker's pool holds two connections the upstream closed.
  clients[0]->send("POST /after/post HTTP/1.1\r\nHost: k\r\nContent-Length: 7\r\n\r\npayload");
  EXPECT_EQ(clients[0]->read_response().result_int(), 200);
  auto seen = local_.requests();
  EXPECT_EQ(seen.back().body, "payload");
  EXPECT_GT(seen.back().connection, old);
  EXPECT_EQ(proxy_.local_troubles.load(), 1);  // the control plane is told once

  std::vector<std::function<int()>> gets;
  for (int i = 0; i < 4; ++i) {
    auto* c = clients[i].get();
    gets.push_back([c, i] { return c->get("/after/" + std::to_string(i)).result_int(); });
  }
  EXPECT_EQ(at_once(gets), std::vector<int>(4, 200));
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(attempts("/after/" + std::to_string(i), old), std::make_pair(0, 1)) << i;
  EXPECT_EQ(attempts("/after/post", old), std::make_pair(0, 1));
  EXPECT_GE(local_.connections() - old, 2);  // one per worker at least
  EXPECT_LE(local_.connections() - old, 5);
  EXPECT_EQ(errors("local", "broken"), 0);
  EXPECT_EQ(errors("local", "connect"), 0);
}

// The close the pool cannot see: the server closes each old connection as the request
// arrives (as when it goes away right after the pool's peek). The request is retried
// once, on a fresh connection: with three pooled per worker and two requests each,
// a retry on another pooled one would find it closed too, and the client a 502.
TEST_F(seam, a_request_on_a_stale_pooled_connection_is_retried_once_on_a_fresh_one) {
  auto clients = warm_pool(6);
  const int old = local_.connections();
  local_.on("/", [old](upstream_conn& c, const recorded& r) {
    if (r.connection <= old)
      c.close_after = true;  // no response byte
    else
      c.respond(200, "fresh");
  });
  std::vector<std::function<int()>> gets;
  for (int i = 0; i < 4; ++i) {
    auto* c = clients[i].get();
    gets.push_back([c, i] { return c->get("/stale/" + std::to_string(i)).result_int(); });
  }
  EXPECT_EQ(at_once(gets), std::vector<int>(4, 200));
  int retried = 0;
  for (int i = 0; i < 4; ++i) {
    auto [on_old, on_new] = attempts("/stale/" + std::to_string(i), old);
    EXPECT_LE(on_old, 1) << i;  // never a second pooled connection
    EXPECT_EQ(on_new, 1) << i;
    retried += on_old;
  }
  // Each worker's first request found its pooled connections.
  EXPECT_GE(retried, 2);
  EXPECT_GE(local_.connections() - old, 2);
  EXPECT_EQ(errors("local", "broken"), 0);     // a retried attempt is no error
  EXPECT_GE(proxy_.local_troubles.load(), 1);  // but the control plane is told
}

}  // namespace
}  // namespace mvproxy::test

namespace mvproxy::test {
namespace {

// A frozen peer (it takes the request and never answers, as under SIGSTOP or a
// partition): one response timeout ejects it at once, not after three failures.
TEST_F(seam, a_peer_that_times_out_is_ejected_at_once) {
  proxy::limits lim;
  lim.request_timeout = std::chrono::milliseconds(300);  // a GET: an ordinary request
  proxy_.stop();
  proxy_.start(local_, metrics_, lim, &planner_);
  auto a = runtime("peer-a");
  plan_peers({peer("peer-a", peer_a_.port(), a)});
  // Shared with the handler's thread, which may outlive the test body.
  auto done = std::make_shared<std::atomic<bool>>(false);
  peer_a_.on("/api", [done](upstream_conn& c, const recorded&) {
    wait_until([&] { return done->load(); }, std::chrono::seconds(10));
    c.close_after = true;
  });
  auto c = connect();
  auto r = c.get(pods);
  *done = true;
  expect_status(r, 504, "timeout awaiting response headers");
  EXPECT_EQ(errors("peer-a", "timeout"), 1);
  EXPECT_FALSE(a->healthy(steady::now()));
}

}  // namespace
}  // namespace mvproxy::test
