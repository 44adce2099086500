#include "mvproxy/probe/ledger.hpp"

#include <algorithm>
#include <numeric>

namespace mvproxy::probe {

std::string_view verb_name(verb v) {
  switch (v) {
    case verb::discovery:
      return "discovery";
    case verb::list:
      return "list";
    case verb::get:
      return "get";
  }
  return "?";
}

outcome classify(unsigned status) {
  if (status == 0) return outcome::transport_error;
  if (status >= 200 && status < 300) return outcome::ok;
  if (status == 404) return outcome::not_found;
  if (status >= 500 && status < 600) return outcome::server_error;
  return outcome::other;
}

std::string_view outcome_name(outcome o) {
  switch (o) {
    case outcome::ok:
      return "ok";
    case outcome::not_found:
      return "404";
    case outcome::server_error:
      return "5xx";
    case outcome::other:
      return "other";
    case outcome::transport_error:
      return "error";
  }
  return "?";
}

std::uint64_t counts::total() const {
  return std::accumulate(by.begin(), by.end(), std::uint64_t{0});
}

counts& counts::operator+=(const counts& o) {
  for (std::size_t i = 0; i < by.size(); ++i) by[i] += o.by[i];
  return *this;
}

void cell::record(verb v, outcome o, double seconds, clock::time_point now,
                  clock::duration window) {
  by_verb_[static_cast<std::size_t>(v)].add(o);
  recent_.push_back({now, o == outcome::ok, seconds});
  while (!recent_.empty() && recent_.front().at + window < now) recent_.pop_front();
  latency_sum_ += seconds;
  latency_max_ = std::max(latency_max_, seconds);
  ++latency_n_;
}

cell::recent_stats cell::recent(clock::time_point now, clock::duration window) const {
  recent_stats out;
  for (const auto& a : recent_) {
    if (a.at + window < now) continue;
    ++out.answered;
    out.ok += a.ok ? 1 : 0;
    out.slowest = std::max(out.slowest, a.seconds);
  }
  return out;
}

std::optional<double> cell::availability(clock::time_point now, clock::duration window) const {
  auto r = recent(now, window);
  if (r.answered == 0) return std::nullopt;
  return static_cast<double>(r.ok) / static_cast<double>(r.answered);
}

counts cell::all() const {
  counts out;
  for (const auto& c : by_verb_) out += c;
  return out;
}

ledger::ledger(std::vector<std::string> sidecars, clock::duration window)
    : sidecars_(std::move(sidecars)),
      window_(window),
      discovery_(sidecars_.size()),
      discovered_(sidecars_.size(), 0),
      failures_(sidecars_.size()) {}

void ledger::note_failure(std::size_t s, std::string what, clock::time_point at) {
  failures_[s] = failure_note{std::move(what), at};
}

std::size_t ledger::set_discovered(std::size_t s, const std::vector<resource_ref>& resources) {
  std::size_t added = 0;
  for (auto& r : rows_) r.in_discovery[s] = false;
  for (const auto& res : resources) {
    auto it =
        std::find_if(rows_.begin(), rows_.end(), [&](const row& r) { return r.resource == res; });
    if (it == rows_.end()) {
      rows_.push_back(
          {res, std::vector<cell>(sidecars_.size()), std::vector<bool>(sidecars_.size(), false)});
      it = std::prev(rows_.end());
      ++added;
    }
    it->in_discovery[s] = true;
  }
  discovered_[s] = resources.size();
  return added;
}

void ledger::record(std::size_t s, std::size_t r, verb v, unsigned status, double seconds,
                    clock::time_point now) {
  rows_[r].cells[s].record(v, classify(status), seconds, now, window_);
}

void ledger::record_discovery(std::size_t s, unsigned status, double seconds,
                              clock::time_point now) {
  discovery_[s].record(verb::discovery, classify(status), seconds, now, window_);
}

counts ledger::totals() const {
  counts out;
  for (const auto& c : discovery_) out += c.all();
  for (const auto& r : rows_) {
    for (const auto& c : r.cells) out += c.all();
  }
  return out;
}

bool ledger::all_ok() const {
  auto t = totals();
  return t.total() > 0 && t.failed() == 0;
}

}  // namespace mvproxy::probe
