#include "mvproxy/util/status.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <string>

namespace {

using mvproxy::util::reason_for;
using mvproxy::util::status_json;

TEST(Status, ExactShape) {
  EXPECT_EQ(status_json(503, "ServiceUnavailable", "no peer could be reached"),
            R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
            R"("message":"no peer could be reached","reason":"ServiceUnavailable","code":503})");
}

TEST(Status, EscapesMessage) {
  EXPECT_EQ(status_json(400, "BadRequest", "bad \"x\"\\\n\t\x01"),
            R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
            R"("message":"bad \"x\"\\\n\t\u0001","reason":"BadRequest","code":400})");
}

TEST(Status, InvalidUtf8IsReplacedNotThrown) {
  auto body = status_json(400, "BadRequest", "path \xff\xfe");
  auto j = nlohmann::json::parse(body);
  EXPECT_EQ(j["message"], "path \xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(Status, EmptyReasonIsOmittedLikeMetav1) {
  EXPECT_EQ(status_json(431, "request head too large"),
            R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
            R"("message":"request head too large","code":431})");
}

// The same fields an apiserver sends (tests/fixtures/discovery/status-*.json).
TEST(Status, MatchesApiserverFixture) {
  std::ifstream in(std::string(MVPROXY_FIXTURES_DIR) +
                   "/discovery/status-503-serviceunavailable-v1.7.json");
  ASSERT_TRUE(in) << "fixture missing";
  std::stringstream ss;
  ss << in.rdbuf();
  auto fixture = nlohmann::json::parse(ss.str());
  auto ours = nlohmann::json::parse(status_json(503, fixture["message"].get<std::string>()));
  for (const char* key : {"kind", "apiVersion", "status", "reason", "code", "message"}) {
    EXPECT_EQ(ours[key], fixture[key]) << key;
  }
}

TEST(Status, ReasonsMatchClientGo) {
  const std::pair<int, std::string_view> table[] = {
      {400, "BadRequest"},
      {401, "Unauthorized"},
      {403, "Forbidden"},
      {404, "NotFound"},
      {405, "MethodNotAllowed"},
      {406, "NotAcceptable"},
      {409, "Conflict"},
      {410, "Gone"},
      {413, "RequestEntityTooLarge"},
      {415, "UnsupportedMediaType"},
      {422, "Invalid"},
      {429, "TooManyRequests"},
      {431, ""},
      {418, ""},
      {500, "InternalError"},
      {502, "InternalError"},
      {503, "ServiceUnavailable"},
      {504, "Timeout"},
  };
  for (auto [code, want] : table) EXPECT_EQ(reason_for(code), want) << code;
}

}  // namespace
