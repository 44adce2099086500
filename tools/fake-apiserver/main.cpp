// fake-apiserver: serves several kube-apiserver "instances" (one TLS port each, one
// shared store) for mvproxy's tests and demo. See docs/fake-apiserver.md.

#include "server.hpp"

#include <csignal>
#include <iostream>

int main(int argc, char** argv) {
  using namespace fake_apiserver;
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string error;
  auto opts = parse_options(args, error);
  if (!opts) {
    std::cerr << "fake-apiserver: " << error << std::endl;
    return 2;
  }
  net::io_context ioc;
  std::shared_ptr<server> srv;
  std::vector<std::string> lines;
  try {
    srv = std::make_shared<server>(ioc, *opts);
    lines = srv->start();
  } catch (const std::exception& e) {
    std::cerr << "fake-apiserver: " << e.what() << std::endl;
    return 2;
  }
  for (const auto& l : lines) std::cout << l << '\n';
  std::cout << "ready" << std::endl;
  net::signal_set signals(ioc, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code&, int) { ioc.stop(); });
  std::signal(SIGPIPE, SIG_IGN);
  ioc.run();
  // Pending coroutines hold the server too; they go when the io_context does.
  srv.reset();
  return 0;
}
