#pragma once
// A small Prometheus registry: counters, gauges and histograms with labels, rendered
// in the text exposition format (0.0.4). Looking up a labelled child takes a shared
// lock once; callers keep the returned reference, so hot-path updates are plain
// atomic operations.

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace mvproxy::metrics {

class counter {
 public:
  void inc(double n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void inc(double n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  void dec(double n = 1) { value_.fetch_sub(n, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class histogram {
 public:
  explicit histogram(const std::vector<double>& bounds);
  void observe(double v);
  // Cumulative counts per bound (the last entry is +Inf), then sum and count.
  std::vector<std::uint64_t> cumulative_counts() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
};

// Default latency buckets (seconds), as Prometheus client libraries use.
const std::vector<double>& default_duration_buckets();

enum class metric_type { counter, gauge, histogram };

// A named metric with label names; children are created on first use.
template <class T>
class family {
 public:
  family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds = {});
  family(const family&) = delete;
  family& operator=(const family&) = delete;

  // The child for these label values (same count and order as the label names).
  T& with(std::initializer_list<std::string_view> values);
  T& with(const std::vector<std::string>& values);

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  // Visits every child in label order, under the shared lock.
  void for_each(const std::function<void(const std::vector<std::string>&, const T&)>& fn) const;

 private:
  T& make_child(std::vector<std::string> values);

  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;
  mutable std::shared_mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_;
};

using counter_family = family<counter>;
using gauge_family = family<gauge>;
using histogram_family = family<histogram>;

// A value computed when /metrics is scraped (for example seconds since a sync).
struct sample {
  std::vector<std::string> label_values;
  double value = 0;
};

class registry {
 public:
  counter_family& add_counter(std::string name, std::string help,
                              std::vector<std::string> label_names = {});
  gauge_family& add_gauge(std::string name, std::string help,
                          std::vector<std::string> label_names = {});
  histogram_family& add_histogram(std::string name, std::string help,
                                  std::vector<std::string> label_names,
                                  std::vector<double> bounds = default_duration_buckets());
  // A gauge whose samples come from `collect` at scrape time.
  void add_gauge_callback(std::string name, std::string help, std::vector<std::string> label_names,
                          std::function<std::vector<sample>()> collect);

  // The whole registry in Prometheus text format, families in registration order.
  std::string render() const;

 private:
  struct callback_gauge {
    std::string name, help;
    std::vector<std::string> label_names;
    std::function<std::vector<sample>()> collect;
  };
  struct entry {
    metric_type type;
    std::unique_ptr<counter_family> counters;
    std::unique_ptr<gauge_family> gauges;
    std::unique_ptr<histogram_family> histograms;
    std::unique_ptr<callback_gauge> callback;
  };
  mutable std::mutex mutex_;
  std::vector<entry> entries_;
};

// Text-format helpers, exposed for tests.
std::string escape_label_value(std::string_view v);
std::string escape_help(std::string_view v);
std::string format_value(double v);

}  // namespace mvproxy::metrics
