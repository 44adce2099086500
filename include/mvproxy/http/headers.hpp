#pragma once
// Header rewriting for a forwarded request or relayed response (pure: fields in,
// fields out). SPEC §4.

#include <openssl/x509.h>

#include <array>
#include <boost/beast/http/fields.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mvproxy::http {

// The hop-by-hop fields Go's httputil.ReverseProxy removes (which is what
// kube-apiserver's proxies use; RFC 9110 §7.6.1), besides those Connection names. One
// list for both ways a message is relayed: strip_hop_by_hop over parsed fields, and
// relay_parser as it copies a head.
inline constexpr std::array hop_by_hop_fields{
    boost::beast::http::field::connection,
    boost::beast::http::field::proxy_connection,
    boost::beast::http::field::keep_alive,
    boost::beast::http::field::proxy_authenticate,
    boost::beast::http::field::proxy_authorization,
    boost::beast::http::field::te,
    boost::beast::http::field::trailer,
    boost::beast::http::field::transfer_encoding,
    boost::beast::http::field::upgrade,
};
bool is_hop_by_hop(boost::beast::http::field f);

// Removes every field named in Connection, then the hop_by_hop_fields. Content-Length and
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

// ---- Audit-ID (kube-apiserver's WithAuditInit filter) ----

// The header kube-apiserver reads a request's audit ID from and echoes on its response
// (auditinternal.HeaderAuditID, "Audit-ID"), spelled as Go's canonical form puts it on
// the wire. Field names are case-insensitive; this is only how mvproxy writes it.
inline constexpr std::string_view audit_id_field = "Audit-Id";

using uuid_bytes = std::array<std::uint8_t, 16>;

// The version 4 UUID made of `random` (RFC 4122: version and variant bits set), in the
// lower-case 8-4-4-4-12 form of Go's uuid.New().String(), which WithAuditInit uses.
std::string uuid_v4(uuid_bytes random);

// A request's audit ID as WithAuditInit decides it: the value of its first Audit-ID
// field (what Go's Header.Get returns, surrounding white space trimmed as Go's reader
// does) when that is not empty, else a new UUID v4 made of random() (called only then).
// A given value is kept whoever sent it, untruncated, as upstream keeps it.
std::string audit_id_for(const boost::beast::http::fields& request,
                         const std::function<uuid_bytes()>& random);

// Makes `id` the request's only Audit-ID field, so every hop logs the same ID.
void set_audit_id(boost::beast::http::fields& request, std::string_view id);

// For a response going to the client: adds Audit-ID `id` unless the response already
// carries a non-empty one (the apiserver's echo of the same ID), so it appears once.
// An empty `id` adds nothing.
void add_audit_id(boost::beast::http::fields& response, std::string_view id);
// The same for a head written by relay_parser::write_head_to (no final CRLF yet).
void add_audit_id(std::string& head, std::string_view id);

// The value of the first field `name` (any case) in such a head, leading white space
// removed; nullopt when there is none.
std::optional<std::string_view> field_in_head(std::string_view head, std::string_view name);

// The ID as a log line shows it: the first 64 bytes, as audit.GetAuditIDTruncated
// (a client may send a long one); "-" when there is none.
std::string_view audit_id_for_log(std::string_view id);

}  // namespace mvproxy::http
