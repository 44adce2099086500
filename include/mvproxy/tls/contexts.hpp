#pragma once
// TLS contexts built from the configured files: the serving context (client
// certificates requested, never required) and client contexts for upstreams. A
// `server_context` also knows which CA a caller's certificate chains to, so the proxy
// can tell a trusted peer from a user from an anonymous caller.

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace mvproxy::tls {

// One line naming the file and why it could not be used.
struct error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct x509_deleter {
  void operator()(X509* x) const { X509_free(x); }
};
using x509_ptr = std::unique_ptr<X509, x509_deleter>;

enum class caller_kind {
  anonymous,     // no client certificate
  unverified,    // a certificate that chains to no configured CA (treated as anonymous)
  user,          // chains to --client-ca-file
  trusted_peer,  // chains to --requestheader-client-ca-file, CN allowed
};

struct caller {
  caller_kind kind = caller_kind::anonymous;
  x509_ptr certificate;  // the leaf, when one was presented
};

struct server_files {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;              // optional
  std::string requestheader_ca_file;       // optional
  std::vector<std::string> allowed_names;  // empty: any CN chaining to the requestheader CA
  bool http2 = true;                       // offer h2 in ALPN (--disable-http2-serving)
};

class server_context {
 public:
  explicit server_context(const server_files& files);  // throws tls::error
  server_context(const server_context&) = delete;
  server_context& operator=(const server_context&) = delete;
  ~server_context();

  boost::asio::ssl::context& context() { return ctx_; }
  // Classifies the caller of a completed handshake.
  caller classify(SSL* ssl) const;

 private:
  boost::asio::ssl::context ctx_;
  X509_STORE* client_store_ = nullptr;
  X509_STORE* requestheader_store_ = nullptr;
  std::vector<std::string> allowed_names_;
};

// The client and the listener agreed on HTTP/2 (ALPN "h2").
bool negotiated_h2(const SSL* ssl);

struct client_files {
  std::string ca_file;    // upstream's serving certificate must chain here
  std::string cert_file;  // our client certificate (optional)
  std::string key_file;
};

// Client context for connections to one kind of upstream (the local apiserver, peers).
// Server name verification is per connection (see verify_server_name).
class client_context {
 public:
  explicit client_context(const client_files& files);  // throws tls::error
  boost::asio::ssl::context& context() { return ctx_; }

 private:
  boost::asio::ssl::context ctx_;
};

// Sets SNI (for names) and the name or IP the peer certificate must match.
bool verify_server_name(SSL* ssl, const std::string& name);

}  // namespace mvproxy::tls
