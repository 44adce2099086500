// One exchange's stream on an HTTP/2 upstream connection (see h2_upstream.hpp): the
// HTTP/1.1 request the exchange writes goes out as HEADERS and DATA; the response
// comes back as HTTP/1.1 bytes. Flow control keeps what a stream holds small: the
// request body waits in at most out_high_water bytes, and the response's window
// (upstream_stream_window) is given back only as the exchange reads it.

#include <boost/asio/error.hpp>
#include <cstring>

#include "h2_internal.hpp"
#include "mvproxy/http/h2_fields.hpp"
#include "mvproxy/proxy/h2_upstream.hpp"

namespace mvproxy::proxy {

namespace {

constexpr std::size_t out_high_water = 256 * 1024;

}  // namespace

h2_upstream_stream::h2_upstream_stream(std::shared_ptr<h2_upstream_session> session)
    : session_(std::move(session)), wake_(session_->worker_.ioc) {}

h2_upstream_stream::~h2_upstream_stream() {
  auto& s = *session_;
  --s.streams_;
  if (open_) {
    s.open_streams_.erase(this);
    nghttp2_session_set_stream_user_data(s.session_, id_, nullptr);
    if (!s.ended_) {
      // Abandoned before its end (the client left, an error, a hand-back): cancelled.
      nghttp2_submit_rst_stream(s.session_, NGHTTP2_FLAG_NONE, id_, NGHTTP2_CANCEL);
    }
  }
  // What it received and nobody read is given back to the connection's window.
  if (in_data_ > 0 && !s.ended_) nghttp2_session_consume_connection(s.session_, in_data_);
  if (!s.ended_) s.want_write();
}

void h2_upstream_stream::wake() {
  if (waiting_) wake_.cancel();
}

asio::awaitable<error_code> h2_upstream_stream::wait_event() {
  if (timed_out_ || clock::now() >= deadline_) {
    timed_out_ = true;
    co_return beast::error::timeout;
  }
  waiting_ = true;
  cancelled_ = false;
  wake_.expires_at(deadline_);
  auto [ec] = co_await wake_.async_wait(use_tuple);
  waiting_ = false;
  if (cancelled_) {
    cancelled_ = false;
    co_return asio::error::operation_aborted;
  }
  if (!ec) {
    timed_out_ = true;
    co_return beast::error::timeout;
  }
  co_return error_code();
}

void h2_upstream_stream::cancel() {
  if (!waiting_) return;
  cancelled_ = true;
  wake_.cancel();
}

void h2_upstream_stream::expires_after(clock::duration d) {
  deadline_ = clock::now() + d;
  timed_out_ = false;
}

void h2_upstream_stream::expires_never() {
  deadline_ = clock::time_point::max();
  timed_out_ = false;
}

void h2_upstream_stream::release_buffers() {
  if (in_off_ == in_.size() && in_.capacity() > 0) {
    std::string().swap(in_);
    in_off_ = 0;
  }
}

byte_stream::read_result h2_upstream_stream::try_read(void* data, std::size_t size) {
  read_result r;
  const std::size_t have = in_.size() - in_off_;
  if (have == 0) {
    if (!in_done_) {
      r.would_block = true;
    } else {
      r.ec = in_error_ ? in_error_ : error_code(asio::error::eof);
    }
    return r;
  }
  r.bytes = std::min(have, size);
  std::memcpy(data, in_.data() + in_off_, r.bytes);
  in_off_ += r.bytes;
  const bool drained = in_off_ == in_.size();
  // Framing bytes are counted as body here and there; all is given back once drained.
  give_back(drained ? in_data_ : std::min(r.bytes, in_data_));
  if (drained) {
    in_off_ = 0;
    if (in_.capacity() > 64 * 1024)
      std::string().swap(in_);
    else
      in_.clear();
  }
  return r;
}

void h2_upstream_stream::give_back(std::size_t n) {
  if (n == 0) return;
  in_data_ -= n;
  auto& s = *session_;
  if (s.ended_) return;
  if (open_)
    nghttp2_session_consume(s.session_, id_, n);
  else
    nghttp2_session_consume_connection(s.session_, n);
  s.want_write();
}

asio::awaitable<std::pair<error_code, std::size_t>> h2_upstream_stream::read_some(
    void* data, std::size_t size) {
  for (;;) {
    auto r = try_read(data, size);
    if (!r.would_block) co_return std::pair{r.ec, r.bytes};
    auto ec = co_await wait_readable();
    if (ec) co_return std::pair{ec, std::size_t{0}};
  }
}

asio::awaitable<error_code> h2_upstream_stream::wait_readable() {
  while (in_off_ == in_.size() && !in_done_) {
    if (auto ec = co_await wait_event()) co_return ec;
  }
  co_return error_code();
}

asio::awaitable<error_code> h2_upstream_stream::write(const void* data, std::size_t size) {
  std::string_view bytes(static_cast<const char*>(data), size);
  if (id_ == 0) {
    std::size_t used = 0;
    if (auto ec = co_await write_head(bytes, used)) co_return ec;
    bytes.remove_prefix(used);
    if (id_ == 0) co_return error_code();  // the head is not complete yet
  }
  if (in_done_ && in_error_) co_return in_error_;
  write_body(bytes);
  // Back-pressure: the caller waits while the upstream's window holds the body back.
  while (out_.size() - out_off_ > out_high_water && open_ && !final_seen_) {
    if (auto ec = co_await wait_event()) co_return ec;
  }
  if (in_done_ && in_error_) co_return in_error_;
  co_return error_code();
}

// Collects the head until its blank line, then submits it. `used`: bytes of `data`
// that belonged to the head.
asio::awaitable<error_code> h2_upstream_stream::write_head(std::string_view data,
                                                           std::size_t& used) {
  auto& s = *session_;
  const std::size_t before = head_.size();
  head_.append(data);
  const auto end = head_.find("\r\n\r\n");
  if (end == std::string::npos) {
    used = data.size();
    if (head_.size() > s.worker_.shared.options.lim.max_head_bytes)
      co_return asio::error::message_size;
    co_return error_code();
  }
  used = end + 4 - before;
  head_.resize(end + 4);
  auto req = http::h2_request_from_head(head_, s.authority_);
  std::string().swap(head_);
  if (!req.error.empty() || s.ended_) co_return asio::error::invalid_argument;
  head_method_ = req.head_method;
  out_left_ = req.length;
  std::vector<nghttp2_nv> nva;
  nva.reserve(req.fields.size());
  for (auto& [name, value] : req.fields)
    nva.push_back({reinterpret_cast<std::uint8_t*>(name.data()),
                   reinterpret_cast<std::uint8_t*>(value.data()), name.size(), value.size(),
                   NGHTTP2_NV_FLAG_NONE});
  nghttp2_data_provider provider{};
  provider.source.ptr = nullptr;  // looked up by stream id: this stream may be gone
  provider.read_callback = read_body;
  out_done_ = !req.has_body;
  const auto id = nghttp2_submit_request(s.session_, nullptr, nva.data(), nva.size(),
                                         req.has_body ? &provider : nullptr, this);
  if (id < 0) co_return asio::error::connection_refused;
  id_ = id;
  open_ = true;
  s.open_streams_.insert(this);
  s.want_write();
  co_return error_code();
}

void h2_upstream_stream::write_body(std::string_view data) {
  if (out_done_ || final_seen_) return;  // answered already: the rest is not sent
  if (out_left_) {
    data =
        data.substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(*out_left_, data.size())));
    *out_left_ -= data.size();
    if (*out_left_ == 0) out_done_ = true;
  }
  if (data.empty() && !out_done_) return;
  if (out_off_ == out_.size()) {
    out_.clear();
    out_off_ = 0;
  }
  out_.append(data);
  if (open_) {
    nghttp2_session_resume_data(session_->session_, id_);
    session_->want_write();
  }
}

void h2_upstream_stream::end_body() {
  if (out_done_) return;
  out_done_ = true;
  if (open_) {
    nghttp2_session_resume_data(session_->session_, id_);
    session_->want_write();
  }
}

ssize_t h2_upstream_stream::read_body(nghttp2_session* session, std::int32_t id, std::uint8_t* buf,
                                      std::size_t length, std::uint32_t* flags,
                                      nghttp2_data_source*, void*) {
  auto* s = h2_upstream_session::stream_of(session, id);
  if (!s) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // its exchange is gone
  // After an early answer the body stops without an end (RFC 9113 §8.1: the rest is
  // not sent; out_done_ stays false); the stream is reset once the exchange is done.
  const auto r = take_data(s->out_, s->out_off_, buf, length, s->out_done_, flags, 64 * 1024);
  if (r == NGHTTP2_ERR_DEFERRED) return r;
  s->wake();  // room for more
  return r;
}

void h2_upstream_stream::on_field(std::string_view name, std::string_view value) {
  if (name == ":status") {
    status_ = 0;
    for (char c : value) status_ = status_ * 10 + (c - '0');
    return;
  }
  if (!name.empty() && name[0] == ':') return;
  if (final_seen_) return;  // trailers: HTTP/1.1 relays none
  if (name == "content-length") has_length_ = true;
  fields_.append(name);
  fields_.append(": ");
  fields_.append(value);
  fields_.append("\r\n");
}

void h2_upstream_stream::on_headers_end(bool end_stream) {
  if (!final_seen_ && status_ != 0) {
    bool chunked = false;
    in_.append(
        http::h1_response_head(status_, fields_, has_length_, end_stream, head_method_, &chunked));
    std::string().swap(fields_);
    if (status_ >= 200) {
      final_seen_ = true;
      chunked_ = chunked;
    } else {
      has_length_ = false;
    }
    status_ = 0;
  }
  if (end_stream) on_end_stream();
  wake();
}

void h2_upstream_stream::on_data(const std::uint8_t* data, std::size_t len) {
  in_data_ += len;
  if (chunked_) {
    char line[24];
    const int n = std::snprintf(line, sizeof line, "%zx\r\n", len);
    in_.append(line, static_cast<std::size_t>(n));
  }
  in_.append(reinterpret_cast<const char*>(data), len);
  if (chunked_) in_.append("\r\n");
  wake();
}

void h2_upstream_stream::on_end_stream() {
  if (in_done_) return;
  if (chunked_) in_.append("0\r\n\r\n");
  in_done_ = true;
  wake();
}

void h2_upstream_stream::on_close(std::uint32_t error_code) {
  if (!open_) return;
  open_ = false;
  session_->open_streams_.erase(this);
  if (!in_done_) {
    // Reset or cut before the response ended: REFUSED_STREAM (and a GOAWAY past it)
    // means unprocessed; either way the exchange sees a broken upstream.
    in_error_ = error_code == NGHTTP2_REFUSED_STREAM ? asio::error::connection_refused
                                                     : asio::error::connection_reset;
    in_done_ = true;
  }
  wake();
}

}  // namespace mvproxy::proxy
