#include "mvproxy/membership/lease.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace mvproxy::membership {
namespace {

using namespace std::chrono_literals;

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(MVPROXY_FIXTURES_DIR) + "/discovery/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(lease, parses_kube_apiserver_identity_lease_from_the_docs) {
  auto l = parse_lease(fixture("lease-apiserver-identity-docs-example.json"));
  ASSERT_TRUE(l) << l.error;
  EXPECT_EQ(l.value->name, "apiserver-07a5ea9b9b072c4a5f3d1c3702");
  EXPECT_EQ(l.value->namespace_name, "kube-system");
  EXPECT_EQ(l.value->holder_identity,
            "apiserver-07a5ea9b9b072c4a5f3d1c3702_0c8914f7-0f35-440e-8676-7844977d3a05");
  EXPECT_EQ(l.value->lease_duration_seconds, 3600);
  EXPECT_EQ(l.value->resource_version, "334899");
  EXPECT_EQ(l.value->labels.at("apiserver.kubernetes.io/identity"), "kube-apiserver");
  ASSERT_TRUE(l.value->renew_time);
  EXPECT_EQ(format_micro_time(*l.value->renew_time), "2023-07-04T21:58:48.065888Z");
  EXPECT_FALSE(is_mvproxy_lease(*l.value));
  // Live for an hour after its renewTime, not after.
  EXPECT_TRUE(is_live(*l.value, *l.value->renew_time + 3599s));
  EXPECT_FALSE(is_live(*l.value, *l.value->renew_time + 3600s));
}

TEST(lease, builds_what_it_parses) {
  own_lease o;
  o.server_id = "cp-1";
  o.namespace_name = "kube-system";
  o.holder_identity = make_holder_identity("cp-1", 0x0123456789abcdefULL, 0xfedcba9876543210ULL);
  o.advertise_address = "10.0.0.11:7443";
  o.lease_duration_seconds = 15;
  o.acquire_time = clock::time_point(1'700'000'000s);
  o.renew_time = clock::time_point(1'700'000'005s + 123456us);
  o.resource_version = "42";
  auto l = parse_lease(build_lease_json(o));
  ASSERT_TRUE(l) << l.error;
  EXPECT_EQ(l.value->name, "cp-1");
  EXPECT_EQ(l.value->advertise_address, "10.0.0.11:7443");
  EXPECT_EQ(l.value->holder_identity, o.holder_identity);
  EXPECT_EQ(l.value->resource_version, "42");
  EXPECT_TRUE(is_mvproxy_lease(*l.value));
  EXPECT_EQ(*l.value->renew_time, o.renew_time);
  EXPECT_EQ(l.value->lease_duration_seconds, 15);
  EXPECT_EQ(o.holder_identity.rfind("cp-1_", 0), 0u);
  EXPECT_EQ(o.holder_identity.size(), std::string("cp-1_").size() + 36);
}

TEST(lease, parses_a_list_and_skips_bad_items) {
  auto list = parse_lease_list(R"({"kind":"LeaseList","apiVersion":"coordination.k8s.io/v1",
    "metadata":{"resourceVersion":"77"},"items":[
     {"metadata":{"name":"a","labels":{"app.kubernetes.io/name":"mvproxy"}},
      "spec":{"holderIdentity":"a_1","leaseDurationSeconds":15,"renewTime":"2026-11-25T10:00:00.000000Z"}},
     {"metadata":{}},
     {"metadata":{"name":"c"},"spec":{"renewTime":"yesterday"}}]})");
  ASSERT_TRUE(list) << list.error;
  EXPECT_EQ(list.value->resource_version, "77");
  ASSERT_EQ(list.value->items.size(), 1u);
  EXPECT_EQ(list.value->items[0].name, "a");
  EXPECT_EQ(list.value->skipped.size(), 2u);
}

TEST(lease, rfc3339_table) {
  struct row {
    const char* text;
    bool ok;
    long long unix_micros;
  };
  const row rows[] = {
      {"1970-01-01T00:00:00Z", true, 0},
      {"2023-07-04T21:58:48.065888Z", true, 1688507928065888},
      {"2023-07-04T21:58:48Z", true, 1688507928000000},
      {"2023-07-04T23:58:48.5+02:00", true, 1688507928500000},
      {"2023-07-04T21:58:48.123456789Z", true, 1688507928123456},
  };
  for (auto& r : rows) {
    auto t = parse_rfc3339(r.text);
    ASSERT_EQ(t.has_value(), r.ok) << r.text;
    EXPECT_EQ(std::chrono::duration_cast<std::chrono::microseconds>(t->time_since_epoch()).count(),
              r.unix_micros)
        << r.text;
  }
}

TEST(lease, bad_inputs) {
  for (const char* bad :
       {"", "2023-07-04", "2023-07-04T21:58:48", "2023-13-04T21:58:48Z", "2023-07-04T21:58:48.Z",
        "2023-07-04 21:58:48Z", "2023-07-04T21:58:48Zjunk", "2023-07-04T21:58:48+0200"})
    EXPECT_FALSE(parse_rfc3339(bad)) << bad;
  for (const char* bad : {"", "{", "[]", R"({"kind":"Pod","metadata":{"name":"x"}})",
                          R"({"kind":"Lease"})", R"({"metadata":{"name":""}})"})
    EXPECT_FALSE(parse_lease(bad)) << bad;
  for (const char* bad : {"", "{}", R"({"items":3})", "null"})
    EXPECT_FALSE(parse_lease_list(bad)) << bad;
  lease_record no_renew;
  no_renew.lease_duration_seconds = 15;
  EXPECT_FALSE(is_live(no_renew, clock::now()));
}

}  // namespace
}  // namespace mvproxy::membership
