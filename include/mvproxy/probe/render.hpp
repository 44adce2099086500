#pragma once
// The probe's output, as text from the ledger: the live table (redrawn in place on a
// terminal, a short block otherwise) and the final summary (text or JSON). Pure.

#include <chrono>
#include <cstddef>
#include <string>

#include "mvproxy/probe/ledger.hpp"

namespace mvproxy::probe {

struct live_view {
  bool ansi = false;           // a terminal: clear and redraw from the top left
  std::size_t max_rows = 0;    // resource rows at most (0: all); degraded ones first
  bool degraded_only = false;  // not a terminal: only rows below 100% in the window
};

// Cells: availability over the last window ("100%", "97.5%"), "-" when nothing was
// asked in it; "*" marks a resource absent from that sidecar's discovery.
std::string render_live(const ledger& l, ledger::clock::time_point now,
                        ledger::clock::duration elapsed, const live_view& view);

// Whole run: per resource per sidecar "ok/total" and the failed ones by kind.
std::string render_summary_text(const ledger& l, ledger::clock::duration elapsed);
std::string render_summary_json(const ledger& l, ledger::clock::duration elapsed);

// "100%", "99.9%", "0%": rounded down, so only a clean record shows 100%.
std::string format_percent(double share);
// "ok/total" plus each kind of failure: "3/5 404:1 error:1"; "-" when nothing counted.
std::string format_counts(const counts& c);

}  // namespace mvproxy::probe
