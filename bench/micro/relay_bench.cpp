// Relaying a body: relay_parser (body compacted in place in the read buffer) against
// Beast's response_parser<buffer_body> doing the same job (the body copied out of the
// read buffer into a buffer of its own). Both start each iteration by copying the
// input into the read buffer, as read(2) would, since relay_parser rewrites it.
// (a) a ~1 KiB JSON answer with a Content-Length, head and body, a new parser each;
// (b) one 64 KiB read in the middle of a chunked LIST body made of 4 KiB chunks.
// Compare bytes/s of BM_Relay* with BM_Beast* for the same case.

#include <benchmark/benchmark.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "mvproxy/http/relay.hpp"

namespace {

namespace bhttp = boost::beast::http;

constexpr std::uint32_t head_limit = 64 * 1024;
constexpr std::size_t chunk = 4096;
constexpr int chunks_per_read = 16;  // 16 x (4 KiB + framing) = one ~64 KiB read

std::string json_body() {
  std::string s =
      R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-0","namespace":"default",)"
      R"("uid":"3c2a1f0e-8b7d-4c6a-9e5f-1d2c3b4a5f6e","resourceVersion":"481516",)"
      R"("labels":{"app":"web","tier":"frontend"},"annotations":{"note":")";
  const std::string tail = R"("}},"status":{"phase":"Running","podIP":"10.244.1.7"}})";
  s.append(1024 - tail.size() - s.size(), 'x');
  return s + tail;
}

std::string json_response() {
  std::string body = json_body();
  return "HTTP/1.1 200 OK\r\nAudit-Id: 0b0d7a4e-2c1f-4a8b-9d3e-5f6a7b8c9d0e\r\n"
         "Cache-Control: no-cache, private\r\nContent-Type: application/json\r\n"
         "X-Kubernetes-Pf-Flowschema-Uid: 8f7e6d5c\r\nX-Kubernetes-Pf-Prioritylevel-Uid: "
         "1a2b3c4d\r\n"
         "Date: Tue, 01 Oct 2024 12:00:00 GMT\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// The head and the first chunk (fed once), then what every later read holds: the CRLF
// ending the previous chunk and 16 whole chunks, so the reads can repeat forever.
const std::string list_head =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";

std::string chunk_data(char c) {
  std::string s(chunk, c);
  s.front() = '{';
  s.back() = '}';
  return s;
}

std::string list_prelude() { return list_head + "1000\r\n" + chunk_data('a'); }

std::string list_read() {
  std::string s;
  for (int i = 0; i < chunks_per_read; ++i)
    s += "\r\n1000\r\n" + chunk_data(static_cast<char>('b' + i));
  return s;
}

// (a) --------------------------------------------------------------------------------

void BM_RelayJsonResponse(benchmark::State& state) {
  const std::string msg = json_response();
  std::vector<char> buf(msg.size());
  for (auto _ : state) {
    std::memcpy(buf.data(), msg.data(), msg.size());
    mvproxy::http::response_relay_parser p(head_limit);
    auto f = p.feed(buf.data(), buf.size());
    if (f.ec || !p.is_done() || f.body != 1024) {
      state.SkipWithError("relay_parser did not read the response");
      return;
    }
    benchmark::DoNotOptimize(f);
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * msg.size()));
}
BENCHMARK(BM_RelayJsonResponse);

void BM_BeastJsonResponse(benchmark::State& state) {
  const std::string msg = json_response();
  std::vector<char> buf(msg.size());
  std::vector<char> out(4096);
  for (auto _ : state) {
    std::memcpy(buf.data(), msg.data(), msg.size());
    bhttp::response_parser<bhttp::buffer_body> p;
    p.header_limit(head_limit);
    p.body_limit(boost::none);
    p.eager(true);
    p.get().body().data = out.data();
    p.get().body().size = out.size();
    boost::beast::error_code ec;
    p.put(boost::asio::buffer(buf.data(), buf.size()), ec);
    if (ec || !p.is_done() || out.size() - p.get().body().size != 1024) {
      state.SkipWithError("beast parser did not read the response");
      return;
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * msg.size()));
}
BENCHMARK(BM_BeastJsonResponse);

// (b) --------------------------------------------------------------------------------

void BM_RelayChunkedRead(benchmark::State& state) {
  const std::string prelude = list_prelude();
  const std::string read = list_read();
  std::string first = prelude;
  mvproxy::http::response_relay_parser p(head_limit);
  auto f = p.feed(first.data(), first.size());
  if (f.ec || f.body != chunk || f.consumed != first.size()) {
    state.SkipWithError("relay_parser did not read the prelude");
    return;
  }
  std::vector<char> buf(read.size());
  for (auto _ : state) {
    std::memcpy(buf.data(), read.data(), read.size());
    f = p.feed(buf.data(), buf.size());
    if (f.ec || f.body != chunk * chunks_per_read || f.consumed != read.size()) {
      state.SkipWithError("relay_parser did not read the chunks");
      return;
    }
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * read.size()));
}
BENCHMARK(BM_RelayChunkedRead);

void BM_BeastChunkedRead(benchmark::State& state) {
  const std::string prelude = list_prelude();
  const std::string read = list_read();
  std::vector<char> out(2 * chunk * chunks_per_read);
  bhttp::response_parser<bhttp::buffer_body> p;
  p.header_limit(head_limit);
  p.body_limit(boost::none);
  p.eager(true);
  p.get().body().data = out.data();
  p.get().body().size = out.size();
  boost::beast::error_code ec;
  std::size_t n = p.put(boost::asio::buffer(prelude), ec);
  if (ec || n != prelude.size()) {
    state.SkipWithError("beast parser did not read the prelude");
    return;
  }
  std::vector<char> buf(read.size());
  for (auto _ : state) {
    std::memcpy(buf.data(), read.data(), read.size());
    p.get().body().data = out.data();
    p.get().body().size = out.size();
    n = p.put(boost::asio::buffer(buf.data(), buf.size()), ec);
    if (ec || n != read.size() || out.size() - p.get().body().size != chunk * chunks_per_read) {
      state.SkipWithError("beast parser did not read the chunks");
      return;
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * read.size()));
}
BENCHMARK(BM_BeastChunkedRead);

}  // namespace
