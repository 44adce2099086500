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


# CPUs for the servers (proxies, backends) and for the load generators, or None: set
# by `bench/run --pin` so that the proxy and its backend share one core, as a sidecar
# and its apiserver do, and the client runs on the other.
SERVER_CPUS = None
CLIENT_CPUS = None


def _die_with_parent():
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if SERVER_CPUS is not None:
        os.sched_setaffinity(0, SERVER_CPUS)  # inherited by every thread it starts


def client_prefix():
    """taskset prefix for a load generator's command line under --pin."""
    if CLIENT_CPUS is None:
        return []
    return ["taskset", "-c", ",".join(str(c) for c in sorted(CLIENT_CPUS))]


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_sample(pids):
    """CPU seconds (user + system) and context switches (voluntary, involuntary) of
    every thread of pids, plus CPU seconds by thread name."""
    total, vol, invol, by_thread = 0.0, 0, 0, {}
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except FileNotFoundError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    stat = f.read()
                with open(f"/proc/{pid}/task/{tid}/status") as f:
                    status = f.read()
            except FileNotFoundError:
                continue  # the thread ended
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2:].split()
            seconds = (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime
            total += seconds
            by_thread[name] = by_thread.get(name, 0.0) + seconds
            vol += int(re.search(r"^voluntary_ctxt_switches:\s+(\d+)", status, re.M).group(1))
            invol += int(re.search(r"^nonvoluntary_ctxt_switches:\s+(\d+)", status, re.M).group(1))
    return {"cpu_s": total, "vol": vol, "invol": invol, "threads": by_thread}


def cpu_delta(before, after, requests):
    """Per request: proxy CPU µs, voluntary and involuntary switches; CPU µs by thread."""
    threads = {k: (v - before["threads"].get(k, 0.0)) * 1e6 / requests for k, v in after["threads"].items()}
    return {"cpu_us": (after["cpu_s"] - before["cpu_s"]) * 1e6 / requests,
            "vol": (after["vol"] - before["vol"]) / requests,
            "invol": (after["invol"] - before["invol"]) / requests,
            "threads": {k: v for k, v in threads.items() if v > 0}}


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
