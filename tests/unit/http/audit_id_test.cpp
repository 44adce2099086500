// Audit-ID across the hop: what kube-apiserver's WithAuditInit decides for a request
// (keep a given ID, else a new UUID v4), and how the ID goes on the request and the
// response without appearing twice.

#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "field_list.hpp"
#include "mvproxy/http/headers.hpp"

namespace {

namespace bh = boost::beast::http;
using mvproxy::http::add_audit_id;
using mvproxy::http::audit_id_for;
using mvproxy::http::audit_id_for_log;
using mvproxy::http::set_audit_id;
using mvproxy::http::uuid_bytes;
using mvproxy::http::uuid_v4;

using mvproxy::test::field_list;

bh::fields make(const field_list& in) { return mvproxy::test::make_fields(in); }
field_list dump(const bh::fields& f) { return mvproxy::test::dump_fields(f); }

constexpr uuid_bytes zeros{};
constexpr uuid_bytes ones{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                          0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
constexpr uuid_bytes counting{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                              0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};

TEST(UuidV4, SetsVersionAndVariantBitsOnly) {
  EXPECT_EQ(uuid_v4(zeros), "00000000-0000-4000-8000-000000000000");
  EXPECT_EQ(uuid_v4(ones), "ffffffff-ffff-4fff-bfff-ffffffffffff");
  EXPECT_EQ(uuid_v4(counting), "00112233-4455-4677-8899-aabbccddeeff");
}

struct decide_case {
  std::string name;
  field_list request;
  std::string want;    // the ID decided
  bool random_called;  // a new one was made
};

const std::string large_id(150, 'x');  // upstream keeps long IDs whole (no truncation)

const std::vector<decide_case> decide_cases = {
    {"no Audit-ID: a new UUID v4", {{"Host", "k"}}, "00112233-4455-4677-8899-aabbccddeeff", true},
    {"a given ID is kept", {{"Audit-ID", "foo-bar-baz"}}, "foo-bar-baz", false},
    {"any spelling of the name", {{"audit-id", "lower"}}, "lower", false},
    {"a long ID is kept whole", {{"Audit-Id", large_id}}, large_id, false},
    {"surrounding white space is not part of it", {{"Audit-ID", " \tspaced\t "}}, "spaced", false},
    {"an empty ID counts as none",
     {{"Audit-ID", ""}},
     "00112233-4455-4677-8899-aabbccddeeff",
     true},
    {"white space only counts as none",
     {{"Audit-ID", "  "}},
     "00112233-4455-4677-8899-aabbccddeeff",
     true},
    {"the first of two is the one (Go's Header.Get)",
     {{"Audit-ID", "first"}, {"Accept", "*/*"}, {"Audit-ID", "second"}},
     "first",
     false},
    {"an empty first one is none, even before a second (Go's Header.Get)",
     {{"Audit-ID", ""}, {"Audit-ID", "second"}},
     "00112233-4455-4677-8899-aabbccddeeff",
     true},
};

TEST(AuditIdFor, Table) {
  for (const auto& c : decide_cases) {
    bool called = false;
    auto random = [&] {
      called = true;
      return counting;
    };
    auto f = make(c.request);
    EXPECT_EQ(audit_id_for(f, random), c.want) << c.name;
    EXPECT_EQ(called, c.random_called) << c.name;
    EXPECT_EQ(dump(f), dump(make(c.request))) << c.name << ": deciding changes nothing";
  }
}

TEST(AuditIdFor, NewIdsAreWellFormedVersion4) {
  const std::regex v4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  for (auto bytes : {zeros, ones, counting}) {
    auto id = audit_id_for(bh::fields{}, [&] { return bytes; });
    EXPECT_TRUE(std::regex_match(id, v4)) << id;
  }
}

TEST(SetAuditId, LeavesExactlyOneField) {
  auto f = make({{"Host", "k"}, {"audit-id", "a"}, {"Accept", "*/*"}, {"AUDIT-ID", "b"}});
  set_audit_id(f, "a");
  EXPECT_EQ(dump(f), (field_list{{"Host", "k"}, {"Accept", "*/*"}, {"Audit-Id", "a"}}));
}

struct response_case {
  std::string name;
  field_list in;
  std::string id;
  field_list want;
};

const std::vector<response_case> response_cases = {
    {"added when absent",
     {{"Content-Type", "application/json"}},
     "id-1",
     {{"Content-Type", "application/json"}, {"Audit-Id", "id-1"}}},
    {"the apiserver's own is not duplicated",
     {{"Audit-Id", "id-1"}},
     "id-1",
     {{"Audit-Id", "id-1"}}},
    {"a different one from the apiserver stays, ours is not added",
     {{"audit-id", "theirs"}},
     "ours",
     {{"audit-id", "theirs"}}},
    {"an empty one is replaced",
     {{"Audit-Id", ""}, {"X", "y"}},
     "id-1",
     {{"X", "y"}, {"Audit-Id", "id-1"}}},
    {"no ID: nothing added", {{"X", "y"}}, "", {{"X", "y"}}},
};

TEST(AddAuditIdFields, Table) {
  for (const auto& c : response_cases) {
    auto f = make(c.in);
    add_audit_id(f, c.id);
    EXPECT_EQ(dump(f), c.want) << c.name;
  }
}

// The same cases on a head as relay_parser::write_head_to writes it.
std::string head_of(const field_list& fields) {
  std::string h = "HTTP/1.1 200 OK\r\n";
  for (const auto& [k, v] : fields) h += k + ": " + v + "\r\n";
  return h;
}

TEST(AddAuditIdHead, Table) {
  for (const auto& c : response_cases) {
    auto h = head_of(c.in);
    add_audit_id(h, c.id);
    EXPECT_EQ(h, head_of(c.want)) << c.name;
  }
}

TEST(AddAuditIdHead, StatusLineAndLookalikesAreNotTheField) {
  std::string h = "HTTP/1.1 200 Audit-Id: no\r\nX-Audit-Id: no\r\nAudit-Ids: no\r\n";
  add_audit_id(h, "id-1");
  EXPECT_EQ(h,
            "HTTP/1.1 200 Audit-Id: no\r\nX-Audit-Id: no\r\nAudit-Ids: no\r\nAudit-Id: id-1\r\n");
}

TEST(AuditIdForLog, TruncatedTo64BytesAsUpstreamLogsIt) {
  EXPECT_EQ(audit_id_for_log(""), "-");
  EXPECT_EQ(audit_id_for_log("00112233-4455-4677-8899-aabbccddeeff"),
            "00112233-4455-4677-8899-aabbccddeeff");
  EXPECT_EQ(audit_id_for_log(std::string(64, 'a')), std::string(64, 'a'));
  EXPECT_EQ(audit_id_for_log(std::string(64, 'a') + "tail"), std::string(64, 'a'));
}

}  // namespace
