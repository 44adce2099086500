// One client connection to an instance: TLS handshake, client certificate check,
// then HTTP/2 (http2_session.cpp) when ALPN chose h2, else HTTP/1.1 requests until
// the client or /stop ends it. Watches stream events as chunks; exec upgrades to
// WebSocket or SPDY/3.1.

#include "exec.hpp"
#include "exec_spdy.hpp"
#include "http2_session.hpp"
#include "server.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <deque>

namespace fake_apiserver {
namespace {

// Removes the connection from the instance's registry however the session ends.
struct registration {
  instance_state& inst;
  connection_handle& handle;
  registration(instance_state& i, connection_handle& h) : inst(i), handle(h) {
    inst.connections.insert(&handle);
  }
  ~registration() { inst.connections.erase(&handle); }
  registration(const registration&) = delete;
  registration& operator=(const registration&) = delete;
};

}  // namespace

net::awaitable<void> server::session(std::shared_ptr<instance_state> inst, tcp::socket socket) {
  auto self = shared_from_this();
  tls_stream stream(std::move(socket), *inst->tls);
  auto shared_handle = std::make_shared<connection_handle>();
  connection_handle& handle = *shared_handle;
  handle.cut = [&stream] {
    boost::system::error_code ec;
    beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(stream).socket().close(ec);
  };
  registration reg(*inst, handle);

  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
  auto [hec] = co_await stream.async_handshake(net::ssl::stream_base::server, use_tuple);
  if (hec || handle.closed) co_return;
  connection_info conn;
  conn.cert = inspect_client_cert(stream.native_handle(), client_ca_, requestheader_ca_);
  conn.id = ++next_connection_id_;
  if (negotiated_h2(stream.native_handle())) {
    conn.proto = "HTTP/2.0";
    beast::get_lowest_layer(stream).expires_never();
    co_await serve_http2(self, inst, stream, shared_handle, conn);
  } else {
    co_await serve_http1(inst, stream, handle, conn);
  }
  boost::system::error_code ec;
  beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
}

net::awaitable<void> server::serve_http1(std::shared_ptr<instance_state> inst, tls_stream& stream,
                                         connection_handle& handle, connection_info conn) {
  beast::flat_buffer buffer;
  while (!handle.closed) {
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(120));
    http::request_parser<http::string_body> parser;
    parser.body_limit(request_body_limit);
    auto [rec, rn] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (rec || handle.closed) break;
    auto req = parser.release();
    beast::get_lowest_layer(stream).expires_never();

    api_request areq;
    areq.method = std::string(req.method_string());
    std::string target(req.target());
    auto qpos = target.find('?');
    areq.path = target.substr(0, qpos);
    areq.query = qpos == std::string::npos ? "" : target.substr(qpos + 1);
    for (const auto& field : req)
      areq.headers.emplace_back(lower(std::string(field.name_string())),
                                std::string(field.value()));
    areq.body = req.body();
    conn.proto = req.version() == 10 ? "HTTP/1.0" : "HTTP/1.1";
    dispatched d = co_await dispatch(inst, conn, areq, handle);
    if (d.cut) break;
    api_result& result = d.result;
    request_record& record = d.record;

    if (result.watch) {
      record.status = 200;
      log_.write(record);
      co_await serve_watch(stream, req.version(), std::move(*result.watch), handle);
      break;  // a watch ends its connection
    }
    if (result.exec) {
      std::string upgrade = lower(std::string(req[http::field::upgrade]));
      if (upgrade == "websocket" &&
          choose_exec_protocol(req[http::field::sec_websocket_protocol])) {
        record.status = 101;
        log_.write(record);
        co_await serve_exec(stream, req, *result.exec, result.info.name);
        break;
      }
      if (upgrade == "spdy/3.1") {
        // kubectl 1.27-1.29's default: answered like kubelet's remotecommand server.
        std::vector<std::string> offered;
        for (const auto& [name, value] : areq.headers)
          if (name == "x-stream-protocol-version") offered.push_back(value);
        spdy_exec_handshake hs = negotiate_spdy_exec(offered);
        if (hs.protocol) {
          record.status = 101;
          log_.write(record);
          std::string pending = beast::buffers_to_string(buffer.data());  // client frames
          co_await serve_exec_spdy(stream, std::move(pending), req.version(), *hs.protocol,
                                   *result.exec, result.info.name);
          break;
        }
        result.resp = hs.refusal;
      } else if (upgrade == "websocket")
        result.resp = status_response(400, "BadRequest",
                                      "unsupported WebSocket subprotocol: want v5.channel.k8s.io "
                                      "or v4.channel.k8s.io");
      else
        result.resp = status_response(400, "BadRequest", "Upgrade request required");
    }

    const response& r = result.resp;
    record.status = r.status;
    log_.write(record);
    http::response<http::string_body> res{static_cast<http::status>(r.status), req.version()};
    if (!r.content_type.empty()) res.set(http::field::content_type, r.content_type);
    res.set("Audit-Id", random_uid());
    res.set(http::field::cache_control, "no-cache, private");
    for (const auto& [name, value] : r.headers) res.set(name, value);
    res.keep_alive(req.keep_alive());
    if (req.method() != http::verb::head) res.body() = r.body;
    res.prepare_payload();
    if (req.method() == http::verb::head) res.content_length(r.body.size());
    auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
    if (wec || !req.keep_alive()) break;
  }
  boost::system::error_code ec;
  beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
}

net::awaitable<void> server::serve_watch(tls_stream& stream, unsigned http_version, watch_plan plan,
                                         connection_handle& handle) {
  using namespace net::experimental::awaitable_operators;
  // Subscribed before the first suspension (the header write), so no event between
  // the handler's history snapshot and the stream is missed.
  std::deque<std::string> pending(plan.initial_lines.begin(), plan.initial_lines.end());
  net::steady_timer wake(ioc_);
  wake_on_cut registered(handle, wake);
  uint64_t id = store_.subscribe([&](const watch_event& ev) {
    if (ev.resource_version <= plan.since) return;
    if (auto line = render_watch_event(plan, ev)) {
      pending.push_back(std::move(*line));
      wake.cancel();
    }
  });
  struct unsubscribe {
    object_store& store;
    uint64_t id;
    ~unsubscribe() { store.unsubscribe(id); }
  } guard{store_, id};
  http::response<http::empty_body> res{http::status::ok, http_version};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-cache, private");
  res.set("Audit-Id", random_uid());
  res.chunked(true);
  res.keep_alive(false);
  http::response_serializer<http::empty_body> sr{res};
  auto [ec, n] = co_await http::async_write_header(stream, sr, use_tuple);
  if (ec || handle.closed) co_return;
  // Ends when the watch times out, the server stops it, or the client hangs up.
  co_await (watch_events(stream, plan, handle, pending, wake) || wait_for_hangup(stream));
}

net::awaitable<void> server::wait_for_hangup(tls_stream& stream) {
  char byte;
  co_await stream.async_read_some(net::buffer(&byte, 1), use_tuple);
}

net::awaitable<void> server::watch_events(tls_stream& stream, const watch_plan& plan,
                                          connection_handle& handle,
                                          std::deque<std::string>& pending,
                                          net::steady_timer& wake) {
  auto deadline = std::chrono::steady_clock::now() + plan.timeout;
  const auto bookmark_every = std::chrono::seconds(60);
  auto next_bookmark = std::chrono::steady_clock::now() + bookmark_every;
  bool ok = true;
  while (ok && !handle.closed) {
    while (ok && !pending.empty() && !handle.closed) {
      std::string line = std::move(pending.front());
      pending.pop_front();
      auto [wec, wn] =
          co_await net::async_write(stream, http::make_chunk(net::buffer(line)), use_tuple);
      ok = !wec;
    }
    auto now = std::chrono::steady_clock::now();
    if (!ok || handle.closed || now >= deadline) break;
    if (plan.bookmarks && now >= next_bookmark) {
      pending.push_back(render_bookmark(plan, store_.resource_version()));
      next_bookmark = now + bookmark_every;
      continue;
    }
    wake.expires_at(plan.bookmarks ? std::min(deadline, next_bookmark) : deadline);
    co_await wake.async_wait(use_tuple);
    auto cs = co_await net::this_coro::cancellation_state;
    if (cs.cancelled() != net::cancellation_type::none) co_return;
  }
  if (ok && !handle.closed) {
    co_await net::async_write(stream, http::make_chunk_last(), use_tuple);
  }
  // Ends the hang-up wait as well: the connection is done.
  boost::system::error_code ec;
  beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
}

}  // namespace fake_apiserver
