#!/usr/bin/python3
"""An HTTP/2 client for the stand-in's end-to-end tests (Debian's python3-h2): many
streams on one TLS connection (ALPN h2 only). Prints one JSON line per thing it
sees, flushed, for the test to wait on.

  get PATH N           N GETs at once and a PING; once all are answered and the PING
                       acknowledged: {"event":"done","statuses":[...],"ping_acked":true}
  watch PATH N EVENTS  N watches at once; {"event":"ready"} once every head is in,
                       {"event":"data",...} per DATA frame; once every watch has
                       EVENTS events, resets them all, then GETs /version on the
                       same connection: {"event":"after_reset","status":...}
  hold PATH            one watch; {"event":"ready"}, then waits for the server to
                       end the connection: {"event":"goaway",...} and/or
                       {"event":"closed"}
"""

import argparse
import json
import socket
import ssl
import sys

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions


def say(**fields):
    print(json.dumps(fields), flush=True)


class Client:
    def __init__(self, args):
        ctx = ssl.create_default_context(cafile=args.cacert)
        ctx.load_cert_chain(args.cert, args.key)
        ctx.set_alpn_protocols(["h2"])
        raw = socket.create_connection(("127.0.0.1", args.port), timeout=60)
        self.sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        self.authority = "127.0.0.1:%d" % args.port
        say(event="connected", alpn=self.sock.selected_alpn_protocol())
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, path):
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(
            sid,
            [(":method", "GET"), (":path", path), (":scheme", "https"),
             (":authority", self.authority), ("accept", "application/json")],
            end_stream=True)
        self.flush()
        return sid

    def events(self):
        """Yields h2 events until the connection ends."""
        while True:
            try:
                data = self.sock.recv(65536)
            except (ConnectionError, ssl.SSLError, socket.timeout):
                data = b""
            if not data:
                say(event="closed")
                return
            try:
                received = self.conn.receive_data(data)
            except h2.exceptions.ProtocolError as e:
                say(event="closed", error=str(e))
                return
            for ev in received:
                if isinstance(ev, h2.events.DataReceived):
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                yield ev
            self.flush()


def status_of(ev):
    return int(dict(ev.headers)[b":status"])


def run_get(c, path, n):
    statuses = {c.request(path): None for _ in range(n)}
    c.conn.ping(b"stand-in")
    c.flush()
    ended, pinged = set(), False
    for ev in c.events():
        if isinstance(ev, h2.events.ResponseReceived):
            statuses[ev.stream_id] = status_of(ev)
        elif isinstance(ev, h2.events.StreamEnded):
            ended.add(ev.stream_id)
        elif isinstance(ev, h2.events.PingAckReceived):
            pinged = ev.ping_data == b"stand-in"
        if len(ended) == n and pinged:
            say(event="done", statuses=list(statuses.values()), ping_acked=pinged)
            return 0
    return 1


def run_watch(c, path, n, want):
    heads, events = {}, {}
    for _ in range(n):
        events[c.request(path)] = 0
    probe = None
    for ev in c.events():
        if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == probe:
            say(event="after_reset", status=status_of(ev))
            return 0
        if isinstance(ev, h2.events.ResponseReceived):
            heads[ev.stream_id] = status_of(ev)
            if len(heads) == n:
                say(event="ready", statuses=list(heads.values()))
        elif isinstance(ev, h2.events.DataReceived) and ev.stream_id in events:
            lines = ev.data.decode().splitlines()
            events[ev.stream_id] += len(lines)
            say(event="data", stream=ev.stream_id, lines=len(lines),
                types=[json.loads(line)["type"] for line in lines],
                names=[json.loads(line)["object"]["metadata"]["name"] for line in lines])
            if probe is None and all(k >= want for k in events.values()):
                for sid in events:
                    c.conn.reset_stream(sid, error_code=h2.errors.ErrorCodes.CANCEL)
                probe = c.request("/version")
        elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id in events:
            say(event="ended", stream=ev.stream_id)
    return 1


def run_hold(c, path):
    c.request(path)
    for ev in c.events():
        if isinstance(ev, h2.events.ResponseReceived):
            say(event="ready", status=status_of(ev))
        elif isinstance(ev, h2.events.ConnectionTerminated):
            say(event="goaway", error_code=int(ev.error_code),
                last_stream_id=ev.last_stream_id)
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cacert", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("mode", choices=["get", "watch", "hold"])
    p.add_argument("path")
    p.add_argument("n", type=int, nargs="?", default=1)
    p.add_argument("events", type=int, nargs="?", default=1)
    args = p.parse_args()
    c = Client(args)
    if args.mode == "get":
        return run_get(c, args.path, args.n)
    if args.mode == "watch":
        return run_watch(c, args.path, args.n, args.events)
    return run_hold(c, args.path)


if __name__ == "__main__":
    sys.exit(main())
