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

#include "mvproxy/dispatch/planner.hpp"
#include "mvproxy/metrics/standard.hpp"
#include "mvproxy/proxy/settings.hpp"
#include "mvproxy/proxy/upstream.hpp"
#include "mvproxy/tls/provider.hpp"

namespace mvproxy::proxy {

struct server_options {
  boost::asio::ip::tcp::endpoint listen;
  unsigned workers = 1;
  limits lim;
  upstream_target local;
  // `local` reached without our client certificate, for callers with no credential
  // (anonymous there too). Set by the server from `local`, once, not per request.
  upstream_target local_anonymous;
  std::string peer_server_name = "kubernetes.default.svc";  // verified on peers' certificates
  // What to do with each request (outlives the server). Null: everything goes to the
  // local apiserver.
  dispatch::planner* planner = nullptr;
  // The published cluster view, for requests that wait for it to change (a local
  // re-read, a peer's long-poll of our state). Null without a control plane.
  view::cluster_state* cluster = nullptr;
  // Tells the control plane that the local apiserver looks gone (refused, reset, a
  // pooled connection it closed) or that a request waits for it: probe it now.
  // Called on worker threads; must not block.
  std::function<void()> local_trouble;
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
