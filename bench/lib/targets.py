"""The proxies under test, each started fresh for a measurement and stopped after
it: nginx, haproxy and mvproxy configured alike, plus the direct baseline."""
import os
import socket
import subprocess
import time

import procs
import workspace


class Instance:
    """A running proxy: where to send requests, whose memory to read."""

    def __init__(self, port, rss_pid, processes, cpu_pids=None):
        self.port = port
        self.rss_pid = rss_pid
        self.processes = processes
        # Whose CPU time is the proxy's: every hop's worker process.
        self.cpu_pids = cpu_pids if cpu_pids is not None else ([rss_pid] if rss_pid else [])
        self.killed = False  # did not stop within 5 s of SIGTERM

    def stop(self):
        for p in reversed(self.processes):
            self.killed |= p.stop()


def wait_listening(proc, port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}): {procs.tail(proc.log())}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"{proc.name}: nothing listening on {port} after {timeout}s")


class Env:
    """Paths, ports and limits shared by every target."""

    def __init__(self, root, run, pki, nofile, backend_a, backend_b, watch_backend):
        self.root, self.run, self.pki, self.nofile = root, run, pki, nofile
        self.backend_a, self.backend_b, self.watch_backend = backend_a, backend_b, watch_backend
        self.unused_port = procs.free_port()  # "peer" of single-hop instances: never asked


class Nginx:
    name = "nginx"
    peer_pending = False

    def __init__(self, env):
        self.env = env
        self.count = 0

    def start(self, upstream, peer=None, verify_client=False, http2=False):
        env = self.env
        self.count += 1
        name = f"nginx-{self.count}"
        port = procs.free_port()
        os.makedirs(os.path.join(env.run, f"{name}-tmp"), exist_ok=True)
        conf = os.path.join(env.run, f"{name}.conf")
        workspace.render(os.path.join(env.root, "bench/configs/nginx-proxy.conf"), conf, {
            "NAME": name, "RUN": env.run, "PKI": env.pki, "PORT": port, "UPSTREAM_PORT": upstream,
            "PEER_PORT": peer or env.unused_port, "VERIFY_CLIENT": "on" if verify_client else "optional",
            "HTTP2": " http2" if http2 else "",
            "CIPHERSUITE": workspace.CIPHERSUITE, "NOFILE": env.nofile, "CONNECTIONS": 2 * env.nofile})
        p = procs.Proc(name, ["nginx", "-p", env.run, "-c", conf, "-e", os.path.join(env.run, f"{name}.error.log"),
                              "-g", "daemon off;"], os.path.join(env.run, f"{name}.log"))
        wait_listening(p, port)
        return Instance(port, procs.child_pid(p.pid), [p])

    def start_peer_route(self):
        b = self.start(self.env.backend_b, self.env.backend_b, verify_client=True)
        a = self.start(self.env.backend_a, b.port)
        return Instance(a.port, a.rss_pid, b.processes + a.processes, a.cpu_pids + b.cpu_pids)


class Haproxy:
    name = "haproxy"
    peer_pending = False

    def __init__(self, env):
        self.env = env
        self.count = 0
        for pem in ("apiserver", "front-proxy-client"):
            workspace.combined_pem(env.pki, pem, os.path.join(env.run, f"{pem}.pem"))

    def start(self, upstream, peer=None, verify_client=False, http2=False):
        env = self.env
        self.count += 1
        name = f"haproxy-{self.count}"
        port = procs.free_port()
        conf = os.path.join(env.run, f"{name}.cfg")
        # Like mvproxy (and kube-apiserver), the first hop asks every client for a
        # certificate without requiring one; the second hop requires the proxy's.
        verify = f"verify {'required' if verify_client else 'optional'} ca-file {env.pki}/front-proxy-ca.crt"
        workspace.render(os.path.join(env.root, "bench/configs/haproxy-proxy.cfg"), conf, {
            "RUN": env.run, "PKI": env.pki, "PORT": port, "UPSTREAM_PORT": upstream,
            "PEER_PORT": peer or env.unused_port, "BIND_VERIFY": verify,
            "BIND_ALPN": " alpn h2,http/1.1" if http2 else "", "CIPHERSUITE": workspace.CIPHERSUITE,
            "NOFILE": env.nofile, "MAXCONN": (env.nofile - 200) // 2})
        p = procs.Proc(name, ["haproxy", "-db", "-f", conf], os.path.join(env.run, f"{name}.log"))
        wait_listening(p, port)
        return Instance(port, p.pid, [p])

    def start_peer_route(self):
        b = self.start(self.env.backend_b, self.env.backend_b, verify_client=True)
        a = self.start(self.env.backend_a, b.port)
        return Instance(a.port, a.rss_pid, b.processes + a.processes, a.cpu_pids + b.cpu_pids)


class Mvproxy:
    name = "mvproxy"

    def __init__(self, env, binary, extra_flags=()):
        self.env = env
        self.binary = binary
        self.extra_flags = list(extra_flags)  # bench/run --mvproxy-flags
        self.count = 0
        self.peer_pending = False  # why the peer route is pending, once found not to work

    def _flags(self, upstream):
        pki = self.env.pki
        return ["--bind-address", "127.0.0.1",
                "--tls-cert-file", f"{pki}/apiserver.crt", "--tls-private-key-file", f"{pki}/apiserver.key",
                "--upstream", f"https://127.0.0.1:{upstream}", "--upstream-ca-file", f"{pki}/ca.crt",
                "--proxy-client-cert-file", f"{pki}/front-proxy-client.crt",
                "--proxy-client-key-file", f"{pki}/front-proxy-client.key",
                "--admin-address", "127.0.0.1:0", "--workers", "1", *self.extra_flags]

    def _spawn(self, argv, port_known=None):
        self.count += 1
        name = f"mvproxy-{self.count}"
        p = procs.Proc(name, [self.binary] + argv, os.path.join(self.env.run, f"{name}.log"))
        try:
            if port_known:
                wait_listening(p, port_known, timeout=15)
                return Instance(port_known, p.pid, [p])
            # The first "listening on" that is not the admin listener.
            m = p.wait_for_log(r"^(?!.*admin).*listening on \S*?:(\d+)", timeout=15)
            return Instance(int(m.group(1)), p.pid, [p])
        except Exception:
            p.stop()
            raise

    def start(self, upstream, peer=None, verify_client=False, http2=False):
        # A one-node static cluster (it lists only itself): no peers, pass-through.
        # Its listener offers ALPN h2,http/1.1 either way, as kube-apiserver's: the
        # client picks the protocol, so http2 changes nothing here.
        return self._spawn(self._flags(upstream) + [
            "--secure-port", "0", "--server-id", "bench", "--peer-discovery", "static",
            "--peers", "bench=127.0.0.1:7443", "--feature-gates", "UnknownVersionInteroperabilityProxy=false"])

    def start_peer_route(self):
        """Two sidecars, a in front of apiserver A and b in front of B; only B serves
        the widgets group, so a must route widget requests to b."""
        env = self.env
        port_a, port_b = procs.free_port(), procs.free_port()
        peers = f"a=127.0.0.1:{port_a},b=127.0.0.1:{port_b}"
        common = ["--peer-discovery", "static", "--peers", peers,
                  "--feature-gates", "UnknownVersionInteroperabilityProxy=true",
                  "--peer-ca-file", f"{env.pki}/ca.crt",
                  "--requestheader-client-ca-file", f"{env.pki}/front-proxy-ca.crt",
                  "--requestheader-allowed-names", "front-proxy-client",
                  "--discovery-sync-interval", "1s", "--peer-advertise-ip", "127.0.0.1"]
        b = self._spawn(self._flags(env.backend_b) + common + [
            "--server-id", "b", "--secure-port", str(port_b), "--peer-advertise-port", str(port_b)], port_b)
        try:
            a = self._spawn(self._flags(env.backend_a) + common + [
                "--server-id", "a", "--secure-port", str(port_a), "--peer-advertise-port", str(port_a)], port_a)
        except Exception:
            b.stop()
            raise
        return Instance(a.port, a.rss_pid, b.processes + a.processes, a.cpu_pids + b.cpu_pids)


class Direct:
    """No proxy: the client talks to the backend itself (the ceiling)."""
    name = "direct"
    peer_pending = False

    def __init__(self, env, direct_port, direct_h2_port):
        self.env = env
        self.direct_port = direct_port
        self.direct_h2_port = direct_h2_port  # the same files, HTTP/2 offered

    def start(self, upstream, peer=None, verify_client=False, http2=False):
        # The watch backend takes the client certificate; the nginx backend has a
        # listener without one for clients (wrk) that cannot present it.
        if upstream == self.env.watch_backend:
            return Instance(upstream, None, [])
        return Instance(self.direct_h2_port if http2 else self.direct_port, None, [])


def negotiated_tls(port):
    """What an OpenSSL client negotiates with the listener: protocol, suite, group."""
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-brief"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10)
    info = {}
    for line in (r.stdout + r.stderr).splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("Protocol version", "Ciphersuite", "Server Temp Key", "Peer Temp Key"):
            info[key.strip()] = value.strip()
    return ", ".join(info.get(k, "?") for k in ("Protocol version", "Ciphersuite", "Server Temp Key")) \
        if info else "handshake failed"
