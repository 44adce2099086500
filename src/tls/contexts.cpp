#include "mvproxy/tls/contexts.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>

#include "mvproxy/util/x509_subject.hpp"

namespace mvproxy::tls {

namespace ssl = boost::asio::ssl;

namespace {

std::string openssl_reason() {
  unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  const char* r = ERR_reason_error_string(e);
  return r ? r : "unknown error";
}

X509_STORE* load_store(const std::string& file, const char* what) {
  X509_STORE* store = X509_STORE_new();
  if (!store) throw error("out of memory");
  if (X509_STORE_load_file(store, file.c_str()) != 1) {
    X509_STORE_free(store);
    throw error(std::string(what) + " " + file + ": " + openssl_reason());
  }
  return store;
}

void load_pair(ssl::context& ctx, const std::string& cert, const std::string& key,
               const char* what) {
  SSL_CTX* c = ctx.native_handle();
  if (SSL_CTX_use_certificate_chain_file(c, cert.c_str()) != 1)
    throw error(std::string(what) + " certificate " + cert + ": " + openssl_reason());
  if (SSL_CTX_use_PrivateKey_file(c, key.c_str(), SSL_FILETYPE_PEM) != 1)
    throw error(std::string(what) + " key " + key + ": " + openssl_reason());
  if (SSL_CTX_check_private_key(c) != 1)
    throw error(std::string(what) + " key " + key + " does not match certificate " + cert);
}

bool chains_to(X509_STORE* store, X509* leaf, STACK_OF(X509) * chain) {
  if (!store) return false;
  X509_STORE_CTX* vctx = X509_STORE_CTX_new();
  if (!vctx) return false;
  bool ok = false;
  if (X509_STORE_CTX_init(vctx, store, leaf, chain) == 1) {
    X509_STORE_CTX_set_purpose(vctx, X509_PURPOSE_SSL_CLIENT);
    ok = X509_verify_cert(vctx) == 1;
  }
  X509_STORE_CTX_free(vctx);
  return ok;
}

}  // namespace

server_context::server_context(const server_files& files)
    : ctx_(ssl::context::tls_server), allowed_names_(files.allowed_names) {
  SSL_CTX* c = ctx_.native_handle();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  ctx_.set_options(ssl::context::default_workarounds | ssl::context::no_compression |
                   ssl::context::single_dh_use);
  load_pair(ctx_, files.cert_file, files.key_file, "serving");
  try {
    if (!files.client_ca_file.empty())
      client_store_ = load_store(files.client_ca_file, "client CA");
    if (!files.requestheader_ca_file.empty())
      requestheader_store_ = load_store(files.requestheader_ca_file, "requestheader client CA");
  } catch (...) {
    X509_STORE_free(client_store_);
    throw;
  }
  // Advertise both CAs so clients pick the right certificate.
  STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
  for (const auto* f : {&files.client_ca_file, &files.requestheader_ca_file})
    if (!f->empty()) SSL_add_file_cert_subjects_to_stack(names, f->c_str());
  SSL_CTX_set_client_CA_list(c, names);
  // Request a certificate but never fail the handshake over it: which CA it chains
  // to is decided afterwards (classify), as kube-apiserver's authenticators do.
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
  static const unsigned char sid[] = "mvproxy";
  SSL_CTX_set_session_id_context(c, sid, sizeof sid - 1);
  // ALPN as kube-apiserver: h2 preferred, then http/1.1 (only that with
  // --disable-http2-serving); a client that offers neither gets HTTP/1.1 without ALPN.
  struct protocols {
    const unsigned char* list;
    unsigned int size;
  };
  static const unsigned char both[] = "\x02h2\x08http/1.1";
  static const unsigned char http1[] = "\x08http/1.1";
  static const protocols with_h2{both, sizeof both - 1}, without_h2{http1, sizeof http1 - 1};
  SSL_CTX_set_alpn_select_cb(
      c,
      [](SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
         unsigned int inlen, void* arg) {
        const auto* ours = static_cast<const protocols*>(arg);
        unsigned char* selected = nullptr;
        if (SSL_select_next_proto(&selected, outlen, ours->list, ours->size, in, inlen) !=
            OPENSSL_NPN_NEGOTIATED)
          return SSL_TLSEXT_ERR_NOACK;
        *out = selected;
        return SSL_TLSEXT_ERR_OK;
      },
      const_cast<protocols*>(files.http2 ? &with_h2 : &without_h2));
}

bool negotiated_h2(const SSL* ssl) {
  const unsigned char* proto = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl, &proto, &len);
  return len == 2 && proto[0] == 'h' && proto[1] == '2';
}

server_context::~server_context() {
  X509_STORE_free(client_store_);
  X509_STORE_free(requestheader_store_);
}

caller server_context::classify(SSL* ssl) const {
  caller out;
  out.certificate.reset(SSL_get1_peer_certificate(ssl));
  if (!out.certificate) return out;
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);  // server side: without the leaf
  X509* leaf = out.certificate.get();
  if (chains_to(requestheader_store_, leaf, chain)) {
    // The CN the forwarded identity names too (the last one, as Go's pkix.Name).
    std::string cn = util::subject_common_name(leaf);
    if (allowed_names_.empty() ||
        std::find(allowed_names_.begin(), allowed_names_.end(), cn) != allowed_names_.end()) {
      out.kind = caller_kind::trusted_peer;
      return out;
    }
  }
  out.kind = chains_to(client_store_, leaf, chain) ? caller_kind::user : caller_kind::unverified;
  return out;
}

client_context::client_context(const client_files& files) : ctx_(ssl::context::tls_client) {
  SSL_CTX* c = ctx_.native_handle();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  ctx_.set_options(ssl::context::default_workarounds | ssl::context::no_compression);
  if (files.ca_file.empty()) throw error("no CA file to verify the upstream with");
  if (SSL_CTX_load_verify_locations(c, files.ca_file.c_str(), nullptr) != 1)
    throw error("upstream CA " + files.ca_file + ": " + openssl_reason());
  if (!files.cert_file.empty()) load_pair(ctx_, files.cert_file, files.key_file, "proxy client");
  ctx_.set_verify_mode(ssl::verify_peer);
}

bool verify_server_name(SSL* ssl, const std::string& name) {
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  boost::system::error_code ec;
  boost::asio::ip::make_address(name, ec);
  if (!ec) return X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1;
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return SSL_set_tlsext_host_name(ssl, name.c_str()) == 1 &&
         X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size()) == 1;
}

}  // namespace mvproxy::tls
