// The HTTP/1.1 <-> HTTP/2 translations for upstreams that speak HTTP/2 (pure): a request
// head as the exchange writes it becomes HTTP/2 fields; an HTTP/2 response head becomes
// the HTTP/1.1 head the exchange's parser reads. Good inputs first, then bad ones.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "field_list.hpp"
#include "mvproxy/http/h2_fields.hpp"

namespace {

using mvproxy::http::h1_response_head;
using mvproxy::http::h2_request_from_head;
using mvproxy::test::field_list;

struct request_case {
  const char* name;
  std::string head;
  field_list fields;
  bool has_body;
  std::optional<std::uint64_t> length;
  bool head_method = false;
};

TEST(H2UpstreamRequest, HeadsBecomeFields) {
  const std::vector<request_case> cases = {
      {"GET: pseudo-headers first, Host as :authority, names lower-cased",
       "GET /api/v1/pods?watch=1 HTTP/1.1\r\nHost: kube:6443\r\nAccept: application/json\r\n"
       "X-Remote-User: jane\r\n\r\n",
       {{":method", "GET"},
        {":scheme", "https"},
        {":authority", "kube:6443"},
        {":path", "/api/v1/pods?watch=1"},
        {"accept", "application/json"},
        {"x-remote-user", "jane"}},
       false,
       std::nullopt},
      {"no Host: the target's authority",
       "GET /version HTTP/1.1\r\n\r\n",
       {{":method", "GET"}, {":scheme", "https"}, {":authority", "up:443"}, {":path", "/version"}},
       false,
       std::nullopt},
      {"connection-specific fields left out, te: trailers kept",
       "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nKeep-Alive: 5\r\n"
       "Proxy-Connection: x\r\nUpgrade: foo\r\nTE: trailers\r\n\r\n",
       {{":method", "GET"},
        {":scheme", "https"},
        {":authority", "h"},
        {":path", "/"},
        {"te", "trailers"}},
       false,
       std::nullopt},
      {"te other than trailers left out",
       "GET / HTTP/1.1\r\nHost: h\r\nTE: gzip\r\n\r\n",
       {{":method", "GET"}, {":scheme", "https"}, {":authority", "h"}, {":path", "/"}},
       false,
       std::nullopt},
      {"a body of announced length keeps content-length",
       "POST /api/v1/namespaces HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n"
       "Expect: 100-continue\r\n\r\n",
       {{":method", "POST"},
        {":scheme", "https"},
        {":authority", "h"},
        {":path", "/api/v1/namespaces"},
        {"content-length", "12"},
        {"expect", "100-continue"}},
       true,
       12},
      {"a chunked body: no transfer-encoding, length unknown",
       "PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
       {{":method", "PUT"}, {":scheme", "https"}, {":authority", "h"}, {":path", "/x"}},
       true,
       std::nullopt},
      {"content-length 0: no body",
       "DELETE /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
       {{":method", "DELETE"},
        {":scheme", "https"},
        {":authority", "h"},
        {":path", "/x"},
        {"content-length", "0"}},
       false,
       0},
      {"HEAD is marked",
       "HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n",
       {{":method", "HEAD"}, {":scheme", "https"}, {":authority", "h"}, {":path", "/x"}},
       false,
       std::nullopt,
       true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = h2_request_from_head(c.head, "up:443");
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(r.fields, c.fields);
    EXPECT_EQ(r.has_body, c.has_body);
    EXPECT_EQ(r.length, c.length);
    EXPECT_EQ(r.head_method, c.head_method);
  }
}

TEST(H2UpstreamRequest, BadHeadsAreRefused) {
  const std::vector<std::pair<const char*, std::string>> cases = {
      {"not HTTP", "hello\r\n\r\n"},
      {"incomplete", "GET / HTTP/1.1\r\nHost: h\r\n"},
      {"CONNECT", "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n"},
      {"two lengths", "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"},
  };
  for (const auto& [name, head] : cases) {
    SCOPED_TRACE(name);
    EXPECT_NE(h2_request_from_head(head, "up:443").error, "");
  }
}

struct response_case {
  const char* name;
  int status;
  std::string fields;
  bool has_length, end_stream, head_method;
  std::string want;
  bool chunked;
};

TEST(H2UpstreamResponse, HeadsBecomeHttp11) {
  const std::vector<response_case> cases = {
      {"a length stays", 200, "content-type: application/json\r\ncontent-length: 2\r\n", true,
       false, false,
       "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n", false},
      {"no length and a body to come: chunks", 200, "content-type: application/json\r\n", false,
       false, false,
       "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
       true},
      {"ended with the head, no length: empty body", 404, "", false, true, false,
       "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n", false},
      {"304 has no body and no framing", 304, "etag: \"x\"\r\n", false, true, false,
       "HTTP/1.1 304 Not Modified\r\netag: \"x\"\r\n\r\n", false},
      {"204 likewise", 204, "", false, true, false, "HTTP/1.1 204 No Content\r\n\r\n", false},
      {"an answer to HEAD keeps no framing", 200, "", false, true, true, "HTTP/1.1 200 OK\r\n\r\n",
       false},
      {"100 Continue is interim", 100, "", false, false, false, "HTTP/1.1 100 Continue\r\n\r\n",
       false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    bool chunked = !c.chunked;
    EXPECT_EQ(
        h1_response_head(c.status, c.fields, c.has_length, c.end_stream, c.head_method, &chunked),
        c.want);
    EXPECT_EQ(chunked, c.chunked);
  }
}

}  // namespace
