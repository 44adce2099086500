// One HTTP/2 stream's request: dispatched as any request is, then answered with a
// HEADERS frame and the body in DATA frames. A watch answers its head at once and then
// sends a DATA frame per event as it happens, until it times out, the client resets
// the stream or the connection ends.

#include "http2_session.hpp"

#include <cstdio>

namespace fake_apiserver {
namespace {

// Fields HTTP/2 forbids in a message (RFC 9113 §8.2.2).
bool connection_specific(const std::string& name) {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
         name == "transfer-encoding" || name == "upgrade";
}

// Sets a field, replacing an earlier one of the same name (as Beast's set() does).
void set_field(header_list& fields, const std::string& name, const std::string& value) {
  for (auto it = fields.begin(); it != fields.end();)
    it = it->first == name ? fields.erase(it) : it + 1;
  fields.emplace_back(name, value);
}

}  // namespace

void http2_connection::request_complete(const stream_ptr& s) {
  ++running_;
  // Posted: co_spawn would start the work right here, inside nghttp2's parse.
  net::post(srv_->ioc_, [self = shared_from_this(), s] {
    net::co_spawn(self->srv_->ioc_, self->serve_stream(s), net::detached);
  });
}

net::awaitable<void> http2_connection::serve_stream(stream_ptr s) {
  auto self = shared_from_this();
  struct done {
    http2_connection& c;
    ~done() {
      --c.running_;
      c.idle_.cancel();
    }
  } guard{*this};
  try {
    co_await serve_request(s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fake-apiserver: HTTP/2 stream %d failed: %s\n", s->id, e.what());
    if (!s->closed) {
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
      want_write();
    }
  }
}

net::awaitable<void> http2_connection::serve_request(const stream_ptr& s) {
  api_request& areq = s->req;
  if (s->too_large) {
    request_record record{inst_->name,  areq.method,  areq.path,  areq.query,
                          413,          areq.headers, conn_.cert, std::nullopt,
                          std::nullopt, conn_.proto,  conn_.id};
    srv_->log_.write(record);
    respond(
        *s,
        status_response(413, "RequestEntityTooLarge",
                        "Request entity too large: limit is " + std::to_string(request_body_limit)),
        false);
    co_return;
  }
  dispatched d = co_await srv_->dispatch(inst_, conn_, areq, *handle_);
  if (d.cut) co_return;
  if (d.result.watch) {
    d.record.status = 200;
    srv_->log_.write(d.record);
    co_await serve_watch(s, std::move(*d.result.watch));
    co_return;
  }
  // Upgrades (exec over WebSocket or SPDY) are HTTP/1.1's: clients open an HTTP/1.1
  // connection for them, and an exec arriving on HTTP/2 is refused as kube-apiserver
  // refuses a request that is not an upgrade.
  if (d.result.exec) d.result.resp = status_response(400, "BadRequest", "Upgrade request required");
  d.record.status = d.result.resp.status;
  srv_->log_.write(d.record);
  respond(*s, d.result.resp, areq.method == "HEAD");
}

void http2_connection::respond(stream_state& s, const response& r, bool head) {
  if (s.closed) return;
  header_list fields;
  if (!r.content_type.empty()) fields.emplace_back("content-type", r.content_type);
  fields.emplace_back("audit-id", random_uid());
  fields.emplace_back("cache-control", "no-cache, private");
  for (const auto& [name, value] : r.headers) set_field(fields, lower(name), value);
  const bool bodiless_status = r.status < 200 || r.status == 204 || r.status == 304;
  if (!bodiless_status) set_field(fields, "content-length", std::to_string(r.body.size()));
  const bool with_body = !head && !bodiless_status && !r.body.empty();
  if (with_body) {
    s.out.push_back(r.body);
    s.out_end = true;
  }
  submit_head(s, r.status, fields, with_body);
}

void http2_connection::submit_head(stream_state& s, int status, const header_list& fields,
                                   bool with_body) {
  static const std::string status_name = ":status";
  const std::string code = std::to_string(status);
  std::vector<nghttp2_nv> nva;
  auto add = [&nva](const std::string& name, const std::string& value) {
    // nghttp2 copies names and values (no NO_COPY flags).
    nva.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                   reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                   value.size(), NGHTTP2_NV_FLAG_NONE});
  };
  add(status_name, code);
  for (const auto& [name, value] : fields)
    if (!connection_specific(name)) add(name, value);
  nghttp2_data_provider provider{};
  provider.source.ptr = &s;
  provider.read_callback = read_body;
  nghttp2_submit_response(session_, s.id, nva.data(), nva.size(), with_body ? &provider : nullptr);
  want_write();
}

void http2_connection::send(stream_state& s, std::string piece, bool end) {
  if (s.closed) return;
  if (!piece.empty()) s.out.push_back(std::move(piece));
  if (end) s.out_end = true;
  nghttp2_session_resume_data(session_, s.id);  // fails harmlessly when not deferred
  want_write();
}

net::awaitable<void> http2_connection::serve_watch(stream_ptr s, watch_plan plan) {
  net::steady_timer wake(srv_->ioc_);
  wake_on_cut registered(*handle_, wake);
  s->wake = &wake;
  // Subscribed before anything is sent, so no event after the handler's history
  // snapshot is missed.
  stream_state* sp = s.get();
  uint64_t id = srv_->store_.subscribe([this, sp, &plan](const watch_event& ev) {
    if (ev.resource_version <= plan.since) return;
    if (auto line = render_watch_event(plan, ev)) send(*sp, std::move(*line), false);
  });
  struct unsubscribe {
    object_store& store;
    uint64_t id;
    stream_state& s;
    ~unsubscribe() {
      store.unsubscribe(id);
      s.wake = nullptr;
    }
  } guard{srv_->store_, id, *s};
  for (auto& line : plan.initial_lines) s->out.push_back(std::move(line));
  header_list fields{{"content-type", "application/json"},
                     {"cache-control", "no-cache, private"},
                     {"audit-id", random_uid()}};
  submit_head(*s, 200, fields, true);

  auto deadline = std::chrono::steady_clock::now() + plan.timeout;
  const auto bookmark_every = std::chrono::seconds(60);
  auto next_bookmark = std::chrono::steady_clock::now() + bookmark_every;
  while (!s->closed && !handle_->closed) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      send(*s, "", true);  // the watch timed out: END_STREAM
      break;
    }
    if (plan.bookmarks && now >= next_bookmark) {
      send(*s, render_bookmark(plan, srv_->store_.resource_version()), false);
      next_bookmark = now + bookmark_every;
      continue;
    }
    wake.expires_at(plan.bookmarks ? std::min(deadline, next_bookmark) : deadline);
    co_await wake.async_wait(use_tuple);
  }
}

}  // namespace fake_apiserver
