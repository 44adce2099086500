#pragma once
// Header rewriting for a forwarded request or relayed response (pure: fields in,
// fields out). SPEC §4.

#include <openssl/x509.h>

#include <boost/beast/http/fields.hpp>
#include <string>
#include <vector>

namespace mvproxy::http {

// Removes the hop-by-hop fields Go's httputil.ReverseProxy removes (which is what
// kube-apiserver's proxies use; RFC 9110 §7.6.1): every field named in Connection,
// then Connection, Proxy-Connection, Keep-Alive, Proxy-Authenticate,
// Proxy-Authorization, TE, Trailer, Transfer-Encoding, Upgrade. Content-Length and
// Host are never removed even when Connection names them, since that would change
// the message's framing or target. The caller re-establishes the framing of the
// outgoing hop (message::chunked / prepare_payload) after this.
// keep_upgrade: when the fields are an upgrade request (is_upgrade_request) the result
// keeps exactly "Connection: Upgrade" and the Upgrade field(s), as Go re-adds them.
void strip_hop_by_hop(boost::beast::http::fields& f, bool keep_upgrade);

// Connection carries the "upgrade" token (any case, in any Connection line) and a
// non-empty Upgrade field is present.
bool is_upgrade_request(const boost::beast::http::fields& f);

struct client_identity {
  std::string user;
  std::vector<std::string> groups;
  bool operator==(const client_identity&) const = default;
};

// Unless from_trusted_peer, removes every X-Remote-* field (any case) and then, when a
// verified client identity with a non-empty user is given, sets X-Remote-User and one
// X-Remote-Group per group. A trusted peer's fields pass untouched. Authorization and
// Impersonate-* are never touched.
void apply_identity(boost::beast::http::fields& f, const client_identity* verified_client,
                    bool from_trusted_peer);

// user = the subject CN (the last one, as Go's pkix.Name keeps), groups = each subject
// O in order — what kube-apiserver's x509 authenticator derives. nullptr gives {}.
client_identity identity_from_certificate(X509* cert);

}  // namespace mvproxy::http
