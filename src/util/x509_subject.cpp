#include "mvproxy/util/x509_subject.hpp"

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/objects.h>

#include <utility>

namespace mvproxy::util {
namespace {

std::string utf8_of(const ASN1_STRING* s) {
  unsigned char* buf = nullptr;
  int n = ASN1_STRING_to_UTF8(&buf, s);
  if (n < 0) return {};
  std::string out(reinterpret_cast<char*>(buf), static_cast<std::size_t>(n));
  OPENSSL_free(buf);
  return out;
}

}  // namespace

std::vector<std::string> subject_values(X509* cert, int nid) {
  std::vector<std::string> out;
  if (cert == nullptr) return out;
  const X509_NAME* subject = X509_get_subject_name(cert);
  if (subject == nullptr) return out;
  for (int i = X509_NAME_get_index_by_NID(subject, nid, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(subject, nid, i)) {
    out.push_back(utf8_of(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i))));
  }
  return out;
}

std::string subject_common_name(X509* cert) {
  auto names = subject_values(cert, NID_commonName);
  return names.empty() ? std::string() : std::move(names.back());
}

}  // namespace mvproxy::util
