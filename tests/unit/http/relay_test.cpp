#include "mvproxy/http/relay.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/fields.hpp>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

namespace bhttp = boost::beast::http;
using mvproxy::http::relay_parser;
using mvproxy::http::request_relay_parser;
using mvproxy::http::response_relay_parser;
using error_code = boost::beast::error_code;
using field_list = std::vector<std::pair<std::string, std::string>>;

constexpr std::uint32_t head_limit = 8192;
constexpr std::size_t all = std::string::npos;

// --- The proxy's loop, emulated ----------------------------------------------------------

template <bool isRequest>
std::string start_line(const bhttp::header<isRequest>& h) {
  std::string v = h.version() == 10 ? "HTTP/1.0" : "HTTP/1.1";
  if constexpr (isRequest)
    return std::string(h.method_string()) + " " + std::string(h.target()) + " " + v;
  else
    return v + " " + std::to_string(h.result_int()) + " " + std::string(h.reason());
}

field_list fields_of(const bhttp::fields& f) {
  field_list out;
  for (const auto& x : f) out.emplace_back(std::string(x.name_string()), std::string(x.value()));
  return out;
}

struct run_result {
  std::string body;      // every feed's data[0, body), concatenated
  std::size_t used = 0;  // bytes of the input consumed in all
  std::size_t feeds = 0;
  error_code ec;
  bool done = false;
  std::string broken;  // an invariant of feed() that did not hold
};

// Delivers `bytes` in pieces ending at each of `cuts` (then the rest), the way the proxy
// reads: each feed gets the bytes the previous one left unconsumed, followed by the new
// piece. With head_first the head is read with head_only (as the proxy reads a response
// head) and the body bytes behind it fed again, without head_only, from the same buffer.
// Stops when the parser is done or reports an error; with eof, a parser still waiting
// for the end of the body then sees the connection end (put_eof).
template <bool isRequest>
run_result relay(relay_parser<isRequest>& p, std::string_view bytes,
                 const std::vector<std::size_t>& cuts, bool head_first = false, bool eof = false) {
  constexpr std::size_t guard = 16;
  run_result r;
  std::string pending;
  std::size_t sent = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(bytes.size());
  for (std::size_t end : ends) {
    if (end < sent) continue;
    std::string buf = pending;
    buf.append(bytes.substr(sent, end - sent));
    sent = end;
    const std::size_t size = buf.size();
    buf.append(guard, '\x5a');  // feed() must never write past data + size
    std::size_t off = 0;
    for (;;) {
      const bool head_only = head_first && !p.is_header_done();
      auto f = p.feed(buf.data() + off, size - off, head_only);
      ++r.feeds;
      if (f.consumed > size - off) r.broken = "consumed more than it was given";
      if (f.body > f.consumed) r.broken = "more body than bytes consumed";
      if (head_only && f.body != 0) r.broken = "body reported with head_only";
      r.body.append(buf.data() + off, std::min(f.body, size - off));
      r.used += f.consumed;
      off += f.consumed;
      if (f.ec) {
        r.ec = f.ec;
        return r;
      }
      if (p.is_done() || !(head_only && p.is_header_done())) break;
    }
    if (buf.compare(size, guard, std::string(guard, '\x5a')) != 0) r.broken = "wrote past the end";
    if (std::string_view(buf).substr(off, size - off) != bytes.substr(r.used, size - off))
      r.broken = "the unconsumed bytes were changed";
    pending = buf.substr(off, size - off);
    if (p.is_done() || !r.broken.empty()) break;
  }
  if (eof && !p.is_done()) p.put_eof(r.ec);
  r.done = p.is_done();
  return r;
}

std::string describe(const std::vector<std::size_t>& cuts) {
  if (cuts.empty()) return "whole";
  std::string s = "cut at";
  for (std::size_t c : cuts) s += " " + std::to_string(c);
  return s;
}

// Every way of delivering a message this test tries: whole, in two pieces split at every
// byte, one byte at a time, and some random splits into 3 to 6 pieces.
std::vector<std::vector<std::size_t>> deliveries(std::size_t n) {
  std::vector<std::vector<std::size_t>> out;
  out.push_back({});
  for (std::size_t k = 1; k < n; ++k) out.push_back({k});
  std::vector<std::size_t> bytewise;
  for (std::size_t k = 1; k < n; ++k) bytewise.push_back(k);
  out.push_back(bytewise);
  std::mt19937 rng(static_cast<unsigned>(n));
  for (int i = 0; i < 40 && n > 1; ++i) {
    std::uniform_int_distribution<std::size_t> at(1, n - 1);
    std::vector<std::size_t> cuts(2 + i % 4);
    for (auto& c : cuts) c = at(rng);
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    out.push_back(cuts);
  }
  return out;
}

struct relay_case {
  std::string name;
  std::string bytes;         // the message, possibly followed by the next one's first bytes
  std::string start;         // its start line, as get() holds it
  field_list fields;         // its head fields in order (never trailers)
  std::string body;          // its body, de-chunked
  std::size_t length = all;  // bytes of `bytes` that are this message
  bool skip = false;         // a response to HEAD: skip(true)
  bool eof = false;          // the body ends with the connection
};

// Relays the case in every delivery, reading the head alone first and not, and checks
// the body, the head, the bytes consumed and feed()'s invariants. Stops at the first
// delivery that fails (one is enough to debug, hundreds are noise).
template <bool isRequest>
void check(const relay_case& c) {
  SCOPED_TRACE(c.name);
  const std::size_t length = c.length == all ? c.bytes.size() : c.length;
  for (bool head_first : {false, true}) {
    for (const auto& cuts : deliveries(c.bytes.size())) {
      SCOPED_TRACE(describe(cuts) + (head_first ? ", head first" : ""));
      relay_parser<isRequest> p(head_limit);
      if constexpr (!isRequest) p.skip(c.skip);
      run_result r = relay(p, c.bytes, cuts, head_first, c.eof);
      EXPECT_EQ(r.broken, "");
      EXPECT_FALSE(r.ec) << r.ec.message();
      EXPECT_TRUE(r.done);
      EXPECT_EQ(r.body, c.body);
      EXPECT_EQ(r.used, length) << "consumed must end exactly at the end of the message";
      EXPECT_EQ(start_line(p.get()), c.start);
      EXPECT_EQ(fields_of(p.get()), c.fields);
      if (::testing::Test::HasFailure()) return;
    }
  }
}

// --- Responses ---------------------------------------------------------------------------

// A LIST answer as the apiserver streams it: the body in chunks of 0x40 and a short one.
std::string list_chunked(std::string* body) {
  std::string items =
      R"({"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"4711"},)";
  items += R"("items":[)";
  for (int i = 0; i < 6; ++i)
    items += std::string(i ? "," : "") + R"({"metadata":{"name":"cm-)" + std::to_string(i) +
             R"(","namespace":"default"},"data":{"k":"v"}})";
  items += "]}\n";
  *body = items;
  std::string out =
      "HTTP/1.1 200 OK\r\nAudit-Id: 0b0d7a4e\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  for (std::size_t at = 0; at < items.size(); at += 0x40) {
    std::size_t n = std::min<std::size_t>(0x40, items.size() - at);
    char hex[8];
    std::snprintf(hex, sizeof hex, "%zx", n);
    out += hex + std::string("\r\n") + items.substr(at, n) + "\r\n";
  }
  return out + "0\r\n\r\n";
}

std::vector<relay_case> responses() {
  std::vector<relay_case> v = {
      {"content-length",
       "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 28\r\n\r\n"
       R"({"kind":"Status","code":200})",
       "HTTP/1.1 200 OK",
       {{"Content-Type", "application/json"}, {"Content-Length", "28"}},
       R"({"kind":"Status","code":200})"},
      {"content-length, the next response behind it",
       "HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: "
       "0\r\n\r\n",
       "HTTP/1.1 201 Created",
       {{"Content-Length", "5"}},
       "hello",
       48},
      {"content-length, a body that looks like framing",
       "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n0\r\n\r\n5\r\n\r\n\r\n",
       "HTTP/1.1 200 OK",
       {{"Content-Length", "12"}},
       "0\r\n\r\n5\r\n\r\n\r\n"},
      {"chunked: several chunks, extensions, upper-case hex, trailer",
       "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
       "7\r\n{\"a\":1,\r\n"
       "A;name=value\r\n\"b\":[1,2,3\r\n"
       "2;x;y=\"q s\"\r\n]}\r\n"
       "000;end\r\nX-Checksum: abc\r\nGrpc-Status: 0\r\n\r\n",
       "HTTP/1.1 200 OK",
       {{"Content-Type", "application/json"}, {"Transfer-Encoding", "chunked"}},
       R"({"a":1,"b":[1,2,3]})"},
      {"chunked, the next response behind it",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nHTTP/1.1 204 No",
       "HTTP/1.1 200 OK",
       {{"Transfer-Encoding", "chunked"}},
       "abc",
       60},
      {"chunked, empty",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       "HTTP/1.1 200 OK",
       {{"Transfer-Encoding", "chunked"}},
       ""},
      {"close-delimited",
       "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
       "line one\nHTTP/1.1 200 OK\r\n\r\n0\r\n\r\n",
       "HTTP/1.1 200 OK",
       {{"Content-Type", "text/plain"}, {"Connection", "close"}},
       "line one\nHTTP/1.1 200 OK\r\n\r\n0\r\n\r\n",
       all,
       false,
       true},
      {"close-delimited, HTTP/1.0",
       "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nabc",
       "HTTP/1.0 200 OK",
       {{"Server", "x"}},
       "abc",
       all,
       false,
       true},
      {"close-delimited, no body before the end",
       "HTTP/1.1 500 Internal Server Error\r\n\r\n",
       "HTTP/1.1 500 Internal Server Error",
       {},
       "",
       all,
       false,
       true},
      {"204 without body, the next response behind it",
       "HTTP/1.1 204 No Content\r\nAudit-Id: 1\r\n\r\nHTTP/1.1 200 OK\r\n",
       "HTTP/1.1 204 No Content",
       {{"Audit-Id", "1"}},
       "",
       40},
      {"304 with a Content-Length and no body",
       "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 1234\r\n\r\nHTTP/1.1",
       "HTTP/1.1 304 Not Modified",
       {{"ETag", "\"x\""}, {"Content-Length", "1234"}},
       "",
       62},
      {"HEAD response with a Content-Length: skip, no body",
       "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\nHTTP/1.1 "
       "200",
       "HTTP/1.1 200 OK",
       {{"Content-Type", "application/json"}, {"Content-Length", "5000"}},
       "",
       73,
       true},
      {"HEAD response, chunked: skip, no body",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
       "HTTP/1.1 200 OK",
       {{"Transfer-Encoding", "chunked"}},
       "",
       all,
       true},
      {"100 Continue, the final response behind it",
       "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
       "HTTP/1.1 100 Continue",
       {},
       "",
       25},
      {"103 Early Hints, the final response behind it",
       "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
       "HTTP/1.1 103 Early Hints",
       {{"Link", "</s.css>; rel=preload"}},
       "",
       57},
      {"obs-fold, odd spacing, a reason with spaces, an empty value",
       "HTTP/1.1 404 Not  Found Here\r\nX-A:   spaced  \r\nX-Fold: one\r\n two\r\nX-Empty:\r\n"
       "Content-Length: 1\r\n\r\n!",
       "HTTP/1.1 404 Not  Found Here",
       {{"X-A", "spaced"}, {"X-Fold", "one two"}, {"X-Empty", ""}, {"Content-Length", "1"}},
       "!"},
  };
  relay_case list{"chunked LIST in 0x40-byte chunks",
                  "",
                  "HTTP/1.1 200 OK",
                  {{"Audit-Id", "0b0d7a4e"},
                   {"Content-Type", "application/json"},
                   {"Transfer-Encoding", "chunked"}},
                  ""};
  list.bytes = list_chunked(&list.body);
  v.push_back(list);
  return v;
}

TEST(RelayParser, Responses) {
  for (const auto& c : responses()) check<false>(c);
}

// The driver itself: one byte at a time is one feed per byte (at least), and the body
// still comes out whole.
TEST(RelayParser, DriverFeedsEveryPieceAndCarriesTheRest) {
  const std::string s =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1\r\nd\r\n0\r\n\r\n";
  auto ways = deliveries(s.size());
  EXPECT_EQ(ways.size(), 1 + (s.size() - 1) + 1 + 40);
  const auto& bytewise = ways[s.size()];
  ASSERT_EQ(bytewise.size(), s.size() - 1);
  response_relay_parser p(head_limit);
  run_result r = relay(p, s, bytewise);
  EXPECT_EQ(r.broken, "");
  EXPECT_FALSE(r.ec);
  EXPECT_TRUE(r.done);
  EXPECT_GE(r.feeds, s.size());
  EXPECT_EQ(r.used, s.size());
  EXPECT_EQ(r.body, "abcd");
}

TEST(RelayParser, ChunkedTrailerIsNeitherInTheHeadNorInTheBody) {
  std::string s =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\nbody\r\n0\r\nX-Trailer: secret\r\nGrpc-Message: ok\r\n\r\n";
  response_relay_parser p(head_limit);
  auto f = p.feed(s.data(), s.size());
  ASSERT_FALSE(f.ec) << f.ec.message();
  EXPECT_TRUE(p.is_done());
  EXPECT_EQ(f.consumed, s.size());
  EXPECT_EQ(std::string(s.data(), f.body), "body");
  EXPECT_EQ(p.get().count("X-Trailer"), 0u);
  EXPECT_EQ(p.get().count("Grpc-Message"), 0u);
  EXPECT_EQ(fields_of(p.get()), (field_list{{"Transfer-Encoding", "chunked"}}));
}

TEST(RelayParser, BodyIsCompactedInPlaceAtTheFrontOfTheBuffer) {
  std::string s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n1";
  const std::string original = s;
  response_relay_parser p(head_limit);
  auto f = p.feed(s.data(), s.size());
  ASSERT_FALSE(f.ec) << f.ec.message();
  EXPECT_EQ(f.body, 5u);
  EXPECT_EQ(s.substr(0, 5), "abcde");
  // "\r\n1" is an incomplete chunk-size line: not consumed, and left as it was.
  EXPECT_EQ(f.consumed, s.size() - 3);
  EXPECT_EQ(s.substr(f.consumed), "\r\n1");
  EXPECT_EQ(s.substr(f.body, f.consumed - f.body), original.substr(f.body, f.consumed - f.body))
      << "only the body bytes' new place is written";
}

TEST(RelayParser, CloseDelimitedBodyNeedsEofToFinish) {
  std::string s = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome bytes";
  response_relay_parser p(head_limit);
  auto f = p.feed(s.data(), s.size());
  ASSERT_FALSE(f.ec) << f.ec.message();
  EXPECT_TRUE(p.need_eof());
  EXPECT_FALSE(p.is_done());
  EXPECT_EQ(f.consumed, s.size());
  EXPECT_EQ(std::string(s.data(), f.body), "some bytes");
  std::string more = " and more";
  f = p.feed(more.data(), more.size());
  EXPECT_EQ(std::string(more.data(), f.body), " and more");
  EXPECT_FALSE(p.is_done());
  error_code ec;
  p.put_eof(ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(p.is_done());
}

TEST(RelayParser, EofBeforeTheContentLengthIsAPartialMessage) {
  std::string s = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort";
  response_relay_parser p(head_limit);
  auto f = p.feed(s.data(), s.size());
  ASSERT_FALSE(f.ec);
  EXPECT_FALSE(p.need_eof());
  EXPECT_EQ(f.body, 5u);
  error_code ec;
  p.put_eof(ec);
  EXPECT_EQ(ec, bhttp::error::partial_message);
  EXPECT_FALSE(p.is_done());
}

TEST(RelayParser, NoContentAndNotModifiedHaveNoBody) {
  for (const char* s0 : {"HTTP/1.1 204 No Content\r\n\r\n",
                         "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n"}) {
    SCOPED_TRACE(s0);
    std::string s = s0;
    response_relay_parser p(head_limit);
    auto f = p.feed(s.data(), s.size());
    EXPECT_FALSE(f.ec);
    EXPECT_TRUE(p.is_done());
    EXPECT_FALSE(p.need_eof());
    EXPECT_EQ(f.body, 0u);
    EXPECT_EQ(f.consumed, s.size());
  }
}

TEST(RelayParser, HeadResponseWithSkipHasNoBody) {
  std::string s = "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n";
  response_relay_parser p(head_limit);
  p.skip(true);
  auto f = p.feed(s.data(), s.size());
  EXPECT_FALSE(f.ec);
  EXPECT_TRUE(p.is_done());
  EXPECT_EQ(f.body, 0u);
  EXPECT_EQ(f.consumed, s.size());
  EXPECT_EQ(p.get()[bhttp::field::content_length], "5000");
}

// A 1xx answer is a message of its own: the parser is done after its head, `consumed`
// says where it ends, and a new parser reads the final answer from there.
TEST(RelayParser, InterimResponseThenANewParserForTheFinalOne) {
  for (bool head_only : {false, true}) {
    SCOPED_TRACE(head_only ? "head_only" : "eager");
    std::string s =
        "HTTP/1.1 100 Continue\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    response_relay_parser interim(head_limit);
    auto f = interim.feed(s.data(), s.size(), head_only);
    ASSERT_FALSE(f.ec) << f.ec.message();
    EXPECT_TRUE(interim.is_done());
    EXPECT_EQ(interim.get().result_int(), 100);
    EXPECT_EQ(f.consumed, std::strlen("HTTP/1.1 100 Continue\r\n\r\n"));
    EXPECT_EQ(f.body, 0u);

    char* rest = s.data() + f.consumed;
    const std::size_t rest_size = s.size() - f.consumed;
    response_relay_parser final_one(head_limit);
    auto g = final_one.feed(rest, rest_size, head_only);
    ASSERT_FALSE(g.ec) << g.ec.message();
    EXPECT_EQ(final_one.get().result_int(), 200);
    if (head_only) {
      EXPECT_EQ(g.body, 0u);
      rest += g.consumed;
      g = final_one.feed(rest, rest_size - g.consumed);
      ASSERT_FALSE(g.ec) << g.ec.message();
    }
    EXPECT_TRUE(final_one.is_done());
    EXPECT_EQ(std::string(rest, g.body), "ok");
  }
}

// Beast parses the start line and whole field lines as they come, so a head that is not
// done yet may already be partly consumed; the caller keeps only data[consumed, size).
TEST(RelayParser, PartialHeadMayBeConsumedInPart) {
  std::string s = "HTTP/1.1 200 OK\r\nA: b\r\nC";
  response_relay_parser p(head_limit);
  auto f = p.feed(s.data(), s.size(), true);
  ASSERT_FALSE(f.ec) << f.ec.message();
  EXPECT_FALSE(p.is_header_done());
  EXPECT_EQ(f.consumed, std::strlen("HTTP/1.1 200 OK\r\nA: b\r\n"));
  EXPECT_EQ(f.body, 0u);
  std::string rest = s.substr(f.consumed) + ": d\r\nContent-Length: 0\r\n\r\n";
  f = p.feed(rest.data(), rest.size(), true);
  ASSERT_FALSE(f.ec) << f.ec.message();
  EXPECT_TRUE(p.is_done());
  EXPECT_EQ(f.consumed, rest.size());
  EXPECT_EQ(fields_of(p.get()), (field_list{{"A", "b"}, {"C", "d"}, {"Content-Length", "0"}}));
}

TEST(RelayParser, HeadOnlyStopsRightAfterTheHead) {
  std::string s = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody";
  response_relay_parser p(head_limit);
  auto f = p.feed(s.data(), s.size(), true);
  ASSERT_FALSE(f.ec);
  EXPECT_TRUE(p.is_header_done());
  EXPECT_FALSE(p.is_done());
  EXPECT_EQ(f.consumed, s.size() - 4);
  EXPECT_EQ(f.body, 0u);
  EXPECT_EQ(s.substr(f.consumed), "body");
  // Fed again with head_only once the head is done: nothing more happens.
  auto g = p.feed(s.data() + f.consumed, 4, true);
  EXPECT_EQ(g.consumed, 0u);
  EXPECT_EQ(g.body, 0u);
  g = p.feed(s.data() + f.consumed, 4);
  EXPECT_EQ(g.consumed, 4u);
  EXPECT_EQ(std::string(s.data() + f.consumed, g.body), "body");
  EXPECT_TRUE(p.is_done());
}

// --- Requests ----------------------------------------------------------------------------

std::vector<relay_case> requests() {
  return {
      {"GET without body",
       "GET /api/v1/namespaces/default/pods?limit=500 HTTP/1.1\r\nHost: 127.0.0.1:7443\r\n"
       "Accept: application/json\r\n\r\n",
       "GET /api/v1/namespaces/default/pods?limit=500 HTTP/1.1",
       {{"Host", "127.0.0.1:7443"}, {"Accept", "application/json"}},
       ""},
      {"GET, HTTP/1.0", "GET /version HTTP/1.0\r\n\r\n", "GET /version HTTP/1.0", {}, ""},
      {"POST with a Content-Length",
       "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: a\r\n"
       "Content-Type: application/json\r\nContent-Length: 62\r\n\r\n"
       R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}})",
       "POST /api/v1/namespaces/default/configmaps HTTP/1.1",
       {{"Host", "a"}, {"Content-Type", "application/json"}, {"Content-Length", "62"}},
       R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}})"},
      {"chunked POST",
       "POST /apis/apps/v1/namespaces/default/deployments HTTP/1.1\r\nHost: a\r\n"
       "Transfer-Encoding: chunked\r\n\r\n"
       "10\r\n{\"kind\":\"Deploym\r\n9;ext\r\nent\",\"a\":\r\n2\r\n1}\r\n0\r\n\r\n",
       "POST /apis/apps/v1/namespaces/default/deployments HTTP/1.1",
       {{"Host", "a"}, {"Transfer-Encoding", "chunked"}},
       R"({"kind":"Deployment","a":1})"},
      {"an extension method",
       "PURGE /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
       "PURGE /x HTTP/1.1",
       {{"Content-Length", "3"}},
       "abc"},
      {"pipelined GETs: the first ends at the end of its head",
       "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
       "GET /a HTTP/1.1",
       {{"Host", "x"}},
       "",
       28},
      {"pipelined POST then GET: the first ends at the end of its body",
       "POST /a HTTP/1.1\r\nContent-Length: 4\r\n\r\nbodyGET /b HTTP/1.1\r\n\r\n",
       "POST /a HTTP/1.1",
       {{"Content-Length", "4"}},
       "body",
       43},
      {"pipelined chunked POST then GET",
       "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\nGET /b "
       "HTTP/1.1\r\n\r\n",
       "POST /a HTTP/1.1",
       {{"Transfer-Encoding", "chunked"}},
       "hi",
       60},
  };
}

TEST(RelayParser, Requests) {
  for (const auto& c : requests()) check<true>(c);
}

TEST(RelayParser, PipelinedRequestsEachGetTheirOwnParser) {
  std::string s =
      "POST /a HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody"
      "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
      "DELETE /c HTTP/1.1\r\n\r\n";
  std::vector<std::string> seen;
  char* at = s.data();
  std::size_t left = s.size();
  while (left > 0) {
    request_relay_parser p(head_limit);
    auto f = p.feed(at, left);
    ASSERT_FALSE(f.ec) << f.ec.message();
    ASSERT_TRUE(p.is_done());
    seen.push_back(start_line(p.get()) + " [" + std::string(at, f.body) + "]");
    at += f.consumed;
    left -= f.consumed;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"POST /a HTTP/1.1 [body]", "GET /b HTTP/1.1 []",
                                            "DELETE /c HTTP/1.1 []"}));
}

// Beast's fields hold a name's and a value's length in 16 bits and throw past that; the
// parser reports header_limit instead (the session answers 431), and only when it
// collects fields (a relayed response's head is written out, never collected).
TEST(RelayParser, AFieldBeastCannotHoldIsHeaderLimitNotAnException) {
  constexpr std::uint32_t big_head = 1 << 20;
  for (std::size_t n : {mvproxy::http::max_field_bytes, mvproxy::http::max_field_bytes + 1}) {
    SCOPED_TRACE(n);
    const bool fits = n <= mvproxy::http::max_field_bytes;
    for (bool as_name : {false, true}) {
      std::string field = as_name ? std::string(n, 'n') + ": v" : "X-Big: " + std::string(n, 'v');
      std::string req = "GET / HTTP/1.1\r\nHost: x\r\n" + field + "\r\n\r\n";
      request_relay_parser p(big_head);
      error_code ec;
      EXPECT_NO_THROW(ec = p.feed(req.data(), req.size()).ec);
      EXPECT_EQ(ec, fits ? error_code() : error_code(bhttp::error::header_limit));
    }
    std::string res =
        "HTTP/1.1 200 OK\r\nX-Big: " + std::string(n, 'v') + "\r\nContent-Length: 0\r\n\r\n";
    response_relay_parser rp(big_head);
    std::string head;
    rp.write_head_to(&head);
    EXPECT_FALSE(rp.feed(res.data(), res.size()).ec);
    EXPECT_NE(head.find(std::string(n, 'v')), std::string::npos);
  }
}

// --- serialize_head ----------------------------------------------------------------------

TEST(SerializeHead, RequestRoundTrips) {
  const std::string head =
      "PATCH /apis/apps/v1/namespaces/default/deployments/web?fieldManager=kubectl HTTP/1.1\r\n"
      "Host: 127.0.0.1:7443\r\n"
      "Content-Type: application/strategic-merge-patch+json\r\n"
      "X-Custom-Case: Keep\r\n"
      "X-Custom-Case: twice\r\n"
      "Accept: application/json\r\n"
      "Content-Length: 2\r\n"
      "\r\n";
  std::string s = head + "{}";
  request_relay_parser p(head_limit);
  auto f = p.feed(s.data(), s.size());
  ASSERT_FALSE(f.ec) << f.ec.message();
  EXPECT_EQ(mvproxy::http::serialize_head(p.get()), head);
}

TEST(SerializeHead, RequestFromFields) {
  bhttp::request_header<> h;
  h.method(bhttp::verb::get);
  h.target("/api");
  h.version(10);
  h.set("Zeta", "1");
  h.set(bhttp::field::host, "a");
  h.insert("x-lower", "v");
  EXPECT_EQ(mvproxy::http::serialize_head(h),
            "GET /api HTTP/1.0\r\nZeta: 1\r\nHost: a\r\nx-lower: v\r\n\r\n");
  h.method_string("PURGE");
  h.version(11);
  h.clear();
  EXPECT_EQ(mvproxy::http::serialize_head(h), "PURGE /api HTTP/1.1\r\n\r\n");
}

TEST(SerializeHead, ResponseRoundTrips) {
  const std::string head =
      "HTTP/1.1 422 Unprocessable Thing\r\n"
      "Audit-Id: 7\r\n"
      "Cache-Control: no-cache, private\r\n"
      "Content-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n"
      "\r\n";
  std::string s = head;
  response_relay_parser p(head_limit);
  auto f = p.feed(s.data(), s.size(), true);
  ASSERT_FALSE(f.ec) << f.ec.message();
  EXPECT_EQ(mvproxy::http::serialize_head(p.get()), head);
}

TEST(SerializeHead, ResponseWithAnEmptyReasonGetsTheStandardOne) {
  bhttp::response_header<> h;
  h.result(bhttp::status::not_found);
  h.version(11);
  h.set(bhttp::field::content_length, "0");
  EXPECT_EQ(mvproxy::http::serialize_head(h),
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  h.result(200);
  h.version(10);
  h.clear();
  EXPECT_EQ(mvproxy::http::serialize_head(h), "HTTP/1.0 200 OK\r\n\r\n");

  std::string s = "HTTP/1.1 503 \r\n\r\n";  // an upstream that sent no reason
  response_relay_parser p(head_limit);
  auto f = p.feed(s.data(), s.size());
  ASSERT_FALSE(f.ec) << f.ec.message();
  EXPECT_EQ(mvproxy::http::serialize_head(p.get()), "HTTP/1.1 503 Service Unavailable\r\n\r\n");
}

// --- chunk_prefix ------------------------------------------------------------------------

TEST(ChunkPrefix, HexAndCrlfEndRightBeforeTheData) {
  const std::vector<std::pair<std::size_t, std::string>> table = {
      {0, "0\r\n"},
      {1, "1\r\n"},
      {15, "f\r\n"},
      {16, "10\r\n"},
      {255, "ff\r\n"},
      {4096, "1000\r\n"},
      {65536, "10000\r\n"},
      {0xffffffffu, "ffffffff\r\n"},
      {0xabcdef0123456789u, "abcdef0123456789\r\n"},
      {~std::size_t{0}, "ffffffffffffffff\r\n"},
  };
  for (const auto& [size, want] : table) {
    SCOPED_TRACE(size);
    std::string buf(8 + mvproxy::http::chunk_prefix_room + 4, '.');
    char* data = buf.data() + 8 + mvproxy::http::chunk_prefix_room;
    std::memcpy(data, "DATA", 4);
    std::size_t n = mvproxy::http::chunk_prefix(data, size);
    EXPECT_EQ(n, want.size());
    ASSERT_LE(n, mvproxy::http::chunk_prefix_room);
    EXPECT_EQ(std::string(data - n, n), want);
    EXPECT_EQ(std::string(data, 4), "DATA");
    EXPECT_EQ(buf.substr(0, buf.size() - 4 - n), std::string(buf.size() - 4 - n, '.'))
        << "wrote before the prefix";
  }
}

TEST(ChunkPrefix, ReframedBodyParsesBackToTheSameBytes) {
  // What the proxy writes for a relayed piece, read back by a parser.
  std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string out = head;
  for (std::string piece : {std::string(1, 'a'), std::string(300, 'b'), std::string(16, 'c')}) {
    std::string buf(mvproxy::http::chunk_prefix_room, '\0');
    buf += piece;
    char* data = buf.data() + mvproxy::http::chunk_prefix_room;
    std::size_t k = mvproxy::http::chunk_prefix(data, piece.size());
    out.append(data - k, k + piece.size());
    out += mvproxy::http::chunk_suffix;
  }
  out += mvproxy::http::last_chunk;
  response_relay_parser p(head_limit);
  auto f = p.feed(out.data(), out.size());
  ASSERT_FALSE(f.ec) << f.ec.message();
  EXPECT_TRUE(p.is_done());
  EXPECT_EQ(f.consumed, out.size());
  EXPECT_EQ(std::string(out.data(), f.body), "a" + std::string(300, 'b') + std::string(16, 'c'));
}

// --- Bad input ---------------------------------------------------------------------------

struct bad_case {
  std::string name;
  std::string bytes;
  bhttp::error want;
  std::uint32_t limit = head_limit;
};

const std::string chunked_head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

const std::vector<bad_case> bad_responses = {
    {"malformed chunk size", chunked_head + "zz\r\nhello\r\n0\r\n\r\n", bhttp::error::bad_chunk},
    {"chunk size overflow (17 hex digits)", chunked_head + "10000000000000000\r\nx\r\n0\r\n\r\n",
     bhttp::error::bad_chunk},
    {"chunk size overflow (2^64 - 1 + 1 digits of f)", chunked_head + "fffffffffffffffff\r\nx\r\n",
     bhttp::error::bad_chunk},
    {"chunk size line ending in a bare LF", chunked_head + "5\nhello\r\n0\r\n\r\n",
     bhttp::error::bad_chunk_extension},
    {"bad status code", "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", bhttp::error::bad_status},
    {"bad version", "HTTX/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", bhttp::error::bad_version},
    {"HTTP/2.0 status line", "HTTP/2.0 200 OK\r\n\r\n", bhttp::error::bad_version},
    {"status line ending in a bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
     bhttp::error::bad_reason},
    {"field line ending in a bare LF", "HTTP/1.1 200 OK\r\nContent-Length: 0\nX: y\r\n\r\n",
     bhttp::error::bad_value},
    {"bad Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n",
     bhttp::error::bad_content_length},
    {"Content-Length after chunked",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
     bhttp::error::bad_content_length},
    {"head over the limit", "HTTP/1.1 200 OK\r\nX-Long: " + std::string(100, 'v') + "\r\n\r\n",
     bhttp::error::header_limit, 64},
    {"head over the limit, many short fields",
     "HTTP/1.1 200 OK\r\n" +
         [] {
           std::string s;
           for (int i = 0; i < 40; ++i) s += "X-" + std::to_string(i) + ": v\r\n";
           return s;
         }() +
         "\r\n",
     bhttp::error::header_limit, 128},
};

const std::vector<bad_case> bad_requests = {
    {"request line ending in a bare LF", "GET / HTTP/1.1\nHost: a\r\n\r\n",
     bhttp::error::bad_version},
    {"bad method", "G(T / HTTP/1.1\r\n\r\n", bhttp::error::bad_method},
    {"malformed chunk size",
     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nx\r\n0\r\n\r\n",
     bhttp::error::bad_chunk},
    {"head over the limit", "GET /" + std::string(200, 'p') + " HTTP/1.1\r\n\r\n",
     bhttp::error::header_limit, 64},
};

// Whole and in every delivery: an error (never a crash, never "done"), no body bytes.
template <bool isRequest>
void check_bad(const bad_case& c) {
  SCOPED_TRACE(c.name);
  for (bool head_first : {false, true}) {
    for (const auto& cuts : deliveries(c.bytes.size())) {
      SCOPED_TRACE(describe(cuts) + (head_first ? ", head first" : ""));
      relay_parser<isRequest> p(c.limit);
      run_result r = relay(p, c.bytes, cuts, head_first);
      EXPECT_EQ(r.broken, "");
      EXPECT_EQ(r.ec, c.want) << r.ec.message();
      EXPECT_FALSE(r.done);
      EXPECT_EQ(r.body, "");
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST(RelayParserBadInput, Responses) {
  for (const auto& c : bad_responses) check_bad<false>(c);
}

TEST(RelayParserBadInput, Requests) {
  for (const auto& c : bad_requests) check_bad<true>(c);
}

// A chunk gone wrong after good ones: the good ones' bytes are still reported alongside
// the error, so the caller must look at ec before it relays data[0, body).
TEST(RelayParserBadInput, GoodChunksBeforeABadOneAreReportedWithTheError) {
  const std::vector<std::pair<std::string, std::string>> table = {
      {chunked_head + "5\r\nhello\r\nzz\r\n", "hello"},
      {chunked_head + "2\r\nhello\r\n0\r\n\r\n", "he"},  // chunk data longer than its size
  };
  for (const auto& [s0, good] : table) {
    SCOPED_TRACE(s0);
    std::string s = s0;
    response_relay_parser p(head_limit);
    auto f = p.feed(s.data(), s.size());
    EXPECT_EQ(f.ec, bhttp::error::bad_chunk) << f.ec.message();
    EXPECT_EQ(std::string(s.data(), f.body), good);
    EXPECT_FALSE(p.is_done());
  }
}

// BUG (relay.cpp, not fixed here): the head limit holds only within one feed. Beast
// consumes whole field lines as they come and, when fewer than 3 bytes of the next line
// are at hand, does not remember where its search for the head's end stopped; so a head
// that arrives in pieces each ending 1 byte into the next field line is never refused,
// however long (here ~19 KB of head, 1000 fields, under a 64-byte limit). The proxy
// reads response heads like this (read_response_head erases what feed() consumed), so an
// upstream can grow get() without bound. relay_parser should count the head bytes it
// consumed across feeds. Enable once fixed.
TEST(RelayParserBadInput, HeadLimitHoldsWhenTheHeadArrivesInPieces) {
  std::string head = "HTTP/1.1 200 OK\r\n";
  std::vector<std::size_t> cuts;
  for (int i = 0; i < 1000; ++i) {
    head += "X-" + std::to_string(i) + ": some value\r\n";
    cuts.push_back(head.size() + 1);  // each piece ends 1 byte into the next line
  }
  head += "Content-Length: 0\r\n\r\n";
  for (bool head_first : {true, false}) {
    SCOPED_TRACE(head_first ? "head first" : "eager");
    response_relay_parser p(64);
    run_result r = relay(p, head, cuts, head_first);
    EXPECT_EQ(r.broken, "");
    EXPECT_EQ(r.ec, bhttp::error::header_limit)
        << "a " << head.size() << "-byte head passed a 64-byte limit with "
        << std::distance(p.get().begin(), p.get().end()) << " fields";
    EXPECT_FALSE(r.done);
  }
}

TEST(RelayParserBadInput, HeadLimitCountsTheHeadNotTheBody) {
  // The limit is on the head alone: a body far larger than it relays fine.
  std::string s = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + std::string(1000, 'b');
  response_relay_parser p(64);
  auto f = p.feed(s.data(), s.size());
  ASSERT_FALSE(f.ec) << f.ec.message();
  EXPECT_TRUE(p.is_done());
  EXPECT_EQ(f.body, 1000u);
}

}  // namespace
