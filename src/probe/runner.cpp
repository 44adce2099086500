// The probe's I/O: one coroutine per sidecar (discovery reads, then LIST/GET round
// the resources), all on one thread and one token bucket; a table printer; the
// metrics listener; stop on --duration or SIGINT/SIGTERM. Decisions live in the pure
// parts (options, resources, ledger, render, rate_limiter); this only moves bytes.
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "mvproxy/admin/endpoints.hpp"
#include "mvproxy/admin/server.hpp"
#include "mvproxy/control/https_client.hpp"
#include "mvproxy/control/kubeconfig.hpp"
#include "mvproxy/probe/ledger.hpp"
#include "mvproxy/probe/metrics.hpp"
#include "mvproxy/probe/options.hpp"
#include "mvproxy/probe/probe.hpp"
#include "mvproxy/probe/rate_limiter.hpp"
#include "mvproxy/probe/render.hpp"
#include "mvproxy/probe/resources.hpp"
#include "mvproxy/util/host_port.hpp"

namespace mvproxy::probe {
namespace {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

// Bad input found after flag parsing (kubeconfig, certificates, the metrics port):
// same one line and exit status 2 as a bad flag.
struct input_error : flag_error {
  using flag_error::flag_error;
};

struct answer {
  unsigned status = 0;  // 0: no answer (connect, TLS, timeout, broken connection)
  std::string body;
  std::string content_type;
  std::string error;  // why there was no answer
  double seconds = 0;
};

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

control::tls_client_files tls_files(const control::kubeconfig_credentials& c) {
  return {c.ca_file, c.cert_file, c.key_file, c.ca_pem, c.cert_pem, c.key_pem};
}

class runner {
 public:
  explicit runner(options o)
      : opts_(std::move(o)),
        metrics_(registry_),
        endpoints_(registry_, ready_),
        ledger_(sidecar_ids(opts_), opts_.window),
        bucket_(opts_.rate, 1, clock::now()) {
    // The live table goes where the summary does not, so `--output json` stays parseable.
    live_out_ = opts_.output == output_format::json ? stderr : stdout;
    tty_ = isatty(fileno(live_out_)) == 1;
    make_clients();
    start_metrics();
  }

  int run() {
    started_ = clock::now();
    for (std::size_t s = 0; s < workers_.size(); ++s) spawn(sidecar_loop(s));
    spawn(table_loop());
    spawn(wait_for_stop());
    int broken = 0;
    try {
      ioc_.run();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "mvproxy probe: stopped by an internal error: %s\n", e.what());
      stopped_ = clock::now();
      broken = 1;
    }
    auto elapsed = stopped_ - started_;
    std::string summary = opts_.output == output_format::json
                              ? render_summary_json(ledger_, elapsed)
                              : render_summary_text(ledger_, elapsed);
    std::fputs(summary.c_str(), stdout);
    std::fflush(stdout);
    return ledger_.all_ok() && !broken ? 0 : 1;
  }

 private:
  struct worker {
    sidecar_address address;
    std::unique_ptr<control::https_client> client;
    clock::time_point next_discovery{};  // due at once
    std::size_t cursor = 0;              // next row to probe
  };

  static std::vector<std::string> sidecar_ids(const options& o) {
    std::vector<std::string> ids;
    for (const auto& s : o.sidecars) ids.push_back(s.id);
    return ids;
  }

  // A coroutine that throws (none should: request failures are answers with status
  // 0) ends the run rather than silently leaving a sidecar unprobed.
  template <class Awaitable>
  void spawn(Awaitable a) {
    asio::co_spawn(ioc_, std::move(a), [](const std::exception_ptr& e) {
      if (e) std::rethrow_exception(e);
    });
  }

  void make_clients() {
    control::kubeconfig_credentials creds;
    try {
      creds = control::load_kubeconfig(opts_.kubeconfig);
    } catch (const std::exception& e) {
      throw input_error("--kubeconfig: " + std::string(e.what()));
    }
    auto files = tls_files(creds);
    try {
      control::make_client_tls_context(files);  // unusable files fail here, not per request
    } catch (const std::exception& e) {
      throw input_error("--kubeconfig: " + opts_.kubeconfig + ": " + e.what());
    }
    for (const auto& a : opts_.sidecars) {
      control::https_client::options o;
      o.host = a.host;
      o.port = a.port;
      o.verify_name = opts_.server_name;
      o.timeout = opts_.timeout;
      // Per connection, so certificates renewed during a long run are picked up.
      o.tls = [files] { return control::make_client_tls_context(files); };
      if (!creds.token.empty())
        o.default_headers.emplace_back("Authorization", "Bearer " + creds.token);
      workers_.push_back({a, std::make_unique<control::https_client>(ioc_.get_executor(), o)});
    }
  }

  void start_metrics() {
    if (opts_.metrics_address.empty()) return;
    auto hp = util::parse_host_port(opts_.metrics_address);
    try {
      asio::ip::tcp::endpoint at(asio::ip::make_address(hp.host), hp.port);
      metrics_server_ = std::make_unique<admin::server>(ioc_, at, endpoints_);
    } catch (const std::exception& e) {
      throw input_error("--metrics-address: " + opts_.metrics_address + ": " + e.what());
    }
    metrics_server_->start();
    auto bound = metrics_server_->local_endpoint();
    std::fprintf(stderr, "mvproxy probe: metrics listening on %s\n",
                 util::format_host_port(bound.address().to_string(), bound.port()).c_str());
  }

  // Waits for the next slot of the overall budget.
  asio::awaitable<void> pace() {
    auto at = bucket_.reserve(clock::now());
    if (at <= clock::now()) co_return;
    asio::steady_timer t(ioc_, at);
    co_await t.async_wait(asio::use_awaitable);
  }

  asio::awaitable<answer> get(std::size_t s, std::string target, const char* accept) {
    co_await pace();
    control::http_request req;
    req.target = std::move(target);
    req.headers.emplace_back("Accept", accept);
    answer out;
    auto start = clock::now();
    try {
      auto resp = co_await workers_[s].client->request(std::move(req));
      out.status = resp.status;
      out.content_type = resp.header("Content-Type");
      out.body = std::move(resp.body);
    } catch (const boost::system::system_error& e) {
      // The code's message alone: what() adds Boost's source location.
      out.error = e.code().message();
      workers_[s].client->reset();  // nothing is in flight now; start afresh next time
    } catch (const std::exception& e) {
      out.error = e.what();
      workers_[s].client->reset();
    }
    out.seconds = std::chrono::duration<double>(clock::now() - start).count();
    co_return out;
  }

  // Counts one request in the ledger and the metrics; notes why it failed.
  void count(std::size_t s, std::optional<std::size_t> row, verb v, const std::string& what,
             const answer& a) {
    auto now = clock::now();
    const resource_ref* r = row ? &ledger_.rows()[*row].resource : nullptr;
    metrics_.observe(workers_[s].address.id, r, v, a.status, a.seconds, unix_now());
    if (row) {
      ledger_.record(s, *row, v, a.status, a.seconds, now);
    } else {
      ledger_.record_discovery(s, a.status, a.seconds, now);
    }
    if (classify(a.status) == outcome::ok) return;
    std::string why = a.status ? "HTTP " + std::to_string(a.status) : a.error;
    ledger_.note_failure(s, what + ": " + why, now);
  }

  asio::awaitable<bool> read_document(std::size_t s, const std::string& target, const char* accept,
                                      std::string& body, bool* aggregated) {
    auto a = co_await get(s, target, accept);
    count(s, std::nullopt, verb::discovery, "GET " + target, a);
    if (classify(a.status) != outcome::ok) co_return false;
    body = std::move(a.body);
    if (aggregated) *aggregated = is_aggregated_content_type(a.content_type);
    co_return true;
  }

  asio::awaitable<void> read_discovery(std::size_t s) {
    discovery_documents docs;
    if (!co_await read_document(s, "/api", merged_discovery_accept, docs.api,
                                &docs.api_aggregated) ||
        !co_await read_document(s, "/apis", merged_discovery_accept, docs.apis,
                                &docs.apis_aggregated)) {
      co_return;
    }
    auto targets = resource_list_targets(docs);
    if (!targets.ok()) {
      note_unusable(s, targets.error);
      co_return;
    }
    for (const auto& t : *targets.value) {
      std::string body;
      auto gv = t.substr(t.find('/', 1) + 1);  // "/api/v1" → "v1", "/apis/apps/v1" → "apps/v1"
      if (co_await read_document(s, t, "application/json", body, nullptr)) {
        docs.resource_lists.emplace(gv, std::move(body));
      }
    }
    auto model = build_model(docs);
    if (!model.ok()) {
      note_unusable(s, model.error);
      co_return;
    }
    auto resources = apply_filter(listable_resources(*model.value), opts_.resources);
    ledger_.set_discovered(s, resources);
    metrics_.set_resources(workers_[s].address.id, resources.size());
    for (const auto& row : ledger_.rows()) metrics_.set_listed(row.resource, row.listed());
  }

  // A discovery document that answered 200 but cannot be read: the sidecar's clients
  // could not read it either, so it stays in front of the operator.
  void note_unusable(std::size_t s, const std::string& why) {
    ledger_.note_failure(s, "discovery: " + why, clock::now());
  }

  asio::awaitable<void> probe_row(std::size_t s, std::size_t row) {
    // A copy: rows may be added (and the vector moved) while this waits.
    const resource_ref r = ledger_.rows()[row].resource;
    auto list = co_await get(s, list_target(r, opts_.namespace_), list_accept);
    count(s, row, verb::list, "LIST " + r.name(), list);
    if (classify(list.status) != outcome::ok) co_return;
    auto item = first_item(list.body);
    if (!item) co_return;
    auto one = co_await get(s, item_target(r, *item), get_accept);
    count(s, row, verb::get, "GET " + r.name() + " " + item->name, one);
  }

  asio::awaitable<void> sleep_until(clock::time_point at) {
    asio::steady_timer t(ioc_, at);
    co_await t.async_wait(asio::use_awaitable);
  }

  asio::awaitable<void> sidecar_loop(std::size_t s) {
    auto& w = workers_[s];
    for (;;) {
      if (clock::now() >= w.next_discovery) {
        co_await read_discovery(s);
        w.next_discovery = clock::now() + opts_.interval;
      }
      if (ledger_.rows().empty()) {
        co_await sleep_until(w.next_discovery);
        continue;
      }
      co_await probe_row(s, w.cursor++ % ledger_.rows().size());
    }
  }

  live_view plain_view() const { return {false, 0, true}; }

  live_view terminal_view() const {
    winsize ws{};
    std::size_t height = 40;
    if (ioctl(fileno(live_out_), TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0) height = ws.ws_row;
    // Header, titles, three sidecar rows, "not shown", legend, a failure line per sidecar
    // and the cursor's line.
    std::size_t other = 8 + workers_.size();
    return {true, height > other + 1 ? height - other : 1, false};
  }

  // A terminal gets the whole table redrawn every second; a log gets a short block of
  // what is below 100% every --interval.
  asio::awaitable<void> table_loop() {
    auto period = tty_ ? std::chrono::milliseconds(1000) : opts_.interval;
    for (auto next = clock::now() + period;; next += period) {
      co_await sleep_until(next);
      auto now = clock::now();
      auto text = render_live(ledger_, now, now - started_, tty_ ? terminal_view() : plain_view());
      std::fputs(text.c_str(), live_out_);
      std::fflush(live_out_);
    }
  }

  asio::awaitable<void> wait_for_stop() {
    asio::signal_set signals(ioc_, SIGINT, SIGTERM);
    if (opts_.duration.count() > 0) spawn(stop_at(started_ + opts_.duration));
    co_await signals.async_wait(asio::use_awaitable);
    stop();
  }

  asio::awaitable<void> stop_at(clock::time_point at) {
    co_await sleep_until(at);
    stop();
  }

  // Requests still in flight are dropped uncounted: they have no outcome yet.
  void stop() {
    stopped_ = clock::now();
    ioc_.stop();
  }

  options opts_;
  asio::io_context ioc_;  // first in, last out: everything below uses it
  metrics::registry registry_;
  probe_metrics metrics_;
  admin::readiness ready_;  // no gates: a probe is ready at once
  admin::endpoints endpoints_;
  std::unique_ptr<admin::server> metrics_server_;
  ledger ledger_;
  token_bucket bucket_;
  std::vector<worker> workers_;
  clock::time_point started_, stopped_;
  FILE* live_out_ = stdout;
  bool tty_ = false;
};

}  // namespace

int run(int argc, char** argv) {
  options opts;
  try {
    opts = parse_options(argc, argv);
  } catch (const flag_error& e) {
    std::fprintf(stderr, "mvproxy probe: %s\n", e.what());
    return 2;
  }
  if (opts.help) {
    std::fputs(help_text().c_str(), stdout);
    return 0;
  }
  std::unique_ptr<runner> r;
  try {
    r = std::make_unique<runner>(std::move(opts));
  } catch (const flag_error& e) {
    std::fprintf(stderr, "mvproxy probe: %s\n", e.what());
    return 2;
  }
  return r->run();
}

}  // namespace mvproxy::probe
