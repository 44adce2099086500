"""The throwaway control plane of one drill run.

One fake-apiserver process serving the instances a, b, c (one shared store), and one
mvproxy sidecar beside each, started as scripts/demo starts them but with mvproxy's
default timing flags. Every process gets its own process group (killed as a group) and
PR_SET_PDEATHSIG, so nothing outlives the drill even if the drill itself is killed.
"""

import ctypes
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time

OLD = "v1.30"
NEW = "v1.31"
IDS = ("a", "b", "c")

_PR_SET_PDEATHSIG = 1


class ClusterError(Exception):
    pass


try:
    _LIBC = ctypes.CDLL(None, use_errno=True)   # loaded here, not in the forked child
    _PRCTL = _LIBC.prctl
except (OSError, AttributeError):
    _PRCTL = None


def child_setup():
    # Runs in the child between fork and exec: die with the drill (SIGKILL when the
    # drill's thread that started it ends). Only a preloaded C call: nothing that locks.
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def kill_group(popen):
    try:
        os.killpg(popen.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, timeout=2.0):
    """Plain-HTTP GET on 127.0.0.1 (admin and control endpoints): (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


class Process:
    def __init__(self, name, argv, log_path):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                      stderr=subprocess.STDOUT, start_new_session=True,
                                      preexec_fn=child_setup)

    def alive(self):
        return self.popen.poll() is None

    def signal(self, sig):
        if self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass

    def wait(self, timeout):
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout, already_signalled=False):
        """SIGTERM the group (once: a second SIGTERM ends mvproxy's drain at once), SIGKILL
        it after `timeout` seconds. Returns the exit status."""
        if not already_signalled:
            self.signal(signal.SIGTERM)
        rc = self.wait(timeout)
        if rc is None:
            self.signal(signal.SIGKILL)
            rc = self.wait(5)
        else:
            # The process is gone; anything it left in its group goes too.
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self._log.close()
        return rc

    def tail(self, n=15):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return ""


def wait_for_line(proc, regex, deadline):
    """Polls proc's log for regex until the deadline; returns the match."""
    pat = re.compile(regex)
    while True:
        try:
            with open(proc.log_path, "rb") as f:
                text = f.read().decode(errors="replace")
            m = pat.search(text)
            if m:
                return m
        except OSError:
            pass
        if not proc.alive():
            raise ClusterError(f"{proc.name} exited (status {proc.popen.returncode}) before "
                               f"logging /{regex}/:\n{proc.tail()}")
        if time.monotonic() > deadline:
            raise ClusterError(f"timed out waiting for /{regex}/ in {proc.log_path}:\n{proc.tail()}")
        time.sleep(0.05)


class Cluster:
    def __init__(self, root, bin_dir, work):
        self.root = root
        self.bin = bin_dir
        self.work = work
        self.pki = os.path.join(work, "pki")
        self.fake = None
        self.sidecars = {}       # id -> Process
        self.api_port = {}       # instance -> port
        self.port = {}           # sidecar id -> client port
        self.admin = {}          # sidecar id -> admin port
        self.control_port = None

    # -- start ------------------------------------------------------------------------

    def make_pki(self):
        r = subprocess.run([os.path.join(self.root, "scripts", "make-pki"), self.pki, *IDS],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        if r.returncode != 0:
            raise ClusterError("scripts/make-pki failed:\n" + r.stdout.decode(errors="replace"))

    def start_apiserver(self, deadline):
        p = self.pki
        argv = [os.path.join(self.bin, "fake-apiserver")]
        for i in IDS:
            argv += ["--instance", f"name={i},profile={OLD},cert={p}/{i}.crt,key={p}/{i}.key"]
        argv += ["--client-ca-file", f"{p}/ca.crt",
                 "--requestheader-client-ca-file", f"{p}/front-proxy-ca.crt",
                 "--requestheader-allowed-names", "front-proxy-client",
                 "--token-auth-file", f"{p}/tokens.csv",
                 "--request-log", os.path.join(self.work, "apiserver-requests.jsonl"),
                 "--control-address", "127.0.0.1:0"]
        self.fake = Process("fake-apiserver", argv, os.path.join(self.work, "apiserver.log"))
        wait_for_line(self.fake, r"(?m)^ready$", deadline)
        text = open(self.fake.log_path, "rb").read().decode(errors="replace")
        for i in IDS:
            m = re.search(rf"instance {i} listening on 127\.0\.0\.1:(\d+)", text)
            if not m:
                raise ClusterError(f"fake-apiserver did not report instance {i}:\n{self.fake.tail()}")
            self.api_port[i] = int(m.group(1))
        m = re.search(r"control listening on 127\.0\.0\.1:(\d+)", text)
        if not m:
            raise ClusterError(f"fake-apiserver did not report its control port:\n{self.fake.tail()}")
        self.control_port = int(m.group(1))

    def sidecar_argv(self, sid):
        p, port = self.pki, self.port[sid]
        # As scripts/demo, minus --discovery-sync-interval, --lease-duration and
        # --lease-renew-interval: the drill runs mvproxy's defaults.
        return [os.path.join(self.bin, "mvproxy"),
                "--server-id", sid, "--bind-address", "127.0.0.1", "--secure-port", str(port),
                "--tls-cert-file", f"{p}/{sid}.crt", "--tls-private-key-file", f"{p}/{sid}.key",
                "--client-ca-file", f"{p}/ca.crt",
                "--upstream", f"https://127.0.0.1:{self.api_port[sid]}",
                "--upstream-ca-file", f"{p}/ca.crt",
                "--proxy-client-cert-file", f"{p}/front-proxy-client.crt",
                "--proxy-client-key-file", f"{p}/front-proxy-client.key",
                "--requestheader-client-ca-file", f"{p}/front-proxy-ca.crt",
                "--requestheader-allowed-names", "front-proxy-client",
                "--peer-ca-file", f"{p}/ca.crt", "--peer-advertise-ip", "127.0.0.1",
                "--peer-advertise-port", str(port),
                "--peer-discovery", "lease",
                "--admin-address", "127.0.0.1:0", "--workers", "1"]

    def start_sidecars(self, deadline):
        taken = set(self.api_port.values()) | {self.control_port}
        for sid in IDS:
            port = free_port()
            while port in taken:
                port = free_port()
            taken.add(port)
            self.port[sid] = port
        for sid in IDS:
            self.sidecars[sid] = Process(f"mvproxy {sid}", self.sidecar_argv(sid),
                                         os.path.join(self.work, f"mvproxy-{sid}.log"))
        for sid in IDS:
            m = wait_for_line(self.sidecars[sid], r"admin listening on 127\.0\.0\.1:(\d+)", deadline)
            self.admin[sid] = int(m.group(1))

    def debug_peers(self, sid, timeout=2.0):
        status, body = http_get(self.admin[sid], "/debug/peers", timeout)
        if status != 200:
            raise ClusterError(f"/debug/peers on {sid}: HTTP {status}")
        return json.loads(body)

    def wait_ready(self, deadline):
        """Until every sidecar is ready and sees its two peers synced (polling /debug/peers)."""
        last = {}
        while True:
            pending = []
            for sid in IDS:
                proc = self.sidecars[sid]
                if not proc.alive():
                    raise ClusterError(f"sidecar {sid} exited (status {proc.popen.returncode}):\n"
                                       f"{proc.tail()}")
                try:
                    status, _ = http_get(self.admin[sid], "/readyz", 1.0)
                    d = self.debug_peers(sid, 1.0)
                    peers = d.get("peers") or []
                    synced = [p["id"] for p in peers if p.get("synced")]
                    last[sid] = (f"readyz {status}, local synced {d['local'].get('synced')}, "
                                 f"synced peers {synced}")
                    if status == 200 and d["local"].get("synced") and len(synced) == 2:
                        continue
                except (OSError, ValueError, KeyError, ClusterError, http.client.HTTPException) as e:
                    last[sid] = f"admin not answering: {e}"
                pending.append(sid)
            if not pending:
                return
            if time.monotonic() > deadline:
                raise ClusterError("sidecars did not each see 2 synced peers in time: " +
                                   "; ".join(f"{s}: {last.get(s)}" for s in pending))
            time.sleep(0.1)

    def start(self, timeout=60.0):
        self.make_pki()
        deadline = time.monotonic() + timeout
        self.start_apiserver(deadline)
        self.start_sidecars(deadline)
        self.wait_ready(deadline)

    # -- control API --------------------------------------------------------------------

    def control(self, instance, action, query=""):
        """POST /instances/<instance>/<action>[?query]; returns the instance's JSON state."""
        conn = http.client.HTTPConnection("127.0.0.1", self.control_port, timeout=10)
        try:
            path = f"/instances/{instance}/{action}" + (f"?{query}" if query else "")
            conn.request("POST", path)
            r = conn.getresponse()
            body = r.read()
            if r.status != 200:
                raise ClusterError(f"control {path}: HTTP {r.status}: {body[:200]!r}")
            return json.loads(body)
        finally:
            conn.close()

    def instances(self):
        status, body = http_get(self.control_port, "/instances", 5)
        return json.loads(body) if status == 200 else None

    # -- stop ---------------------------------------------------------------------------

    def stop(self):
        """Sidecars first (they delete their Leases through the apiserver), then the apiserver."""
        rcs = {}
        for sid, proc in self.sidecars.items():
            proc.signal(signal.SIGTERM)
        for sid, proc in self.sidecars.items():
            rcs[sid] = proc.stop(timeout=10, already_signalled=True)
        if self.fake is not None:
            rcs["fake-apiserver"] = self.fake.stop(timeout=5)
        return rcs

    def kill_all(self):
        """Last resort (signal or error path): SIGKILL every group at once."""
        for proc in list(self.sidecars.values()) + ([self.fake] if self.fake else []):
            proc.signal(signal.SIGKILL)
