#include "mvproxy/http/framing.hpp"

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <random>
#include <string>
#include <vector>

namespace {

using mvproxy::http::head_scan;
using mvproxy::http::head_scanner;
using mvproxy::http::head_state;
using namespace std::string_literals;

const char* state_name(head_state s) {
  switch (s) {
    case head_state::need_more:
      return "need_more";
    case head_state::complete:
      return "complete";
    case head_state::bad:
      return "bad";
    case head_state::too_large:
      return "too_large";
  }
  return "?";
}

struct head_case {
  std::string name;
  std::string bytes;  // head, possibly followed by body bytes
  head_state want;
  std::string reason;  // for bad/too_large
  std::size_t max = 64 * 1024;
};

// Feeds the whole buffer at once, then again byte by byte (a fresh scanner, the buffer
// growing one byte per call), and checks both give the same verdict — and for a
// complete head, that it is reported exactly when its last byte arrives.
void check(const head_case& c) {
  SCOPED_TRACE(c.name);
  head_scanner whole(c.max);
  head_scan got = whole.feed(c.bytes);
  EXPECT_STREQ(state_name(got.state), state_name(c.want));
  EXPECT_EQ(std::string(got.reason), c.reason);
  std::size_t want_size = 0;
  if (c.want == head_state::complete) {
    want_size = c.bytes.find("\r\n\r\n") + 4;
    EXPECT_EQ(got.head_size, want_size);
  }
  EXPECT_EQ(whole.feed(c.bytes).state, got.state) << "re-feeding changed the verdict";

  head_scanner bytewise(c.max);
  head_scan step;
  std::size_t at = 0;
  for (at = 1; at <= c.bytes.size(); ++at) {
    step = bytewise.feed(std::string_view(c.bytes).substr(0, at));
    if (step.state != head_state::need_more) break;
  }
  EXPECT_STREQ(state_name(step.state), state_name(c.want)) << "byte by byte";
  EXPECT_EQ(std::string(step.reason), c.reason) << "byte by byte";
  if (c.want == head_state::complete) {
    EXPECT_EQ(at, want_size) << "complete reported at the wrong byte";
    EXPECT_EQ(step.head_size, want_size);
  }
}

// Real kubectl 1.36 request heads (hosts and tokens replaced).
const std::string kubectl_get =
    "GET /api/v1/namespaces/kube-system/pods?limit=500 HTTP/1.1\r\n"
    "Host: 127.0.0.1:7443\r\n"
    "User-Agent: kubectl/v1.36.2 (linux/amd64) kubernetes/5f2a6b1\r\n"
    "Accept: application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;"
    "g=meta.k8s.io,application/json\r\n"
    "Authorization: Bearer abcdef.0123456789abcdef\r\n"
    "Kubectl-Command: kubectl get\r\n"
    "Kubectl-Session: 5f1c3b0e-2d9a-4f61-9c1e-8a7b6c5d4e3f\r\n"
    "Accept-Encoding: gzip\r\n"
    "\r\n";

const std::string kubectl_create_body =
    R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}})";
const std::string kubectl_create =
    "POST /api/v1/namespaces/default/configmaps?fieldManager=kubectl-create&fieldValidation=Strict "
    "HTTP/1.1\r\n"
    "Host: 127.0.0.1:7443\r\n"
    "User-Agent: kubectl/v1.36.2 (linux/amd64) kubernetes/5f2a6b1\r\n"
    "Content-Length: " +
    std::to_string(kubectl_create_body.size()) +
    "\r\n"
    "Accept: application/json\r\n"
    "Content-Type: application/json\r\n"
    "Kubectl-Command: kubectl create\r\n"
    "Accept-Encoding: gzip\r\n"
    "\r\n" +
    kubectl_create_body;

const std::string kubectl_patch =
    "PATCH /apis/apps/v1/namespaces/default/deployments/web?fieldManager=kubectl-patch HTTP/1.1\r\n"
    "Host: 127.0.0.1:7443\r\n"
    "Content-Length: 30\r\n"
    "Content-Type: application/strategic-merge-patch+json\r\n"
    "Impersonate-User: jane\r\n"
    "Impersonate-Group: developers\r\n"
    "\r\n"
    R"({"spec":{"replicas":3}}       )";

const std::string kubectl_watch =
    "GET /api/v1/namespaces/kube-system/pods?allowWatchBookmarks=true&resourceVersion=1234&"
    "timeoutSeconds=431&watch=true HTTP/1.1\r\n"
    "Host: 127.0.0.1:7443\r\n"
    "Accept: application/json\r\n"
    "\r\n";

const std::string kubectl_exec_websocket =
    "GET /api/v1/namespaces/default/pods/web-0/exec?command=sh&container=web&stdin=true&"
    "stdout=true&tty=true HTTP/1.1\r\n"
    "Host: 127.0.0.1:7443\r\n"
    "User-Agent: kubectl/v1.36.2 (linux/amd64) kubernetes/5f2a6b1\r\n"
    "Connection: Upgrade\r\n"
    "Upgrade: websocket\r\n"
    "Sec-Websocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-Websocket-Protocol: v5.channel.k8s.io,v4.channel.k8s.io\r\n"
    "Sec-Websocket-Version: 13\r\n"
    "\r\n";

const std::string kubectl_exec_spdy =
    "POST /api/v1/namespaces/default/pods/web-0/exec?command=date&container=web&stdout=true "
    "HTTP/1.1\r\n"
    "Host: 127.0.0.1:7443\r\n"
    "Connection: Upgrade\r\n"
    "Upgrade: SPDY/3.1\r\n"
    "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n"
    "Content-Length: 0\r\n"
    "\r\n";

const std::string chunked_apply =
    "PATCH /api/v1/namespaces/default/configmaps/x?fieldManager=kubectl HTTP/1.1\r\n"
    "Host: 127.0.0.1:7443\r\n"
    "Content-Type: application/apply-patch+yaml\r\n"
    "Transfer-Encoding: chunked\r\n"
    "\r\n"
    "5\r\nhello\r\n0\r\n\r\n";

const std::vector<head_case> good_heads = {
    {"kubectl get", kubectl_get, head_state::complete, ""},
    {"kubectl create (with body after the head)", kubectl_create, head_state::complete, ""},
    {"kubectl patch with impersonation", kubectl_patch, head_state::complete, ""},
    {"kubectl watch", kubectl_watch, head_state::complete, ""},
    {"kubectl exec websocket upgrade", kubectl_exec_websocket, head_state::complete, ""},
    {"kubectl exec SPDY upgrade", kubectl_exec_spdy, head_state::complete, ""},
    {"chunked body", chunked_apply, head_state::complete, ""},
    {"Transfer-Encoding any case with OWS",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  Chunked \t\r\n\r\n", head_state::complete,
     ""},
    {"repeated equal Content-Length is merged",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
     head_state::complete, ""},
    {"Content-Length with leading zeros",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 005\r\n\r\n", head_state::complete, ""},
    {"HTTP/1.0 needs no Host", "GET /version HTTP/1.0\r\n\r\n", head_state::complete, ""},
    {"empty value and no space after colon", "GET / HTTP/1.1\r\nHost:a\r\nX-Empty:\r\n\r\n",
     head_state::complete, ""},
    {"UTF-8 (obs-text) in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-Name: J\xC3\xBCrgen\r\n\r\n",
     head_state::complete, ""},
    {"OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", head_state::complete, ""},
    {"head exactly at the limit", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", head_state::complete, "",
     27},
};

TEST(HeadScanner, GoodHeads) {
  for (const auto& c : good_heads) check(c);
}

// Arbitrary chunk boundaries (as reads deliver them) never change the verdict.
TEST(HeadScanner, RandomChunkingGivesTheSameVerdict) {
  std::mt19937 rng(20261125);  // fixed seed: a failure reproduces
  for (const auto& c : good_heads) {
    head_scanner whole(c.max);
    auto want = whole.feed(c.bytes);
    for (int round = 0; round < 50; ++round) {
      head_scanner s(c.max);
      head_scan got;
      std::size_t have = 0;
      while (have < c.bytes.size() && got.state == head_state::need_more) {
        have = std::min(c.bytes.size(), have + 1 + rng() % 40);
        got = s.feed(std::string_view(c.bytes).substr(0, have));
      }
      ASSERT_EQ(got.state, want.state) << c.name << " round " << round;
      ASSERT_EQ(got.head_size, want.head_size) << c.name << " round " << round;
    }
  }
}

// What the scanner lets through, Beast's parser (which reads it next) accepts too, so
// the scanner never turns a good request into a parser error later.
TEST(HeadScanner, BeastAcceptsEveryHeadWeAccept) {
  namespace bh = boost::beast::http;
  for (const auto& c : good_heads) {
    head_scanner s(c.max);
    auto scan = s.feed(c.bytes);
    ASSERT_EQ(scan.state, head_state::complete) << c.name;
    bh::request_parser<bh::empty_body> parser;
    parser.eager(false);
    boost::system::error_code ec;
    std::size_t used = parser.put(boost::asio::buffer(c.bytes.data(), scan.head_size), ec);
    EXPECT_FALSE(ec) << c.name << ": " << ec.message();
    EXPECT_TRUE(parser.is_header_done()) << c.name;
    EXPECT_EQ(used, scan.head_size) << c.name;
  }
}

TEST(HeadScanner, PartialHeadNeedsMore) {
  head_scanner s;
  EXPECT_EQ(s.feed("").state, head_state::need_more);
  EXPECT_EQ(s.feed("GET / HTTP/1.1\r\nHost: a\r\n").state, head_state::need_more);
  EXPECT_EQ(s.feed("GET / HTTP/1.1\r\nHost: a\r\n\r").state, head_state::need_more);
  EXPECT_EQ(s.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n").state, head_state::complete);
}

TEST(HeadScanner, ResetScansTheNextPipelinedRequest) {
  std::string two = kubectl_watch + kubectl_get;
  head_scanner s;
  auto first = s.feed(two);
  ASSERT_EQ(first.state, head_state::complete);
  EXPECT_EQ(first.head_size, kubectl_watch.size());
  s.reset();
  auto second = s.feed(std::string_view(two).substr(first.head_size));
  ASSERT_EQ(second.state, head_state::complete);
  EXPECT_EQ(second.head_size, kubectl_get.size());
}

TEST(HeadScanner, VerdictIsStickyUntilReset) {
  head_scanner s;
  ASSERT_EQ(s.feed("GET / HTTP/1.1\nHost: a\n\n").state, head_state::bad);
  EXPECT_EQ(s.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n").state, head_state::bad);
  s.reset();
  EXPECT_EQ(s.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n").state, head_state::complete);
}

// --- Refused heads -------------------------------------------------------------------

const std::string post = "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: a\r\n";

const std::vector<head_case> bad_heads = {
    // Request smuggling: the classic CL.TE / TE.CL / TE.TE vectors.
    {"Content-Length then Transfer-Encoding",
     post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", head_state::bad,
     "Content-Length with Transfer-Encoding"},
    {"Transfer-Encoding then Content-Length",
     post + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", head_state::bad,
     "Content-Length with Transfer-Encoding"},
    {"Transfer-Encoding: chunked, identity", post + "Transfer-Encoding: chunked, identity\r\n\r\n",
     head_state::bad, "Transfer-Encoding does not end in chunked"},
    {"Transfer-Encoding: xchunked", post + "Transfer-Encoding: xchunked\r\n\r\n", head_state::bad,
     "Transfer-Encoding does not end in chunked"},
    {"Transfer-Encoding: identity", post + "Transfer-Encoding: identity\r\n\r\n", head_state::bad,
     "Transfer-Encoding does not end in chunked"},
    {"empty Transfer-Encoding", post + "Transfer-Encoding:\r\n\r\n", head_state::bad,
     "Transfer-Encoding does not end in chunked"},
    {"Transfer-Encoding: gzip, chunked", post + "Transfer-Encoding: gzip, chunked\r\n\r\n",
     head_state::bad, "unsupported Transfer-Encoding"},
    {"Transfer-Encoding: chunked, chunked", post + "Transfer-Encoding: chunked, chunked\r\n\r\n",
     head_state::bad, "unsupported Transfer-Encoding"},
    {"two Transfer-Encoding lines",
     post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", head_state::bad,
     "repeated Transfer-Encoding"},
    {"Transfer-Encoding with space before colon", post + "Transfer-Encoding : chunked\r\n\r\n",
     head_state::bad, "whitespace between header name and colon"},
    {"Content-Length with space before colon", post + "Content-Length : 5\r\n\r\n", head_state::bad,
     "whitespace between header name and colon"},
    {"Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
     head_state::bad, "Transfer-Encoding in an HTTP/1.0 request"},
    {"Content-Length: 1, 2", post + "Content-Length: 1, 2\r\n\r\n", head_state::bad,
     "invalid Content-Length"},
    {"Content-Length: 5, 5 (Go refuses lists)", post + "Content-Length: 5, 5\r\n\r\n",
     head_state::bad, "invalid Content-Length"},
    {"Content-Length: +1", post + "Content-Length: +1\r\n\r\n", head_state::bad,
     "invalid Content-Length"},
    {"Content-Length: -1", post + "Content-Length: -1\r\n\r\n", head_state::bad,
     "invalid Content-Length"},
    {"Content-Length: 0x10", post + "Content-Length: 0x10\r\n\r\n", head_state::bad,
     "invalid Content-Length"},
    {"Content-Length: 1 2", post + "Content-Length: 1 2\r\n\r\n", head_state::bad,
     "invalid Content-Length"},
    {"empty Content-Length", post + "Content-Length: \r\n\r\n", head_state::bad,
     "invalid Content-Length"},
    {"Content-Length over 2^64", post + "Content-Length: 18446744073709551616\r\n\r\n",
     head_state::bad, "invalid Content-Length"},
    {"two differing Content-Length lines", post + "Content-Length: 1\r\nContent-Length: 2\r\n\r\n",
     head_state::bad, "conflicting Content-Length values"},
    // Line structure.
    {"obs-fold with SP", post + "X-A: one\r\n two\r\n\r\n", head_state::bad,
     "obsolete line folding"},
    {"obs-fold with HTAB", post + "X-A: one\r\n\ttwo\r\n\r\n", head_state::bad,
     "obsolete line folding"},
    {"first header line folded", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", head_state::bad,
     "obsolete line folding"},
    {"bare LF everywhere", "GET / HTTP/1.1\nHost: a\n\n", head_state::bad, "bare LF line ending"},
    {"bare LF in one header line", "GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n", head_state::bad,
     "bare LF line ending"},
    {"bare LF ending the head", "GET / HTTP/1.1\r\nHost: a\r\n\n", head_state::bad,
     "bare LF line ending"},
    {"bare CR inside a header line", "GET / HTTP/1.1\r\nHost: a\rX-A: b\r\n\r\n", head_state::bad,
     "bare CR"},
    {"bare CR in the request line", "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", head_state::bad,
     "bare CR"},
    {"NUL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\0b\r\n\r\n"s, head_state::bad,
     "control character in header value"},
    {"DEL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x7f\r\n\r\n", head_state::bad,
     "control character in header value"},
    {"ESC in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: \x1b[31m\r\n\r\n", head_state::bad,
     "control character in header value"},
    {"NUL in a name", "GET / HTTP/1.1\r\nHost: a\r\nX\0A: b\r\n\r\n"s, head_state::bad,
     "invalid header name"},
    {"separator in a name", "GET / HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n", head_state::bad,
     "invalid header name"},
    {"empty name", "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", head_state::bad,
     "invalid header name"},
    {"line without colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", head_state::bad,
     "header line without colon"},
    // Host.
    {"missing Host in HTTP/1.1", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", head_state::bad,
     "missing Host header"},
    {"two Host lines", "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", head_state::bad,
     "multiple Host headers"},
    // Request line junk.
    {"empty line before the request line", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", head_state::bad,
     "empty line before the request line"},
    {"no version", "GET /\r\nHost: a\r\n\r\n", head_state::bad, "malformed request line"},
    {"double space", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", head_state::bad,
     "malformed request line"},
    {"trailing space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", head_state::bad,
     "malformed request line"},
    {"space in target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", head_state::bad,
     "malformed request line"},
    {"tab as separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", head_state::bad,
     "malformed request line"},
    {"bad method", "G@T / HTTP/1.1\r\nHost: a\r\n\r\n", head_state::bad,
     "malformed request method"},
    {"non-ASCII target", "GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n", head_state::bad,
     "invalid character in request target"},
    {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", head_state::bad,
     "unsupported HTTP version"},
    {"lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", head_state::bad,
     "unsupported HTTP version"},
    {"HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", head_state::bad, "unsupported HTTP version"},
    {"binary junk", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"s, head_state::bad,
     "malformed request line"},
    // Size.
    {"head one byte over the limit", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", head_state::too_large,
     "request head too large", 26},
    {"header larger than 64 KiB",
     "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(70 * 1024, 'x') + "\r\n\r\n",
     head_state::too_large, "request head too large"},
    {"endless request line", "GET /" + std::string(70 * 1024, 'a'), head_state::too_large,
     "request head too large"},
    {"bad line past the limit is too large",
     "GET / HTTP/1.1\r\nHost: a\r\nX-A: \x01" + std::string(100, 'a') + "\r\n\r\n",
     head_state::too_large, "request head too large", 64},
};

TEST(HeadScanner, RefusedHeads) {
  for (const auto& c : bad_heads) check(c);
}

}  // namespace
