// A response its upstream cuts mid-body is never taken for whole: over HTTP/1.1 the
// client connection is reset (no last chunk, no close_notify), over HTTP/2 the stream
// is reset; either way it counts in mvproxy_upstream_errors_total{type="response-cut"},
// leaves one warning and an access line marked incomplete=true.

#include "h2_fixture.hpp"

namespace mvproxy::test {
namespace {

class cut : public h2_test_base {
 protected:
  void SetUp() override {
    h2_test_base::SetUp();
    // A chunked watch-like body and a Content-Length body, each cut after 5 bytes.
    upstream_.on("/cut/chunked", [](upstream_conn& c, const recorded&) {
      c.write(
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
          "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
      c.close_after = true;
    });
    upstream_.on("/cut/length", [](upstream_conn& c, const recorded&) {
      c.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello");
      c.close_after = true;
    });
    start();
  }
  double cuts() const {
    return metrics_.upstream_errors_total.with({"local", "response-cut"}).value();
  }
};

TEST_F(cut, a_cut_response_ends_abruptly_over_both_protocols_and_is_counted) {
  int n = 0;
  for (const char* proto : {"--http1.1", "--http2"}) {
    for (const char* path : {"/cut/chunked", "/cut/length"}) {
      SCOPED_TRACE(std::string(proto) + " " + path);
      auto r = curl(std::string(proto) + " -o /dev/null", path);
      // curl: 18 (partial file), 56 (receive failure: reset) or 92 (HTTP/2 stream
      // error); never 0, which a clean end would give a chunked body.
      EXPECT_NE(r.exit_code, 0) << r.output;
      ++n;
      EXPECT_EQ(cuts(), n);
      const std::string want = std::string(proto) == "--http2" ? "HTTP/2.0" : "HTTP/1.1";
      std::string line;
      EXPECT_TRUE(wait_until(
          [&] {
            for (auto& l : access_lines())
              if (l.find(std::string("GET ") + path + " ") != std::string::npos &&
                  l.find("proto=" + want) != std::string::npos)
                line = l;
            return !line.empty();
          },
          5s));
      EXPECT_NE(line.find(" incomplete=true "), std::string::npos) << line;
    }
  }
  EXPECT_TRUE(proxy_log_with("before its end"));
  expect_still_serving();
}

}  // namespace
}  // namespace mvproxy::test
