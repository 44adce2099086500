#include "mvproxy/admin/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <list>

namespace mvproxy::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct server::state : std::enable_shared_from_this<server::state> {
  state(asio::io_context& ioc, const tcp::endpoint& at, const endpoints& h)
      : acceptor(ioc, at), handlers(h) {}
  tcp::acceptor acceptor;
  const endpoints& handlers;
  std::list<beast::tcp_stream*> open;  // for stop(); only touched on the io_context
  bool stopped = false;

  asio::awaitable<void> serve(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    auto self = shared_from_this();
    auto it = open.insert(open.end(), &stream);
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::empty_body> req;
      stream.expires_after(std::chrono::seconds(30));
      auto [ec, n] = co_await http::async_read(stream, buffer, req, use_tuple);
      if (ec) break;
      response r = handlers.handle(req.method_string(), req.target());
      http::response<http::string_body> res{static_cast<http::status>(r.status), req.version()};
      res.set(http::field::content_type, r.content_type);
      res.set(http::field::cache_control, "no-cache, private");
      res.body() = std::move(r.body);
      res.keep_alive(req.keep_alive() && !stopped);
      res.prepare_payload();
      if (req.method() == http::verb::head) res.body().clear();
      auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
      if (wec || !res.keep_alive()) break;
    }
    open.erase(it);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }

  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    while (!stopped) {
      auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
      if (ec) {
        if (stopped || ec == asio::error::operation_aborted) break;
        continue;
      }
      asio::co_spawn(acceptor.get_executor(), serve(std::move(socket)), asio::detached);
    }
  }
};

server::server(asio::io_context& ioc, const tcp::endpoint& at, const endpoints& handlers)
    : state_(std::make_shared<state>(ioc, at, handlers)) {}

tcp::endpoint server::local_endpoint() const { return state_->acceptor.local_endpoint(); }

void server::start() {
  asio::co_spawn(state_->acceptor.get_executor(), state_->accept_loop(), asio::detached);
}

void server::stop() {
  asio::post(state_->acceptor.get_executor(), [s = state_] {
    s->stopped = true;
    beast::error_code ignored;
    s->acceptor.close(ignored);
    for (auto* stream : s->open) stream->socket().close(ignored);
  });
}

}  // namespace mvproxy::admin
