#include "mvproxy/app/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <mutex>

namespace mvproxy::app {

namespace {

// Appends `s`, escaped for a JSON string, to `out` (a std::string or an spdlog buffer).
template <typename Out>
void append_json_escaped(std::string_view s, Out& out) {
  auto put = [&out](std::string_view piece) {
    out.append(piece.data(), piece.data() + piece.size());
  };
  std::size_t plain = 0;  // start of the run of characters that need no escaping
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    std::string_view esc;
    char buf[8];
    switch (c) {
      case '"':
        esc = "\\\"";
        break;
      case '\\':
        esc = "\\\\";
        break;
      case '\n':
        esc = "\\n";
        break;
      case '\r':
        esc = "\\r";
        break;
      case '\t':
        esc = "\\t";
        break;
      default:
        if (c >= 0x20) continue;
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        esc = std::string_view(buf, 6);
    }
    put(s.substr(plain, i - plain));
    put(esc);
    plain = i + 1;
  }
  put(s.substr(plain));
}

// %* : the message, escaped for a JSON string. Escapes straight into the line buffer,
// so an access line costs no extra allocation.
class json_message_flag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    append_json_escaped(std::string_view(msg.payload.data(), msg.payload.size()), dest);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<json_message_flag>();
  }
};

// All writes to fd 2 from both sinks go through here: one mutex, whole lines (or
// blocks of whole lines) per write, so access blocks and other lines never interleave
// mid-line. Owned by the sinks (shared_ptr), so it outlives them at static destruction.
class stderr_writer {
 public:
  void write(const char* p, std::size_t n) {
    std::lock_guard lock(mutex_);
    while (n > 0) {
      ssize_t w = ::write(STDERR_FILENO, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return;  // stderr gone or full (non-blocking): logging must not take the process down
      }
      p += w;
      n -= static_cast<std::size_t>(w);
    }
  }

 private:
  std::mutex mutex_;
};

// Unbuffered: one write(2) per line, as the lifecycle, warning and error lines need.
class line_sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit line_sink(std::shared_ptr<stderr_writer> out) : out_(std::move(out)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    out_->write(line.data(), line.size());
  }
  void flush_() override {}

 private:
  std::shared_ptr<stderr_writer> out_;
};

// Buffered (the access log): lines are formatted straight into one preallocated buffer,
// written out as a block when it reaches flush_threshold, on flush() (the periodic
// flusher, flush_logs()) and when the sink is destroyed at exit. One mutex per line, no
// syscall and, past the first lines, no allocation.
class block_sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  static constexpr std::size_t flush_threshold = 64 * 1024;

  explicit block_sink(std::shared_ptr<stderr_writer> out) : out_(std::move(out)) {
    // Room for the threshold plus a typical last line, so the buffer never grows.
    buf_.reserve(flush_threshold + 4096);
  }
  ~block_sink() override {
    std::lock_guard lock(mutex_);
    write_out();
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    formatter_->format(msg, buf_);  // appends one whole line
    if (buf_.size() >= flush_threshold) write_out();
  }
  void flush_() override { write_out(); }

 private:
  void write_out() {
    if (buf_.size() == 0) return;
    out_->write(buf_.data(), buf_.size());
    buf_.clear();  // keeps the capacity
  }

  std::shared_ptr<stderr_writer> out_;
  spdlog::memory_buf_t buf_;
};

std::mutex setup_mutex;
// Kept here as well as in the loggers so buffered lines survive spdlog::shutdown() and
// reach stderr at the latest when these are destroyed at exit.
spdlog::sink_ptr lines;
spdlog::sink_ptr access_lines;

}  // namespace

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  append_json_escaped(s, out);
  return out;
}

void setup_logging(config::log_format format, int verbosity, bool access_log) {
  std::lock_guard lock(setup_mutex);
  if (!lines) {
    auto out = std::make_shared<stderr_writer>();
    lines = std::make_shared<line_sink>(out);
    access_lines = std::make_shared<block_sink>(out);
  }
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
  access_lines->set_formatter(f->clone());
  lines->set_formatter(std::move(f));
  auto level = verbosity >= 6   ? spdlog::level::trace
               : verbosity >= 2 ? spdlog::level::debug
                                : spdlog::level::info;
  spdlog::set_level(level);
  auto def = std::make_shared<spdlog::logger>("main", lines);
  def->set_level(level);
  def->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(def);
  for (const char* name : {"proxy", "access", "admin", "tls"}) {
    spdlog::drop(name);
    bool buffered = std::string_view(name) == "access";
    auto l = std::make_shared<spdlog::logger>(name, buffered ? access_lines : lines);
    // Off, the access line is not even formatted (spdlog checks the level first).
    l->set_level(buffered && !access_log ? spdlog::level::off : level);
    // The access logger must not flush per line: that is the write(2) per request the
    // buffer exists to avoid. The others flush per line (a no-op for line_sink).
    l->flush_on(buffered ? spdlog::level::off : spdlog::level::trace);
    spdlog::register_logger(l);
  }
  // Buffered access lines reach stderr within a second even when traffic is low
  // (nginx: access_log ... buffer=64k flush=1s).
  spdlog::flush_every(std::chrono::seconds(1));
}

void flush_logs() {
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& l) { l->flush(); });
  std::lock_guard lock(setup_mutex);
  if (access_lines) access_lines->flush();  // also after spdlog::shutdown() dropped the loggers
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
