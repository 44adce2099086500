#include "mvproxy/metrics/registry.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace mvproxy::metrics {

histogram::histogram(const std::vector<double>& bounds)
    : bounds_(bounds), buckets_(new std::atomic<std::uint64_t>[bounds.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void histogram::observe(double v) {
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  buckets_[static_cast<std::size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

std::vector<std::uint64_t> histogram::cumulative_counts() const {
  std::vector<std::uint64_t> out(bounds_.size() + 1);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    out[i] = total;
  }
  return out;
}

const std::vector<double>& default_duration_buckets() {
  static const std::vector<double> b{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                     1,     2.5,  5,     10,   30,  60};
  return b;
}

template <class T>
family<T>::family(std::string name, std::string help, std::vector<std::string> label_names,
                  std::vector<double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      bounds_(std::move(bounds)) {
  // A label-less metric exists (at zero) from the start, as client libraries do.
  if (label_names_.empty()) make_child({});
}

template <class T>
T& family<T>::make_child(std::vector<std::string> values) {
  if (values.size() != label_names_.size())
    throw std::invalid_argument("metric " + name_ + ": wrong number of label values");
  std::unique_lock lock(mutex_);
  auto& slot = children_[std::move(values)];
  if (!slot) {
    if constexpr (std::is_same_v<T, histogram>)
      slot = std::make_unique<T>(bounds_);
    else
      slot = std::make_unique<T>();
  }
  return *slot;
}

template <class T>
T& family<T>::with(const std::vector<std::string>& values) {
  {
    std::shared_lock lock(mutex_);
    auto it = children_.find(values);
    if (it != children_.end()) return *it->second;
  }
  return make_child(values);
}

template <class T>
T& family<T>::with(std::initializer_list<std::string_view> values) {
  std::vector<std::string> v;
  v.reserve(values.size());
  for (auto s : values) v.emplace_back(s);
  return with(v);
}

template <class T>
void family<T>::for_each(
    const std::function<void(const std::vector<std::string>&, const T&)>& fn) const {
  std::shared_lock lock(mutex_);
  for (auto& [labels, child] : children_) fn(labels, *child);
}

template class family<counter>;
template class family<gauge>;
template class family<histogram>;

counter_family& registry::add_counter(std::string name, std::string help,
                                      std::vector<std::string> label_names) {
  std::lock_guard lock(mutex_);
  auto& e = entries_.emplace_back();
  e.type = metric_type::counter;
  e.counters =
      std::make_unique<counter_family>(std::move(name), std::move(help), std::move(label_names));
  return *e.counters;
}

gauge_family& registry::add_gauge(std::string name, std::string help,
                                  std::vector<std::string> label_names) {
  std::lock_guard lock(mutex_);
  auto& e = entries_.emplace_back();
  e.type = metric_type::gauge;
  e.gauges =
      std::make_unique<gauge_family>(std::move(name), std::move(help), std::move(label_names));
  return *e.gauges;
}

histogram_family& registry::add_histogram(std::string name, std::string help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> bounds) {
  if (!std::is_sorted(bounds.begin(), bounds.end()) ||
      std::adjacent_find(bounds.begin(), bounds.end()) != bounds.end())
    throw std::invalid_argument("histogram " + name + ": bounds must increase");
  std::lock_guard lock(mutex_);
  auto& e = entries_.emplace_back();
  e.type = metric_type::histogram;
  e.histograms = std::make_unique<histogram_family>(std::move(name), std::move(help),
                                                    std::move(label_names), std::move(bounds));
  return *e.histograms;
}

void registry::add_gauge_callback(std::string name, std::string help,
                                  std::vector<std::string> label_names,
                                  std::function<std::vector<sample>()> collect) {
  std::lock_guard lock(mutex_);
  auto& e = entries_.emplace_back();
  e.type = metric_type::gauge;
  e.callback = std::make_unique<callback_gauge>(
      callback_gauge{std::move(name), std::move(help), std::move(label_names), std::move(collect)});
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

namespace {

void append_labels(std::string& out, const std::vector<std::string>& names,
                   const std::vector<std::string>& values, std::string_view extra_name = {},
                   std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!first) out += ',';
    first = false;
    out += names[i];
    out += "=\"";
    out += escape_label_value(values[i]);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

void append_header(std::string& out, const std::string& name, const std::string& help,
                   std::string_view type) {
  out += "# HELP " + name + " " + escape_help(help) + "\n";
  out += "# TYPE " + name + " ";
  out += type;
  out += '\n';
}

template <class T>
void render_simple(std::string& out, const family<T>& f, std::string_view type) {
  append_header(out, f.name(), f.help(), type);
  f.for_each([&](const std::vector<std::string>& labels, const T& child) {
    out += f.name();
    append_labels(out, f.label_names(), labels);
    out += ' ';
    out += format_value(child.value());
    out += '\n';
  });
}

void render_histogram(std::string& out, const histogram_family& f) {
  append_header(out, f.name(), f.help(), "histogram");
  f.for_each([&](const std::vector<std::string>& labels, const histogram& h) {
    auto counts = h.cumulative_counts();
    const auto& bounds = h.bounds();
    for (std::size_t i = 0; i <= bounds.size(); ++i) {
      out += f.name() + "_bucket";
      append_labels(out, f.label_names(), labels, "le",
                    i < bounds.size() ? format_value(bounds[i]) : "+Inf");
      out += ' ' + std::to_string(counts[i]) + '\n';
    }
    out += f.name() + "_sum";
    append_labels(out, f.label_names(), labels);
    out += ' ' + format_value(h.sum()) + '\n';
    out += f.name() + "_count";
    append_labels(out, f.label_names(), labels);
    out += ' ' + std::to_string(counts.back()) + '\n';
  });
}

}  // namespace

std::string registry::render() const {
  std::string out;
  std::lock_guard lock(mutex_);
  for (auto& e : entries_) {
    if (e.counters)
      render_simple(out, *e.counters, "counter");
    else if (e.gauges)
      render_simple(out, *e.gauges, "gauge");
    else if (e.histograms)
      render_histogram(out, *e.histograms);
    else if (e.callback) {
      auto& cb = *e.callback;
      append_header(out, cb.name, cb.help, "gauge");
      auto samples = cb.collect();
      std::sort(samples.begin(), samples.end(),
                [](const sample& a, const sample& b) { return a.label_values < b.label_values; });
      for (auto& s : samples) {
        if (s.label_values.size() != cb.label_names.size()) continue;
        out += cb.name;
        append_labels(out, cb.label_names, s.label_values);
        out += ' ' + format_value(s.value) + '\n';
      }
    }
  }
  return out;
}

}  // namespace mvproxy::metrics
