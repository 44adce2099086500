#include "mvproxy/http/h2_fields.hpp"
#include "field_list.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <ostream>
#include <string>
#include <vector>

#include "mvproxy/util/text.hpp"

namespace {

using mvproxy::http::h2_request_builder;
using mvproxy::http::h2_response_fields;
using mvproxy::test::field_list;

// Names lower-cased and sorted by name (same-name fields keep their order): where the
// builder puts Host and Cookie among the others is not what these tests pin down.
field_list normalized(field_list in) {
  for (auto& f : in) f.first = mvproxy::util::ascii_lower(f.first);
  std::stable_sort(in.begin(), in.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  return in;
}

// Feeds `fields` in order; true when every add() and finish() accepted.
bool build(h2_request_builder& b, const field_list& fields, bool end_stream) {
  bool ok = true;
  for (const auto& [n, v] : fields) ok = b.add(n, v) && ok;
  return b.finish(end_stream) && ok;
}

field_list get_head(const std::string& path, field_list more = {}) {
  field_list f = {
      {":method", "GET"}, {":scheme", "https"}, {":authority", "kubernetes"}, {":path", path}};
  f.insert(f.end(), more.begin(), more.end());
  return f;
}

struct good_case {
  std::string name;
  field_list in;
  bool end_stream;
  std::string method, target;
  field_list want;  // the HTTP/1.1 head's fields
  bool chunked;
};

const std::vector<good_case> good_cases = {
    {"GET: :authority becomes Host",
     get_head("/api/v1/pods?watch=true", {{"accept", "application/json"}}),
     true,
     "GET",
     "/api/v1/pods?watch=true",
     {{"accept", "application/json"}, {"host", "kubernetes"}},
     false},
    {"POST with content-length keeps its framing",
     {{":method", "POST"},
      {":scheme", "https"},
      {":authority", "kubernetes:6443"},
      {":path", "/api/v1/namespaces/default/pods"},
      {"content-type", "application/json"},
      {"content-length", "12"}},
     false,
     "POST",
     "/api/v1/namespaces/default/pods",
     {{"content-length", "12"}, {"content-type", "application/json"}, {"host", "kubernetes:6443"}},
     false},
    {"POST without content-length: the body goes chunked",
     {{":method", "POST"}, {":scheme", "https"}, {":authority", "k"}, {":path", "/x"}},
     false,
     "POST",
     "/x",
     {{"host", "k"}},
     true},
    {"no content-length, ended with the headers: no body at all",
     {{":method", "DELETE"}, {":scheme", "https"}, {":authority", "k"}, {":path", "/x"}},
     true,
     "DELETE",
     "/x",
     {{"host", "k"}},
     false},
    {"cookies joined with \"; \" into one field",
     get_head("/", {{"cookie", "a=1"}, {"accept", "*/*"}, {"cookie", "b=2"}, {"cookie", "c=3"}}),
     true,
     "GET",
     "/",
     {{"accept", "*/*"}, {"cookie", "a=1; b=2; c=3"}, {"host", "kubernetes"}},
     false},
    {"te: trailers dropped (hop-by-hop in HTTP/1.1)",
     get_head("/", {{"te", "trailers"}, {"x-a", "1"}}),
     true,
     "GET",
     "/",
     {{"host", "kubernetes"}, {"x-a", "1"}},
     false},
    {"host equal to :authority (any case) is kept once, as :authority",
     get_head("/", {{"host", "KUBERNETES"}}),
     true,
     "GET",
     "/",
     {{"host", "kubernetes"}},
     false},
    {"host alone, no :authority",
     {{":method", "GET"}, {":scheme", "https"}, {":path", "/"}, {"host", "k:443"}},
     true,
     "GET",
     "/",
     {{"host", "k:443"}},
     false},
    {"repeated fields stay separate and in order",
     get_head("/", {{"accept", "a"}, {"x-b", "1"}, {"accept", "b"}}),
     true,
     "GET",
     "/",
     {{"accept", "a"}, {"accept", "b"}, {"host", "kubernetes"}, {"x-b", "1"}},
     false},
    {"OPTIONS * and an extension method",
     {{":method", "PROPFIND"}, {":scheme", "https"}, {":authority", "k"}, {":path", "*"}},
     true,
     "PROPFIND",
     "*",
     {{"host", "k"}},
     false},
};

// The case's name, not its bytes, in test listings.
void PrintTo(const good_case& c, std::ostream* os) { *os << c.name; }

class h2_request_good : public ::testing::TestWithParam<good_case> {};

TEST_P(h2_request_good, becomes_this_http11_head) {
  const auto& c = GetParam();
  h2_request_builder b;
  ASSERT_TRUE(build(b, c.in, c.end_stream)) << b.reason();
  EXPECT_EQ(b.reason(), "");
  EXPECT_EQ(b.head().method_string(), c.method);
  EXPECT_EQ(b.head().target(), c.target);
  EXPECT_EQ(b.head().version(), 11);
  EXPECT_EQ(normalized(mvproxy::test::dump_fields(b.head())), normalized(c.want));
  EXPECT_EQ(b.body_chunked(), c.chunked);
}

std::string case_name(const std::string& name) {
  std::string out;
  for (char ch : name) out += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return out;
}

INSTANTIATE_TEST_SUITE_P(table, h2_request_good, ::testing::ValuesIn(good_cases),
                         [](const auto& info) { return case_name(info.param.name); });

struct bad_case {
  std::string name;
  field_list in;
  std::string reason;
};

const std::vector<bad_case> bad_cases = {
    {"missing :method",
     {{":scheme", "https"}, {":authority", "k"}, {":path", "/"}},
     "missing :method, :scheme or :path"},
    {"missing :path",
     {{":method", "GET"}, {":scheme", "https"}, {":authority", "k"}},
     "missing :method, :scheme or :path"},
    {"missing :scheme",
     {{":method", "GET"}, {":authority", "k"}, {":path", "/"}},
     "missing :method, :scheme or :path"},
    {"neither :authority nor host",
     {{":method", "GET"}, {":scheme", "https"}, {":path", "/"}},
     "missing :authority"},
    {"CONNECT",
     {{":method", "CONNECT"}, {":authority", "k:443"}},
     "missing :method, :scheme or :path"},
    {"CONNECT with scheme and path",
     {{":method", "CONNECT"}, {":scheme", "https"}, {":authority", "k"}, {":path", "/"}},
     "CONNECT is not supported"},
    {"extended CONNECT (:protocol)", get_head("/ws", {{":protocol", "websocket"}}),
     "CONNECT is not supported"},
    {"space in :path", get_head("/a b"), "malformed :path"},
    {"tab in :path", get_head("/a\tb"), "malformed :path"},
    {"DEL in :path", get_head("/a\x7f"), "malformed :path"},
    {"CR LF in :path", get_head("/a\r\nX-Injected: 1"), "malformed :path"},
    {"NUL in :path", get_head(std::string("/a\0b", 4)), "malformed :path"},
    {"space in :method",
     {{":method", "GET /x"}, {":scheme", "https"}, {":authority", "k"}, {":path", "/"}},
     "malformed :method"},
    {"separator in :method",
     {{":method", "GE(T"}, {":scheme", "https"}, {":authority", "k"}, {":path", "/"}},
     "malformed :method"},
    {"host differs from :authority", get_head("/", {{"host", "evil"}}),
     "host differs from :authority"},
    {"unknown pseudo-header", get_head("/", {{":foo", "1"}}), "unknown pseudo-header :foo"},
    {"connection", get_head("/", {{"connection", "close"}}),
     "connection-specific field connection"},
    {"keep-alive", get_head("/", {{"keep-alive", "5"}}), "connection-specific field keep-alive"},
    {"proxy-connection", get_head("/", {{"proxy-connection", "x"}}),
     "connection-specific field proxy-connection"},
    {"transfer-encoding", get_head("/", {{"transfer-encoding", "chunked"}}),
     "connection-specific field transfer-encoding"},
    {"upgrade", get_head("/", {{"upgrade", "websocket"}}), "connection-specific field upgrade"},
    {"te other than trailers", get_head("/", {{"te", "gzip"}}), "te other than trailers"},
};

// The case's name, not its bytes, in test listings.
void PrintTo(const bad_case& c, std::ostream* os) { *os << c.name; }

class h2_request_bad : public ::testing::TestWithParam<bad_case> {};

TEST_P(h2_request_bad, is_refused_with_its_reason) {
  const auto& c = GetParam();
  h2_request_builder b;
  EXPECT_FALSE(build(b, c.in, true));
  EXPECT_EQ(b.reason(), c.reason);
  // finish() again (as the connection may) keeps the refusal.
  EXPECT_FALSE(b.finish(true));
  EXPECT_EQ(b.reason(), c.reason);
}

INSTANTIATE_TEST_SUITE_P(table, h2_request_bad, ::testing::ValuesIn(bad_cases),
                         [](const auto& info) { return case_name(info.param.name); });

// A refusal sticks: good fields after it, and a complete set of pseudo-headers, do not
// make finish() accept the request.
TEST(h2_request_builder, refusal_is_not_undone_by_later_fields) {
  h2_request_builder b;
  EXPECT_FALSE(b.add("connection", "close"));
  EXPECT_TRUE(b.add(":method", "GET"));
  EXPECT_TRUE(b.add("accept", "*/*"));
  for (auto& [n, v] : get_head("/")) b.add(n, v);
  EXPECT_FALSE(b.finish(true));
  EXPECT_EQ(b.reason(), "connection-specific field connection");
}

struct response_case {
  std::string name;
  std::string head;
  field_list want;  // in order, ":status" first
};

const std::vector<response_case> response_cases = {
    {"status and lower-cased names",
     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nAudit-ID: abc\r\n",
     {{":status", "200"}, {"content-type", "application/json"}, {"audit-id", "abc"}}},
    {"connection-specific fields dropped",
     "HTTP/1.1 201 Created\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
     "Transfer-Encoding: chunked\r\nUpgrade: h2c\r\nProxy-Connection: close\r\nX-A: 1\r\n",
     {{":status", "201"}, {"x-a", "1"}}},
    {"optional whitespace trimmed around values",
     "HTTP/1.1 404 Not Found\r\nX-A:   spaced \t\r\nX-B:\tv\r\nX-Empty:\r\n",
     {{":status", "404"}, {"x-a", "spaced"}, {"x-b", "v"}, {"x-empty", ""}}},
    {"repeated fields kept in order",
     "HTTP/1.1 200 OK\r\nWarning: 299 - \"a\"\r\nContent-Length: 2\r\nWarning: 299 - \"b\"\r\n",
     {{":status", "200"},
      {"warning", "299 - \"a\""},
      {"content-length", "2"},
      {"warning", "299 - \"b\""}}},
    {"no reason phrase, no fields", "HTTP/1.1 204\r\n", {{":status", "204"}}},
    {"last line without CRLF", "HTTP/1.1 500 Oops\r\nX-A: 1", {{":status", "500"}, {"x-a", "1"}}},
};

// The case's name, not its bytes, in test listings.
void PrintTo(const response_case& c, std::ostream* os) { *os << c.name; }

class h2_response : public ::testing::TestWithParam<response_case> {};

TEST_P(h2_response, becomes_these_fields) {
  const auto& c = GetParam();
  EXPECT_EQ(h2_response_fields(c.head), c.want);
}

INSTANTIATE_TEST_SUITE_P(table, h2_response, ::testing::ValuesIn(response_cases),
                         [](const auto& info) { return case_name(info.param.name); });

}  // namespace
