#include "sync_recorder.hpp"

#include "mvproxy/metrics/standard.hpp"

namespace mvproxy::control {

asio::awaitable<sync_outcome> sync_recorder::sync(discovery_syncer& syncer,
                                                  const std::string& server, const std::string& who,
                                                  bool peer, const locate& at,
                                                  const with_result& also) {
  auto attempt = sys_clock::now();
  std::string what;
  sync_outcome outcome = sync_outcome::failed;
  try {
    auto r = co_await syncer.sync();
    const bool changed = r.model != nullptr;
    const bool recovered = record_success(r, attempt, at, also);
    control_metrics::count(ctx_.metrics().syncs, {server, changed ? "changed" : "unchanged"});
    if (recovered) spdlog::info("control: {} discovery sync works again", who);
    if (changed)
      spdlog::info("control: {} discovery synced ({}, {} resources)", who, r.source,
                   r.model->resource_count());
    co_return sync_outcome::ok;
  } catch (const boost::system::system_error& e) {
    what = describe(e);
    outcome = sync_outcome::unreachable;
  } catch (const std::exception& e) {
    what = describe(e);
  }
  record_failure(server, who, peer, outcome, what, attempt, at, also);
  co_return outcome;
}

bool sync_recorder::record_success(discovery_result& r, sys_clock::time_point attempt,
                                   const locate& at, const with_result& also) {
  const bool changed = r.model != nullptr;
  bool recovered = false;
  ctx_.publish([&](view::cluster_view& v) {
    auto [s, model] = at(v);
    if (!s) return false;
    recovered = !s->last_error.empty();
    s->last_attempt = attempt;
    s->last_success = sys_clock::now();
    s->last_error.clear();
    s->etag = r.etag;
    s->api_etag = r.api_etag;
    s->openapi_etag = r.openapi_etag;
    const bool openapi_changed = r.openapi_index.has_value();
    if (openapi_changed)
      s->openapi_index = std::make_shared<const std::string>(std::move(*r.openapi_index));
    ++s->syncs;
    if (changed) {
      s->source = r.source;
      *model = r.model;
    }
    if (also) also(v, sync_outcome::ok, changed);
    return changed || openapi_changed;
  });
  return recovered;
}

void sync_recorder::record_failure(const std::string& server, const std::string& who, bool peer,
                                   sync_outcome outcome, const std::string& what,
                                   sys_clock::time_point attempt, const locate& at,
                                   const with_result& also) {
  bool again = false;  // the last attempt failed too: logged once per outage
  ctx_.publish([&](view::cluster_view& v) {
    auto [s, model] = at(v);
    if (s) {
      again = !s->last_error.empty();
      s->last_attempt = attempt;
      s->last_error = what;
      ++s->errors;
    }
    if (also) also(v, outcome, false);
    return false;
  });
  auto& m = ctx_.metrics();
  control_metrics::count(m.syncs, {server, "error"});
  control_metrics::count(m.sync_failures,
                         {server, outcome == sync_outcome::unreachable ? "unreachable" : "failed"});
  if (peer) control_metrics::count(m.sync_errors, {metrics::discovery_error_fetch});
  if (again)
    spdlog::debug("control: {} discovery sync failed again: {}", who, what);
  else
    spdlog::warn("control: {} discovery sync failed: {}", who, what);
}

}  // namespace mvproxy::control
