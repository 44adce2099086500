"""Processes the benchmark starts: each in its own process group, told to die with
the harness (PR_SET_PDEATHSIG), and all stopped by stop_all() on any exit path."""
import ctypes
import os
import re
import signal
import socket
import subprocess
import time

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1
_started = []


def _die_with_parent():
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Proc:
    def __init__(self, name, argv, log_path):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.popen = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True,
                                      preexec_fn=_die_with_parent)
        self.pid = self.popen.pid
        _started.append(self)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def alive(self):
        return self.popen.poll() is None

    def wait_for_log(self, pattern, timeout):
        """The first match of pattern in the output, or raise when the process dies
        or the deadline passes."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern, re.M)
        while time.monotonic() < deadline:
            m = rx.search(self.log())
            if m:
                return m
            if not self.alive():
                raise RuntimeError(f"{self.name} exited ({self.popen.returncode}): {tail(self.log())}")
            time.sleep(0.02)
        raise RuntimeError(f"{self.name}: no /{pattern}/ within {timeout}s: {tail(self.log())}")

    def stop(self):
        """SIGTERM, then SIGKILL after 5 s; True when it had to be killed."""
        killed = False
        if self.alive():
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait()
                killed = True
        self._log.close()
        if self in _started:
            _started.remove(self)
        return killed


def stop_all():
    for p in list(reversed(_started)):
        p.stop()


def tail(text, lines=3):
    return " | ".join(text.strip().splitlines()[-lines:])


def free_port():
    """A port free right now on 127.0.0.1, for servers (nginx, haproxy) that cannot
    bind port 0 and tell us."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_pid(parent, timeout=5):
    """The (single) child of parent: nginx's worker, whose memory is the proxy's."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                return int(d)
        time.sleep(0.02)
    raise RuntimeError(f"no child of {parent}")


def status_kib(pid, field):
    """VmRSS / VmHWM of pid in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def reset_peak_rss(pid):
    """Resets VmHWM so the next reading is the peak of what follows (Linux >= 4.0)."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")
