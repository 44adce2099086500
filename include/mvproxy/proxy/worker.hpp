#pragma once
// A worker: one thread's io_context with its sessions, upstream pool, deadline sweeper,
// scratch buffers and metric series cache; and what all workers share, read-only.

#include <spdlog/logger.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "mvproxy/proxy/server.hpp"
#include "mvproxy/proxy/tls_stream.hpp"
#include "mvproxy/proxy/upstream.hpp"

namespace mvproxy::proxy {

// Read-only after start, shared by every worker.
struct shared_state {
  server_options options;
  tls::provider& tls;
  metrics::standard_metrics& metrics;
  std::shared_ptr<spdlog::logger> log;
  std::shared_ptr<spdlog::logger> access;
  std::atomic<std::uint64_t> next_id{1};
  std::atomic<std::size_t> live_sessions{0};
};

class session;  // the worker lists its connections for drain and terminate

// The layout of worker::scratch: room for a chunk prefix, the bytes of one read, and
// room for a chunk suffix and the last chunk.
constexpr std::size_t scratch_headroom = 32;
constexpr std::size_t scratch_tail = 16;

struct worker {
  explicit worker(shared_state& s);
  shared_state& shared;
  boost::asio::io_context ioc{1};
  deadline_sweeper sweeper;
  upstream_pool pool;
  std::list<session*> sessions;  // for drain/terminate
  bool draining = false;
  // Bytes between two suspension points of any one session of this worker: a read
  // lands here and is written on before the session waits again (tls_stream::write
  // copies what it cannot write at once), so no connection needs a buffer of its own.
  std::vector<char> scratch;
  std::vector<char> coalesce;  // a head and the first body bytes, in one record
  // The per-request series by (route, status): a label lookup builds strings and takes
  // the family's lock, so each worker remembers the few series it has used.
  struct request_series {
    std::string route;
    int status;
    metrics::counter* total;
    metrics::histogram* duration;
  };
  std::vector<request_series> series;
  request_series& series_for(const std::string& route, int status);
};

}  // namespace mvproxy::proxy
