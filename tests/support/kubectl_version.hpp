#pragma once
// Which kubectl an end-to-end test ran: the gitVersion a binary reports, printed and
// recorded as the test's "kubectl" property.

#include <gtest/gtest.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "test_process.hpp"

namespace mvproxy::test {

inline std::string report_kubectl_version(const std::string& kubectl, const std::string& what) {
  // 1.27's plain `version` output starts with a deprecation warning: ask for JSON.
  auto out = run_command(kubectl + " version --client -o json 2>/dev/null").output;
  auto doc = nlohmann::json::parse(out, nullptr, false);
  std::string version =
      doc.is_object() ? doc["clientVersion"].value("gitVersion", out) : "unreadable: " + out;
  std::cout << what << ": " << version << std::endl;
  ::testing::Test::RecordProperty("kubectl", version);
  return version;
}

}  // namespace mvproxy::test
