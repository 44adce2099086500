#include "tls.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <stdexcept>

namespace fake_apiserver {
namespace {

std::vector<std::string> name_entries(X509_NAME* name, int nid) {
  std::vector<std::string> out;
  if (!name) return out;
  int idx = -1;
  while ((idx = X509_NAME_get_index_by_NID(name, nid, idx)) >= 0) {
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len >= 0) {
      out.emplace_back(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
      OPENSSL_free(utf8);
    }
  }
  return out;
}

struct alpn_protocols {
  const unsigned char* list;
  unsigned int size;
};
const unsigned char h2_and_http1[] = "\x02h2\x08http/1.1";
const unsigned char http1[] = "\x08http/1.1";
const alpn_protocols with_h2{h2_and_http1, sizeof h2_and_http1 - 1};
const alpn_protocols http1_only{http1, sizeof http1 - 1};

// As Go's crypto/tls: our first protocol the client offers wins; a client offering
// ALPN but nothing we speak (h2 alone, with http2 off) is refused with a
// no_application_protocol alert. Without ALPN a client gets HTTP/1.1.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void* arg) {
  const auto* ours = static_cast<const alpn_protocols*>(arg);
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, ours->list, ours->size, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

ca_bundle::ca_bundle(const std::string& pem_file) : store_(X509_STORE_new()) {
  if (X509_STORE_load_file(store_, pem_file.c_str()) != 1) {
    X509_STORE_free(store_);
    ERR_clear_error();
    throw std::runtime_error("cannot load CA certificates from " + pem_file);
  }
}

ca_bundle::~ca_bundle() { X509_STORE_free(store_); }

bool ca_bundle::verifies(X509* leaf, STACK_OF(X509) * intermediates) const {
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  if (!ctx) return false;
  bool ok = X509_STORE_CTX_init(ctx, store_, leaf, intermediates) == 1 &&
            X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT) == 1 &&
            X509_verify_cert(ctx) == 1;
  X509_STORE_CTX_free(ctx);
  ERR_clear_error();
  return ok;
}

std::unique_ptr<boost::asio::ssl::context> make_server_context(const std::string& cert_file,
                                                               const std::string& key_file,
                                                               const ca_bundle& client_ca,
                                                               const ca_bundle& requestheader_ca,
                                                               bool http2) {
  namespace ssl = boost::asio::ssl;
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(cert_file, ec);
  if (ec) throw std::runtime_error("cannot use certificate " + cert_file + ": " + ec.message());
  ctx->use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec) throw std::runtime_error("cannot use key " + key_file + ": " + ec.message());
  SSL_CTX* native = ctx->native_handle();
  if (SSL_CTX_check_private_key(native) != 1)
    throw std::runtime_error("key " + key_file + " does not match certificate " + cert_file);
  // Advertise both CAs so clients pick the right certificate; verification happens
  // after the handshake, per authenticator.
  for (const ca_bundle* b : {&client_ca, &requestheader_ca}) {
    STACK_OF(X509_OBJECT)* objs = X509_STORE_get0_objects(b->store());
    for (int i = 0; i < sk_X509_OBJECT_num(objs); ++i)
      if (X509* c = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i)))
        SSL_CTX_add_client_CA(native, c);
  }
  ctx->set_verify_mode(ssl::verify_peer);
  ctx->set_verify_callback([](bool, ssl::verify_context&) { return true; });
  static const unsigned char session_id[] = "fake-apiserver";
  SSL_CTX_set_session_id_context(native, session_id, sizeof session_id - 1);
  SSL_CTX_set_alpn_select_cb(native, select_alpn,
                             const_cast<alpn_protocols*>(http2 ? &with_h2 : &http1_only));
  return ctx;
}

bool negotiated_h2(const SSL* ssl) {
  const unsigned char* proto = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl, &proto, &len);
  return len == 2 && proto[0] == 'h' && proto[1] == '2';
}

client_cert inspect_client_cert(SSL* ssl, const ca_bundle& client_ca,
                                const ca_bundle& requestheader_ca) {
  client_cert c;
  X509* leaf = SSL_get0_peer_certificate(ssl);
  if (!leaf) return c;
  c.present = true;
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);  // server side: without the leaf
  c.chains_to_client_ca = client_ca.verifies(leaf, chain);
  c.chains_to_requestheader_ca = requestheader_ca.verifies(leaf, chain);
  auto cn = name_entries(X509_get_subject_name(leaf), NID_commonName);
  if (!cn.empty()) c.subject_cn = cn.front();
  c.subject_o = name_entries(X509_get_subject_name(leaf), NID_organizationName);
  auto issuer = name_entries(X509_get_issuer_name(leaf), NID_commonName);
  if (!issuer.empty()) c.issuer_cn = issuer.front();
  return c;
}

}  // namespace fake_apiserver
