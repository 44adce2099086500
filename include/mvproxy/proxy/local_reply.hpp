#pragma once
// Every answer mvproxy makes itself instead of relaying one (Envoy's sendLocalReply):
// the status code, Retry-After, message and metric labels, decided here and nowhere
// else. Pure: values in, values out (tests/unit/proxy/local_reply_test.cpp).

#include <string>
#include <string_view>

#include "mvproxy/proxy/upstream.hpp"

namespace mvproxy::dispatch {
struct plan;
}

namespace mvproxy::proxy {

// Where in a request's way an upstream failed.
enum class phase {
  connect,   // no connection (nothing was sent)
  exchange,  // writing the request or reading the response head
  upgrade,   // the same, for an upgrade request
};

// Answers that are not about an upstream.
enum class reply_kind {
  bad_request,         // a head or body framing we refuse (detail: why)
  head_too_large,      // a head over limits::max_head_bytes, 1 MiB (431)
  upgrade_with_body,   // an upgrade request that carries a body
  upgrade_not_routed,  // an upgrade request for a path mvproxy answers itself
  exhausted,           // every target that might serve it handed it back or failed
  unauthorized,        // a certificate that verifies against no CA, nothing else
};

struct local_reply {
  int code = 502;
  bool retry_after = false;  // Retry-After: 1 (the client may try again at once)
  std::string message;       // the Status message; its reason follows from the code
  // A hand-back: the reason, sent as x-mvproxy-handed-back so the peer that proxied the
  // request knows nothing reached an apiserver and tries another. The initializer lets
  // every other reply leave it out (-Wmissing-field-initializers).
  std::string handed_back = {};
};

// An upstream that failed in `ph`. `last_peer` is set when it was the last peer a
// peer route could try: rule 7's 503, whatever the transport said.
local_reply reply_for_failure(failure kind, const upstream_target& target, phase ph,
                              std::string_view detail, bool last_peer = false);

local_reply reply_for(reply_kind kind, std::string_view detail = {});

// A request the planner refused (dispatch::plan::action::refuse), by the plan's route:
// a malformed path, no reachable peer that serves it, or a hand-back.
local_reply reply_for(const dispatch::plan& refused);

}  // namespace mvproxy::proxy
