#include "mvproxy/tls/expiry.hpp"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <ctime>
#include <memory>

namespace mvproxy::tls {

namespace {
struct file_closer {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

std::optional<double> seconds_of(const ASN1_TIME* t) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  return static_cast<double>(timegm(&tm));
}
}  // namespace

std::optional<double> earliest_not_after(const std::string& file) {
  std::unique_ptr<std::FILE, file_closer> f(std::fopen(file.c_str(), "r"));
  if (!f) return std::nullopt;
  std::optional<double> earliest;
  while (X509* x = PEM_read_X509(f.get(), nullptr, nullptr, nullptr)) {
    auto t = seconds_of(X509_get0_notAfter(x));
    X509_free(x);
    if (t && (!earliest || *t < *earliest)) earliest = t;
  }
  // The loop ends on "no start line" at the end of the file: not an error to keep.
  ERR_clear_error();
  return earliest;
}

std::vector<certificate_expiry> expirations_of(
    const std::vector<std::pair<std::string, std::string>>& files) {
  std::vector<certificate_expiry> out;
  for (const auto& [label, path] : files) {
    if (path.empty()) continue;
    if (auto t = earliest_not_after(path)) out.push_back({label, *t});
  }
  return out;
}

}  // namespace mvproxy::tls
