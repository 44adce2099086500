#include "mvproxy/http/headers.hpp"
#include "field_list.hpp"

#include <gtest/gtest.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace bh = boost::beast::http;
using mvproxy::http::apply_identity;
using mvproxy::http::client_identity;
using mvproxy::http::identity_from_certificate;
using mvproxy::http::is_upgrade_request;
using mvproxy::http::strip_hop_by_hop;

using mvproxy::test::field_list;

bh::fields make(const field_list& in) { return mvproxy::test::make_fields(in); }
field_list dump(const bh::fields& f) { return mvproxy::test::dump_fields(f); }

struct strip_case {
  std::string name;
  field_list in;
  bool keep_upgrade;
  field_list want;
};

const std::vector<strip_case> strip_cases = {
    {"fixed hop-by-hop list",
     {{"Host", "a"},
      {"Connection", "keep-alive"},
      {"Keep-Alive", "timeout=5"},
      {"Proxy-Connection", "keep-alive"},
      {"TE", "trailers"},
      {"Trailer", "X-Checksum"},
      {"Proxy-Authorization", "Basic Zm9vOmJhcg=="},
      {"Accept", "application/json"},
      {"Authorization", "Bearer abc"}},
     false,
     {{"Host", "a"}, {"Accept", "application/json"}, {"Authorization", "Bearer abc"}}},
    {"Transfer-Encoding goes, Content-Length stays",
     {{"Host", "a"}, {"Transfer-Encoding", "chunked"}, {"Content-Length", "5"}},
     false,
     {{"Host", "a"}, {"Content-Length", "5"}}},
    {"fields named by Connection, any case",
     {{"Host", "a"},
      {"connection", "close, X-Hop-One"},
      {"x-hop-one", "1"},
      {"X-HOP-TWO", "2"},
      {"Connection", " x-hop-two ,,"},
      {"X-End-To-End", "3"}},
     false,
     {{"Host", "a"}, {"X-End-To-End", "3"}}},
    {"Connection cannot remove Content-Length or Host",
     {{"Host", "a"},
      {"Connection", "Content-Length, host, Authorization"},
      {"Content-Length", "2"},
      {"Authorization", "Bearer abc"}},
     false,
     {{"Host", "a"}, {"Content-Length", "2"}}},
    {"response: Proxy-Authenticate",
     {{"Content-Type", "application/json"},
      {"Proxy-Authenticate", "Basic"},
      {"Connection", "close"}},
     false,
     {{"Content-Type", "application/json"}}},
    {"websocket upgrade kept",
     {{"Host", "a"},
      {"Connection", "keep-alive, Upgrade"},
      {"Upgrade", "websocket"},
      {"Keep-Alive", "timeout=5"},
      {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
      {"Sec-WebSocket-Protocol", "v5.channel.k8s.io"}},
     true,
     {{"Host", "a"},
      {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
      {"Sec-WebSocket-Protocol", "v5.channel.k8s.io"},
      {"Connection", "Upgrade"},
      {"Upgrade", "websocket"}}},
    {"SPDY upgrade kept",
     {{"Host", "a"},
      {"Connection", "Upgrade"},
      {"Upgrade", "SPDY/3.1"},
      {"X-Stream-Protocol-Version", "v4.channel.k8s.io"}},
     true,
     {{"Host", "a"},
      {"X-Stream-Protocol-Version", "v4.channel.k8s.io"},
      {"Connection", "Upgrade"},
      {"Upgrade", "SPDY/3.1"}}},
    {"upgrade stripped when not kept",
     {{"Host", "a"}, {"Connection", "Upgrade"}, {"Upgrade", "websocket"}},
     false,
     {{"Host", "a"}}},
    {"Upgrade without the Connection token is not an upgrade",
     {{"Host", "a"}, {"Connection", "keep-alive"}, {"Upgrade", "websocket"}},
     true,
     {{"Host", "a"}}},
};

TEST(StripHopByHop, Table) {
  for (const auto& c : strip_cases) {
    auto f = make(c.in);
    strip_hop_by_hop(f, c.keep_upgrade);
    EXPECT_EQ(dump(f), c.want) << c.name;
  }
}

TEST(IsUpgradeRequest, Table) {
  const std::pair<field_list, bool> table[] = {
      {{{"Connection", "Upgrade"}, {"Upgrade", "websocket"}}, true},
      {{{"connection", "keep-alive, upgrade"}, {"upgrade", "SPDY/3.1"}}, true},
      {{{"Connection", "keep-alive"}, {"Connection", "UPGRADE"}, {"Upgrade", "h2c"}}, true},
      {{{"Connection", "Upgrade"}}, false},
      {{{"Connection", "Upgrade"}, {"Upgrade", " "}}, false},
      {{{"Upgrade", "websocket"}}, false},
      {{{"Connection", "Upgraded"}, {"Upgrade", "websocket"}}, false},
      {{}, false},
  };
  for (const auto& [in, want] : table) {
    EXPECT_EQ(is_upgrade_request(make(in)), want) << (in.empty() ? "" : in.front().second);
  }
}

const field_list forged = {
    {"Host", "a"},
    {"Authorization", "Bearer abc"},
    {"X-Remote-User", "system:admin"},
    {"x-remote-group", "system:masters"},
    {"X-REMOTE-EXTRA-scopes", "all"},
    {"X-Remote-Uid", "0"},
    {"Impersonate-User", "bob"},
    {"Impersonate-Group", "ops"},
    {"Impersonate-Extra-Reason", "test"},
    {"X-Remoteness", "kept: not an X-Remote- field"},
};

const field_list forged_removed = {
    {"Host", "a"},
    {"Authorization", "Bearer abc"},
    {"Impersonate-User", "bob"},
    {"Impersonate-Group", "ops"},
    {"Impersonate-Extra-Reason", "test"},
    {"X-Remoteness", "kept: not an X-Remote- field"},
};

struct identity_case {
  std::string name;
  const client_identity* client;
  bool trusted_peer;
  field_list want;
};

const client_identity jane{"jane", {"developers", "qa"}};
const client_identity no_user{"", {"developers"}};

field_list with(field_list base, const field_list& extra) {
  base.insert(base.end(), extra.begin(), extra.end());
  return base;
}

const std::vector<identity_case> identity_cases = {
    {"untrusted, no certificate: forged X-Remote-* removed", nullptr, false, forged_removed},
    {"untrusted, verified client: identity replaces forgeries", &jane, false,
     with(forged_removed,
          {{"X-Remote-User", "jane"}, {"X-Remote-Group", "developers"}, {"X-Remote-Group", "qa"}})},
    {"client certificate without CN sets nothing", &no_user, false, forged_removed},
    {"trusted peer: passed on untouched", nullptr, true, forged},
    {"trusted peer with a certificate identity: still untouched", &jane, true, forged},
};

TEST(ApplyIdentity, Table) {
  for (const auto& c : identity_cases) {
    auto f = make(forged);
    apply_identity(f, c.client, c.trusted_peer);
    EXPECT_EQ(dump(f), c.want) << c.name;
  }
}

// --- identity_from_certificate -------------------------------------------------------

struct x509_deleter {
  void operator()(X509* x) const { X509_free(x); }
};
using x509_ptr = std::unique_ptr<X509, x509_deleter>;

// A certificate with the given subject (name, value) entries, in order; unsigned,
// since only the subject is read.
x509_ptr cert_with_subject(const field_list& subject) {
  x509_ptr cert(X509_new());
  X509_NAME* name = X509_get_subject_name(cert.get());
  for (const auto& [k, v] : subject) {
    X509_NAME_add_entry_by_txt(name, k.c_str(), MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(v.c_str()), -1, -1, 0);
  }
  return cert;
}

TEST(IdentityFromCertificate, Table) {
  const std::pair<field_list, client_identity> table[] = {
      {{{"O", "developers"}, {"O", "qa"}, {"CN", "jane"}}, {"jane", {"developers", "qa"}}},
      {{{"O", "system:masters"}, {"CN", "kubernetes-admin"}},
       {"kubernetes-admin", {"system:masters"}}},
      {{{"CN", "front-proxy-client"}}, {"front-proxy-client", {}}},
      {{{"CN", "first"}, {"CN", "last"}}, {"last", {}}},
      {{{"C", "DE"}, {"OU", "not-a-group"}, {"CN", "J\xC3\xBCrgen"}}, {"J\xC3\xBCrgen", {}}},
      {{{"O", "no-cn"}}, {"", {"no-cn"}}},
  };
  for (const auto& [subject, want] : table) {
    auto cert = cert_with_subject(subject);
    EXPECT_EQ(identity_from_certificate(cert.get()), want) << want.user;
  }
  EXPECT_EQ(identity_from_certificate(nullptr), client_identity{});
}

}  // namespace
