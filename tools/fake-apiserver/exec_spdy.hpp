#pragma once
// kubectl exec over SPDY/3.1 (kubectl 1.27-1.29's default): the protocol choice
// and the session that answers the upgrade, as kubelet's remotecommand server
// does.

#include "api.hpp"
#include "server.hpp"
#include "status.hpp"

#include <optional>
#include <string>
#include <vector>

namespace fake_apiserver {

// The outcome of X-Stream-Protocol-Version negotiation: the chosen protocol, or
// the response kube-apiserver would give instead (400 without the header, 403
// when no offer is one this server speaks, listing the ones it does).
struct spdy_exec_handshake {
  std::optional<std::string> protocol;
  response refusal;
};

// `offered`: the values of every X-Stream-Protocol-Version header line, in
// order (a line may also hold a comma-separated list). Like
// httpstream.Handshake, the client's first offer that is v4, v3 or
// v2.channel.k8s.io wins.
spdy_exec_handshake negotiate_spdy_exec(const std::vector<std::string>& offered);

// Answers the upgrade with 101 and serves one exec over the SPDY connection.
// `pending` holds bytes the HTTP parser read past the request (client frames).
net::awaitable<void> serve_exec_spdy(tls_stream& stream, std::string pending, unsigned http_version,
                                     std::string protocol, const exec_plan& plan,
                                     const std::string& pod_name);

}  // namespace fake_apiserver
