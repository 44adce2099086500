// Requests that wait for the cluster view to change: one whose local view is being
// re-read (bounded), and a peer's long-poll of this sidecar's state.

#include "exchange_internal.hpp"
#include "mvproxy/view/peer_state.hpp"

namespace mvproxy::proxy {

void exchange::report_local_trouble() const {
  if (shared_.options.local_trouble) shared_.options.local_trouble();
}

asio::awaitable<void> exchange::wait_for_view(clock::time_point deadline,
                                              const std::function<bool()>& ready) {
  auto* cluster = shared_.options.cluster;
  while (cluster && !terminating_ && !worker_.draining && clock::now() < deadline) {
    auto timer = std::make_shared<asio::steady_timer>(worker_.ioc);
    timer->expires_at(deadline);
    std::weak_ptr<asio::steady_timer> weak = timer;
    cluster->on_next_change([weak, ex = timer->get_executor()] {
      asio::post(ex, [weak] {
        if (auto t = weak.lock()) t->cancel();
      });
    });
    if (ready()) break;
    view_wait_ = timer;
    co_await timer->async_wait(use_tuple);
    view_wait_.reset();
  }
}

asio::awaitable<dispatch::plan> exchange::settle_plan() {
  dispatch::plan plan = plan_for();
  auto* cluster = shared_.options.cluster;
  if (plan.what != dispatch::plan::action::wait || !cluster) co_return plan;
  const auto& lim = shared_.options.lim;
  const bool probe = plan.wait == routing::wait_for::probe;
  const auto deadline = clock::now() + (probe ? lim.peer_probe_wait : lim.local_recovery_wait);
  const auto probes = cluster->current()->local_probes;
  report_local_trouble();  // probe now, not at the next retry tick
  co_await wait_for_view(deadline, [&] {
    auto v = cluster->current();
    return v->local_state == routing::apiserver_state::up || (probe && v->local_probes != probes);
  });
  // What is known now decides: a client's request goes by the last local view, a
  // peer's is handed back unless the apiserver is up again.
  co_return plan_for(true);
}

asio::awaitable<bool> exchange::answer_peer_state() {
  auto* cluster = shared_.options.cluster;
  std::string_view target = client_.request().target();
  auto q = target.find('?');
  auto query = view::parse_state_query(q == std::string_view::npos ? std::string_view{}
                                                                   : target.substr(q + 1));
  if (cluster) {
    co_await wait_for_view(clock::now() + query.timeout, [&] {
      return view::state_changed(query, view::own_state(*cluster->current()));
    });
  }
  dispatch::answer a;
  a.content_type = "application/json";
  a.headers.emplace_back("Cache-Control", "no-cache, private");
  a.text = cluster ? view::peer_state_json(view::own_state(*cluster->current())) : "{}";
  const bool keep = client_.wants_keep_alive() && !client_.body_pending();
  co_await send_answer(a, false, keep);
  co_return keep;
}

}  // namespace mvproxy::proxy
