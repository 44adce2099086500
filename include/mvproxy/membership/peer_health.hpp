#pragma once
// Outlier ejection for one peer (SPEC §3 rule 5, "a peer that keeps failing is left
// out for a while"): consecutive connect/TLS failures, or one timeout, eject it for a period that
// doubles on each ejection up to a cap; when the period ends the peer is probed back
// (it is healthy again, and one more failure ejects it at once). Pure: the caller
// passes the time.

#include <chrono>

namespace mvproxy::membership {

struct ejection_policy {
  int consecutive_failures = 3;
  std::chrono::milliseconds base_ejection{2'000};
  std::chrono::milliseconds max_ejection{60'000};
};

class peer_health {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  explicit peer_health(ejection_policy p = {}) : policy_(p) {}

  void on_success();
  // `at_once`: a failure that ejects by itself (a timeout: the peer is frozen or cut
  // off, and every request to it would wait as long).
  void on_failure(time_point now, bool at_once = false);
  bool healthy(time_point now) const { return now >= ejected_until_; }
  bool probing(time_point now) const { return probing_ && healthy(now); }
  int consecutive_failures() const { return failures_; }
  int ejections() const { return ejections_; }
  time_point ejected_until() const { return ejected_until_; }

 private:
  ejection_policy policy_;
  int failures_ = 0;
  int ejections_ = 0;  // consecutive ejections without a success in between
  bool probing_ = false;
  time_point ejected_until_{};
};

}  // namespace mvproxy::membership
