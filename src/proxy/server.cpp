#include "mvproxy/proxy/server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <thread>

#include "mvproxy/proxy/session.hpp"
#include "mvproxy/util/thread_name.hpp"

namespace mvproxy::proxy {

namespace asio = boost::asio;
using asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

std::shared_ptr<spdlog::logger> component(const std::string& name) {
  auto l = spdlog::get(name);
  return l ? l : spdlog::default_logger()->clone(name);
}

asio::awaitable<void> serve(worker& w, tcp::socket socket) {
  // Snapshot of the serving context: a certificate reload affects new connections only.
  session s(w, std::move(socket), w.shared.tls.server());
  co_await s.run();
}

template <class F>
void on_each(std::vector<std::unique_ptr<worker>>& workers, F f) {
  for (auto& w : workers) asio::post(w->ioc, [&w = *w, f] { f(w); });
}

}  // namespace

struct server::impl {
  impl(server_options o, tls::provider& t, metrics::standard_metrics& m)
      : shared{std::move(o), t, m, component("proxy"), component("access")} {
    shared.options.local_anonymous = shared.options.local;
    shared.options.local_anonymous.anonymous = true;
    unsigned n = std::max(1u, shared.options.workers);
    for (unsigned i = 0; i < n; ++i) workers.push_back(std::make_unique<worker>(shared));
    for (auto& w : workers) guards.emplace_back(asio::make_work_guard(w->ioc));
    acceptor.emplace(workers[0]->ioc);
    acceptor->open(shared.options.listen.protocol());
    acceptor->set_option(tcp::acceptor::reuse_address(true));
    acceptor->bind(shared.options.listen);
    acceptor->listen(asio::socket_base::max_listen_connections);
  }

  asio::awaitable<void> accept_loop() {
    std::size_t next = 0;
    asio::steady_timer backoff(workers[0]->ioc);
    for (;;) {
      worker& w = *workers[next++ % workers.size()];
      auto [ec, socket] = co_await acceptor->async_accept(w.ioc, use_tuple);
      if (ec == asio::error::operation_aborted || !acceptor->is_open()) break;
      if (ec) {
        // Out of descriptors and the like: back off instead of spinning.
        shared.log->warn("accept: {}", ec.message());
        backoff.expires_after(std::chrono::milliseconds(100));
        co_await backoff.async_wait(use_tuple);
        continue;
      }
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      asio::co_spawn(w.ioc, serve(w, std::move(socket)),
                     [log = shared.log](const std::exception_ptr& e) {
                       if (!e) return;
                       try {
                         std::rethrow_exception(e);
                       } catch (const std::exception& x) {
                         log->error("connection ended by an exception: {}", x.what());
                       }
                     });
    }
  }

  bool wait_for_sessions(std::chrono::milliseconds within) {
    auto end = std::chrono::steady_clock::now() + within;
    while (shared.live_sessions.load() > 0) {
      if (std::chrono::steady_clock::now() >= end) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }

  shared_state shared;
  std::vector<std::unique_ptr<worker>> workers;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  bool stopped = false;
};

server::server(server_options options, tls::provider& tls, metrics::standard_metrics& metrics)
    : impl_(std::make_unique<impl>(std::move(options), tls, metrics)) {}

server::~server() { shutdown(std::chrono::milliseconds(0)); }

tcp::endpoint server::local_endpoint() const { return impl_->acceptor->local_endpoint(); }

std::size_t server::open_connections() const { return impl_->shared.live_sessions.load(); }

void server::start() {
  asio::co_spawn(impl_->workers[0]->ioc, impl_->accept_loop(), asio::detached);
  for (auto& w : impl_->workers) w->sweeper.start();
  for (std::size_t i = 0; i < impl_->workers.size(); ++i)
    impl_->threads.emplace_back([&ioc = impl_->workers[i]->ioc, i] {
      util::name_this_thread("worker-" + std::to_string(i));
      ioc.run();
    });
}

void server::shutdown(std::chrono::milliseconds grace) {
  auto& m = *impl_;
  if (m.stopped) return;
  m.stopped = true;
  if (m.threads.empty()) return;  // never started
  asio::post(m.workers[0]->ioc, [&m] {
    boost::system::error_code ignored;
    m.acceptor->close(ignored);
  });
  on_each(m.workers, [](worker& w) {
    w.draining = true;
    for (auto* s : w.sessions) s->close_if_idle();
  });
  if (!m.wait_for_sessions(grace)) {
    m.shared.log->info("grace period over, closing {} connections", m.shared.live_sessions.load());
    on_each(m.workers, [](worker& w) {
      for (auto* s : w.sessions) s->terminate();
    });
    m.wait_for_sessions(std::chrono::seconds(5));
  }
  on_each(m.workers, [](worker& w) {
    w.pool.clear();
    w.sweeper.stop();
  });
  m.guards.clear();
  // Whatever still runs after this had its chance.
  if (!m.wait_for_sessions(std::chrono::seconds(2)))
    for (auto& w : m.workers) w->ioc.stop();
  for (auto& t : m.threads) t.join();
}

}  // namespace mvproxy::proxy
