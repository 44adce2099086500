// The SPDY/3.1 frame codec and header blocks of the stand-in's exec, as tables:
// frames that must round-trip byte for byte, then input that must be refused.

#include "spdy.hpp"
#include "exec_spdy.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

namespace fake_apiserver::spdy {
namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

frame make(frame_type type, uint8_t flags, uint32_t stream_id, uint32_t value,
           std::string payload = "") {
  frame f;
  f.type = type;
  f.flags = flags;
  f.stream_id = stream_id;
  f.value = value;
  f.payload = std::move(payload);
  return f;
}

TEST(SpdyFrame, GoodFramesRoundTrip) {
  frame syn = make(frame_type::syn_stream, 0, 1, 0, "\x01\x02");
  frame syn_fin = make(frame_type::syn_stream, flag_fin | flag_unidirectional, 3, 0, "z");
  syn_fin.associated_id = 1;
  syn_fin.priority = 7;
  syn_fin.slot = 2;
  frame settings = make(frame_type::settings, 0, 0, 0);
  settings.settings = {{1, 7, 65536}};
  struct row {
    const char* name;
    frame f;
    std::string wire;
  };
  const row rows[] = {
      {"data", make(frame_type::data, 0, 1, 0, "hello"), bytes({0, 0, 0, 1, 0, 0, 0, 5}) + "hello"},
      {"data fin, empty", make(frame_type::data, flag_fin, 3, 0), bytes({0, 0, 0, 3, 1, 0, 0, 0})},
      {"syn_stream", syn, bytes({0x80, 3, 0, 1, 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 2})},
      {"syn_stream fin+unidirectional, priority 7", syn_fin,
       bytes({0x80, 3, 0, 1, 3, 0, 0, 11, 0, 0, 0, 3, 0, 0, 0, 1, 0xe0, 2}) + "z"},
      {"syn_reply", make(frame_type::syn_reply, 0, 5, 0, "ab"),
       bytes({0x80, 3, 0, 2, 0, 0, 0, 6, 0, 0, 0, 5}) + "ab"},
      {"rst_stream cancel", make(frame_type::rst_stream, 0, 7, 5),
       bytes({0x80, 3, 0, 3, 0, 0, 0, 8, 0, 0, 0, 7, 0, 0, 0, 5})},
      {"settings", settings,
       bytes({0x80, 3, 0, 4, 0, 0, 0, 12, 0, 0, 0, 1, 1, 0, 0, 7, 0, 1, 0, 0})},
      {"ping", make(frame_type::ping, 0, 0, 1), bytes({0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1})},
      {"goaway", make(frame_type::goaway, 0, 3, 0),
       bytes({0x80, 3, 0, 7, 0, 0, 0, 8, 0, 0, 0, 3, 0, 0, 0, 0})},
      {"headers", make(frame_type::headers, 0, 1, 0, "h"),
       bytes({0x80, 3, 0, 8, 0, 0, 0, 5, 0, 0, 0, 1}) + "h"},
      {"window_update", make(frame_type::window_update, 0, 1, 4096),
       bytes({0x80, 3, 0, 9, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0x10, 0})},
      {"unknown control type, kept raw", make(static_cast<frame_type>(10), 0, 0, 0, "xy"),
       bytes({0x80, 3, 0, 10, 0, 0, 0, 2}) + "xy"},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.name);
    EXPECT_EQ(serialize(r.f), r.wire);
    auto p = parse_frame(r.wire + "next frame's bytes");
    ASSERT_EQ(p.st, parse_result::status::ok) << p.error;
    EXPECT_EQ(p.consumed, r.wire.size());
    EXPECT_EQ(p.f, r.f);
  }
}

TEST(SpdyFrame, BadInputIsRefusedOrAwaited) {
  using st = parse_result::status;
  struct row {
    const char* name;
    std::string wire;
    st want;
    const char* error;
  };
  const row rows[] = {
      // Truncated: a stream parser waits for the rest.
      {"empty", "", st::need_more, ""},
      {"half a header", bytes({0x80, 3, 0, 1, 0, 0, 0}), st::need_more, ""},
      {"body short", bytes({0, 0, 0, 1, 0, 0, 0, 5}) + "hell", st::need_more, ""},
      {"control body short", bytes({0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0}), st::need_more, ""},
      // Bad version.
      {"spdy/2", bytes({0x80, 2, 0, 1, 0, 0, 0, 10, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}), st::error,
       "unsupported SPDY version 2"},
      {"version 4", bytes({0x80, 4, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1}), st::error,
       "unsupported SPDY version 4"},
      // Oversized length: refused from the header alone, before any body
      // arrives.
      {"data 16 MiB", bytes({0, 0, 0, 1, 0, 0xff, 0xff, 0xff}), st::error, "over the limit"},
      {"control just over", bytes({0x80, 3, 0, 1, 0, 0x10, 0, 1}), st::error, "over the limit"},
      // Malformed control bodies.
      {"rst_stream 4 bytes", bytes({0x80, 3, 0, 3, 0, 0, 0, 4, 0, 0, 0, 1}), st::error,
       "RST_STREAM length"},
      {"rst_stream status 0", bytes({0x80, 3, 0, 3, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0}), st::error,
       "status 0"},
      {"ping 8 bytes", bytes({0x80, 3, 0, 6, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 1}), st::error,
       "PING length"},
      {"goaway 4 bytes", bytes({0x80, 3, 0, 7, 0, 0, 0, 4, 0, 0, 0, 1}), st::error,
       "GOAWAY length"},
      {"window_update 4 bytes", bytes({0x80, 3, 0, 9, 0, 0, 0, 4, 0, 0, 0, 1}), st::error,
       "WINDOW_UPDATE length"},
      {"settings count 2, one entry",
       bytes({0x80, 3, 0, 4, 0, 0, 0, 12, 0, 0, 0, 2, 0, 0, 0, 7, 0, 0, 0, 1}), st::error,
       "does not match count"},
      {"syn_stream 9 bytes", bytes({0x80, 3, 0, 1, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0, 0}),
       st::error, "shorter than 10"},
      {"syn_stream on stream 0", bytes({0x80, 3, 0, 1, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}),
       st::error, "stream id 0"},
      {"data on stream 0", bytes({0, 0, 0, 0, 0, 0, 0, 1}) + "x", st::error, "stream 0"},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.name);
    auto p = parse_frame(r.wire);
    EXPECT_EQ(p.st, r.want);
    EXPECT_NE(p.error.find(r.error), std::string::npos) << p.error;
  }
}

TEST(SpdyHeaders, BlockEncodesAndDecodes) {
  const header_list h = {{"streamtype", "stdin"}, {"multi", std::string("a\0b", 3)}, {"e", ""}};
  std::string block = encode_header_block(h);
  EXPECT_EQ(block.substr(0, 4 + 4 + 10 + 4 + 5),
            bytes({0, 0, 0, 3, 0, 0, 0, 10}) + "streamtype" + bytes({0, 0, 0, 5}) + "stdin");
  EXPECT_EQ(decode_header_block(block), h);
  EXPECT_EQ(decode_header_block(encode_header_block({})), header_list{});
  EXPECT_EQ(header_value(h, "streamtype"), "stdin");
  EXPECT_EQ(header_value(h, "absent"), "");
}

TEST(SpdyHeaders, BadBlocksAreRefused) {
  const std::string one = encode_header_block({{"k", "v"}});
  struct row {
    const char* name;
    std::string block;
  };
  const row rows[] = {
      {"shorter than the count", bytes({0, 0, 0})},
      {"count beyond the bytes", bytes({0, 0, 0, 9, 0, 0, 0, 1}) + "k"},
      {"huge count", bytes({0xff, 0xff, 0xff, 0xff})},
      {"name length past the end", bytes({0, 0, 0, 1, 0, 0, 0, 9, 'k', 0, 0, 0, 0})},
      {"value length past the end", bytes({0, 0, 0, 1, 0, 0, 0, 1, 'k', 0, 0, 0, 9})},
      {"empty name", bytes({0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 'v'})},
      {"trailing bytes", one + "x"},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.name);
    EXPECT_EQ(decode_header_block(r.block), std::nullopt);
  }
}

TEST(SpdyHeaders, DictionaryIsSpdy3s) {
  // 1423 bytes with zlib dictionary id 0xe3c6a7c2, as the SPDY/3 draft and
  // spdystream's headerDictionary.
  const std::string& d = header_dictionary();
  EXPECT_EQ(d.size(), 1423u);
  EXPECT_EQ(adler32(1, reinterpret_cast<const Bytef*>(d.data()), static_cast<uInt>(d.size())),
            0xe3c6a7c2u);
  EXPECT_EQ(d.substr(0, 11), bytes({0, 0, 0, 7}) + "options");
  EXPECT_EQ(d.substr(d.size() - 6), "enq=0.");
}

TEST(SpdyHeaders, CompressedBlocksShareOneStream) {
  header_compressor out;
  header_decompressor in;
  const std::vector<header_list> blocks = {
      {{"streamtype", "error"}}, {{"streamtype", "stdin"}}, {}, {{"streamtype", "stdout"}}};
  for (const auto& h : blocks) {
    std::string z = out.compress(h);
    EXPECT_EQ(in.decompress(z), h);
  }
  // A second decompressor that missed the earlier blocks cannot read a later
  // one: the state spans the connection.
  header_decompressor late;
  EXPECT_EQ(late.decompress(out.compress({{"streamtype", "stderr"}})), std::nullopt);
}

TEST(SpdyHeaders, BadCompressedBlocksAreRefusedForGood) {
  header_compressor out;
  header_decompressor in;
  EXPECT_EQ(in.decompress("not a zlib stream"), std::nullopt);
  // Out of step with the peer from then on, even for a good block.
  EXPECT_EQ(in.decompress(out.compress({{"streamtype", "error"}})), std::nullopt);

  // Inflates, but what comes out is no header block.
  header_decompressor in2;
  z_stream z{};
  ASSERT_EQ(deflateInit(&z, Z_DEFAULT_COMPRESSION), Z_OK);
  const std::string& d = header_dictionary();
  deflateSetDictionary(&z, reinterpret_cast<const Bytef*>(d.data()), static_cast<uInt>(d.size()));
  std::string junk = bytes({0, 0, 0, 5, 0, 0});
  unsigned char buf[256];
  z.next_in = reinterpret_cast<Bytef*>(junk.data());
  z.avail_in = static_cast<uInt>(junk.size());
  z.next_out = buf;
  z.avail_out = sizeof buf;
  ASSERT_EQ(deflate(&z, Z_SYNC_FLUSH), Z_OK);
  std::string block(reinterpret_cast<char*>(buf), sizeof buf - z.avail_out);
  deflateEnd(&z);
  EXPECT_EQ(in2.decompress(block), std::nullopt);
}

}  // namespace
}  // namespace fake_apiserver::spdy

namespace fake_apiserver {
namespace {

TEST(SpdyExec, NegotiatesLikeHttpstreamHandshake) {
  struct row {
    const char* name;
    std::vector<std::string> offered;
    std::optional<std::string> want;
    int refusal;
  };
  const row rows[] = {
      {"kubectl 1.27's offer",
       {"v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"},
       "v4.channel.k8s.io",
       0},
      {"one line, comma-separated",
       {"v5.channel.k8s.io, v4.channel.k8s.io"},
       "v4.channel.k8s.io",
       0},
      {"the client's order wins",
       {"v2.channel.k8s.io", "v4.channel.k8s.io"},
       "v2.channel.k8s.io",
       0},
      {"v3 only", {"v3.channel.k8s.io"}, "v3.channel.k8s.io", 0},
      {"v1 only", {"channel.k8s.io"}, std::nullopt, 403},
      {"no header", {}, std::nullopt, 400},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.name);
    auto h = negotiate_spdy_exec(r.offered);
    EXPECT_EQ(h.protocol, r.want);
    if (!r.want) {
      EXPECT_EQ(h.refusal.status, r.refusal);
    }
  }
}

}  // namespace
}  // namespace fake_apiserver
