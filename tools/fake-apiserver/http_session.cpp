// One client connection to an instance: TLS handshake, client certificate check,
// then HTTP/1.1 requests until the client or /stop ends it. Watches stream events
// as chunks; exec upgrades to WebSocket or SPDY/3.1.

#include "exec.hpp"
#include "exec_spdy.hpp"
#include "protobuf.hpp"
#include "server.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <deque>

namespace fake_apiserver {
namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr size_t body_limit = 64 * 1024 * 1024;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

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
  connection_handle handle;
  handle.stream = &stream;
  registration reg(*inst, handle);

  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
  auto [hec] = co_await stream.async_handshake(net::ssl::stream_base::server, use_tuple);
  if (hec || handle.closed) co_return;
  client_cert cert = inspect_client_cert(stream.native_handle(), client_ca_, requestheader_ca_);

  beast::flat_buffer buffer;
  while (!handle.closed) {
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(120));
    http::request_parser<http::string_body> parser;
    parser.body_limit(body_limit);
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
    std::string body_error;
    bool body_ok = protobuf_body_to_json(areq.headers, areq.body, body_error);

    request_record record{inst->name,   areq.method, areq.path,    areq.query,  0,
                          areq.headers, cert,        std::nullopt, std::nullopt};
    if (inst->latency_ms > 0) {
      net::steady_timer delay(ioc_, std::chrono::milliseconds(inst->latency_ms));
      handle.wake = &delay;
      co_await delay.async_wait(use_tuple);
      handle.wake = nullptr;
      if (handle.closed) break;
    }

    std::optional<user_info> user = authenticate(auth_, cert, areq.headers);
    record.user = user;
    api_result result;
    if (inst->fail_code != 0) {
      result.resp = injected_failure(inst->fail_code);
    } else if (!user && offered_credentials(cert, areq.headers)) {
      result.resp = status_response(401, "Unauthorized", "Unauthorized");
    } else if (!user && !is_public_info_path(areq.path) &&
               !classify(areq.method, areq.path, parse_query(areq.query)).is_resource) {
      // Resource requests are refused by the API handler, which names the resource.
      result.resp = status_response(403, "Forbidden",
                                    "forbidden: User \"system:anonymous\" cannot " +
                                        lower(areq.method) + " path \"" + areq.path + "\"");
    } else if (!body_ok) {
      result.resp = status_response(400, "BadRequest", body_error);
    } else {
      areq.user = user ? *user : anonymous_user();
      impersonation imp = impersonate(auth_, areq.user, areq.headers);
      if (imp.code == 400) {
        result.resp = status_response(400, "BadRequest", imp.message);
      } else if (imp.code == 403) {
        result.resp = status_response(403, "Forbidden", imp.message, {{"kind", "users"}});
      } else {
        if (imp.user) areq.user = *imp.user;
        record.impersonated = imp.user;
        result = api_.handle(*inst->profile, areq);
      }
    }

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
  handle.wake = &wake;
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
    connection_handle& handle;
    ~unsubscribe() {
      store.unsubscribe(id);
      handle.wake = nullptr;
    }
  } guard{store_, id, handle};
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
