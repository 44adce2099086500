#include "mvproxy/discovery/negotiate.hpp"

#include <gtest/gtest.h>

namespace mvproxy::discovery {
namespace {

constexpr auto legacy = discovery_format::legacy;
constexpr auto v2 = discovery_format::aggregated_v2;
constexpr auto v2beta1 = discovery_format::aggregated_v2beta1;

struct accept_case {
  const char* name;
  const char* header;
  discovery_format format;
  bool nopeer;
};

TEST(negotiate_discovery, table) {
  const std::vector<accept_case> cases = {
      // Real client headers.
      {"kubectl (client-go 1.27+)",
       "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
       "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
       "application/json",
       v2, false},
      {"client-go 1.26 (v2beta1 only)",
       "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json",
       v2beta1, false},
      {"client-go with protobuf preferred",
       "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
       "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
       "application/"
       "vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
       "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
       "application/vnd.kubernetes.protobuf,application/json",
       v2, false},
      {"old client-go legacy", "application/json, */*", legacy, false},
      {"mvproxy peer read (SPEC 5)",
       "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;profile=nopeer,"
       "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList;profile=nopeer,"
       "application/json",
       v2, true},
      {"upstream docs nopeer",
       "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;profile=nopeer", v2,
       true},
      {"unknown profile is peer-aggregated",
       "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;profile=foo", v2,
       false},
      {"upstream test helper shape (empty clauses, profile first)",
       "application/json;profile=nopeer;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,,"
       "application/json;profile=nopeer;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,",
       v2, true},
      {"v2beta1 nopeer",
       "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList;profile=nopeer",
       v2beta1, true},
      // Absent, wildcards.
      {"absent", "", legacy, false},
      {"*/*", "*/*", legacy, false},
      {"bare *", "*", legacy, false},
      {"*/* with aggregated params", "*/*;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", v2,
       false},
      {"application/* with aggregated params",
       "application/*;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", v2, false},
      // q-values.
      {"q prefers legacy",
       "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0.5,application/"
       "json",
       legacy, false},
      {"q prefers v2beta1",
       "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0.8,"
       "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList;q=0.9",
       v2beta1, false},
      {"q=0 aggregated beside json",
       "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0,application/json",
       legacy, false},
      // goautoneg keeps q=0 clauses (sorted last) and upstream still serves them; the
      // sidecar must decide as the apiserver behind it would.
      {"q=0 alone, as upstream",
       "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0", v2, false},
      {"unparsable q reads as 0",
       "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=high,application/"
       "json",
       legacy, false},
      {"spaces around clauses and params",
       "  application/json ; g=apidiscovery.k8s.io ; v=v2 ; as=APIGroupDiscoveryList , "
       "application/json",
       v2, false},
      // Refused conversions fall through to the next clause.
      {"Table conversion is not discovery",
       "application/json;as=Table;v=v1;g=meta.k8s.io,application/json", legacy, false},
      {"unknown discovery version",
       "application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList", legacy, false},
      {"missing as", "application/json;g=apidiscovery.k8s.io;v=v2", legacy, false},
      {"server version is refused",
       "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;sv=v1,application/"
       "json",
       legacy, false},
      {"stream=watch is allowed",
       "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;stream=watch", v2,
       false},
      {"other stream is refused",
       "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;stream=tail", legacy,
       false},
      {"unknown parameters are ignored",
       "application/json;charset=utf-8;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", v2,
       false},
      // Media types mvproxy does not render never win.
      {"yaml only", "application/yaml;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", legacy,
       false},
      {"protobuf only",
       "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
       legacy, false},
      {"text/html", "text/html", legacy, false},
      // Matching is case-sensitive, as upstream's.
      {"upper-case type", "Application/JSON;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
       legacy, false},
      {"nopeer on a legacy clause", "application/json;profile=nopeer", legacy, true},
  };
  for (const auto& c : cases) {
    discovery_negotiation got = negotiate_discovery(c.header);
    EXPECT_EQ(got.format, c.format) << c.name;
    EXPECT_EQ(got.nopeer, c.nopeer) << c.name;
  }
}

TEST(negotiate_discovery, bad_headers_give_legacy) {
  const std::vector<std::string> cases = {
      ",",
      ",,,;;;",
      "/",
      "a/b/c;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
      ";q=1",
      "application/json;=;==;q",
      std::string(10000, ','),
      std::string("application/json\0x", 18),
  };
  for (const auto& h : cases) EXPECT_EQ(negotiate_discovery(h), discovery_negotiation{}) << h;
}

TEST(negotiate_discovery, many_clauses_still_pick_the_best) {
  std::string header;
  for (int i = 0; i < 40; ++i) header += "text/plain;q=0.1,";
  header += "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0.9";
  EXPECT_EQ(negotiate_discovery(header).format, v2);
}

TEST(content_type_for, each_format) {
  EXPECT_EQ(content_type_for(legacy), "application/json");
  EXPECT_EQ(content_type_for(v2),
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
  EXPECT_EQ(content_type_for(v2beta1),
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList");
}

}  // namespace
}  // namespace mvproxy::discovery
