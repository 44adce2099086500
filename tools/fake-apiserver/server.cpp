#include "server.hpp"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace fake_apiserver {
namespace {

std::string read_text(const std::string& path, const std::string& flag) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(flag + ": cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string reason_for(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return "Unknown";
  }
}

// Completion of a detached coroutine: report what escaped instead of ending the process.
void report_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "fake-apiserver: connection failed: %s\n", ex.what());
  }
}

}  // namespace

server::server(net::io_context& ioc, const options& opts)
    : ioc_(ioc),
      fixtures_dir_(opts.fixtures_dir.empty() ? FAKE_APISERVER_FIXTURES_DIR : opts.fixtures_dir),
      client_ca_(opts.client_ca_file),
      requestheader_ca_(opts.requestheader_client_ca_file),
      api_(store_, auth_),
      log_(opts.request_log),
      control_address_(opts.control_address) {
  if (!opts.token_auth_file.empty()) {
    std::string error;
    auto tokens = parse_token_file(read_text(opts.token_auth_file, "--token-auth-file"), error);
    if (!tokens) throw std::runtime_error("--token-auth-file: " + error);
    auth_.tokens = *tokens;
  }
  auth_.requestheader_allowed_names = {opts.requestheader_allowed_names.begin(),
                                       opts.requestheader_allowed_names.end()};
  auth_.deny_users = {opts.deny_users.begin(), opts.deny_users.end()};
  auth_.deny_groups = {opts.deny_groups.begin(), opts.deny_groups.end()};
  for (const auto& io : opts.instances) {
    auto inst = std::make_shared<instance_state>();
    inst->name = io.name;
    inst->port = io.port;
    try {
      inst->profile = profile(io.profile);
      inst->tls = make_server_context(io.cert_file, io.key_file, client_ca_, requestheader_ca_,
                                      !opts.disable_http2_serving);
    } catch (const std::exception& e) {
      throw std::runtime_error("--instance " + io.name + ": " + e.what());
    }
    instances_.push_back(inst);
  }
}

std::shared_ptr<const api_profile> server::profile(const std::string& name) {
  auto it = profiles_.find(name);
  if (it != profiles_.end()) return it->second;
  auto p = api_profile::load(name, fixtures_dir_);
  profiles_[name] = p;
  return p;
}

std::vector<std::string> server::start() {
  std::vector<std::string> lines;
  for (auto& inst : instances_) {
    listen(inst);
    lines.push_back("instance " + inst->name +
                    " listening on 127.0.0.1:" + std::to_string(inst->port));
  }
  auto [host, port] = *split_host_port(control_address_);
  auto acceptor = std::make_shared<tcp::acceptor>(ioc_);
  tcp::endpoint ep(net::ip::make_address(host), port);
  acceptor->open(ep.protocol());
  acceptor->set_option(net::socket_base::reuse_address(true));
  acceptor->bind(ep);
  acceptor->listen();
  lines.push_back("control listening on " + host + ":" +
                  std::to_string(acceptor->local_endpoint().port()));
  net::co_spawn(ioc_, control_loop(acceptor), net::detached);
  return lines;
}

void server::listen(const std::shared_ptr<instance_state>& inst) {
  auto acceptor = std::make_shared<tcp::acceptor>(ioc_);
  tcp::endpoint ep(net::ip::make_address("127.0.0.1"), inst->port);
  acceptor->open(ep.protocol());
  // The same port must be reusable at once after /stop, like a restarted apiserver.
  acceptor->set_option(net::socket_base::reuse_address(true));
  acceptor->bind(ep);
  acceptor->listen();
  inst->port = acceptor->local_endpoint().port();
  inst->acceptor = acceptor;
  net::co_spawn(ioc_, accept_loop(inst, acceptor), net::detached);
}

void server::stop(instance_state& inst) {
  if (inst.acceptor) {
    boost::system::error_code ec;
    inst.acceptor->close(ec);
    inst.acceptor.reset();
  }
  // A copy: a cut connection may leave the registry before the loop ends.
  std::vector<connection_handle*> open(inst.connections.begin(), inst.connections.end());
  for (auto* h : open) {
    h->closed = true;
    for (auto* t : h->timers) t->cancel();
    if (h->cut) h->cut();
  }
}

net::awaitable<void> server::accept_loop(std::shared_ptr<instance_state> inst,
                                         std::shared_ptr<tcp::acceptor> acceptor) {
  auto self = shared_from_this();
  while (acceptor->is_open()) {
    auto [ec, socket] = co_await acceptor->async_accept(use_tuple);
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor->is_open()) break;
      continue;
    }
    net::co_spawn(ioc_, session(inst, std::move(socket)), report_exception);
  }
}

response server::control(const std::string& method, const std::string& target) {
  std::string path = target.substr(0, target.find('?'));
  std::string query =
      target.find('?') == std::string::npos ? "" : target.substr(target.find('?') + 1);
  auto q = parse_query(query);
  if (path == "/instances" && method == "GET") {
    json list = json::array();
    for (const auto& inst : instances_)
      list.push_back({{"name", inst->name},
                      {"profile", inst->profile->name()},
                      {"port", inst->port},
                      {"running", inst->acceptor != nullptr},
                      {"fail_code", inst->fail_code},
                      {"latency_ms", inst->latency_ms},
                      {"connections", inst->connections.size()}});
    return json_response(200, list);
  }
  const std::string prefix = "/instances/";
  if (path.rfind(prefix, 0) != 0) return not_served();
  std::string rest = path.substr(prefix.size());
  auto slash = rest.find('/');
  if (slash == std::string::npos) return not_served();
  std::string name = rest.substr(0, slash), action = rest.substr(slash + 1);
  std::shared_ptr<instance_state> inst;
  for (auto& i : instances_)
    if (i->name == name) inst = i;
  if (!inst) return status_response(404, "NotFound", "no instance \"" + name + "\"");
  if (method != "POST") return status_response(405, "MethodNotAllowed", "use POST");
  auto bad = [](const std::string& m) { return status_response(400, "BadRequest", m); };
  if (action == "stop") {
    stop(*inst);
  } else if (action == "start") {
    if (!inst->acceptor) {
      try {
        listen(inst);
      } catch (const std::exception& e) {
        return status_response(500, "InternalError", std::string("cannot listen: ") + e.what());
      }
    }
  } else if (action == "fail") {
    std::string code = query_value(q, "code", "503");
    int c = std::atoi(code.c_str());
    if (c < 400 || c > 599) return bad("fail: code must be 400..599");
    inst->fail_code = c;
  } else if (action == "heal") {
    inst->fail_code = 0;
    inst->latency_ms = 0;
  } else if (action == "latency") {
    std::string ms = query_value(q, "ms", "");
    if (ms.empty() || ms.find_first_not_of("0123456789") != std::string::npos)
      return bad("latency: want ms=N");
    inst->latency_ms = std::atoi(ms.c_str());
  } else if (action == "profile") {
    try {
      inst->profile = profile(query_value(q, "name"));
    } catch (const std::exception& e) {
      return bad(e.what());
    }
  } else {
    return not_served();
  }
  return json_response(200, {{"name", inst->name},
                             {"profile", inst->profile->name()},
                             {"port", inst->port},
                             {"running", inst->acceptor != nullptr},
                             {"fail_code", inst->fail_code},
                             {"latency_ms", inst->latency_ms}});
}

net::awaitable<void> server::control_loop(std::shared_ptr<tcp::acceptor> acceptor) {
  auto self = shared_from_this();
  while (true) {
    auto [ec, socket] = co_await acceptor->async_accept(use_tuple);
    if (ec) {
      if (ec == net::error::operation_aborted) break;
      continue;
    }
    net::co_spawn(ioc_, control_session(std::move(socket)), report_exception);
  }
}

net::awaitable<void> server::control_session(tcp::socket socket) {
  auto self = shared_from_this();
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  while (true) {
    stream.expires_after(std::chrono::seconds(60));
    http::request<http::string_body> req;
    auto [ec, n] = co_await http::async_read(stream, buffer, req, use_tuple);
    if (ec) break;
    response r = control(std::string(req.method_string()), std::string(req.target()));
    http::response<http::string_body> res{static_cast<http::status>(r.status), req.version()};
    res.set(http::field::content_type, r.content_type);
    res.keep_alive(req.keep_alive());
    res.body() = r.body;
    res.prepare_payload();
    auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
    if (wec || !req.keep_alive()) break;
  }
  boost::system::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
}

// Used by the session to answer while an instance is failing on purpose.
response injected_failure(int code) {
  return status_response(
      code, reason_for(code),
      "fake-apiserver: failure injected by the control API (code " + std::to_string(code) + ")");
}

}  // namespace fake_apiserver
