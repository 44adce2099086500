// Audit-ID through the real binary (docs/architecture.md, "Header rewriting"): the
// client's is kept, or a UUID v4 is made; it reaches the upstream once, comes back on
// every response once, and ends the access log line.

#include <gtest/gtest.h>

#include <regex>

#include "../common/harness.hpp"

namespace mvproxy::test {
namespace {

const std::regex uuid_v4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");

// Every value of `name` in a response head, in order.
std::vector<std::string> values(const bhttp::response<bhttp::string_body>& r,
                                std::string_view name) {
  std::vector<std::string> out;
  for (const auto& f : r)
    if (beast::iequals(f.name_string(), name)) out.emplace_back(f.value());
  return out;
}

class audit_id_test : public ::testing::Test {
 protected:
  void SetUp() override { upstream = std::make_unique<fake_upstream>(shared_pki()); }
  void start() {
    proxy = std::make_unique<mvproxy_process>(shared_pki(), dir.path(), upstream->url());
  }
  client connect(const std::string& cert = "") { return client(proxy->port(), shared_pki(), cert); }
  // The access line for `request_line` (e.g. "GET /api") ends with audit-id=`id`. Access
  // lines are flushed within a second, hence the wait.
  bool access_line_has(const std::string& request_line, const std::string& id) {
    auto escape = [](const std::string& s) {
      return std::regex_replace(s, std::regex(R"([.?*+^$()\[\]{}|\\])"), R"(\$&)");
    };
    return proxy->proc()
        .wait_for_output("access: " + escape(request_line) + " .* audit-id=" + escape(id) + "\n",
                         std::chrono::seconds(5))
        .has_value();
  }

  temp_dir dir;
  std::unique_ptr<fake_upstream> upstream;
  std::unique_ptr<mvproxy_process> proxy;
};

TEST_F(audit_id_test, an_untrusted_clients_id_is_kept_sent_once_and_returned) {
  start();
  auto c = connect();  // anonymous: no certificate
  auto r = c.get("/api/v1/pods", {{"Audit-ID", "client-chosen-1"}, {"audit-id", "second"}});
  EXPECT_EQ(r.result_int(), 200);
  EXPECT_EQ(values(r, "Audit-Id"), std::vector<std::string>{"client-chosen-1"});
  auto reqs = upstream->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].all("Audit-Id"), std::vector<std::string>{"client-chosen-1"});
  EXPECT_TRUE(access_line_has("GET /api/v1/pods 200", "client-chosen-1")) << proxy->output();
}

TEST_F(audit_id_test, without_one_each_request_gets_a_new_uuid_v4) {
  start();
  auto c = connect("jane");
  auto first = c.get("/api");
  auto second = c.get("/apis");
  auto a = first["Audit-Id"], b = second["Audit-Id"];
  EXPECT_TRUE(std::regex_match(std::string(a), uuid_v4)) << a;
  EXPECT_TRUE(std::regex_match(std::string(b), uuid_v4)) << b;
  EXPECT_NE(a, b);
  auto reqs = upstream->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].all("Audit-Id"), std::vector<std::string>{std::string(a)});
  EXPECT_EQ(reqs[1].all("Audit-Id"), std::vector<std::string>{std::string(b)});
  EXPECT_TRUE(access_line_has("GET /api 200", std::string(a))) << proxy->output();
  EXPECT_TRUE(access_line_has("GET /apis 200", std::string(b))) << proxy->output();
}

TEST_F(audit_id_test, the_apiservers_own_is_not_duplicated) {
  start();
  // kube-apiserver echoes the ID it was sent; an older or foreign server may send its own.
  upstream->on("/echo", [](upstream_conn& c, const recorded& r) {
    c.respond(200, "ok", {{"Audit-Id", r.get("Audit-Id")}});
  });
  upstream->on("/own", [](upstream_conn& c, const recorded&) {
    c.respond(200, "ok", {{"Audit-Id", "upstream-made"}});
  });
  upstream->on("/chunked", [](upstream_conn& c, const recorded& r) {
    c.write("HTTP/1.1 200 OK\r\naudit-id: " + r.get("Audit-Id") +
            "\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n");
  });
  auto c = connect();
  EXPECT_EQ(values(c.get("/echo", {{"Audit-ID", "x1"}}), "Audit-Id"),
            std::vector<std::string>{"x1"});
  EXPECT_EQ(values(c.get("/own", {{"Audit-ID", "x2"}}), "Audit-Id"),
            std::vector<std::string>{"upstream-made"});
  auto r = c.get("/chunked", {{"Audit-ID", "x3"}});
  EXPECT_EQ(r.body(), "ok");
  EXPECT_EQ(values(r, "Audit-Id"), std::vector<std::string>{"x3"});
}

TEST_F(audit_id_test, a_connection_header_cannot_remove_it_from_the_hop) {
  start();
  auto c = connect();
  auto r = c.get("/api", {{"Connection", "Audit-ID"}, {"Audit-ID", "kept-anyway"}});
  EXPECT_EQ(r.result_int(), 200);
  auto reqs = upstream->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].all("Audit-Id"), std::vector<std::string>{"kept-anyway"});
  EXPECT_EQ(values(r, "Audit-Id"), std::vector<std::string>{"kept-anyway"});
}

TEST_F(audit_id_test, mvproxys_own_answers_carry_it) {
  int dead_port = upstream->port();
  upstream->stop();
  proxy = std::make_unique<mvproxy_process>(shared_pki(), dir.path(),
                                            "https://127.0.0.1:" + std::to_string(dead_port));
  auto c = connect();
  auto given = c.get("/api/v1/pods", {{"Audit-ID", "while-down"}});
  EXPECT_EQ(given.result_int(), 503);
  EXPECT_EQ(values(given, "Audit-Id"), std::vector<std::string>{"while-down"});
  auto made = c.get("/api/v1/pods");
  EXPECT_EQ(made.result_int(), 503);
  EXPECT_TRUE(std::regex_match(std::string(made["Audit-Id"]), uuid_v4)) << made["Audit-Id"];
  EXPECT_TRUE(access_line_has("GET /api/v1/pods 503", "while-down")) << proxy->output();
}

TEST_F(audit_id_test, an_unreadable_head_has_none) {
  start();
  auto c = connect();
  c.send("GET /api HTTP/1.1\nHost: k\n\n");  // bare LF: refused before any request exists
  auto r = c.read_response();
  EXPECT_EQ(r.result_int(), 400);
  EXPECT_TRUE(values(r, "Audit-Id").empty());
  EXPECT_TRUE(access_line_has("- - 400", "-")) << proxy->output();
}

TEST_F(audit_id_test, a_switching_protocols_answer_carries_it) {
  start();
  upstream->on("/api/v1/namespaces/default/pods/p/exec", [](upstream_conn& c, const recorded&) {
    c.write("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n");
    char buf[64];
    beast::error_code ec;
    c.read_some(buf, sizeof buf, ec);  // open until the client goes away
    c.close_after = true;
  });
  auto c = connect("jane");
  c.send(
      "POST /api/v1/namespaces/default/pods/p/exec?command=true HTTP/1.1\r\nHost: k\r\n"
      "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\nAudit-ID: exec-1\r\n\r\n");
  bhttp::response_parser<bhttp::empty_body> p;
  bhttp::read_header(c.stream(), c.buffer(), p);
  EXPECT_EQ(p.get().result_int(), 101);
  EXPECT_EQ(p.get()["Audit-Id"], "exec-1");
  auto reqs = upstream->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].all("Audit-Id"), std::vector<std::string>{"exec-1"});
}

}  // namespace
}  // namespace mvproxy::test
