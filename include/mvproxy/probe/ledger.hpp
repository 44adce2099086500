#pragma once
// Availability accounting per (sidecar, resource): outcome counts over the whole run,
// the outcomes of the last --window for the live table, and latency. Pure: the caller
// passes the clock readings, so tests replay any timeline.

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mvproxy/probe/resources.hpp"

namespace mvproxy::probe {

enum class verb { discovery, list, get };
std::string_view verb_name(verb v);

// What an answer counts as. Only 2xx is available; everything else is not.
enum class outcome { ok, not_found, server_error, other, transport_error };
constexpr std::size_t outcome_count = 5;
// HTTP status → outcome; status 0 means no answer at all (connect, TLS, timeout).
outcome classify(unsigned status);
std::string_view outcome_name(outcome o);  // "ok", "404", "5xx", "other", "error"

struct counts {
  std::array<std::uint64_t, outcome_count> by{};
  void add(outcome o) { ++by[static_cast<std::size_t>(o)]; }
  std::uint64_t of(outcome o) const { return by[static_cast<std::size_t>(o)]; }
  std::uint64_t total() const;
  std::uint64_t ok() const { return of(outcome::ok); }
  std::uint64_t failed() const { return total() - ok(); }
  counts& operator+=(const counts& o);
};

class cell {
 public:
  using clock = std::chrono::steady_clock;

  void record(verb v, outcome o, double seconds, clock::time_point now, clock::duration window);
  // The answers within `window` before `now`.
  struct recent_stats {
    std::size_t answered = 0;
    std::size_t ok = 0;
    double slowest = 0;  // seconds
  };
  recent_stats recent(clock::time_point now, clock::duration window) const;
  // Share of ok answers among those within `window` before `now`; nullopt when none.
  std::optional<double> availability(clock::time_point now, clock::duration window) const;

  counts all() const;
  const counts& of(verb v) const { return by_verb_[static_cast<std::size_t>(v)]; }
  double latency_mean() const {
    return latency_n_ ? latency_sum_ / static_cast<double>(latency_n_) : 0;
  }
  double latency_max() const { return latency_max_; }

 private:
  std::array<counts, 3> by_verb_{};
  struct answer {
    clock::time_point at;
    bool ok;
    double seconds;
  };
  std::deque<answer> recent_;  // oldest first
  double latency_sum_ = 0;
  double latency_max_ = 0;
  std::uint64_t latency_n_ = 0;
};

struct row {
  resource_ref resource;
  std::vector<cell> cells;         // one per sidecar
  std::vector<bool> in_discovery;  // per sidecar, as of its last successful read

  // Some sidecar lists it now (a version the upgrade removed is listed by none).
  bool listed() const {
    return std::find(in_discovery.begin(), in_discovery.end(), true) != in_discovery.end();
  }
};

class ledger {
 public:
  using clock = std::chrono::steady_clock;

  ledger(std::vector<std::string> sidecars, clock::duration window);

  // What sidecar `s` discovered now. Resources new to the run become rows at the end;
  // a row never goes away, so a resource that drops out of discovery keeps being
  // probed (clients with cached discovery still ask for it). Returns rows added.
  std::size_t set_discovered(std::size_t s, const std::vector<resource_ref>& resources);

  void record(std::size_t s, std::size_t row, verb v, unsigned status, double seconds,
              clock::time_point now);
  void record_discovery(std::size_t s, unsigned status, double seconds, clock::time_point now);

  const std::vector<std::string>& sidecars() const { return sidecars_; }
  const std::vector<row>& rows() const { return rows_; }
  const cell& discovery(std::size_t s) const { return discovery_[s]; }
  std::size_t discovered(std::size_t s) const { return discovered_[s]; }
  clock::duration window() const { return window_; }

  // The latest failed request through sidecar `s`, for the operator to read.
  void note_failure(std::size_t s, std::string what, clock::time_point at);
  struct failure_note {
    std::string what;  // "LIST pods.v1: HTTP 503", "GET /apis: connect: Connection refused"
    clock::time_point at;
  };
  const std::optional<failure_note>& last_failure(std::size_t s) const { return failures_[s]; }

  counts totals() const;  // every request of the run, discovery included
  // True when requests were made and all of them succeeded: the exit status.
  bool all_ok() const;

 private:
  std::vector<std::string> sidecars_;
  clock::duration window_;
  std::vector<row> rows_;
  std::vector<cell> discovery_;
  std::vector<std::size_t> discovered_;
  std::vector<std::optional<failure_note>> failures_;
};

}  // namespace mvproxy::probe
