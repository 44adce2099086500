#include "mvproxy/control/https_client.hpp"

#include <openssl/x509v3.h>

#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace mvproxy::control {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

std::shared_ptr<ssl::context> make_client_tls_context(const tls_client_files& f) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::no_sslv2 | ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                   ssl::context::no_tlsv1_1);
  if (!f.ca_file.empty())
    ctx->load_verify_file(f.ca_file);
  else if (!f.ca_pem.empty())
    ctx->add_certificate_authority(asio::buffer(f.ca_pem));
  else
    ctx->set_default_verify_paths();
  if (!f.cert_file.empty()) {
    ctx->use_certificate_chain_file(f.cert_file);
    ctx->use_private_key_file(f.key_file, ssl::context::pem);
  } else if (!f.cert_pem.empty()) {
    ctx->use_certificate_chain(asio::buffer(f.cert_pem));
    ctx->use_private_key(asio::buffer(f.key_pem), ssl::context::pem);
  }
  ctx->set_verify_mode(ssl::verify_peer);
  return ctx;
}

std::string http_response::header(std::string_view name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string{} : std::string(it->value());
}

struct https_client::connection {
  explicit connection(asio::any_io_executor ex, std::shared_ptr<ssl::context> c)
      : ctx(std::move(c)), stream(ex, *ctx) {}
  std::shared_ptr<ssl::context> ctx;  // must outlive the stream
  beast::ssl_stream<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
};

https_client::https_client(asio::any_io_executor ex, options o)
    : ex_(std::move(ex)), opts_(std::move(o)) {}

https_client::~https_client() = default;

void https_client::reset() { conn_.reset(); }

void https_client::wake() {
  if (watch_timer_) watch_timer_->cancel();
}

asio::awaitable<https_client::watch_end> https_client::watch_connection(
    std::chrono::milliseconds max) {
  auto timer = std::make_shared<asio::steady_timer>(ex_);
  watch_timer_ = timer;
  timer->expires_after(max);
  // Bytes the last response left unread would make the socket look readable.
  if (conn_ && conn_->buffer.size() > 0) conn_.reset();
  if (!conn_) {
    // Nothing to watch (the server ended the last exchange with Connection: close).
    auto [ec] = co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    co_return ec ? watch_end::woken : watch_end::timeout;
  }
  auto& sock = beast::get_lowest_layer(conn_->stream).socket();
  using namespace asio::experimental::awaitable_operators;
  auto r = co_await (sock.async_wait(tcp::socket::wait_read, asio::as_tuple(asio::use_awaitable)) ||
                     timer->async_wait(asio::as_tuple(asio::use_awaitable)));
  if (watch_timer_ == timer) watch_timer_.reset();
  if (r.index() == 0) {
    conn_.reset();
    co_return watch_end::closed;
  }
  auto [ec] = std::get<1>(r);
  co_return ec ? watch_end::woken : watch_end::timeout;
}

asio::awaitable<std::unique_ptr<https_client::connection>> https_client::connect() {
  auto c = std::make_unique<connection>(ex_, opts_.tls());
  tcp::resolver resolver(ex_);
  auto results =
      co_await resolver.async_resolve(opts_.host, std::to_string(opts_.port), asio::use_awaitable);
  auto& tcp_layer = beast::get_lowest_layer(c->stream);
  tcp_layer.expires_after(opts_.timeout);
  co_await tcp_layer.async_connect(results, asio::use_awaitable);
  const std::string& name = opts_.verify_name.empty() ? opts_.host : opts_.verify_name;
  // SNI only for DNS names (RFC 6066 forbids IP literals there).
  boost::system::error_code ec;
  asio::ip::make_address(name, ec);
  if (ec) SSL_set_tlsext_host_name(c->stream.native_handle(), name.c_str());
  c->stream.set_verify_callback(ssl::host_name_verification(name));
  co_await c->stream.async_handshake(ssl::stream_base::client, asio::use_awaitable);
  co_return c;
}

namespace {

http::request<http::string_body> make_message(
    const http_request& r, const std::string& host,
    const std::vector<std::pair<std::string, std::string>>& defaults) {
  http::request<http::string_body> req{r.method, r.target, 11};
  req.set(http::field::host, host);
  req.set(http::field::user_agent, "mvproxy/" MVPROXY_VERSION);
  for (auto& [k, v] : defaults) req.insert(k, v);
  for (auto& [k, v] : r.headers) req.set(k, v);
  if (!r.body.empty()) {
    req.set(http::field::content_type,
            r.content_type.empty() ? "application/json" : r.content_type);
    req.body() = r.body;
  }
  req.prepare_payload();
  return req;
}

}  // namespace

asio::awaitable<http_response> https_client::request(http_request r) {
  auto req = make_message(r, opts_.host, opts_.default_headers);
  // A kept-alive connection may have been closed by the server meanwhile: one retry
  // on a fresh connection, only when the reused one failed.
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool reused = conn_ != nullptr;
    if (!conn_) conn_ = co_await connect();
    auto& tcp_layer = beast::get_lowest_layer(conn_->stream);
    tcp_layer.expires_after(opts_.timeout);
    auto [wec, wn] =
        co_await http::async_write(conn_->stream, req, asio::as_tuple(asio::use_awaitable));
    (void)wn;
    if (wec) {
      conn_.reset();
      if (reused) continue;
      throw boost::system::system_error(wec, "write");
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    auto [rec, rn] = co_await http::async_read(conn_->stream, conn_->buffer, parser,
                                               asio::as_tuple(asio::use_awaitable));
    (void)rn;
    if (rec) {
      conn_.reset();
      if (reused &&
          (rec == http::error::end_of_stream || rec == asio::error::eof ||
           rec == asio::error::connection_reset || rec == asio::ssl::error::stream_truncated))
        continue;
      throw boost::system::system_error(rec, "read");
    }
    auto msg = parser.release();
    http_response out;
    out.status = msg.result_int();
    out.body = std::move(msg.body());
    bool keep = msg.keep_alive();
    msg.body().clear();
    out.headers = std::move(msg.base());
    if (!keep) conn_.reset();
    co_return out;
  }
  throw std::runtime_error("connection closed by " + opts_.host);
}

asio::awaitable<unsigned> https_client::stream_lines(
    http_request r, std::function<void(const http_response&)> on_head,
    std::function<void(std::string_view)> on_line, std::chrono::milliseconds idle_timeout) {
  auto conn = co_await connect();
  auto req = make_message(r, opts_.host, opts_.default_headers);
  auto& tcp_layer = beast::get_lowest_layer(conn->stream);
  tcp_layer.expires_after(opts_.timeout);
  co_await http::async_write(conn->stream, req, asio::use_awaitable);

  http::response_parser<http::string_body> parser;
  parser.body_limit(boost::none);
  co_await http::async_read_header(conn->stream, conn->buffer, parser, asio::use_awaitable);
  http_response head;
  head.status = parser.get().result_int();
  head.headers = parser.get().base();
  on_head(head);

  std::string pending;
  auto emit = [&](std::string_view data) {
    pending.append(data);
    std::size_t start = 0;
    for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n', start)) {
      on_line(std::string_view(pending).substr(start, nl - start));
      start = nl + 1;
    }
    pending.erase(0, start);
  };
  auto on_chunk = [&](std::uint64_t, std::string_view body, boost::system::error_code& ec) {
    emit(body);
    ec = {};
    return body.size();
  };
  parser.on_chunk_body(on_chunk);
  while (!parser.is_done()) {
    tcp_layer.expires_after(idle_timeout);
    auto [ec, n] = co_await http::async_read_some(conn->stream, conn->buffer, parser,
                                                  asio::as_tuple(asio::use_awaitable));
    (void)n;
    if (ec) throw boost::system::system_error(ec, "watch read");
    if (!parser.chunked()) {
      // Content-Length bodies (an error Status) land in the string body.
      emit(parser.get().body());
      parser.get().body().clear();
    }
  }
  if (!pending.empty()) on_line(pending);
  co_return head.status;
}

}  // namespace mvproxy::control
