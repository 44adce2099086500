#include "mvproxy/util/x509_subject.hpp"

#include <gtest/gtest.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace {

using mvproxy::util::subject_common_name;
using mvproxy::util::subject_values;

struct x509_deleter {
  void operator()(X509* x) const { X509_free(x); }
};
using x509_ptr = std::unique_ptr<X509, x509_deleter>;

// A subject attribute: its NID, the ASN.1 string type and the raw bytes of that type.
struct attribute {
  int nid;
  int type;
  std::string bytes;
};

// An unsigned certificate with the given subject, in order (only the subject is read).
x509_ptr cert_with(const std::vector<attribute>& subject) {
  x509_ptr cert(X509_new());
  X509_NAME* name = X509_get_subject_name(cert.get());
  for (const auto& a : subject) {
    X509_NAME_add_entry_by_NID(name, a.nid, a.type,
                               reinterpret_cast<const unsigned char*>(a.bytes.data()),
                               static_cast<int>(a.bytes.size()), -1, 0);
  }
  return cert;
}

constexpr int cn = NID_commonName;
constexpr int o = NID_organizationName;
const std::string bmp_juergen{"\0J\0\xFC\0r\0g\0e\0n", 12};  // UTF-16BE "Jürgen"

struct subject_case {
  std::string name;
  std::vector<attribute> subject;
  std::string want_cn;
  std::vector<std::string> want_o;
};

const std::vector<subject_case> subject_cases = {
    {"one CN", {{cn, V_ASN1_PRINTABLESTRING, "jane"}}, "jane", {}},
    {"groups in order",
     {{o, V_ASN1_UTF8STRING, "developers"},
      {cn, V_ASN1_UTF8STRING, "jane"},
      {o, V_ASN1_UTF8STRING, "qa"}},
     "jane",
     {"developers", "qa"}},
    {"the last CN wins",
     {{cn, V_ASN1_UTF8STRING, "first"}, {cn, V_ASN1_UTF8STRING, "last"}},
     "last",
     {}},
    {"UTF8String kept", {{cn, V_ASN1_UTF8STRING, "J\xC3\xBCrgen"}}, "J\xC3\xBCrgen", {}},
    {"BMPString converted", {{cn, V_ASN1_BMPSTRING, bmp_juergen}}, "J\xC3\xBCrgen", {}},
    {"T61String (Latin-1) converted", {{cn, V_ASN1_T61STRING, "J\xFCrgen"}}, "J\xC3\xBCrgen", {}},
    {"no CN", {{o, V_ASN1_UTF8STRING, "no-cn"}}, "", {"no-cn"}},
    {"empty subject", {}, "", {}},
};

TEST(X509Subject, Table) {
  for (const auto& c : subject_cases) {
    auto cert = cert_with(c.subject);
    EXPECT_EQ(subject_common_name(cert.get()), c.want_cn) << c.name;
    EXPECT_EQ(subject_values(cert.get(), o), c.want_o) << c.name;
  }
}

TEST(X509Subject, NullCertificate) {
  EXPECT_EQ(subject_common_name(nullptr), "");
  EXPECT_TRUE(subject_values(nullptr, cn).empty());
}

}  // namespace
