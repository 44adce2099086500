// Kubernetes protobuf request bodies decoded to the JSON the apiserver's JSON codec
// would have given: good bodies as a table, bad bodies in their own section.

#include "protobuf.hpp"
#include "request_info.hpp"

#include <gtest/gtest.h>

namespace fake_apiserver {
namespace {

using nlohmann::json;

// A minimal protobuf writer for building test bodies field by field.
std::string varint(uint64_t v) {
  std::string out;
  do {
    unsigned char b = v & 0x7f;
    v >>= 7;
    out += static_cast<char>(v ? b | 0x80 : b);
  } while (v);
  return out;
}
std::string bytes_field(uint32_t number, const std::string& value) {
  return varint(number << 3 | 2) + varint(value.size()) + value;
}
std::string bool_field(uint32_t number, bool value) { return varint(number << 3) + varint(value); }
std::string entry(const std::string& k, const std::string& v) {
  return bytes_field(1, k) + bytes_field(2, v);
}
std::string envelope(const std::string& api_version, const std::string& kind,
                     const std::string& raw) {
  std::string type_meta = bytes_field(1, api_version) + bytes_field(2, kind);
  return std::string("k8s\0", 4) + bytes_field(1, type_meta) + bytes_field(2, raw) +
         bytes_field(3, "") + bytes_field(4, "");
}
std::string meta(const std::string& name, const std::string& ns = "") {
  // Empty generateName and namespace are written, as gogo-protobuf does.
  return bytes_field(1, bytes_field(1, name) + bytes_field(2, "") + bytes_field(3, ns) +
                            bytes_field(11, entry("app", "web")));
}

struct good_case {
  const char* what;
  std::string body;
  json want;
};

TEST(ProtobufBody, DecodesWhatKubectlSends) {
  const std::vector<good_case> cases = {
      {"namespace (kubectl 1.33 create namespace)",
       envelope("v1", "Namespace", meta("team-a") + bytes_field(2, bytes_field(1, "kubernetes"))),
       json::parse(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team-a",
          "labels":{"app":"web"}},"spec":{"finalizers":["kubernetes"]}})")},
      {"configmap with data, binaryData and immutable",
       envelope("v1", "ConfigMap",
                meta("cm", "default") + bytes_field(2, entry("a", "b")) +
                    bytes_field(3, entry("bin", std::string("\x00\xff", 2))) + bool_field(4, true)),
       json::parse(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm",
          "namespace":"default","labels":{"app":"web"}},"data":{"a":"b"},
          "binaryData":{"bin":"AP8="},"immutable":true})")},
      {"secret: data base64, type kept",
       envelope("v1", "Secret",
                meta("s", "default") + bytes_field(2, entry("k", "v")) + bytes_field(3, "Opaque")),
       json::parse(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s",
          "namespace":"default","labels":{"app":"web"}},"data":{"k":"dg=="},"type":"Opaque"})")},
      {"a kind not modelled keeps its metadata",
       envelope("apps/v1", "Deployment", meta("d", "default") + bytes_field(2, "\x08\x01")),
       json::parse(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d",
          "namespace":"default","labels":{"app":"web"}}})")},
  };
  for (const auto& c : cases) {
    std::string error;
    auto got = protobuf_to_json(c.body, error);
    ASSERT_TRUE(got) << c.what << ": " << error;
    EXPECT_EQ(*got, c.want) << c.what;
  }
}

TEST(ProtobufBody, RewritesTheRequestToJson) {
  header_list headers = {{"content-type", "application/vnd.kubernetes.protobuf"}};
  std::string body = envelope("v1", "Namespace", meta("x"));
  std::string error;
  ASSERT_TRUE(protobuf_body_to_json(headers, body, error)) << error;
  EXPECT_EQ(headers[0].second, "application/json");
  EXPECT_EQ(json::parse(body)["metadata"]["name"], "x");

  header_list json_headers = {{"content-type", "application/json"}};
  std::string json_body = "{not parsed here}";
  EXPECT_TRUE(protobuf_body_to_json(json_headers, json_body, error));
  EXPECT_EQ(json_body, "{not parsed here}");
}

TEST(ProtobufBody, BadInputs) {
  const std::string ns = envelope("v1", "Namespace", meta("x"));
  const std::vector<std::pair<const char*, std::string>> cases = {
      {"empty", ""},
      {"no magic", ns.substr(4)},
      {"json", R"({"kind":"Namespace"})"},
      {"truncated inside a field", ns.substr(0, ns.size() / 2)},
      {"length past the end", std::string("k8s\0", 4) + varint(1 << 3 | 2) + varint(1000) + "ab"},
      {"truncated varint", std::string("k8s\0", 4) + "\x08\xff"},
      {"unknown wire type", std::string("k8s\0", 4) + varint(1 << 3 | 7)},
      {"field number zero", std::string("k8s\0", 4) + varint(0 << 3 | 2) + varint(0)},
      {"no kind", std::string("k8s\0", 4) + bytes_field(2, meta("x"))},
      {"bad metadata", envelope("v1", "Namespace", bytes_field(1, "\x0a\x7f"))},
  };
  for (const auto& [what, body] : cases) {
    std::string error;
    EXPECT_FALSE(protobuf_to_json(body, error)) << what;
    EXPECT_FALSE(error.empty()) << what;
  }
  header_list headers = {{"content-type", "application/vnd.kubernetes.protobuf"}};
  std::string body = "k8s";
  std::string error;
  EXPECT_FALSE(protobuf_body_to_json(headers, body, error));
  EXPECT_NE(error.find("not a Kubernetes object"), std::string::npos);
}

// The apiserver's rule for bool query parameters (Convert_Slice_string_To_bool).
TEST(QueryBool, AsTheApiserverDecodesIt) {
  const std::vector<std::pair<const char*, bool>> cases = {
      {"watch=true", true},   {"watch=True", true},
      {"watch=1", true},      {"watch=yes", true},
      {"watch=", true},       {"watch", true},
      {"watch=false", false}, {"watch=FALSE", false},
      {"watch=0", false},     {"", false},
      {"other=1", false},     {"watch=0&watch=1", false},
  };
  for (const auto& [query, want] : cases)
    EXPECT_EQ(query_true(parse_query(query), "watch"), want) << query;
}

}  // namespace
}  // namespace fake_apiserver
