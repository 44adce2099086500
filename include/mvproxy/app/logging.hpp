#pragma once
// Process-wide logging to stderr: per-component loggers ("main", "proxy", "access",
// "admin", "tls", plus any a module asks for), text or JSON lines in UTC. Every line is
// written at once, except the access log's: those are buffered and written in blocks
// (at 64 KiB, at least once a second, on flush_logs() and at exit), so a request costs
// no write(2).

#include <spdlog/logger.h>

#include <memory>
#include <string>

#include "mvproxy/config/config.hpp"

namespace mvproxy::app {

// -v 0-1: info, 2-5: debug, 6+: trace.
void setup_logging(config::log_format format, int verbosity, bool access_log = true);

// Writes out everything buffered (the access log) now. Call before a normal exit.
void flush_logs();

// The named component logger (created on first use with the process sink and format).
std::shared_ptr<spdlog::logger> logger(const std::string& component);

// JSON string escaping for the json log format (exposed for tests).
std::string json_escape(std::string_view s);

}  // namespace mvproxy::app
