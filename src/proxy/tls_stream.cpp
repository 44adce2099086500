#include "mvproxy/proxy/tls_stream.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <sys/socket.h>

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

namespace {

// OpenSSL's socket BIO writes with write(2): a peer that reset the connection would
// raise SIGPIPE in whatever process embeds the proxy. This one is the socket BIO with
// its write done by send(MSG_NOSIGNAL), as Asio does for its own sockets.
int send_nosignal(BIO* b, const char* data, int len) {
  int fd = -1;
  BIO_get_fd(b, &fd);
  errno = 0;
  ssize_t n = ::send(fd, data, static_cast<std::size_t>(len), MSG_NOSIGNAL);
  BIO_clear_retry_flags(b);
  if (n <= 0 && BIO_sock_should_retry(static_cast<int>(n))) BIO_set_retry_write(b);
  return static_cast<int>(n);
}

BIO_METHOD* socket_method() {
  static BIO_METHOD* method = [] {
    const BIO_METHOD* base = BIO_s_socket();
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                                 "socket, send(MSG_NOSIGNAL)");
    if (!m) throw std::bad_alloc();
    BIO_meth_set_write(m, send_nosignal);
    BIO_meth_set_read(m, BIO_meth_get_read(base));
    BIO_meth_set_puts(m, BIO_meth_get_puts(base));
    BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(base));
    BIO_meth_set_create(m, BIO_meth_get_create(base));
    BIO_meth_set_destroy(m, BIO_meth_get_destroy(base));
    return m;
  }();
  return method;
}

}  // namespace

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
    // Safe while a wait is pending: no OpenSSL call is in progress on this thread.
    if (s->buffers_held_ && now - s->last_armed_ >= std::chrono::seconds(1)) s->release_buffers();
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
  BIO* bio = BIO_new(socket_method());
  if (!bio) throw std::bad_alloc();
  BIO_set_fd(bio, static_cast<int>(socket_.native_handle()), BIO_NOCLOSE);
  SSL_set_bio(ssl_, bio, bio);
}

tls_stream::~tls_stream() {
  if (sweeper_) sweeper_->streams_.erase(registration_);
  SSL_free(ssl_);
}

void tls_stream::expires_after(clock::duration d) {
  last_armed_ = clock::now();
  deadline_ = last_armed_ + d;
  timed_out_ = false;
  buffers_held_ = true;
}

void tls_stream::expires_never() {
  last_armed_ = clock::now();
  deadline_ = clock::time_point::max();
  timed_out_ = false;
  buffers_held_ = true;
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
    SSL_shutdown(ssl_);  // queues and tries to send close_notify; never waits
    ERR_clear_error();
  }
  close();
}

error_code tls_stream::failure(int ret) {
  error_code ec = describe(ret);
  ERR_clear_error();
  return ec;
}

error_code tls_stream::describe(int ret) {
  int err = SSL_get_error(ssl_, ret);
  switch (err) {
    case SSL_ERROR_ZERO_RETURN:
      return asio::error::eof;
    case SSL_ERROR_SYSCALL:
      if (errno != 0 && ERR_peek_error() == 0)
        return error_code(errno, boost::system::system_category());
      return asio::ssl::error::stream_truncated;
    case SSL_ERROR_SSL: {
      unsigned long e = ERR_peek_last_error();
      if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        return asio::ssl::error::stream_truncated;
      return error_code(static_cast<int>(e), asio::error::get_ssl_category());
    }
    default:
      return asio::error::fault;
  }
}

asio::awaitable<error_code> tls_stream::wait(asio::socket_base::wait_type w) {
  if (timed_out_) co_return boost::beast::error::timeout;
  auto [ec] = co_await socket_.async_wait(w, use_tuple);
  if (timed_out_) co_return boost::beast::error::timeout;
  co_return ec;
}

asio::awaitable<error_code> tls_stream::wait_readable() {
  // Bytes OpenSSL already holds are readable now: the socket may never say so again.
  if (SSL_has_pending(ssl_) == 1) co_return error_code();
  co_return co_await wait(asio::socket_base::wait_read);
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
  buffers_held_ = true;
  while (r.bytes < size) {
    // The error queue is left empty by every failure path (failure() clears it), so
    // it is not cleared before each call: that costs more than the call on a hot path.
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
    auto ec = failure(ret);
    if (r.bytes == 0) r.ec = ec;
    break;  // an error after some bytes shows again on the next call
  }
  return r;
}

asio::awaitable<std::pair<error_code, std::size_t>> tls_stream::read_some(void* data,
                                                                          std::size_t size) {
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
  buffers_held_ = true;
  while (size > 0) {
    if (timed_out_) co_return boost::beast::error::timeout;
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
