#pragma once
// The config tests' fixture, shared by their files so the suite makes its PKI once.

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "mvproxy/config/parse.hpp"
#include "test_process.hpp"

namespace mvproxy::test {

using args = std::vector<std::string>;

// One throwaway kubeadm-style PKI for the whole suite (making it takes a while).
class Config : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<temp_dir>();
    make_pki(dir_->path(), {"node-a"});
  }
  static void TearDownTestSuite() { dir_.reset(); }

  static std::string pki(const std::string& file) { return (dir_->path() / file).string(); }

  // The smallest valid command line: serving pair, proxy client pair, a fixed id.
  static args base() {
    return {"--tls-cert-file=" + pki("apiserver.crt"),
            "--tls-private-key-file=" + pki("apiserver.key"),
            "--proxy-client-cert-file=" + pki("front-proxy-client.crt"),
            "--proxy-client-key-file=" + pki("front-proxy-client.key"), "--server-id=node-a"};
  }

  static args with(args a, const args& extra) {
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  static config::parse_result run(const args& a) {
    std::vector<const char*> argv{"mvproxy"};
    for (const auto& s : a) argv.push_back(s.c_str());
    return config::parse(static_cast<int>(argv.size()), argv.data());
  }

  // The error line parse() gives, or "" if it accepted.
  static std::string error_of(const args& a) {
    try {
      run(a);
      return "";
    } catch (const config::error& e) {
      return e.what();
    }
  }

  std::string write(const std::string& name, const std::string& text) {
    auto path = (dir_->path() / name).string();
    std::ofstream(path) << text;
    return path;
  }

  inline static std::unique_ptr<temp_dir> dir_;
};

}  // namespace mvproxy::test
