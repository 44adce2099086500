// kubectl exec over WebSocket (v5/v4.channel.k8s.io): each binary message starts
// with its channel byte: 0 stdin, 1 stdout, 2 stderr, 3 error/status, 4 resize,
// 255 close (v5: the client closed that channel, e.g. stdin).

#include "exec.hpp"
#include "server.hpp"

#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

namespace fake_apiserver {
namespace {

namespace websocket = beast::websocket;

std::string frame(unsigned char channel, const std::string& data) {
  std::string f(1, static_cast<char>(channel));
  return f + data;
}

}  // namespace

net::awaitable<void> server::serve_exec(tls_stream& stream,
                                        const http::request<http::string_body>& req,
                                        const exec_plan& plan, const std::string& pod_name) {
  std::string protocol = *choose_exec_protocol(req[http::field::sec_websocket_protocol]);
  beast::get_lowest_layer(stream).expires_never();
  websocket::stream<tls_stream&> ws(stream);
  ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws.set_option(websocket::stream_base::decorator([protocol](websocket::response_type& res) {
    res.set(http::field::sec_websocket_protocol, protocol);
  }));
  ws.binary(true);
  auto [aec] = co_await ws.async_accept(req, use_tuple);
  if (aec) co_return;

  exec_program program = plan_command(plan.command, pod_name);
  // With a TTY there is no separate stderr stream.
  const unsigned char err_channel = plan.tty ? 1 : 2;
  auto send = [&](unsigned char channel, const std::string& data) -> net::awaitable<bool> {
    std::string f = frame(channel, data);
    auto [ec, n] = co_await ws.async_write(net::buffer(f), use_tuple);
    co_return !ec;
  };
  bool ok = true;
  if (!program.stdout_text.empty() && plan.stdout_requested)
    ok = co_await send(1, program.stdout_text);
  if (ok && !program.stderr_text.empty() && (plan.stderr_requested || plan.tty))
    ok = co_await send(err_channel, program.stderr_text);
  if (ok && program.echoes_stdin && plan.stdin_requested) {
    beast::flat_buffer buf;
    while (ok) {
      auto [rec, rn] = co_await ws.async_read(buf, use_tuple);
      if (rec) {
        ok = false;
        break;
      }
      std::string msg = beast::buffers_to_string(buf.data());
      buf.consume(buf.size());
      if (msg.empty()) continue;
      auto channel = static_cast<unsigned char>(msg[0]);
      if (channel == 0 && msg.size() > 1 && plan.stdout_requested) {
        ok = co_await send(1, msg.substr(1));
      } else if (channel == 255 && msg.size() > 1 && msg[1] == 0) {
        break;  // stdin closed: cat finishes
      }
    }
  }
  if (ok) ok = co_await send(3, exec_status_json(plan.command, program.exit_code));
  if (ok) co_await ws.async_close(websocket::close_code::normal, use_tuple);
}

}  // namespace fake_apiserver
