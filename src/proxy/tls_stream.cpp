#include "mvproxy/proxy/tls_stream.hpp"

#include <openssl/err.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <climits>
#include <cstring>
#include <new>
#include <vector>

namespace mvproxy::proxy {

namespace asio = boost::asio;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

deadline_sweeper::deadline_sweeper(asio::io_context& ioc, clock::duration interval)
    : ioc_(ioc), interval_(interval), timer_(ioc) {}

void deadline_sweeper::start() { asio::co_spawn(ioc_, loop(), asio::detached); }

void deadline_sweeper::stop() {
  stopped_ = true;
  timer_.cancel();
}

asio::awaitable<void> deadline_sweeper::loop() {
  while (!stopped_) {
    timer_.expires_after(interval_);
    co_await timer_.async_wait(use_tuple);
    if (stopped_) break;
    sweep(clock::now());
  }
}

void deadline_sweeper::sweep(clock::time_point now) {
  for (tls_stream* s : streams_) {
    if (s->deadline_ <= now && !s->timed_out_) {
      s->timed_out_ = true;
      s->cancel();
    }
  }
}

tls_stream::tls_stream(asio::ip::tcp::socket socket, SSL_CTX* ctx, deadline_sweeper* sweeper)
    : socket_(std::move(socket)), ssl_(SSL_new(ctx)), sweeper_(sweeper) {
  if (!ssl_) throw std::bad_alloc();
  // Partial writes and a moving buffer let write() continue from its own copy after a
  // wait; released buffers are what keeps an idle connection small; read-ahead lets
  // one recv() take several records.
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                         SSL_MODE_RELEASE_BUFFERS);
  SSL_set_read_ahead(ssl_, 1);
  if (socket_.is_open()) attach_socket();
  if (sweeper_) registration_ = sweeper_->streams_.insert(sweeper_->streams_.end(), this);
}

void tls_stream::attach_socket() {
  socket_.non_blocking(true);
  SSL_set_fd(ssl_, static_cast<int>(socket_.native_handle()));
}

tls_stream::~tls_stream() {
  if (sweeper_) sweeper_->streams_.erase(registration_);
  SSL_free(ssl_);
}

void tls_stream::expires_after(clock::duration d) {
  deadline_ = clock::now() + d;
  timed_out_ = false;
}

void tls_stream::expires_never() {
  deadline_ = clock::time_point::max();
  timed_out_ = false;
}

void tls_stream::cancel() {
  error_code ignored;
  socket_.cancel(ignored);
}

void tls_stream::close() {
  error_code ignored;
  socket_.close(ignored);
}

void tls_stream::shutdown_and_close() {
  if (socket_.is_open() && SSL_is_init_finished(ssl_)) {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // queues and tries to send close_notify; never waits
  }
  close();
}

error_code tls_stream::failure(int ret) {
  int err = SSL_get_error(ssl_, ret);
  switch (err) {
    case SSL_ERROR_ZERO_RETURN: return asio::error::eof;
    case SSL_ERROR_SYSCALL:
      if (errno != 0 && ERR_peek_error() == 0) return error_code(errno, boost::system::system_category());
      return asio::ssl::error::stream_truncated;
    case SSL_ERROR_SSL: {
      unsigned long e = ERR_peek_last_error();
      if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) return asio::ssl::error::stream_truncated;
      return error_code(static_cast<int>(e), asio::error::get_ssl_category());
    }
    default: return asio::error::fault;
  }
}

asio::awaitable<error_code> tls_stream::wait(asio::socket_base::wait_type w) {
  if (timed_out_) co_return boost::beast::error::timeout;
  release_buffers();
  auto [ec] = co_await socket_.async_wait(w, use_tuple);
  if (timed_out_) co_return boost::beast::error::timeout;
  co_return ec;
}

asio::awaitable<error_code> tls_stream::wait_readable() {
  return wait(asio::socket_base::wait_read);
}

asio::awaitable<error_code> tls_stream::handshake(bool server) {
  if (server)
    SSL_set_accept_state(ssl_);
  else
    SSL_set_connect_state(ssl_);
  for (;;) {
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(ssl_);
    if (r == 1) co_return error_code();
    int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      auto ec = co_await wait(err == SSL_ERROR_WANT_READ ? asio::socket_base::wait_read
                                                          : asio::socket_base::wait_write);
      if (ec) co_return ec;
      continue;
    }
    co_return failure(r);
  }
}

tls_stream::read_result tls_stream::try_read(void* data, std::size_t size) {
  read_result r;
  if (timed_out_) {
    r.ec = boost::beast::error::timeout;
    return r;
  }
  auto* p = static_cast<char*>(data);
  while (r.bytes < size) {
    ERR_clear_error();
    errno = 0;
    std::size_t n = 0;
    int ret = SSL_read_ex(ssl_, p + r.bytes, size - r.bytes, &n);
    if (ret == 1) {
      r.bytes += n;
      // More only when OpenSSL already holds it: another recv() would likely say EAGAIN.
      if (SSL_has_pending(ssl_) == 0) break;
      continue;
    }
    int err = SSL_get_error(ssl_, ret);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      r.would_block = r.bytes == 0;
      break;
    }
    if (r.bytes == 0) r.ec = failure(ret);
    break;  // an error after some bytes shows on the next call
  }
  return r;
}

asio::awaitable<std::pair<error_code, std::size_t>> tls_stream::read_some(void* data, std::size_t size) {
  for (;;) {
    auto r = try_read(data, size);
    if (!r.would_block) co_return std::pair{r.ec, r.bytes};
    auto ec = co_await wait(asio::socket_base::wait_read);
    if (ec) co_return std::pair{ec, std::size_t{0}};
  }
}

asio::awaitable<error_code> tls_stream::write(const void* data, std::size_t size) {
  auto* p = static_cast<const char*>(data);
  std::vector<char> own;  // the rest, once we must wait: the caller's bytes may be reused
  while (size > 0) {
    if (timed_out_) co_return boost::beast::error::timeout;
    ERR_clear_error();
    errno = 0;
    std::size_t n = 0;
    int ret = SSL_write_ex(ssl_, p, size, &n);
    if (ret == 1) {
      p += n;
      size -= n;
      continue;
    }
    int err = SSL_get_error(ssl_, ret);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) co_return failure(ret);
    if (own.empty()) {
      own.assign(p, p + size);
      p = own.data();
    }
    auto ec = co_await wait(err == SSL_ERROR_WANT_READ ? asio::socket_base::wait_read
                                                        : asio::socket_base::wait_write);
    if (ec) co_return ec;
  }
  co_return error_code();
}

}  // namespace mvproxy::proxy
