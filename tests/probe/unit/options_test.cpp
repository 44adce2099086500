#include "mvproxy/probe/options.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using mvproxy::probe::flag_error;
using mvproxy::probe::options;
using mvproxy::probe::output_format;
using mvproxy::probe::parse_options;
using mvproxy::probe::sidecar_address;
using args = std::vector<std::string>;

options parse(const args& a) {
  std::vector<const char*> argv{"probe"};
  for (const auto& s : a) argv.push_back(s.c_str());
  return parse_options(static_cast<int>(argv.size()), argv.data());
}

// The one line a bad command line gives, or "" when it is accepted.
std::string error_of(const args& a) {
  try {
    parse(a);
    return "";
  } catch (const flag_error& e) {
    return e.what();
  }
}

const args required = {"--kubeconfig=/etc/kubernetes/admin.conf", "--sidecars=a=10.0.0.1:7443"};

args with(const args& extra) {
  args a = required;
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

TEST(ProbeOptions, Defaults) {
  auto o = parse(required);
  EXPECT_EQ(o.kubeconfig, "/etc/kubernetes/admin.conf");
  ASSERT_EQ(o.sidecars.size(), 1u);
  EXPECT_EQ(o.sidecars[0], (sidecar_address{"a", "10.0.0.1", 7443}));
  EXPECT_EQ(o.server_name, "kubernetes.default.svc");
  EXPECT_EQ(o.rate, 20);
  EXPECT_EQ(o.interval, 10s);
  EXPECT_EQ(o.window, 60s);
  EXPECT_EQ(o.duration, 0ms);
  EXPECT_EQ(o.timeout, 10s);
  EXPECT_EQ(o.metrics_address, "");
  EXPECT_EQ(o.namespace_, "");
  EXPECT_TRUE(o.resources.empty());
  EXPECT_EQ(o.output, output_format::text);
  EXPECT_FALSE(o.help);
}

TEST(ProbeOptions, EveryFlagInBothSyntaxes) {
  auto o = parse({"--kubeconfig",
                  "k.conf",
                  "--sidecars",
                  "old=127.0.0.1:7443,new=[::1]:7443",
                  "--sidecars=third=node-c.example:443",
                  "--server-name=",
                  "--rate",
                  "2.5",
                  "--interval=3s",
                  "--window",
                  "30s",
                  "--duration=1m30s",
                  "--timeout=500ms",
                  "--metrics-address",
                  "[::1]:0",
                  "--namespace=kube-system",
                  "--resources=pods,deployments.apps",
                  "--resources",
                  "resourceclaims.v1alpha3.resource.k8s.io",
                  "--output=json"});
  EXPECT_EQ(o.kubeconfig, "k.conf");
  EXPECT_EQ(o.sidecars, (std::vector<sidecar_address>{{"old", "127.0.0.1", 7443},
                                                      {"new", "::1", 7443},
                                                      {"third", "node-c.example", 443}}));
  EXPECT_EQ(o.server_name, "");
  EXPECT_EQ(o.rate, 2.5);
  EXPECT_EQ(o.interval, 3s);
  EXPECT_EQ(o.window, 30s);
  EXPECT_EQ(o.duration, 90s);
  EXPECT_EQ(o.timeout, 500ms);
  EXPECT_EQ(o.metrics_address, "[::1]:0");
  EXPECT_EQ(o.namespace_, "kube-system");
  EXPECT_EQ(o.resources, (std::vector<std::string>{"pods", "deployments.apps",
                                                   "resourceclaims.v1alpha3.resource.k8s.io"}));
  EXPECT_EQ(o.output, output_format::json);
}

TEST(ProbeOptions, LastScalarWins) {
  auto o = parse(with({"--rate=5", "--rate=7", "--output=json", "--output=text"}));
  EXPECT_EQ(o.rate, 7);
  EXPECT_EQ(o.output, output_format::text);
}

TEST(ProbeOptions, HelpNeedsNothingElse) {
  EXPECT_TRUE(parse({"--help"}).help);
  EXPECT_TRUE(parse({"-h"}).help);
  EXPECT_TRUE(parse({"--rate=3", "--help=true"}).help);
  EXPECT_EQ(error_of({"--help=false"}), "--kubeconfig: required");
}

TEST(ProbeOptions, HelpListsEveryFlagWithItsDefault) {
  auto text = mvproxy::probe::help_text();
  for (const char* f : {"--kubeconfig file",
                        "--sidecars id=host:port,...",
                        "--server-name name",
                        "(default kubernetes.default.svc)",
                        "--rate n",
                        "(default 20)",
                        "--interval duration",
                        "(default 10s)",
                        "--window duration",
                        "(default 1m)",
                        "--duration duration",
                        "(default 0)",
                        "--timeout duration",
                        "--metrics-address ip:port",
                        "(default off)",
                        "--namespace name",
                        "(default all namespaces)",
                        "--resources resource[.group],...",
                        "--output text|json",
                        "(default text)",
                        "--help"}) {
    EXPECT_NE(text.find(f), std::string::npos) << f << "\n" << text;
  }
}

// Bad input of any kind: one line naming the flag and the reason.
struct bad_case {
  args argv;
  std::string error;
};

class ProbeBadFlags : public ::testing::TestWithParam<bad_case> {};

TEST_P(ProbeBadFlags, OneLineNamingTheFlag) {
  EXPECT_EQ(error_of(GetParam().argv), GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ProbeBadFlags,
    ::testing::Values(
        bad_case{{}, "--kubeconfig: required"},
        bad_case{{"--kubeconfig=k"}, "--sidecars: required (id=host:port,...)"},
        bad_case{{"--sidecars=a=h:1"}, "--kubeconfig: required"},
        bad_case{with({"--bogus=1"}), "--bogus: unknown flag"},
        bad_case{with({"-x"}), "unexpected argument \"-x\""},
        bad_case{with({"extra"}), "unexpected argument \"extra\""},
        bad_case{with({"--", "extra"}), "unexpected argument \"extra\""},
        bad_case{with({"--rate"}), "--rate: flag needs an argument"},
        bad_case{with({"--help=maybe"}), "--help: \"maybe\" is not a boolean"},
        bad_case{with({"--sidecars=a"}), "--sidecars: \"a\" is not id=host:port"},
        bad_case{with({"--sidecars==h:1"}), "--sidecars: \"=h:1\" is not id=host:port"},
        bad_case{with({"--sidecars=A=h:1"}), "--sidecars: \"A\" is not a lower-case RFC 1123 name"},
        bad_case{with({"--sidecars=b=h"}), "--sidecars: \"b=h\": missing port in address"},
        bad_case{with({"--sidecars=b=::1:7443"}),
                 "--sidecars: \"b=::1:7443\": too many colons in address (IPv6 needs [brackets])"},
        bad_case{with({"--sidecars=b=:7443"}), "--sidecars: \"b=:7443\": missing host"},
        bad_case{with({"--sidecars=b=h:0"}), "--sidecars: \"b=h:0\": port 0"},
        bad_case{with({"--sidecars=b=h:99999"}), "--sidecars: \"b=h:99999\": port out of range"},
        bad_case{with({"--sidecars=a=h:1"}), "--sidecars: duplicate id \"a\""},
        bad_case{with({"--rate=abc"}), "--rate: \"abc\" is not a number"},
        bad_case{with({"--rate="}), "--rate: \"\" is not a number"},
        bad_case{with({"--rate=5x"}), "--rate: \"5x\" is not a number"},
        bad_case{with({"--rate=0"}), "--rate: \"0\" is out of range (0, 10000]"},
        bad_case{with({"--rate=-1"}), "--rate: \"-1\" is out of range (0, 10000]"},
        bad_case{with({"--rate=inf"}), "--rate: \"inf\" is not a number"},
        bad_case{with({"--rate=20000"}), "--rate: \"20000\" is out of range (0, 10000]"},
        bad_case{with({"--interval=10"}),
                 "--interval: \"10\" is not a duration: missing unit in duration"},
        bad_case{with({"--interval=0"}), "--interval: \"0\": must be at least 1ms"},
        bad_case{with({"--window=0s"}), "--window: \"0s\": must be at least 1ms"},
        bad_case{with({"--timeout=-1s"}),
                 "--timeout: \"-1s\" is not a duration: negative duration"},
        bad_case{with({"--duration=soon"}),
                 "--duration: \"soon\" is not a duration: invalid duration"},
        bad_case{with({"--metrics-address=9090"}),
                 "--metrics-address: \"9090\": missing port in address"},
        bad_case{with({"--metrics-address=localhost:9090"}),
                 "--metrics-address: \"localhost:9090\": host must be an IP address"},
        bad_case{with({"--namespace=Kube_System"}),
                 "--namespace: \"Kube_System\" is not a namespace name"},
        bad_case{with({"--namespace=a.b"}), "--namespace: \"a.b\" is not a namespace name"},
        bad_case{with({"--resources=Pods"}), "--resources: \"Pods\" is not resource[.group]"},
        bad_case{with({"--resources=pods/status"}),
                 "--resources: \"pods/status\" is not resource[.group]"},
        bad_case{with({"--output=yaml"}), "--output: \"yaml\" is not one of text, json"}));

}  // namespace
