#pragma once
// The main TLS listener and its worker threads. One io_context per worker: a client
// connection, the upstream connections it uses and that worker's upstream pool all
// live on one thread, so the hot path shares nothing and needs no strands.

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "mvproxy/metrics/standard.hpp"
#include "mvproxy/proxy/settings.hpp"
#include "mvproxy/proxy/upstream.hpp"
#include "mvproxy/tls/provider.hpp"

namespace mvproxy::proxy {

// Where one request goes. `label` is the route in metrics and the access log
// ("local", a peer id, "merged").
struct route_choice {
  std::string label = "local";
  const upstream_target* target = nullptr;  // null: the local apiserver
};

// The one routing call site: given the request head (before any header rewriting)
// and whether the caller is a trusted peer. Called on the worker thread.
using router = std::function<route_choice(const boost::beast::http::request_header<>& head,
                                          bool from_trusted_peer)>;

struct server_options {
  boost::asio::ip::tcp::endpoint listen;
  unsigned workers = 1;
  limits lim;
  upstream_target local;
  router route;  // empty: everything goes to the local apiserver
};

class server {
 public:
  // Binds and listens now; throws boost::system::system_error on failure.
  server(server_options options, tls::provider& tls, metrics::standard_metrics& metrics);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  boost::asio::ip::tcp::endpoint local_endpoint() const;
  void start();  // worker threads begin accepting and serving
  // Stops accepting, closes idle connections, lets requests in flight finish for up
  // to `grace`, then ends the rest (chunked responses get their final chunk), and
  // joins the workers. Blocking; call from a thread that is not a worker.
  void shutdown(std::chrono::milliseconds grace);
  std::size_t open_connections() const;

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace mvproxy::proxy
