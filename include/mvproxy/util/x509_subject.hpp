#pragma once
// A certificate subject's names as UTF-8 strings, read as Go's pkix.Name reads them
// (what kube-apiserver's x509 and requestheader authenticators see): shared by the
// proxy's client identity and the TLS layer's allowed-names check, so both agree.

#include <openssl/x509.h>

#include <string>
#include <vector>

namespace mvproxy::util {

// Every value of the subject attribute `nid` (NID_commonName, NID_organizationName, ...)
// in certificate order, converted to UTF-8 from whichever ASN.1 string type holds it
// (PrintableString, UTF8String, BMPString, ...). A value that cannot be converted gives
// "". A null cert gives none.
std::vector<std::string> subject_values(X509* cert, int nid);

// The subject CN: the last one when there are several, as pkix.Name keeps it; "" when
// there is none.
std::string subject_common_name(X509* cert);

}  // namespace mvproxy::util
