#pragma once
// Process-wide logging: one stderr sink, per-component loggers ("main", "proxy",
// "access", "admin", "tls", plus any a module asks for), text or JSON lines in UTC.

#include <spdlog/logger.h>

#include <memory>
#include <string>

#include "mvproxy/config/config.hpp"

namespace mvproxy::app {

// -v 0-1: info, 2-5: debug, 6+: trace.
void setup_logging(config::log_format format, int verbosity);

// The named component logger (created on first use with the process sink and format).
std::shared_ptr<spdlog::logger> logger(const std::string& component);

// JSON string escaping for the json log format (exposed for tests).
std::string json_escape(std::string_view s);

}  // namespace mvproxy::app
