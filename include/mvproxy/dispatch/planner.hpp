#pragma once
// The data plane's one question to the rest of the sidecar: what to do with this
// request. The app answers it from the current cluster view (dispatch::make_plan);
// tests answer it with plans of their own. Called on worker threads, concurrently.

#include <boost/beast/http/message.hpp>

#include "mvproxy/dispatch/plan.hpp"

namespace mvproxy::dispatch {

class planner {
 public:
  virtual ~planner() = default;
  // `head` is the request as the client sent it (before any header rewriting);
  // `from_trusted_peer`: the caller's certificate is a trusted peer's; `wait_expired`:
  // a bounded wait for the local view (a plan's action::wait) already ran out.
  virtual plan plan_for(const boost::beast::http::request_header<>& head, bool from_trusted_peer,
                        bool wait_expired) = 0;
};

}  // namespace mvproxy::dispatch
