#include "mvproxy/util/https_url.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace {

using mvproxy::util::host_port;
using mvproxy::util::parse_https_url;

struct url_case {
  std::string url;
  host_port want;   // when why is empty
  std::string why;  // the error's what()
};

const url_case url_cases[] = {
    {"https://127.0.0.1:6443", {"127.0.0.1", 6443}, ""},
    {"https://127.0.0.1:6443/", {"127.0.0.1", 6443}, ""},
    {"https://cp.example.com", {"cp.example.com", 443}, ""},
    {"https://cp.example.com/", {"cp.example.com", 443}, ""},
    {"https://[::1]:6443/", {"::1", 6443}, ""},
    {"https://[fd00::11]", {"fd00::11", 443}, ""},
    {"http://127.0.0.1:6443", {}, "\"http://127.0.0.1:6443\" is not an https URL"},
    {"127.0.0.1:6443", {}, "\"127.0.0.1:6443\" is not an https URL"},
    {"HTTPS://a", {}, "\"HTTPS://a\" is not an https URL"},
    {"https://", {}, "\"https://\" must be https://host[:port] without path, query or user"},
    {"https://a:1/api",
     {},
     "\"https://a:1/api\" must be https://host[:port] without path, query or user"},
    {"https://a?x=1",
     {},
     "\"https://a?x=1\" must be https://host[:port] without path, query or user"},
    {"https://a#top",
     {},
     "\"https://a#top\" must be https://host[:port] without path, query or user"},
    {"https://u@a", {}, "\"https://u@a\" must be https://host[:port] without path, query or user"},
    {"https://a:http", {}, "\"https://a:http\": port is not a number"},
    {"https://::1", {}, "\"https://::1\": too many colons in address (IPv6 needs [brackets])"},
    {"https://a:", {}, "\"https://a:\": missing port"},
    {"https://:6443", {}, "\"https://:6443\" has no host"},
    {"https://a:0", {}, "\"https://a:0\" has port 0"},
};

TEST(HttpsUrl, Table) {
  for (const auto& c : url_cases) {
    try {
      auto got = parse_https_url(c.url);
      EXPECT_EQ(c.why, "") << c.url << " was accepted";
      EXPECT_EQ(got, c.want) << c.url;
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(e.what(), c.why) << c.url;
    }
  }
}

}  // namespace
