#include "mvproxy/app/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <mutex>

namespace mvproxy::app {

namespace {

std::mutex setup_mutex;
spdlog::sink_ptr sink;

// %* : the message, escaped for a JSON string.
class json_message_flag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    auto escaped = json_escape(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<json_message_flag>();
  }
};

}  // namespace

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

void setup_logging(config::log_format format, int verbosity) {
  std::lock_guard lock(setup_mutex);
  if (!sink) sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  std::unique_ptr<spdlog::formatter> f;
  if (format == config::log_format::json) {
    auto pf = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    pf->add_flag<json_message_flag>('*').set_pattern(
        R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","component":"%n","msg":"%*"})");
    f = std::move(pf);
  } else {
    f = std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%fZ %L %n: %v",
                                                     spdlog::pattern_time_type::utc);
  }
  sink->set_formatter(std::move(f));
  auto level = verbosity >= 6 ? spdlog::level::trace
               : verbosity >= 2 ? spdlog::level::debug
                                : spdlog::level::info;
  spdlog::set_level(level);
  auto def = std::make_shared<spdlog::logger>("main", sink);
  def->set_level(level);
  def->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(def);
  for (const char* name : {"proxy", "access", "admin", "tls"}) {
    spdlog::drop(name);
    auto l = std::make_shared<spdlog::logger>(name, sink);
    l->set_level(level);
    l->flush_on(spdlog::level::trace);
    spdlog::register_logger(l);
  }
}

std::shared_ptr<spdlog::logger> logger(const std::string& component) {
  if (auto l = spdlog::get(component)) return l;
  auto l = spdlog::default_logger()->clone(component);
  try {
    spdlog::register_logger(l);
  } catch (const spdlog::spdlog_ex&) {
    return spdlog::get(component);  // another thread registered it first
  }
  return l;
}

}  // namespace mvproxy::app
