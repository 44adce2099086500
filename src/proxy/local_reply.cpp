#include "mvproxy/proxy/local_reply.hpp"

#include "mvproxy/dispatch/plan.hpp"
#include "mvproxy/util/host_port.hpp"

namespace mvproxy::proxy {

local_reply reply_for_failure(failure kind, const upstream_target& target, phase ph,
                              std::string_view detail, bool last_peer) {
  std::string where = "error trying to reach " +
                      (target.peer ? "peer " + target.name : std::string("the local apiserver")) +
                      " at " + util::format_host_port(target.host, target.port) + ": " +
                      (ph == phase::upgrade ? "upgrading: " : "") + std::string(detail);
  // Peers exist but none could be reached (SPEC §3 rule 7): retry, elsewhere or later.
  if (ph == phase::connect && last_peer)
    return {503, true, "no peer apiserver could be reached: " + where};
  switch (kind) {
    case failure::refused:
      return {503, true, where};  // restarting: try again
    case failure::timeout:
      return {504, false, where};
    case failure::tls:
    case failure::broken:
    case failure::none:
      break;
  }
  return {502, false, where};
}

local_reply reply_for(reply_kind kind, std::string_view detail) {
  switch (kind) {
    case reply_kind::bad_request:
      return {400, false, "bad request: " + std::string(detail)};
    case reply_kind::head_too_large:
      return {431, false, "request header fields too large"};
    case reply_kind::upgrade_with_body:
      return {400, false, "bad request: an upgrade request cannot carry a body"};
    case reply_kind::upgrade_not_routed:
      return {400, false, "bad request: an upgrade request for this path"};
    case reply_kind::exhausted:
      return {503, true,
              "no apiserver that serves this request could take it: every peer that might "
              "serve it is unreachable or handed it back"};
    case reply_kind::unauthorized:
      return {401, false, "Unauthorized"};
  }
  return {500, false, "internal error"};
}

local_reply reply_for(const dispatch::plan& p) {
  switch (p.route) {
    case dispatch::route_kind::malformed:
      return reply_for(reply_kind::bad_request, p.malformed);
    case dispatch::route_kind::unavailable:  // a 503 the client should retry, later
      return {503, true,
              "no peer apiserver that serves " +
                  (p.group.empty() ? p.version : p.group + "/" + p.version) +
                  ", Resource=" + p.resource + " is reachable"};
    case dispatch::route_kind::handed_back:  // the peer tries another: nothing reached us
      return {503, true,
              "this apiserver cannot serve the request a peer proxied here (" + p.reason +
                  "); nothing reached it, the peer may try another",
              p.reason};
    case dispatch::route_kind::local:  // not refusals: a plan that says so is a bug
    case dispatch::route_kind::peer:
    case dispatch::route_kind::merged:
    case dispatch::route_kind::peer_state:
    case dispatch::route_kind::waiting:
      break;
  }
  return {500, false, "internal error"};
}

}  // namespace mvproxy::proxy
