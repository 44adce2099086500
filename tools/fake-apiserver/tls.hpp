#pragma once
// TLS for the instance listeners: a serving context that requests (never requires)
// a client certificate and accepts any during the handshake, and CA bundles that
// verify the presented chain afterwards, as kube-apiserver's authenticators do.

#include "auth.hpp"

#include <boost/asio/ssl.hpp>

#include <memory>
#include <string>

namespace fake_apiserver {

class ca_bundle {
 public:
  // Throws std::runtime_error naming the file when it holds no usable certificate.
  explicit ca_bundle(const std::string& pem_file);
  ~ca_bundle();
  ca_bundle(const ca_bundle&) = delete;
  ca_bundle& operator=(const ca_bundle&) = delete;

  bool verifies(X509* leaf, STACK_OF(X509) * intermediates) const;
  X509_STORE* store() const { return store_; }

 private:
  X509_STORE* store_;
};

// Throws std::runtime_error when the certificate or key cannot be used. ALPN as
// kube-apiserver (Go's crypto/tls): "h2,http/1.1" with `http2`, else "http/1.1".
std::unique_ptr<boost::asio::ssl::context> make_server_context(const std::string& cert_file,
                                                               const std::string& key_file,
                                                               const ca_bundle& client_ca,
                                                               const ca_bundle& requestheader_ca,
                                                               bool http2 = true);

// The handshake chose "h2".
bool negotiated_h2(const SSL* ssl);

client_cert inspect_client_cert(SSL* ssl, const ca_bundle& client_ca,
                                const ca_bundle& requestheader_ca);

}  // namespace fake_apiserver
