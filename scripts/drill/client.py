"""HTTPS client connections to the sidecars and the log of every request the drill makes.

Each request carries a `drill=<run>.<seq>` query parameter (apiservers ignore unknown
query parameters), so the sidecar's access line for it (`GET <target> <status>
route=<id> ...`) can be found afterwards and the route read off it.
"""

import http.client
import json
import select
import socket
import ssl
import threading
import time

# Outcome of a request that got no HTTP status.
CONN_ERROR = -1
TIMEOUT = -2


def tls_context(pki):
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=f"{pki}/ca.crt")
    ctx.load_cert_chain(f"{pki}/admin.crt", f"{pki}/admin.key")
    return ctx


class Clock:
    """Drill time: seconds since the clock was made (monotonic), plus the wall-clock
    offset to read the daemons' timestamps with."""

    def __init__(self):
        self.t0 = time.monotonic()
        self.wall0 = time.time()

    def now(self):
        return time.monotonic() - self.t0


class Record:
    __slots__ = ("id", "sidecar", "cls", "verb", "method", "target", "kind", "t_send", "t_recv",
                 "status", "error", "detail", "reused", "retried", "outcome", "why", "route",
                 "phase")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}


class RequestLog:
    """Thread-safe list of Records; ids are `<run>.<seq>`."""

    def __init__(self, run, clock):
        self.run = run
        self.clock = clock
        self._lock = threading.Lock()
        self._seq = 0
        self.records = []

    def next_id(self):
        with self._lock:
            self._seq += 1
            return f"{self.run}.{self._seq}"

    def add(self, rec):
        with self._lock:
            self.records.append(rec)

    def snapshot(self):
        with self._lock:
            return list(self.records)


def tagged(path, rid):
    return path + ("&" if "?" in path else "?") + "drill=" + rid


def status_detail(body):
    """A Status body's reason/message and whether it names an object (`x "n" not found`)
    rather than the resource (`the server could not find the requested resource`)."""
    try:
        d = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {"message": body[:200].decode(errors="replace") if isinstance(body, bytes) else ""}
    if not isinstance(d, dict) or d.get("kind") != "Status":
        return {}
    details = d.get("details") or {}
    return {"reason": d.get("reason"), "message": (d.get("message") or "")[:300],
            "object_name": details.get("name")}


class Conn:
    """One keep-alive HTTPS connection to one sidecar, as a client-go transport keeps.

    A connection the server closed while idle is noticed before it is reused (readable
    at send time) and replaced; if a reused connection fails before any response byte
    for a GET, the request is retried once on a fresh connection (what Go's net/http
    does for idempotent requests). Both happen before the request's send time is taken
    only in the first case; a retry is flagged on the record.
    """

    def __init__(self, port, ctx, timeout=10.0):
        self.port = port
        self.ctx = ctx
        self.timeout = timeout
        self.c = None
        self.used = 0

    def _fresh(self):
        self.close()
        self.c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx,
                                             timeout=self.timeout)
        self.used = 0

    def connect(self):
        if self.c is None:
            self._fresh()
        if self.c.sock is None:
            self.c.connect()

    def close(self):
        if self.c is not None:
            try:
                self.c.close()
            except Exception:  # noqa: BLE001
                pass
        self.c = None

    def _stale(self):
        s = self.c.sock if self.c is not None else None
        if s is None:
            return False
        try:
            r, _, _ = select.select([s], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(r)

    def request(self, method, target, body=None, headers=None):
        """-> (status or CONN_ERROR/TIMEOUT, body bytes, error string, response, reused, retried)

        Reads the whole body; for streaming use open_stream()."""
        if self.c is None or self._stale():
            self._fresh()
        h = {"Accept": "application/json", "User-Agent": "upgrade-drill"}
        if body is not None:
            h["Content-Type"] = "application/json"
        if headers:
            h.update(headers)
        retried = False
        while True:
            reused = self.used > 0
            try:
                self.c.request(method, target, body=body, headers=h)
                self.used += 1
                r = self.c.getresponse()
                data = r.read()
                if r.will_close:
                    self.close()
                return r.status, data, None, r, reused, retried
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                self.close()
                self._fresh()
                if reused and method == "GET" and not retried:
                    retried = True
                    continue
                return CONN_ERROR, b"", f"{type(e).__name__}: {e}", None, reused, retried
            except socket.timeout as e:
                self.close()
                return TIMEOUT, b"", f"timeout: {e}", None, reused, retried
            except (OSError, http.client.HTTPException, ssl.SSLError) as e:
                self.close()
                return CONN_ERROR, b"", f"{type(e).__name__}: {e}", None, reused, retried
