#pragma once
// SPDY/3.1 as kubectl 1.27-1.29 speak it for exec (k8s.io/apimachinery's
// httpstream/spdy over moby/spdystream): the frame codec, pure, and the zlib
// header-block compressors. Header blocks share one zlib stream per direction
// for the whole connection, so a compressor must see every block of its
// direction in order; that state is why they are objects and the frame codec is
// not.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fake_apiserver::spdy {

// Control frame types (SPDY/3 §2.6); `data` is not a control frame (control bit
// 0).
enum class frame_type : uint16_t {
  data = 0,
  syn_stream = 1,
  syn_reply = 2,
  rst_stream = 3,
  settings = 4,
  ping = 6,
  goaway = 7,
  headers = 8,
  window_update = 9,
};

constexpr uint16_t version = 3;
constexpr uint8_t flag_fin = 0x01;             // data, syn_stream, syn_reply, headers
constexpr uint8_t flag_unidirectional = 0x02;  // syn_stream
// The wire allows 2^24-1; exec never needs more than spdystream's 32 KiB
// copies, and a bigger length from a peer is a broken or hostile stream.
constexpr uint32_t max_frame_length = 1u << 20;

// RST_STREAM and GOAWAY status codes used here.
constexpr uint32_t rst_protocol_error = 1;
constexpr uint32_t rst_refused_stream = 3;
constexpr uint32_t goaway_ok = 0;
constexpr uint32_t goaway_protocol_error = 1;

struct setting {
  uint8_t flags = 0;
  uint32_t id = 0;  // 24 bits
  uint32_t value = 0;
  bool operator==(const setting&) const = default;
};

// One frame, unpacked. Which fields mean something depends on `type`:
// stream_id: data, syn_stream, syn_reply, rst_stream, headers, window_update,
// and goaway's last-good stream; value: rst_stream/goaway status, ping id,
// window_update delta; payload: data bytes or the still-compressed header
// block. Unknown control types parse with their raw body in payload (SPDY/3:
// ignore them).
struct frame {
  frame_type type = frame_type::data;
  uint8_t flags = 0;
  uint32_t stream_id = 0;
  uint32_t associated_id = 0;  // syn_stream
  uint8_t priority = 0;        // syn_stream, 0 (highest) to 7
  uint8_t slot = 0;            // syn_stream
  uint32_t value = 0;
  std::vector<setting> settings{};
  std::string payload{};
  bool operator==(const frame&) const = default;
};

struct parse_result {
  enum class status { ok, need_more, error };
  status st = status::need_more;
  frame f;
  size_t consumed = 0;  // bytes of the input the frame took (ok only)
  std::string error;    // why (error only)
};

// Parses the first frame of `in`. need_more: `in` holds only part of one frame.
parse_result parse_frame(std::string_view in);

// The wire bytes of `f`; lengths are computed, stream ids masked to 31 bits.
std::string serialize(const frame& f);

// Header names in order, as on the wire. A value may hold several,
// NUL-separated.
using header_list = std::vector<std::pair<std::string, std::string>>;

// The uncompressed name/value block (SPDY/3 §2.6.10): 32-bit count, then 32-bit
// length-prefixed names and values.
std::string encode_header_block(const header_list& headers);
// nullopt on a short, overlong or otherwise malformed block.
std::optional<header_list> decode_header_block(std::string_view block);

// The value of `name` in `headers`, or "".
std::string header_value(const header_list& headers, std::string_view name);

// The fixed zlib dictionary of SPDY/3 (1423 bytes) both sides seed their
// streams with.
const std::string& header_dictionary();

// This side's outgoing header blocks: one deflate stream, sync-flushed per
// block.
class header_compressor {
 public:
  header_compressor();
  ~header_compressor();
  header_compressor(const header_compressor&) = delete;
  header_compressor& operator=(const header_compressor&) = delete;
  std::string compress(const header_list& headers);

 private:
  struct state;
  std::unique_ptr<state> state_;
};

// The peer's incoming header blocks: one inflate stream. After a failure the
// stream is out of step with the peer, so the connection has to end.
class header_decompressor {
 public:
  header_decompressor();
  ~header_decompressor();
  header_decompressor(const header_decompressor&) = delete;
  header_decompressor& operator=(const header_decompressor&) = delete;
  // nullopt when the block does not inflate or does not decode.
  std::optional<header_list> decompress(std::string_view block);

 private:
  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace fake_apiserver::spdy
