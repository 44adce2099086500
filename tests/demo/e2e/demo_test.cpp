// scripts/demo runs in the suite: every step of the tour must behave as it says.
#include <gtest/gtest.h>

#include "test_process.hpp"

namespace mvproxy::test {
namespace {

TEST(demo, every_step_behaves) {
  std::string bin = MVPROXY_BIN_DIR;
  for (auto name : {"/mvproxy", "/fake-apiserver"})
    if (!std::filesystem::exists(bin + name)) GTEST_SKIP() << "not built: " << bin + name;
  if (run_command("command -v kubectl").exit_code != 0) GTEST_SKIP() << "no kubectl on PATH";
  auto r = run_command("timeout 300 " + std::string(MVPROXY_SOURCE_DIR) + "/scripts/demo --bin " +
                       bin + " </dev/null");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("demo: every step behaved as expected"), std::string::npos) << r.output;
  // The tour's key facts, as printed.
  EXPECT_NE(r.output.find("doesn't have a resource type \"resourceclaims\""), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("resourceclaim.resource.k8s.io/demo-claim created"), std::string::npos);
  EXPECT_NE(r.output.find("route=new"), std::string::npos);
  EXPECT_NE(r.output.find("Username    kubernetes-admin"), std::string::npos);
  EXPECT_NE(r.output.find("ADDED      demo-claim-2"), std::string::npos);
}

}  // namespace
}  // namespace mvproxy::test
