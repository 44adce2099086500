#include "mvproxy/control/kubeconfig.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "test_process.hpp"

namespace mvproxy::control {
namespace {

void write(const std::filesystem::path& p, const std::string& text) { std::ofstream(p) << text; }

TEST(kubeconfig, reads_the_current_contexts_credentials) {
  test::temp_dir dir;
  test::make_pki(dir.path(), {});
  auto admin = load_kubeconfig((dir.path() / "admin.conf").string());
  EXPECT_EQ(admin.cert_file, (dir.path() / "admin.crt").string());
  EXPECT_EQ(admin.key_file, (dir.path() / "admin.key").string());
  EXPECT_EQ(admin.ca_file, (dir.path() / "ca.crt").string());
  EXPECT_TRUE(admin.token.empty());
  auto token = load_kubeconfig((dir.path() / "token.conf").string());
  EXPECT_EQ(token.token, "mvproxy-test-token-bob");
}

TEST(kubeconfig, data_fields_and_relative_paths) {
  test::temp_dir dir;
  write(dir.path() / "tok", "secret-token\n");
  write(dir.path() / "k.conf", R"(apiVersion: v1
kind: Config
current-context: c
contexts:
- name: c
  context: {cluster: k, user: u}
clusters:
- name: k
  cluster: {server: "https://x", certificate-authority-data: "aGVsbG8="}
users:
- name: u
  user: {tokenFile: tok, client-certificate: certs/u.crt, client-key: certs/u.key}
)");
  auto c = load_kubeconfig((dir.path() / "k.conf").string());
  EXPECT_EQ(c.ca_pem, "hello");
  EXPECT_EQ(c.token, "secret-token");
  EXPECT_EQ(c.cert_file, (dir.path() / "certs/u.crt").string());
}

TEST(kubeconfig, bad_inputs) {
  test::temp_dir dir;
  EXPECT_THROW(load_kubeconfig((dir.path() / "missing.conf").string()), std::runtime_error);
  write(dir.path() / "a.conf", "current-context: nope\ncontexts: []\n");
  EXPECT_THROW(load_kubeconfig((dir.path() / "a.conf").string()), std::runtime_error);
  write(dir.path() / "b.conf", "{{{");
  EXPECT_THROW(load_kubeconfig((dir.path() / "b.conf").string()), std::runtime_error);
  write(dir.path() / "c.conf", R"(current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: x}}]
users: [{name: u, user: {}}]
)");
  EXPECT_THROW(load_kubeconfig((dir.path() / "c.conf").string()), std::runtime_error);
}

}  // namespace
}  // namespace mvproxy::control
