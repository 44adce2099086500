#include "mvproxy/util/host_port.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace {

using mvproxy::util::format_host_port;
using mvproxy::util::host_port;
using mvproxy::util::parse_host_port;
using mvproxy::util::parse_port;

struct good_case {
  std::string text;
  host_port want;
};

const good_case good_cases[] = {
    {"10.0.0.11:7443", {"10.0.0.11", 7443}},
    {"node-a.example.com:443", {"node-a.example.com", 443}},
    {"127.0.0.1:0", {"127.0.0.1", 0}},
    {"[::1]:7444", {"::1", 7444}},
    {"[fd00::11]:65535", {"fd00::11", 65535}},
    {":7443", {"", 7443}},
    {"[]:80", {"", 80}},
};

TEST(HostPort, Parses) {
  for (const auto& c : good_cases) {
    EXPECT_EQ(parse_host_port(c.text), c.want) << c.text;
  }
}

struct bad_case {
  std::string text;
  std::string why;
};

const bad_case bad_cases[] = {
    {"", "missing port in address"},
    {"10.0.0.1", "missing port in address"},
    {"10.0.0.1:", "missing port"},
    {"10.0.0.1:http", "port is not a number"},
    {"10.0.0.1:-1", "port is not a number"},
    {"10.0.0.1:+80", "port is not a number"},
    {"10.0.0.1:65536", "port out of range"},
    {"10.0.0.1:123456", "port out of range"},
    {"::1:443", "too many colons in address (IPv6 needs [brackets])"},
    {"[::1]", "missing port in address"},
    {"[::1]443", "missing port in address"},
    {"[::1:443", "missing ']' in address"},
    {"a]:80", "unexpected '[' or ']' in address"},
    {"10.0.0.1: 80", "port is not a number"},
};

TEST(HostPort, RefusesBadInput) {
  for (const auto& c : bad_cases) {
    try {
      parse_host_port(c.text);
      ADD_FAILURE() << "accepted: \"" << c.text << "\"";
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(e.what(), c.why) << c.text;
    }
  }
}

TEST(HostPort, ParsePort) {
  EXPECT_EQ(parse_port("0"), 0);
  EXPECT_EQ(parse_port("00443"), 443);
  EXPECT_EQ(parse_port("65535"), 65535);
  EXPECT_THROW(parse_port(""), std::invalid_argument);
  EXPECT_THROW(parse_port("65536"), std::invalid_argument);
  EXPECT_THROW(parse_port("7443 "), std::invalid_argument);
}

TEST(HostPort, FormatBracketsIpv6) {
  EXPECT_EQ(format_host_port("10.0.0.11", 7443), "10.0.0.11:7443");
  EXPECT_EQ(format_host_port("::1", 7443), "[::1]:7443");
  EXPECT_EQ(format_host_port("", 7443), ":7443");
  for (const auto& c : good_cases) {
    EXPECT_EQ(parse_host_port(format_host_port(c.want.host, c.want.port)), c.want) << c.text;
  }
}

}  // namespace
