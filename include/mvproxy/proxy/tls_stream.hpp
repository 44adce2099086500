#pragma once
// A TLS connection driven straight through OpenSSL on a non-blocking socket: OpenSSL
// reads and writes the socket itself (read-ahead on), and only the waits go through
// the reactor. Unlike asio::ssl::stream it keeps no buffers of its own — an idle
// connection holds just OpenSSL's state, whose record buffers are released while
// empty (SSL_MODE_RELEASE_BUFFERS) — and every record costs one system call.
//
// Data handed to write() may live in a buffer shared by the whole worker (see
// worker::scratch): write() copies what is left into the stream only when it has to
// wait for the socket. Deadlines are a time point per stream, checked by the worker's
// deadline_sweeper, so arming one is a store, not a timer operation.

#include <openssl/ssl.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <string>
#include <utility>

#include "mvproxy/proxy/byte_stream.hpp"

namespace mvproxy::proxy {

class tls_stream;

// The deadlines of one worker's streams, checked every `interval` on the worker's
// io_context. An expired stream has its waits cancelled and reports
// boost::beast::error::timeout until it is given a new deadline. A stream that has
// not been used for a second also gives its OpenSSL record buffers back: a keep-alive
// connection between requests, or a pooled one, then holds no buffer, while a busy one
// keeps its buffers instead of freeing and allocating them around every request.
class deadline_sweeper {
 public:
  deadline_sweeper(boost::asio::io_context& ioc, clock::duration interval);
  deadline_sweeper(const deadline_sweeper&) = delete;
  deadline_sweeper& operator=(const deadline_sweeper&) = delete;
  void start();  // from any thread, before or while the io_context runs
  void stop();   // on the worker thread

 private:
  friend class tls_stream;
  boost::asio::awaitable<void> loop();
  void sweep(clock::time_point now);

  boost::asio::io_context& ioc_;
  clock::duration interval_;
  boost::asio::steady_timer timer_;
  std::list<tls_stream*> streams_;
  bool stopped_ = false;
};

class tls_stream final : public byte_stream {
 public:
  // Server side: an accepted socket. Client side: an unconnected one (connect it
  // through socket(), then handshake). The SSL_CTX must outlive the stream.
  tls_stream(boost::asio::ip::tcp::socket socket, SSL_CTX* ctx, deadline_sweeper* sweeper);
  ~tls_stream() override;
  tls_stream(const tls_stream&) = delete;
  tls_stream& operator=(const tls_stream&) = delete;

  boost::asio::ip::tcp::socket& socket() { return socket_; }
  // Client side: the socket given unconnected has been connected; hand it to OpenSSL.
  void attach_socket();
  SSL* native_handle() { return ssl_; }

  void expires_after(clock::duration d) override;
  void expires_never() override;
  bool timed_out() const override { return timed_out_; }

  boost::asio::awaitable<error_code> handshake(bool server);

  // Bytes possibly from several records; errors: eof for close_notify,
  // ssl::error::stream_truncated for a close without it.
  read_result try_read(void* data, std::size_t size) override;
  boost::asio::awaitable<std::pair<error_code, std::size_t>> read_some(void* data,
                                                                       std::size_t size) override;
  boost::asio::awaitable<error_code> write(const void* data, std::size_t size) override;
  boost::asio::awaitable<error_code> wait_readable() override;

  // Sends close_notify without waiting for the peer's, then closes the socket.
  void shutdown_and_close();
  void cancel() override;
  void close();
  // Gives OpenSSL's record buffers back while nothing is in them (before a wait that
  // is likely long, such as a watch's: an idle connection then holds no buffer).
  void release_buffers() override {
    if (SSL_free_buffers(ssl_) == 1) buffers_held_ = false;
  }
  // No decrypted or undecrypted bytes wait inside OpenSSL.
  bool input_drained() const override { return SSL_has_pending(ssl_) == 0; }

 private:
  friend class deadline_sweeper;
  // After an SSL call that did not succeed or want I/O; leaves the error queue empty.
  error_code failure(int ret);
  error_code describe(int ret);
  boost::asio::awaitable<error_code> wait(boost::asio::socket_base::wait_type w);

  boost::asio::ip::tcp::socket socket_;
  SSL* ssl_;
  deadline_sweeper* sweeper_;
  std::list<tls_stream*>::iterator registration_;
  clock::time_point deadline_ = clock::time_point::max();
  clock::time_point last_armed_ = clock::now();  // when a deadline was last set: last use
  bool timed_out_ = false;
  bool buffers_held_ = true;  // OpenSSL may hold record buffers (cleared on release)
};

}  // namespace mvproxy::proxy
