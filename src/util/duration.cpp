#include "mvproxy/util/duration.hpp"

#include <cstdint>
#include <limits>
#include <stdexcept>

namespace mvproxy::util {
namespace {

constexpr std::uint64_t max_magnitude = std::uint64_t{1} << 63;  // |INT64_MIN| in ns

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::uint64_t unit_ns(std::string_view u) {
  if (u == "ns") return 1;
  if (u == "us" || u == "\xC2\xB5s" || u == "\xCE\xBCs") return 1'000;
  if (u == "ms") return 1'000'000;
  if (u == "s") return 1'000'000'000;
  if (u == "m") return 60'000'000'000;
  if (u == "h") return 3'600'000'000'000;
  return 0;
}

// The digits of v % 10^prec after a '.', trailing zeros dropped ("" when zero),
// and v / 10^prec — Go's fmtFrac.
std::pair<std::string, std::uint64_t> split_fraction(std::uint64_t v, int prec) {
  std::string digits;
  bool printed = false;
  for (int i = 0; i < prec; ++i) {
    char d = static_cast<char>('0' + v % 10);
    printed = printed || d != '0';
    if (printed) digits.insert(digits.begin(), d);
    v /= 10;
  }
  if (printed) digits.insert(digits.begin(), '.');
  return {digits, v};
}

}  // namespace

std::chrono::nanoseconds parse_duration(std::string_view s, bool allow_negative) {
  if (s.empty()) throw std::invalid_argument("empty duration");
  bool negative = false;
  if (s.front() == '-' || s.front() == '+') {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (negative && !allow_negative) throw std::invalid_argument("negative duration");
  if (s == "0") return std::chrono::nanoseconds{0};
  if (s.empty()) throw std::invalid_argument("invalid duration");

  // Go's algorithm step by step (including its float for the fraction), so a value
  // means here exactly what it means to a Kubernetes component.
  std::uint64_t total = 0;
  while (!s.empty()) {
    if (!is_digit(s.front()) && s.front() != '.') throw std::invalid_argument("invalid duration");
    std::uint64_t whole = 0;
    bool pre = false;
    while (!s.empty() && is_digit(s.front())) {
      if (whole > max_magnitude / 10) throw std::invalid_argument("duration out of range");
      whole = whole * 10 + static_cast<std::uint64_t>(s.front() - '0');
      if (whole > max_magnitude) throw std::invalid_argument("duration out of range");
      s.remove_prefix(1);
      pre = true;
    }
    // Fraction digits that no longer fit are ignored, as Go does.
    std::uint64_t frac = 0;
    double scale = 1;
    bool post = false;
    if (!s.empty() && s.front() == '.') {
      s.remove_prefix(1);
      bool overflow = false;
      while (!s.empty() && is_digit(s.front())) {
        auto d = static_cast<std::uint64_t>(s.front() - '0');
        s.remove_prefix(1);
        post = true;
        if (overflow) continue;
        if (frac > (max_magnitude - 1) / 10 || frac * 10 + d > max_magnitude) {
          overflow = true;
          continue;
        }
        frac = frac * 10 + d;
        scale *= 10;
      }
    }
    if (!pre && !post) throw std::invalid_argument("invalid duration");
    std::size_t unit_len = 0;
    while (unit_len < s.size() && s[unit_len] != '.' && !is_digit(s[unit_len])) ++unit_len;
    if (unit_len == 0) throw std::invalid_argument("missing unit in duration");
    std::uint64_t unit = unit_ns(s.substr(0, unit_len));
    if (unit == 0) {
      throw std::invalid_argument("unknown unit \"" + std::string(s.substr(0, unit_len)) +
                                  "\" in duration");
    }
    s.remove_prefix(unit_len);
    if (whole > max_magnitude / unit) throw std::invalid_argument("duration out of range");
    std::uint64_t v = whole * unit;
    if (frac > 0) {
      v += static_cast<std::uint64_t>(static_cast<double>(frac) *
                                      (static_cast<double>(unit) / scale));
      if (v > max_magnitude) throw std::invalid_argument("duration out of range");
    }
    if (v > max_magnitude - total) throw std::invalid_argument("duration out of range");
    total += v;
  }
  if (!negative && total > max_magnitude - 1) throw std::invalid_argument("duration out of range");
  if (negative) {
    return std::chrono::nanoseconds{total == max_magnitude
                                        ? std::numeric_limits<std::int64_t>::min()
                                        : -static_cast<std::int64_t>(total)};
  }
  return std::chrono::nanoseconds{static_cast<std::int64_t>(total)};
}

std::chrono::milliseconds parse_duration_ms(std::string_view text, bool allow_negative) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
      parse_duration(text, allow_negative));
}

std::string format_duration(std::chrono::nanoseconds d) {
  std::int64_t n = d.count();
  bool negative = n < 0;
  std::uint64_t u = negative ? 0 - static_cast<std::uint64_t>(n) : static_cast<std::uint64_t>(n);
  std::string out;
  if (u == 0) return "0s";
  if (u < 1'000'000'000) {
    // Below a second Go switches to the largest unit that keeps an integer part.
    int prec;
    std::string unit;
    if (u < 1'000) {
      prec = 0;
      unit = "ns";
    } else if (u < 1'000'000) {
      prec = 3;
      unit = "\xC2\xB5s";
    } else {
      prec = 6;
      unit = "ms";
    }
    auto [frac, whole] = split_fraction(u, prec);
    out = std::to_string(whole) + frac + unit;
  } else {
    auto [frac, secs] = split_fraction(u, 9);
    out = std::to_string(secs % 60) + frac + "s";
    std::uint64_t mins = secs / 60;
    if (mins > 0) {
      out = std::to_string(mins % 60) + "m" + out;
      std::uint64_t hours = mins / 60;
      if (hours > 0) out = std::to_string(hours) + "h" + out;
    }
  }
  return negative ? "-" + out : out;
}

}  // namespace mvproxy::util
