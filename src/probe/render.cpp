#include "mvproxy/probe/render.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mvproxy/util/duration.hpp"

namespace mvproxy::probe {
namespace {

using clock = ledger::clock;
constexpr std::size_t min_cell_width = 8;

std::string seconds_text(clock::duration d) {
  return util::format_duration(std::chrono::duration_cast<std::chrono::seconds>(d));
}

std::string millis_text(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fms", seconds * 1000);
  return buf;
}

std::string pad(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

// Widths: the resource column fits the longest name; a sidecar column its id and cells.
struct layout {
  std::size_t name_width = 8;
  std::vector<std::size_t> cell_widths;
};

layout make_layout(const ledger& l, const std::vector<std::vector<std::string>>& cells,
                   const std::vector<std::string>& names) {
  layout out;
  for (const auto& n : names) out.name_width = std::max(out.name_width, n.size());
  for (const auto& id : l.sidecars())
    out.cell_widths.push_back(std::max(min_cell_width, id.size()));
  for (const auto& row : cells) {
    for (std::size_t s = 0; s < row.size(); ++s) {
      out.cell_widths[s] = std::max(out.cell_widths[s], row[s].size());
    }
  }
  return out;
}

std::string table_line(const layout& lay, const std::string& name,
                       const std::vector<std::string>& cells) {
  std::string line = pad(name, lay.name_width);
  for (std::size_t s = 0; s < cells.size(); ++s) line += "  " + pad(cells[s], lay.cell_widths[s]);
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line + "\n";
}

std::string table(const ledger& l, const std::vector<std::string>& names,
                  const std::vector<std::vector<std::string>>& cells) {
  auto lay = make_layout(l, cells, names);
  std::string out = table_line(lay, "RESOURCE", l.sidecars());
  for (std::size_t i = 0; i < names.size(); ++i) out += table_line(lay, names[i], cells[i]);
  return out;
}

std::string live_cell(const cell& c, bool in_discovery, clock::time_point now, clock::duration w) {
  auto a = c.availability(now, w);
  std::string out = a ? format_percent(*a) : "-";
  if (!in_discovery) out += "*";
  return out;
}

bool degraded(const row& r, clock::time_point now, clock::duration w) {
  return std::any_of(r.cells.begin(), r.cells.end(), [&](const cell& c) {
    auto a = c.availability(now, w);
    return a && *a < 1;
  });
}

// Degraded rows first (in discovery order), then the rest, as the view allows.
std::vector<const row*> live_rows(const ledger& l, clock::time_point now, const live_view& v) {
  std::vector<const row*> out;
  for (const auto& r : l.rows()) {
    if (degraded(r, now, l.window())) out.push_back(&r);
  }
  if (!v.degraded_only) {
    for (const auto& r : l.rows()) {
      if (!degraded(r, now, l.window())) out.push_back(&r);
    }
  }
  if (v.max_rows != 0 && out.size() > v.max_rows) out.resize(v.max_rows);
  return out;
}

}  // namespace

std::string format_percent(double share) {
  double tenths = std::floor(std::clamp(share, 0.0, 1.0) * 1000 + 1e-9) / 10;
  char buf[16];
  if (tenths == std::floor(tenths)) {
    std::snprintf(buf, sizeof buf, "%.0f%%", tenths);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f%%", tenths);
  }
  return buf;
}

std::string format_counts(const counts& c) {
  if (c.total() == 0) return "-";
  std::string out = std::to_string(c.ok()) + "/" + std::to_string(c.total());
  for (auto o :
       {outcome::not_found, outcome::server_error, outcome::other, outcome::transport_error}) {
    if (c.of(o) != 0) out += " " + std::string(outcome_name(o)) + ":" + std::to_string(c.of(o));
  }
  return out;
}

namespace {

// Rows about each sidecar as a whole: its discovery reads, how many answers came back
// in the window and the slowest of them, so a sidecar that stalls stands out even
// while the few answers it gives are fine.
void sidecar_rows(const ledger& l, clock::time_point now, std::vector<std::string>& names,
                  std::vector<std::vector<std::string>>& cells) {
  names.insert(names.end(), {"(discovery)", "(answers)", "(slowest)"});
  std::vector<std::string> discovery, answers, slowest;
  for (std::size_t s = 0; s < l.sidecars().size(); ++s) {
    discovery.push_back(live_cell(l.discovery(s), true, now, l.window()));
    auto total = l.discovery(s).recent(now, l.window());
    for (const auto& r : l.rows()) {
      auto one = r.cells[s].recent(now, l.window());
      total.answered += one.answered;
      total.slowest = std::max(total.slowest, one.slowest);
    }
    answers.push_back(std::to_string(total.answered));
    slowest.push_back(total.answered ? millis_text(total.slowest) : "-");
  }
  cells.insert(cells.end(), {discovery, answers, slowest});
}

std::string more_line(const ledger& l, const std::vector<const row*>& shown,
                      clock::time_point now) {
  if (shown.size() == l.rows().size()) return {};
  auto is_degraded = [&](const row& r) { return degraded(r, now, l.window()); };
  bool hidden_degraded =
      std::count_if(l.rows().begin(), l.rows().end(), is_degraded) >
      std::count_if(shown.begin(), shown.end(), [&](const row* r) { return is_degraded(*r); });
  auto hidden = l.rows().size() - shown.size();
  return "(" + std::to_string(hidden) + (hidden == 1 ? " resource" : " resources") + " not shown" +
         (hidden_degraded ? ", some below 100%: make the terminal taller)\n"
                          : ", none below 100% in the window)\n");
}

}  // namespace

std::string render_live(const ledger& l, clock::time_point now, clock::duration elapsed,
                        const live_view& view) {
  auto t = l.totals();
  std::ostringstream head;
  head << "mvproxy probe  elapsed " << seconds_text(elapsed) << "  requests " << t.total() << ", "
       << t.failed() << " failed  " << l.rows().size() << " resources x " << l.sidecars().size()
       << " sidecars  (cells: last " << seconds_text(l.window()) << ")\n";
  std::vector<std::string> names;
  std::vector<std::vector<std::string>> cells;
  sidecar_rows(l, now, names, cells);
  auto shown = live_rows(l, now, view);
  for (const row* r : shown) {
    names.push_back(r->resource.name());
    cells.emplace_back();
    for (std::size_t s = 0; s < r->cells.size(); ++s) {
      cells.back().push_back(live_cell(r->cells[s], r->in_discovery[s], now, l.window()));
    }
  }
  std::string out = view.ansi ? "\x1b[H\x1b[2J" : "";
  out += head.str() + table(l, names, cells) + more_line(l, shown, now);
  out += "* not in that sidecar's merged discovery   - not asked in the window\n";
  for (std::size_t s = 0; s < l.sidecars().size(); ++s) {
    const auto& f = l.last_failure(s);
    if (!f || f->at + l.window() < now) continue;
    out += "last failure via " + l.sidecars()[s] + " (" + seconds_text(now - f->at) +
           " ago): " + f->what + "\n";
  }
  return out;
}

namespace {

std::string latency_line(const ledger& l) {
  std::string out = "latency mean/max:";
  for (std::size_t s = 0; s < l.sidecars().size(); ++s) {
    double sum = 0, max = 0;
    std::uint64_t n = 0;
    std::vector<const cell*> of_sidecar = {&l.discovery(s)};
    for (const auto& r : l.rows()) of_sidecar.push_back(&r.cells[s]);
    for (const cell* c : of_sidecar) {
      auto total = c->all().total();
      sum += c->latency_mean() * static_cast<double>(total);
      n += total;
      max = std::max(max, c->latency_max());
    }
    out += "  " + l.sidecars()[s] + " " + millis_text(n ? sum / static_cast<double>(n) : 0) + "/" +
           millis_text(max);
  }
  return out + "\n";
}

std::string result_line(const ledger& l) {
  auto t = l.totals();
  if (l.all_ok()) return "result: every request succeeded\n";
  if (t.total() == 0) return "result: no request was made\n";
  std::ostringstream out;
  out << "result: " << t.failed() << " of " << t.total()
      << " requests failed (404: " << t.of(outcome::not_found)
      << ", 5xx: " << t.of(outcome::server_error) << ", other: " << t.of(outcome::other)
      << ", error: " << t.of(outcome::transport_error) << ")\n";
  return out.str();
}

}  // namespace

std::string render_summary_text(const ledger& l, clock::duration elapsed) {
  auto t = l.totals();
  std::ostringstream out;
  out << "mvproxy probe summary: " << seconds_text(elapsed) << ", " << l.sidecars().size()
      << " sidecars, " << l.rows().size() << " resources, " << t.total() << " requests, " << t.ok()
      << " ok\n";
  std::vector<std::string> names = {"(discovery)"};
  std::vector<std::vector<std::string>> cells(1);
  for (std::size_t s = 0; s < l.sidecars().size(); ++s) {
    cells[0].push_back(format_counts(l.discovery(s).all()));
  }
  for (const auto& r : l.rows()) {
    names.push_back(r.resource.name());
    cells.emplace_back();
    for (std::size_t s = 0; s < r.cells.size(); ++s) {
      cells.back().push_back(format_counts(r.cells[s].all()) + (r.in_discovery[s] ? "" : "*"));
    }
  }
  out << table(l, names, cells) << "* not in that sidecar's merged discovery at the end\n";
  out << latency_line(l);
  for (std::size_t s = 0; s < l.sidecars().size(); ++s) {
    if (const auto& f = l.last_failure(s)) {
      out << "last failure via " << l.sidecars()[s] << ": " << f->what << "\n";
    }
  }
  out << result_line(l);
  return out.str();
}

namespace {

nlohmann::json counts_json(const counts& c) {
  nlohmann::json j = {{"total", c.total()},
                      {"ok", c.ok()},
                      {"not_found", c.of(outcome::not_found)},
                      {"server_error", c.of(outcome::server_error)},
                      {"other", c.of(outcome::other)},
                      {"error", c.of(outcome::transport_error)}};
  j["availability"] =
      c.total() ? nlohmann::json(static_cast<double>(c.ok()) / static_cast<double>(c.total()))
                : nlohmann::json(nullptr);
  return j;
}

nlohmann::json cell_json(const cell& c) {
  auto j = counts_json(c.all());
  j["list"] = counts_json(c.of(verb::list));
  j["get"] = counts_json(c.of(verb::get));
  j["latency_mean_seconds"] = c.latency_mean();
  j["latency_max_seconds"] = c.latency_max();
  return j;
}

}  // namespace

std::string render_summary_json(const ledger& l, clock::duration elapsed) {
  nlohmann::json out;
  out["duration_seconds"] = std::chrono::duration<double>(elapsed).count();
  out["ok"] = l.all_ok();
  out["requests"] = counts_json(l.totals());
  out["sidecars"] = l.sidecars();
  out["last_failure"] = nlohmann::json::object();
  for (std::size_t s = 0; s < l.sidecars().size(); ++s) {
    if (const auto& f = l.last_failure(s)) out["last_failure"][l.sidecars()[s]] = f->what;
  }
  out["discovery"] = nlohmann::json::object();
  for (std::size_t s = 0; s < l.sidecars().size(); ++s) {
    auto d = counts_json(l.discovery(s).all());
    d["resources"] = l.discovered(s);
    out["discovery"][l.sidecars()[s]] = d;
  }
  out["resources"] = nlohmann::json::array();
  for (const auto& r : l.rows()) {
    nlohmann::json j = {
        {"name", r.resource.name()},           {"group", r.resource.group},
        {"version", r.resource.version},       {"resource", r.resource.resource},
        {"namespaced", r.resource.namespaced}, {"sidecars", nlohmann::json::object()}};
    for (std::size_t s = 0; s < r.cells.size(); ++s) {
      auto c = cell_json(r.cells[s]);
      c["in_discovery"] = static_cast<bool>(r.in_discovery[s]);
      j["sidecars"][l.sidecars()[s]] = c;
    }
    out["resources"].push_back(std::move(j));
  }
  return out.dump(2) + "\n";
}

}  // namespace mvproxy::probe
