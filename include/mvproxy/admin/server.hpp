#pragma once
// The admin listener: plain HTTP/1.1 on --admin-address, answering from `endpoints`.
// Runs on the io_context it is given (the app gives it its own thread).

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>

#include "mvproxy/admin/endpoints.hpp"

namespace mvproxy::admin {

class server {
 public:
  // Binds and listens now (throws boost::system::system_error on failure).
  server(boost::asio::io_context& ioc, const boost::asio::ip::tcp::endpoint& at,
         const endpoints& handlers);
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  void start();
  void stop();  // closes the acceptor and every open admin connection

 private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace mvproxy::admin
