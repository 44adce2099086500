// mvproxy: the Mixed Version Proxy sidecar. Flags -> validated config -> app -> serve.
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>

#include "mvproxy/app/app.hpp"
#include "mvproxy/app/logging.hpp"
#include "mvproxy/config/parse.hpp"
#include "mvproxy/probe/probe.hpp"

int main(int argc, char** argv) {
  using namespace mvproxy;
  // A peer that goes away mid-write must cost an error code, not the process.
  std::signal(SIGPIPE, SIG_IGN);
  // `mvproxy probe ...`: the operator's canary, a subcommand of the same binary.
  if (argc > 1 && std::string(argv[1]) == "probe") return probe::run(argc - 1, argv + 1);
  config::parse_result parsed;
  try {
    parsed = config::parse(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mvproxy: %s\n", e.what());
    return 2;
  }
  if (parsed.what != config::outcome::run) {
    std::fputs(parsed.text.c_str(), stdout);
    if (!parsed.text.empty() && parsed.text.back() != '\n') std::fputc('\n', stdout);
    return 0;
  }
  app::setup_logging(parsed.cfg.log_fmt, parsed.cfg.verbosity, parsed.cfg.access_log);
  std::unique_ptr<app::app> daemon;
  try {
    daemon = std::make_unique<app::app>(parsed.cfg);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mvproxy: %s\n", e.what());
    return 2;
  }
  int rc = daemon->run();
  app::flush_logs();  // the buffered access lines of the last second
  return rc;
}
