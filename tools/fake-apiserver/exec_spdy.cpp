// kubectl exec over SPDY/3.1, after kubelet's remotecommand server
// (pkg/kubelet/cri/streaming/remotecommand/httpstream.go): the client opens one
// stream per channel with SYN_STREAM, header streamtype =
// error|stdin|stdout|stderr| resize; each is accepted with an empty SYN_REPLY.
// Once the expected set is open the command runs: output as DATA on
// stdout/stderr, the result on the error stream (v4: a JSON Status; v2/v3: the
// message text, nothing on success), then FIN on every stream and a GOAWAY,
// which is what ends the client's reads.

#include "exec_spdy.hpp"

#include "exec.hpp"
#include "spdy.hpp"

#include <map>

namespace fake_apiserver {
namespace {

// kubelet's default streamCreationTimeout: how long the client has to open its
// streams.
constexpr auto stream_creation_timeout = std::chrono::seconds(30);
// After the GOAWAY, how long the client may take to hang up before we do.
constexpr auto linger_timeout = std::chrono::seconds(5);
constexpr size_t data_chunk = 32 * 1024;

// Frames are built into named locals before a co_await, never as braced temporaries
// in its argument list: GCC 12 destroys those twice (a double free in the session).
spdy::frame control_frame(spdy::frame_type type, uint32_t stream_id, uint32_t value) {
  spdy::frame f;
  f.type = type;
  f.stream_id = stream_id;
  f.value = value;
  return f;
}

class spdy_exec {
 public:
  spdy_exec(tls_stream& stream, std::string pending, std::string protocol, const exec_plan& plan,
            const std::string& pod_name)
      : stream_(stream),
        inbox_(std::move(pending)),
        protocol_(std::move(protocol)),
        plan_(plan),
        pod_name_(pod_name) {}

  net::awaitable<void> run();

 private:
  net::awaitable<std::optional<spdy::frame>> next_frame();
  net::awaitable<bool> send(const spdy::frame& f);
  net::awaitable<bool> send_data(std::string_view type, std::string_view data, bool fin);
  net::awaitable<bool> protocol_error();
  net::awaitable<bool> handle(const spdy::frame& f);
  net::awaitable<bool> accept_stream(const spdy::frame& f);
  net::awaitable<bool> pump_stdin();
  net::awaitable<void> finish(int exit_code);
  bool streams_ready() const;
  std::string error_stream_message(int exit_code) const;

  tls_stream& stream_;
  std::string inbox_;
  std::string protocol_;
  const exec_plan& plan_;
  const std::string& pod_name_;
  spdy::header_compressor deflate_;
  spdy::header_decompressor inflate_;
  std::map<std::string, uint32_t, std::less<>> streams_;  // streamtype → the client's stream id
  std::string stdin_;                                     // stdin DATA not yet consumed
  bool stdin_closed_ = false;
  bool gone_ = false;  // the client sent GOAWAY or broke the protocol
};

net::awaitable<std::optional<spdy::frame>> spdy_exec::next_frame() {
  while (!gone_) {
    auto r = spdy::parse_frame(inbox_);
    if (r.st == spdy::parse_result::status::ok) {
      inbox_.erase(0, r.consumed);
      co_return std::move(r.f);
    }
    if (r.st == spdy::parse_result::status::error) {
      co_await protocol_error();
      break;
    }
    char buf[16 * 1024];
    auto [ec, n] = co_await stream_.async_read_some(net::buffer(buf), use_tuple);
    if (ec) break;
    inbox_.append(buf, n);
  }
  co_return std::nullopt;
}

// The client broke the protocol: say so with a GOAWAY and stop reading.
net::awaitable<bool> spdy_exec::protocol_error() {
  gone_ = true;
  spdy::frame goaway = control_frame(spdy::frame_type::goaway, 0, spdy::goaway_protocol_error);
  co_await send(goaway);
  co_return false;
}

net::awaitable<bool> spdy_exec::send(const spdy::frame& f) {
  std::string bytes = spdy::serialize(f);
  auto [ec, n] = co_await net::async_write(stream_, net::buffer(bytes), use_tuple);
  co_return !ec;
}

// DATA on the stream the client opened as `type`; nothing when it did not open
// one.
net::awaitable<bool> spdy_exec::send_data(std::string_view type, std::string_view data, bool fin) {
  auto it = streams_.find(type);
  if (it == streams_.end()) co_return true;
  do {
    std::string_view chunk = data.substr(0, data_chunk);
    data.remove_prefix(chunk.size());
    spdy::frame f = control_frame(spdy::frame_type::data, it->second, 0);
    f.flags = fin && data.empty() ? spdy::flag_fin : 0;
    f.payload = std::string(chunk);
    if (!co_await send(f)) co_return false;
  } while (!data.empty());
  co_return true;
}

// One frame from the client, in any phase; false when the connection should
// end.
net::awaitable<bool> spdy_exec::handle(const spdy::frame& f) {
  using spdy::frame_type;
  switch (f.type) {
    case frame_type::syn_stream:
      co_return co_await accept_stream(f);
    case frame_type::headers:
    case frame_type::syn_reply:
      // Never acted on, but inflated all the same: the zlib stream spans every
      // block.
      if (!inflate_.decompress(f.payload)) break;
      co_return true;
    case frame_type::data:
      if (auto it = streams_.find("stdin"); it != streams_.end() && it->second == f.stream_id) {
        stdin_ += f.payload;
        if (f.flags & spdy::flag_fin) stdin_closed_ = true;
      }
      co_return true;
    case frame_type::rst_stream:
      if (auto it = streams_.find("stdin"); it != streams_.end() && it->second == f.stream_id)
        stdin_closed_ = true;
      co_return true;
    case frame_type::ping:
      // The client pings every 5s; an odd id is its own and is echoed back.
      if (f.value & 1) co_return co_await send(f);
      co_return true;
    case frame_type::goaway:
      gone_ = true;
      co_return false;
    default:  // SETTINGS, WINDOW_UPDATE (spdystream does no flow control), unknown
      co_return true;
  }
  co_return co_await protocol_error();
}

net::awaitable<bool> spdy_exec::accept_stream(const spdy::frame& f) {
  auto headers = inflate_.decompress(f.payload);
  if (!headers) co_return co_await protocol_error();
  std::string type = spdy::header_value(*headers, "streamtype");
  bool known = type == "error" || type == "stdin" || type == "stdout" || type == "stderr" ||
               (type == "resize" && protocol_ != "v2.channel.k8s.io");
  if (!known || streams_.count(type)) {
    // kubelet resets a stream it cannot use and carries on.
    spdy::frame reset =
        control_frame(spdy::frame_type::rst_stream, f.stream_id, spdy::rst_refused_stream);
    co_return co_await send(reset);
  }
  streams_[type] = f.stream_id;
  spdy::frame reply = control_frame(spdy::frame_type::syn_reply, f.stream_id, 0);
  reply.payload = deflate_.compress({});
  co_return co_await send(reply);
}

// The streams kubelet waits for before running anything (httpstream.go
// waitStreamReply): error always, the rest as the query asked; stderr is folded
// into stdout with a TTY; resize (v3+) only with a TTY.
bool spdy_exec::streams_ready() const {
  auto has = [&](const char* t) { return streams_.count(t) != 0; };
  if (!has("error")) return false;
  if (plan_.stdin_requested && !has("stdin")) return false;
  if (plan_.stdout_requested && !has("stdout")) return false;
  if (plan_.stderr_requested && !plan_.tty && !has("stderr")) return false;
  if (plan_.tty && protocol_ != "v2.channel.k8s.io" && !has("resize")) return false;
  return true;
}

// `cat`: stdin is copied to stdout until the client closes stdin (FIN or
// reset).
net::awaitable<bool> spdy_exec::pump_stdin() {
  while (true) {
    if (!stdin_.empty()) {
      std::string chunk = std::exchange(stdin_, {});
      if (plan_.stdout_requested && !co_await send_data("stdout", chunk, false)) co_return false;
    }
    if (stdin_closed_) co_return true;
    auto f = co_await next_frame();
    if (!f || !co_await handle(*f)) co_return false;
  }
}

std::string spdy_exec::error_stream_message(int exit_code) const {
  std::string status = exec_status_json(plan_.command, exit_code);
  if (protocol_ == "v4.channel.k8s.io") return status;
  // v2/v3 carry only a failure's message text (remotecommand
  // v1WriteStatusFunc).
  if (exit_code == 0) return "";
  return json::parse(status).value("message", "");
}

net::awaitable<void> spdy_exec::finish(int exit_code) {
  const std::string message = error_stream_message(exit_code);
  bool ok = co_await send_data("stdout", "", true) && co_await send_data("stderr", "", true) &&
            co_await send_data("error", message, true) && co_await send_data("stdin", "", true) &&
            co_await send_data("resize", "", true);
  uint32_t last = 0;
  for (const auto& [type, id] : streams_) last = std::max(last, id);
  spdy::frame goaway = control_frame(spdy::frame_type::goaway, last, spdy::goaway_ok);
  if (ok) ok = co_await send(goaway);
  // The client hangs up once it has read every stream to its end; until then
  // the frames above may still be in flight, so wait for it (bounded) before
  // closing.
  beast::get_lowest_layer(stream_).expires_after(linger_timeout);
  while (ok) {
    char buf[4096];
    auto [ec, n] = co_await stream_.async_read_some(net::buffer(buf), use_tuple);
    ok = !ec;
  }
}

net::awaitable<void> spdy_exec::run() {
  beast::get_lowest_layer(stream_).expires_after(stream_creation_timeout);
  while (!streams_ready()) {
    auto f = co_await next_frame();
    if (!f || !co_await handle(*f)) co_return;
  }
  beast::get_lowest_layer(stream_).expires_never();

  exec_program program = plan_command(plan_.command, pod_name_);
  if (plan_.stdout_requested && !co_await send_data("stdout", program.stdout_text, false))
    co_return;
  // With a TTY there is no stderr stream: the terminal shows both on stdout.
  const char* err_type = plan_.tty ? "stdout" : "stderr";
  if ((plan_.stderr_requested || plan_.tty) &&
      !co_await send_data(err_type, program.stderr_text, false))
    co_return;
  if (program.echoes_stdin && plan_.stdin_requested && !co_await pump_stdin()) co_return;
  co_await finish(program.exit_code);
}

}  // namespace

spdy_exec_handshake negotiate_spdy_exec(const std::vector<std::string>& offered) {
  static const std::vector<std::string> supported = {"v4.channel.k8s.io", "v3.channel.k8s.io",
                                                     "v2.channel.k8s.io"};
  spdy_exec_handshake h;
  std::vector<std::string> offers;
  for (const auto& line : offered) {
    std::string joined;
    for (char c : line)
      if (c != ' ') joined += c;
    size_t start = 0;
    while (start <= joined.size()) {
      size_t comma = joined.find(',', start);
      std::string one = joined.substr(start, comma == std::string::npos ? comma : comma - start);
      if (!one.empty()) offers.push_back(one);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  if (offers.empty()) {
    h.refusal = status_response(400, "BadRequest",
                                "unable to upgrade: X-Stream-Protocol-Version is required");
    return h;
  }
  for (const auto& o : offers)
    for (const auto& s : supported)
      if (o == s) {
        h.protocol = o;
        return h;
      }
  std::string list;
  for (const auto& o : offers) list += (list.empty() ? "" : " ") + o;
  h.refusal =
      status_response(403, "Forbidden",
                      "unable to upgrade: unable to negotiate protocol: client supports [" + list +
                          "], server accepts [v4.channel.k8s.io v3.channel.k8s.io "
                          "v2.channel.k8s.io]");
  h.refusal.headers.emplace_back("X-Accepted-Stream-Protocol-Versions",
                                 "v4.channel.k8s.io, v3.channel.k8s.io, v2.channel.k8s.io");
  return h;
}

net::awaitable<void> serve_exec_spdy(tls_stream& stream, std::string pending, unsigned http_version,
                                     std::string protocol, const exec_plan& plan,
                                     const std::string& pod_name) {
  http::response<http::empty_body> res{http::status::switching_protocols, http_version};
  res.set(http::field::connection, "Upgrade");
  res.set(http::field::upgrade, "SPDY/3.1");
  res.set("X-Stream-Protocol-Version", protocol);
  auto [ec, n] = co_await http::async_write(stream, res, use_tuple);
  if (ec) co_return;
  spdy_exec session(stream, std::move(pending), std::move(protocol), plan, pod_name);
  co_await session.run();
}

}  // namespace fake_apiserver
