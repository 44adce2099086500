#!/usr/bin/python3
"""A raw HTTP/2 client for h2_test.cpp: sends what a well-behaved client would not
(connection-specific fields, CR/LF in values, floods, endless CONTINUATION) and prints
one line of JSON saying what the server answered.

    h2_probe.py CASE HOST PORT CA CERT KEY [SYNC_DIR]

Requests are encoded by hyper-h2 with validation and normalization off, so they go out
as written; crafted frames are written as bytes. What comes back is parsed here frame
by frame (hpack for header blocks), not by hyper-h2, so frames hyper-h2 would refuse
to take are still seen. SYNC_DIR: files the test and the probe wait on (reset_watch,
drain), each wait with a deadline.
"""

import json
import os
import socket
import ssl
import struct
import sys
import time

try:
    import h2.config
    import h2.connection
    import hpack
except ImportError as e:  # the test skips with this reason
    print(json.dumps({"skip": "python3-h2 is not importable: %s" % e}))
    sys.exit(0)

DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS, PADDED, PRIORITY = 0x1, 0x4, 0x8, 0x20
CANCEL = 8


def frame(ftype, flags, stream_id, payload=b""):
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", ftype, flags, stream_id) + payload


class Probe:
    def __init__(self, host, port, ca, cert, key, rcvbuf=None):
        ctx = ssl.create_default_context(cafile=ca)
        ctx.load_cert_chain(cert, key)
        ctx.set_alpn_protocols(["h2"])
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:  # before connect, so the window the server sees is small
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.settimeout(10)
        raw.connect((host, port))
        self.sock = ctx.wrap_socket(raw, server_hostname=host)
        if self.sock.selected_alpn_protocol() != "h2":
            raise RuntimeError("ALPN chose %r" % self.sock.selected_alpn_protocol())
        cfg = h2.config.H2Configuration(
            client_side=True, validate_outbound_headers=False,
            normalize_outbound_headers=False, validate_inbound_headers=False)
        self.h2 = h2.connection.H2Connection(config=cfg)
        self.h2.initiate_connection()
        self.decoder = hpack.Decoder()
        self.buf = b""
        self.block = None  # (stream, flags, fragment) of a header block in progress
        self.streams = {}
        self.goaway = None
        self.closed = False
        self.pings = 0  # PING acknowledgements received
        self.quiet = False  # send nothing more (a write was cut short mid-record)
        self.server_pings = 0  # PINGs the server sent us
        self.answer_pings = False
        self.flush()

    def flush(self):
        data = self.h2.data_to_send()
        if data:
            self.send_raw(data)

    def stream(self, sid):
        return self.streams.setdefault(
            sid, {"status": None, "headers": [], "body": "", "ended": False, "rst": None})

    def request(self, path, extra=(), end_stream=True, method="GET", authority="kubernetes"):
        sid = self.h2.get_next_available_stream_id()
        hdrs = [(b":method", method.encode()), (b":scheme", b"https"),
                (b":authority", authority.encode()), (b":path", path.encode())]
        hdrs += [(n.encode() if isinstance(n, str) else n, v.encode() if isinstance(v, str) else v)
                 for n, v in extra]
        self.h2.send_headers(sid, hdrs, end_stream=end_stream)
        self.stream(sid)
        self.flush()
        return sid

    def send_raw(self, data):
        if self.quiet:
            return
        try:
            self.sock.sendall(data)
        except (socket.timeout, ssl.SSLError, OSError):
            # OpenSSL must not be handed other bytes after a cut write: nothing more.
            self.quiet = True
            raise

    def answer(self, data):
        """Acknowledgements and window updates: not sent once the server has gone."""
        try:
            self.send_raw(data)
        except (socket.timeout, ssl.SSLError, OSError):
            pass

    def done(self, sid):
        s = self.streams.get(sid)
        return s is not None and (s["ended"] or s["rst"] is not None)

    def pump(self, until, timeout=10.0):
        """Reads frames until until() holds, the connection ends, or the deadline."""
        deadline = time.monotonic() + timeout
        while not until() and not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (ssl.SSLError, OSError):
                data = b""
            if not data:
                self.closed = True
                break
            self.buf += data
            self.parse()
        return until()

    def parse(self):
        while len(self.buf) >= 9:
            length = struct.unpack(">I", b"\0" + self.buf[:3])[0]
            if len(self.buf) < 9 + length:
                return
            ftype, flags, sid = struct.unpack(">BBI", self.buf[3:9])
            payload, self.buf = self.buf[9:9 + length], self.buf[9 + length:]
            self.on_frame(ftype, flags, sid & 0x7FFFFFFF, payload)

    def on_frame(self, ftype, flags, sid, payload):
        if ftype in (DATA, HEADERS) and flags & PADDED:
            payload = payload[1:len(payload) - payload[0]]
        if ftype == HEADERS:
            if flags & PRIORITY:
                payload = payload[5:]
            self.block = (sid, flags, payload)
        elif ftype == CONTINUATION and self.block:
            self.block = (sid, self.block[1] | flags, self.block[2] + payload)
        elif ftype == DATA:
            s = self.stream(sid)
            s["body"] += payload.decode("utf-8", "replace")
            s["ended"] = s["ended"] or bool(flags & END_STREAM)
            if payload:  # the window back, stream's and connection's, so bodies keep coming
                inc = struct.pack(">I", len(payload))
                self.answer(frame(WINDOW_UPDATE, 0, sid, inc) + frame(WINDOW_UPDATE, 0, 0, inc))
        elif ftype == RST_STREAM:
            self.stream(sid)["rst"] = struct.unpack(">I", payload[:4])[0]
        elif ftype == GOAWAY:
            last, code = struct.unpack(">II", payload[:8])
            self.goaway = {"last_stream": last & 0x7FFFFFFF, "error": code,
                           "debug": payload[8:].decode("utf-8", "replace")}
        elif ftype == PING and flags & 0x1:
            self.pings += 1
        elif ftype == PING:
            self.server_pings += 1
            if self.answer_pings:
                self.answer(frame(PING, 0x1, 0, payload))
        elif ftype == SETTINGS and not flags & 0x1:
            self.answer(frame(SETTINGS, 0x1, 0))
        if ftype in (HEADERS, CONTINUATION) and self.block and self.block[1] & END_HEADERS:
            self.on_headers(*self.block)
            self.block = None

    def on_headers(self, sid, flags, block):
        s = self.stream(sid)
        fields = [(n.decode(), v.decode("utf-8", "replace"))
                  for n, v in self.decoder.decode(block, raw=True)]
        status = dict(fields).get(":status")
        if status and not status.startswith("1"):
            s["status"] = int(status)
            s["headers"] = fields
        s["ended"] = s["ended"] or bool(flags & END_STREAM)

    def ping(self):
        """Waits until the server has processed everything sent so far."""
        want = self.pings + 1
        self.send_raw(frame(PING, 0, 0, b"syncsync"))
        return self.pump(lambda: self.pings >= want)

    def result(self, **extra):
        out = {"streams": {str(k): v for k, v in self.streams.items()}, "goaway": self.goaway,
               "closed": self.closed, "server_pings": self.server_pings}
        out.update(extra)
        return out


def one_request(p, path, extra, body=None, end_stream=True):
    """A request whose fate (response or reset) is the result."""
    sid = p.request(path, extra, end_stream=body is None and end_stream,
                    method="POST" if body is not None else "GET")
    if body is not None:
        p.h2.send_data(sid, body, end_stream=True)
        p.flush()
    p.pump(lambda: p.done(sid))
    return p.result(stream=sid)


def case_simple(p, args):
    return one_request(p, "/api", [])


def case_conn_specific(p, args):
    return one_request(p, "/bad/connection", [("connection", "keep-alive")])


def case_te_gzip(p, args):
    return one_request(p, "/bad/te", [("te", "gzip")])


def case_crlf_value(p, args):
    return one_request(p, "/bad/crlf", [("x-bad", b"a\r\nx-injected: 1")])


def case_cl_mismatch(p, args):
    return one_request(p, "/bad/content-length", [("content-length", "100")], body=b"0123456789")


def case_host_mismatch(p, args):
    return one_request(p, "/bad/host", [("host", "evil.example")])


def case_too_large(p, args):
    # 64 fields of 1 KiB: over the 16 KiB limit the test sets, in one frame.
    return one_request(p, "/bad/too-large", [("x-pad-%d" % i, "v" * 1024) for i in range(64)])


def case_big_head(p, args):
    # 200 fields of 1000 bytes, under the 1 MiB default: hyper-h2 splits the block in
    # 16 KiB frames (it has not read the server's larger SETTINGS_MAX_FRAME_SIZE), one
    # HEADERS and a dozen CONTINUATION frames.
    return one_request(p, "/big-head", [("x-big-%d" % i, "h" * 1000) for i in range(200)])


def case_rapid_reset(p, args):
    """Opens and cancels streams as fast as it can (CVE-2023-44487)."""
    n = int(args[0]) if args else 5000
    hdrs = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"kubernetes"),
            (b":path", b"/rapid")]
    sent = 0
    try:
        for i in range(n):
            sid = p.h2.get_next_available_stream_id()
            p.h2.send_headers(sid, hdrs, end_stream=True)
            p.h2.reset_stream(sid, error_code=CANCEL)
            sent += 1
            if i % 100 == 99:
                p.flush()
        p.flush()
    except (ssl.SSLError, OSError):
        pass  # the server may close while we still send
    p.pump(lambda: False, timeout=10)  # until it closes
    return p.result(sent=sent)


def case_past_goaway(p, args):
    """Past the reset limit, then streams that are not reset, in the same write: the
    server's GOAWAY names a last stream below them, so none may be served."""
    hdrs = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"kubernetes")]
    for _ in range(int(args[0]) if args else 1100):
        sid = p.h2.get_next_available_stream_id()
        p.h2.send_headers(sid, hdrs + [(b":path", b"/rapid")], end_stream=True)
        p.h2.reset_stream(sid, error_code=CANCEL)
    after = []
    for _ in range(20):
        sid = p.h2.get_next_available_stream_id()
        p.h2.send_headers(sid, hdrs + [(b":path", b"/after/%d" % sid)], end_stream=True)
        p.stream(sid)
        after.append(sid)
    p.flush()
    p.pump(lambda: False, timeout=10)
    return p.result(after=after)


def flood(p, one, cap):
    """Sends `one` over and over without reading (the socket's receive buffer is small,
    so every acknowledgement the server owes us piles up on its side) until the server
    stops taking them or `cap` frames went out; then reads until it closes."""
    batch = one * 1000
    sent, stalled = 0, False
    p.sock.settimeout(3)
    while sent < cap:
        try:
            p.send_raw(batch)
        except (socket.timeout, ssl.SSLError, OSError):
            stalled = True  # the server no longer reads, or has closed
            break
        sent += 1000
    p.pump(lambda: False, timeout=20)
    return p.result(sent=sent, stalled=stalled)


def case_ping_flood(p, args):
    return flood(p, frame(PING, 0, 0, b"floodflo"), 4000000)


def case_settings_flood(p, args):
    return flood(p, frame(SETTINGS, 0, 0), 4000000)


def case_settings_entries(p, args):
    """One SETTINGS frame with more entries than the server takes (max_settings)."""
    entries = b"".join(struct.pack(">HI", 0x4, 65535) for _ in range(100))
    p.send_raw(frame(SETTINGS, 0, 0, entries))
    p.pump(lambda: False, timeout=10)
    return p.result()


def case_continuation_flood(p, args):
    """A header block that never ends: HEADERS, then CONTINUATION frames without
    END_HEADERS (CVE-2024-27316). The first request on the connection, so a fresh
    encoder agrees with the server's (empty) dynamic table."""
    block = hpack.Encoder().encode(
        [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"kubernetes"),
         (b":path", b"/continuation")] + [(b"x-pad-%d" % i, b"v" * 100) for i in range(400)])
    pieces = [block[i:i + 200] for i in range(0, len(block), 200)]
    out = frame(HEADERS, END_STREAM, 1, pieces[0])
    sent = 0
    for piece in pieces[1:]:
        out += frame(CONTINUATION, 0, 1, piece)  # never END_HEADERS
        sent += 1
    try:
        p.send_raw(out)
    except (ssl.SSLError, OSError):
        pass  # closed while we sent
    p.pump(lambda: False, timeout=10)
    return p.result(sent=sent)


def wait_file(path, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def touch(path):
    open(path, "w").close()


def case_reset_watch(p, args):
    """A watch the client cancels (RST_STREAM) while the connection stays: the test
    checks the upstream side, then the same connection serves another request."""
    sync = args[0]
    watch = p.request("/api/v1/pods?watch=true")
    if not p.pump(lambda: p.streams[watch]["status"] is not None):
        return p.result(error="no watch response head")
    p.h2.reset_stream(watch, error_code=CANCEL)
    p.flush()
    touch(os.path.join(sync, "reset"))
    after = p.request("/api")
    p.pump(lambda: p.done(after))
    wait_file(os.path.join(sync, "finish"))
    return p.result(watch=watch, after=after)


def case_drain(p, args):
    """A stream in flight when the server drains: GOAWAY, then a new stream on the same
    connection (which the server must not take), then the first stream's end."""
    sync = args[0]
    first = p.request("/slow")
    if not p.pump(lambda: p.goaway is not None):
        return p.result(error="no GOAWAY")
    late = p.request("/api")
    synced = p.ping()  # the server has read the late stream's HEADERS
    touch(os.path.join(sync, "goaway"))
    p.pump(lambda: p.done(first) and p.closed, timeout=15)
    return p.result(first=first, late=late, synced=synced)


def case_idle(p, args):
    """One request, then nothing: how long until the server ends the connection."""
    sid = p.request("/api")
    p.pump(lambda: p.done(sid))
    start = time.monotonic()
    p.pump(lambda: False, timeout=10)
    return p.result(stream=sid, ended_after=time.monotonic() - start)


def quiet_watch(p, answer, hold):
    """A watch with no events; PINGs answered or not; until closed or `hold` seconds."""
    p.answer_pings = answer
    sid = p.request("/api/v1/pods?watch=true")
    if not p.pump(lambda: p.streams[sid]["status"] is not None):
        return p.result(error="no watch response head")
    start = time.monotonic()
    p.pump(lambda: False, timeout=hold)
    return p.result(stream=sid, ended_after=time.monotonic() - start)


def case_watch_pings_unanswered(p, args):
    return quiet_watch(p, False, 10)


def case_watch_pings_answered(p, args):
    return quiet_watch(p, True, float(args[0]) if args else 1.5)


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}
SMALL_RCVBUF = {"ping_flood", "settings_flood"}


def main():
    if len(sys.argv) < 7 or sys.argv[1] not in CASES:
        print("usage: h2_probe.py {%s} HOST PORT CA CERT KEY [ARGS]" % ",".join(CASES))
        return 2
    name, host, port, ca, cert, key = sys.argv[1:7]
    try:
        p = Probe(host, int(port), ca, cert, key, 4096 if name in SMALL_RCVBUF else None)
        out = CASES[name](p, sys.argv[7:])
    except Exception as e:  # reported, so the test shows what went wrong
        out = {"error": "%s: %s" % (type(e).__name__, e)}
    out["case"] = name
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
