// The request handling every connection shares, whichever protocol carried the
// request: injected latency and failures, authentication, impersonation, then the API
// handler. What it answers is the same over HTTP/1.1 and HTTP/2.

#include "protobuf.hpp"
#include "server.hpp"

namespace fake_apiserver {

net::awaitable<dispatched> server::dispatch(std::shared_ptr<instance_state> inst,
                                            const connection_info& conn, api_request& areq,
                                            connection_handle& handle) {
  dispatched out;
  std::string body_error;
  bool body_ok = protobuf_body_to_json(areq.headers, areq.body, body_error);
  request_record& record = out.record;
  record = {inst->name, areq.method,  areq.path,    areq.query, 0,      areq.headers,
            conn.cert,  std::nullopt, std::nullopt, conn.proto, conn.id};
  if (inst->latency_ms > 0) {
    net::steady_timer delay(ioc_, std::chrono::milliseconds(inst->latency_ms));
    wake_on_cut registered(handle, delay);
    co_await delay.async_wait(use_tuple);
    if (handle.closed) {
      out.cut = true;
      co_return out;
    }
  }

  std::optional<user_info> user = authenticate(auth_, conn.cert, areq.headers);
  record.user = user;
  api_result& result = out.result;
  if (inst->fail_code != 0) {
    result.resp = injected_failure(inst->fail_code);
  } else if (!user && offered_credentials(conn.cert, areq.headers)) {
    result.resp = status_response(401, "Unauthorized", "Unauthorized");
  } else if (!user && !is_public_info_path(areq.path) &&
             !classify(areq.method, areq.path, parse_query(areq.query)).is_resource) {
    // Resource requests are refused by the API handler, which names the resource.
    result.resp = status_response(403, "Forbidden",
                                  "forbidden: User \"system:anonymous\" cannot " +
                                      lower(areq.method) + " path \"" + areq.path + "\"");
  } else if (!body_ok) {
    result.resp = status_response(400, "BadRequest", body_error);
  } else {
    areq.user = user ? *user : anonymous_user();
    impersonation imp = impersonate(auth_, areq.user, areq.headers);
    if (imp.code == 400) {
      result.resp = status_response(400, "BadRequest", imp.message);
    } else if (imp.code == 403) {
      result.resp = status_response(403, "Forbidden", imp.message, {{"kind", "users"}});
    } else {
      if (imp.user) areq.user = *imp.user;
      record.impersonated = imp.user;
      result = api_.handle(*inst->profile, areq);
    }
  }
  co_return out;
}

}  // namespace fake_apiserver
