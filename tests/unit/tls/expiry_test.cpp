// mvproxy_certificate_expiration_timestamp_seconds' source: notAfter read from PEM files,
// the earliest of a bundle, and the provider's values replaced only by a good reload.
#include "mvproxy/tls/expiry.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "mvproxy/tls/provider.hpp"

namespace fs = std::filesystem;
using namespace mvproxy::tls;

namespace {

// 2030-01-01T00:00:00Z and 2031-06-15T12:00:00Z.
constexpr time_t t2030 = 1893456000;
constexpr time_t t2031 = 1939982400;

struct key_pair {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  ~key_pair() { EVP_PKEY_free(key); }
};

// A self-signed certificate for CN=name valid until not_after, appended to `file`.
void append_certificate(const fs::path& file, const key_pair& k, const char* name,
                        time_t not_after) {
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  ASN1_TIME_set(X509_getm_notAfter(x), not_after);
  X509_NAME* n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(name),
                             -1, -1, 0);
  X509_set_issuer_name(x, n);
  X509_set_pubkey(x, k.key);
  X509_sign(x, k.key, EVP_sha256());
  std::FILE* f = std::fopen(file.c_str(), "a");
  PEM_write_X509(f, x);
  std::fclose(f);
  X509_free(x);
}

void write_key(const fs::path& file, const key_pair& k) {
  std::FILE* f = std::fopen(file.c_str(), "w");
  PEM_write_PrivateKey(f, k.key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
}

class expiry : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("mvproxy-expiry-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

}  // namespace

TEST_F(expiry, reads_not_after_of_one_certificate) {
  key_pair k;
  append_certificate(dir_ / "a.crt", k, "a", t2030);
  EXPECT_EQ(earliest_not_after(dir_ / "a.crt"), static_cast<double>(t2030));
}

TEST_F(expiry, a_bundle_reports_its_first_certificate_to_expire) {
  key_pair k;
  append_certificate(dir_ / "bundle.crt", k, "late", t2031);
  append_certificate(dir_ / "bundle.crt", k, "early", t2030);
  EXPECT_EQ(earliest_not_after(dir_ / "bundle.crt"), static_cast<double>(t2030));
}

TEST_F(expiry, missing_or_non_pem_files_give_nothing) {
  EXPECT_EQ(earliest_not_after(dir_ / "absent.crt"), std::nullopt);
  std::ofstream(dir_ / "junk.crt") << "not a certificate\n";
  EXPECT_EQ(earliest_not_after(dir_ / "junk.crt"), std::nullopt);
  auto e = expirations_of({{"serving", ""}, {"client-ca", (dir_ / "absent.crt").string()}});
  EXPECT_TRUE(e.empty());
}

TEST_F(expiry, provider_reports_loaded_certificates_and_updates_on_reload) {
  key_pair k;
  append_certificate(dir_ / "serving.crt", k, "serving", t2030);
  write_key(dir_ / "serving.key", k);
  append_certificate(dir_ / "ca.crt", k, "ca", t2031);
  provider p(server_files{(dir_ / "serving.crt").string(),
                          (dir_ / "serving.key").string(),
                          (dir_ / "ca.crt").string(),
                          "",
                          {},
                          true},
             client_files{(dir_ / "ca.crt").string(), "", ""}, std::nullopt);
  auto e = p.expirations();
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].certificate, "serving");
  EXPECT_EQ(e[0].not_after, static_cast<double>(t2030));
  EXPECT_EQ(e[1].certificate, "client-ca");
  EXPECT_EQ(e[1].not_after, static_cast<double>(t2031));
  EXPECT_EQ(e[2].certificate, "upstream-ca");

  // A renewal (a later notAfter, a different size so the watch notices) is picked up.
  fs::remove(dir_ / "serving.crt");
  append_certificate(dir_ / "serving.crt", k, "serving-renewed-with-a-longer-name", t2031);
  ASSERT_TRUE(p.reload_if_changed().reloaded);
  EXPECT_EQ(p.expirations()[0].not_after, static_cast<double>(t2031));

  // An unusable file on disk keeps the old, still-served expiry.
  std::ofstream(dir_ / "serving.crt", std::ios::trunc) << "garbage\n";
  auto r = p.reload_if_changed();
  EXPECT_FALSE(r.reloaded);
  EXPECT_FALSE(r.error.empty());
  EXPECT_EQ(p.expirations()[0].not_after, static_cast<double>(t2031));
}
