"""bench/run: mvproxy vs nginx vs haproxy (and the backend itself), measured in one
run on this machine with interleaved rounds. See docs/benchmarks.md."""
import argparse
import datetime
import json
import os
import platform
import re
import resource
import signal
import statistics
import subprocess
import sys
import time

import procs
import report
import targets
import workspace

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# Clients authenticate with a bearer token, as a service account does (wrk cannot
# present a certificate). Every proxy then reaches the backend with its proxy client
# certificate; a caller with no credential at all would reach an apiserver anonymously.
AUTH_HEADER = "Authorization: Bearer mvproxy-bench-token"
MIB = 1024 * 1024
# HTTP/2 streams per client connection for h2watch: mvproxy's default
# SETTINGS_MAX_CONCURRENT_STREAMS, and what nginx and haproxy are configured with.
H2_MAX_STREAMS = 250


def parse_args():
    p = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    p.add_argument("--quick", action="store_true", help="a check that the harness runs: well under 2 minutes")
    p.add_argument("--out", default=os.path.join(ROOT, "build", "bench"), help="results directory")
    p.add_argument("--mvproxy", default=os.environ.get("MVPROXY_BIN", os.path.join(ROOT, "build", "bin", "mvproxy")))
    p.add_argument("--watchbench", required=True, help="the compiled bench/tools/watchbench")
    p.add_argument("--h2watchbench", required=True, help="the compiled bench/tools/h2watchbench")
    p.add_argument("--rounds", type=int)
    p.add_argument("--duration", type=int, help="seconds per load run")
    p.add_argument("--watches", type=int)
    p.add_argument("--only", help="comma-separated subset of: local,peer,list,watch,newconn,h2,h2list,h2watch")
    p.add_argument("--targets", help="comma-separated subset of: direct,mvproxy,nginx,haproxy")
    p.add_argument("--pin", action="store_true",
                   help="proxies and backends on the last CPU, load generators on the others (a sidecar "
                        "shares its node's core with its apiserver); default: the scheduler places them")
    p.add_argument("--mvproxy-flags", default="", help="extra flags for every mvproxy started (experiments)")
    a = p.parse_args()
    a.rounds = a.rounds or (1 if a.quick else 3)
    a.duration = a.duration or (2 if a.quick else 10)
    a.watches = a.watches or (300 if a.quick else 10000)
    a.list_downloads = 2 if a.quick else 5
    return a


class Bench:
    concurrency = 32  # wrk connections for (a) and (d)
    # h2load for (a) over HTTP/2: as many requests in flight as wrk's 32 connections.
    h2_connections, h2_streams = 4, 8

    def __init__(self, args, env, ca, direct_port, client_cert):
        self.args, self.env, self.ca = args, env, ca
        self.direct_port = direct_port
        self.client_cert = client_cert
        self.tls = {}
        self.tls_h2 = {}  # what h2load negotiated with each HTTP/2 listener
        self.threads = {}  # {route: {target: [CPU µs per request by thread name, per round]}}
        self.killed = {}  # target -> how many of its instances had to be SIGKILLed

    # -- tools

    def curl(self, port, path, extra=(), http2=False):
        """HTTP/1.1 unless http2: curl offers ALPN h2 by itself, and mvproxy takes it.
        An answer in the other protocol is an error, so a figure never mixes them."""
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "--cacert", self.ca, "--max-time", "60",
                            "--http2" if http2 else "--http1.1", "-H", AUTH_HEADER,
                            "-w", "%{http_code} %{size_download} %{time_total} %{http_version}", *extra,
                            f"https://127.0.0.1:{port}{path}"],
                           capture_output=True, text=True, timeout=90)
        code, size, seconds, version = r.stdout.split() if r.stdout else ("000", "0", "0", "0")
        if code != "000" and version != ("2" if http2 else "1.1"):
            raise RuntimeError(f"GET {path} on :{port} was answered over HTTP/{version}, "
                               f"not HTTP/{'2' if http2 else '1.1'}")
        return int(code), int(size), float(seconds)

    def wait_ok(self, port, path, timeout=10, extra=(), http2=False):
        deadline = time.monotonic() + timeout
        code = 0
        while time.monotonic() < deadline:
            code, _, _ = self.curl(port, path, ["--max-time", "2", *extra], http2)
            if code == 200:
                return
            time.sleep(0.05)
        raise RuntimeError(f"GET {path} on :{port} answered {code}, not 200, for {timeout}s")

    def wrk(self, port, path, connection_close=False, inst=None):
        """wrk's figures; with inst, also the proxy's CPU and context switches per request."""
        cmd = procs.client_prefix() + ["wrk", "-t1", f"-c{self.concurrency}", f"-d{self.args.duration}s", "--timeout", "5s",
               "-s", os.path.join(ROOT, "bench/lib/wrk_report.lua"), "-H", AUTH_HEADER]
        if connection_close:
            cmd += ["-H", "Connection: close"]
        before = procs.cpu_sample(inst.cpu_pids) if inst else None
        r = subprocess.run(cmd + [f"https://127.0.0.1:{port}{path}"], capture_output=True, text=True,
                           timeout=self.args.duration + 30)
        after = procs.cpu_sample(inst.cpu_pids) if inst else None
        m = re.search(r"^WRKJSON (.*)$", r.stdout, re.M)
        if not m:
            raise RuntimeError(f"wrk: {procs.tail(r.stdout + r.stderr)}")
        res = json.loads(m.group(1))
        if inst and inst.cpu_pids and res["requests"]:
            res["cpu"] = procs.cpu_delta(before, after, res["requests"])
        if res["requests"] == 0 or res["errors"] + res["non2xx"] > res["requests"] // 100:
            raise RuntimeError(f"wrk: {res['requests']} requests, {res['errors']} socket errors, "
                               f"{res['non2xx']} non-2xx")
        return res

    def h2load(self, port, path):
        """h2load -D over HTTP/2 only (ALPN h2, no fallback), the suite every server is
        told to negotiate; latency percentiles from its per-request log."""
        log = os.path.join(self.env.run, "h2load-requests.tsv")
        cmd = procs.client_prefix() + ["h2load", "-t1", f"-c{self.h2_connections}", f"-m{self.h2_streams}", f"-D{self.args.duration}",
               "--npn-list", "h2", "--tls13-ciphers", workspace.CIPHERSUITE, "-H", AUTH_HEADER,
               "--log-file", log, f"https://127.0.0.1:{port}{path}"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=self.args.duration + 30)
        out = r.stdout + r.stderr
        m = re.search(r"^requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                      r"(\d+) errored, (\d+) timeout", out, re.M)
        proto = re.search(r"^Application protocol: (\S+)", out, re.M)
        if not m or not proto or proto.group(1) != "h2":
            raise RuntimeError(f"h2load: {procs.tail(out)}")
        done, ok, bad = int(m.group(2)), int(m.group(3)), sum(int(m.group(i)) for i in (4, 5, 6))
        if ok == 0 or bad > ok // 100 or done - ok > ok // 100:
            raise RuntimeError(f"h2load: {done} done, {ok} succeeded (2xx), {bad} failed/errored/timed out")
        seconds = float(re.search(r"^finished in ([\d.]+)s", out, re.M).group(1))
        times = []
        with open(log) as f:
            for line in f:
                fields = line.split("\t")
                if len(fields) >= 3 and fields[1].startswith("2"):
                    times.append(int(fields[2]))
        os.unlink(log)
        times.sort()
        tls = [re.search(rf"^{k}: (.*)$", out, re.M) for k in ("TLS Protocol", "Cipher", "Server Temp Key")]
        return {"rps": ok / seconds, "p50_us": times[len(times) // 2], "p99_us": times[len(times) * 99 // 100],
                "tls": ", ".join(m.group(1) for m in tls if m) + f", ALPN {proto.group(1)}"}

    def stop(self, inst):
        inst.stop()
        if inst.killed:
            name = inst.processes[-1].name.rsplit("-", 1)[0]
            self.killed[name] = self.killed.get(name, 0) + 1

    # -- measurements: each starts a fresh instance and stops it

    def local(self, target, first_round):
        inst = target.start(self.env.backend_a)
        try:
            self.wait_ok(inst.port, workspace.SMALL_PATH)
            if first_round:
                self.tls[target.name] = targets.negotiated_tls(inst.port)
            res = self.wrk(inst.port, workspace.SMALL_PATH, inst=inst)
        finally:
            self.stop(inst)
        return {"local_rps": res["requests"] / (res["duration_us"] / 1e6),
                "local_p50_ms": res["p50_us"] / 1000, "local_p99_ms": res["p99_us"] / 1000,
                **self.cpu_figures("local", target, res)}

    def peer(self, target, _):
        if isinstance(target, targets.Direct):
            return {}
        pending = {k: "pending" for k in ("peer_rps", "peer_p50_ms", "peer_p99_ms")}
        if target.peer_pending:
            return pending
        inst = None
        try:
            inst = target.start_peer_route()
            self.wait_ok(inst.port, workspace.PEER_PATH, timeout=15)
        except RuntimeError as e:
            if inst:
                self.stop(inst)
            if not isinstance(target, targets.Mvproxy):
                raise
            # Peer routing lands later; until a widget GET works the route is pending.
            target.peer_pending = str(e)
            print(f"   mvproxy peer route pending: {e}", flush=True)
            return pending
        try:
            res = self.wrk(inst.port, workspace.PEER_PATH, inst=inst)
        finally:
            self.stop(inst)
        return {"peer_rps": res["requests"] / (res["duration_us"] / 1e6),
                "peer_p50_ms": res["p50_us"] / 1000, "peer_p99_ms": res["p99_us"] / 1000,
                **self.cpu_figures("peer", target, res)}

    def cpu_figures(self, route, target, res):
        """Proxy CPU and context switches per request (every hop's worker process); the
        CPU by thread is kept for the JSON (which thread of mvproxy does what)."""
        cpu = res.get("cpu")
        if not cpu:
            return {}
        self.threads.setdefault(route, {}).setdefault(target.name, []).append(cpu["threads"])
        return {f"{route}_cpu_us": cpu["cpu_us"], f"{route}_csw_vol": cpu["vol"], f"{route}_csw_invol": cpu["invol"]}

    def h2(self, target, first_round):
        inst = target.start(self.env.backend_a, http2=True)
        try:
            self.wait_ok(inst.port, workspace.SMALL_PATH, http2=True)
            res = self.h2load(inst.port, workspace.SMALL_PATH)
            if first_round:
                self.tls_h2[target.name] = res["tls"]
        finally:
            self.stop(inst)
        return {"h2_rps": res["rps"], "h2_p50_ms": res["p50_us"] / 1000, "h2_p99_ms": res["p99_us"] / 1000}

    def list(self, target, _, http2=False):
        inst = target.start(self.env.backend_a, http2=http2)
        prefix = "h2list" if http2 else "list"
        try:
            self.wait_ok(inst.port, workspace.SMALL_PATH, http2=http2)
            if inst.rss_pid:
                before = procs.status_kib(inst.rss_pid, "VmRSS")
                procs.reset_peak_rss(inst.rss_pid)
            speeds = {workspace.LIST_PATH: [], workspace.LIST_CL_PATH: []}
            for _ in range(self.args.list_downloads):
                for path, got in speeds.items():
                    code, size, seconds = self.curl(inst.port, path, http2=http2)
                    if code != 200 or size != self.env.list_bytes:
                        raise RuntimeError(f"LIST {path} answered {code} with {size} of {self.env.list_bytes} bytes")
                    got.append(size / seconds / 1e6)
            out = {f"{prefix}_mbps": statistics.median(speeds[workspace.LIST_PATH]),
                   f"{prefix}_cl_mbps": statistics.median(speeds[workspace.LIST_CL_PATH])}
            if inst.rss_pid:
                peak = procs.status_kib(inst.rss_pid, "VmHWM")
                out.update({f"{prefix}_peak_rss_mib": peak / 1024, f"{prefix}_rss_growth_mib": (peak - before) / 1024})
        finally:
            self.stop(inst)
        return out

    def h2list(self, target, first_round):
        return self.list(target, first_round, http2=True)

    def run_watch_tool(self, cmd, watches):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        try:
            res = json.loads(r.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise RuntimeError(f"{os.path.basename(cmd[0])}: {procs.tail(r.stdout + r.stderr)}")
        if r.returncode != 0:
            raise RuntimeError(f"watches: {res['opened']}/{watches} opened, {res.get('open_at_rss', '-')} still "
                               f"open when measured, {res['received']} got the event; {res['first_error']}")
        return res

    def watch(self, target, _):
        inst = target.start(self.env.watch_backend)
        direct = isinstance(target, targets.Direct)
        try:
            self.wait_ok(inst.port, workspace.SMALL_PATH,
                         extra=["--cert", self.client_cert[0], "--key", self.client_cert[1]] if direct else [])
            cmd = [self.args.watchbench, "client", "--connect", f"127.0.0.1:{inst.port}",
                   "--control", f"127.0.0.1:{self.env.watch_control}", "--ca", self.ca,
                   "--watches", str(self.env.watches), "--path", workspace.WATCH_PATH,
                   "--rss-pid", str(inst.rss_pid or 0), "--upstream-port", str(self.env.watch_backend),
                   "--timeout", "60"]
            if direct:
                cmd += ["--cert", self.client_cert[0], "--key", self.client_cert[1]]
            res = self.run_watch_tool(cmd, self.env.watches)
        finally:
            self.stop(inst)
        out = {"watches": res["opened"], "watch_fanout_ms": res["fanout_ms"], "watch_open_s": res["open_s"]}
        if inst.rss_pid:
            out["watch_kib"] = (res["rss_after_kib"] - res["rss_before_kib"]) / res["opened"]
            out["watch_upstream_conns"] = res["upstream_connections"]
        return out

    def h2watch(self, target, _):
        """Idle watches as HTTP/2 streams, each client connection filled up to the
        proxy's SETTINGS_MAX_CONCURRENT_STREAMS (250 for all three here)."""
        if isinstance(target, targets.Direct):
            return {}  # the watch backend speaks HTTP/1.1 only: there is no HTTP/2 ceiling
        inst = target.start(self.env.watch_backend, http2=True)
        try:
            self.wait_ok(inst.port, workspace.SMALL_PATH, http2=True)
            cmd = [self.args.h2watchbench, "--connect", f"127.0.0.1:{inst.port}",
                   "--control", f"127.0.0.1:{self.env.watch_control}", "--ca", self.ca,
                   "--watches", str(self.env.h2_watches), "--max-streams", str(H2_MAX_STREAMS),
                   "--path", workspace.WATCH_LIST_PATH, "--initial-events", "1", "--rss-pid", str(inst.rss_pid),
                   "--upstream-port", str(self.env.watch_backend), "--timeout", "60"]
            res = self.run_watch_tool(cmd, self.env.h2_watches)
        finally:
            self.stop(inst)
        return {"h2watches": res["opened"], "h2watch_conns": res["connections"],
                "h2watch_kib": (res["rss_after_kib"] - res["rss_before_kib"]) / res["opened"],
                "h2watch_upstream_conns": res["upstream_connections"],
                "h2watch_fanout_ms": res["fanout_ms"], "h2watch_open_s": res["open_s"]}

    def newconn(self, target, _):
        inst = target.start(self.env.backend_a)
        try:
            self.wait_ok(inst.port, workspace.SMALL_PATH)
            # wrk only reconnects when the response says so; a proxy that kept the
            # connection open would be measured on keep-alive instead.
            head = subprocess.run(["curl", "-s", "-o", "/dev/null", "-D", "-", "--http1.1", "--cacert", self.ca,
                                   "-H", AUTH_HEADER, "-H", "Connection: close",
                                   f"https://127.0.0.1:{inst.port}{workspace.SMALL_PATH}"],
                                  capture_output=True, text=True, timeout=30).stdout
            if not re.search(r"^connection:\s*close", head, re.I | re.M):
                raise RuntimeError("the answer to a Connection: close request does not say Connection: close")
            res = self.wrk(inst.port, workspace.SMALL_PATH, connection_close=True)
        finally:
            self.stop(inst)
        return {"newconn_cps": res["requests"] / (res["duration_us"] / 1e6)}


def mvproxy_binary(args):
    if not os.access(args.mvproxy, os.X_OK):
        return None
    built = datetime.datetime.fromtimestamp(os.path.getmtime(args.mvproxy), datetime.timezone.utc)
    return f"{args.mvproxy}, built {built:%Y-%m-%d %H:%M} UTC"


def machine():
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])

    def version(cmd, rx):
        r = subprocess.run(cmd, capture_output=True, text=True)
        m = re.search(rx, r.stdout + r.stderr)
        return m.group(1) if m else "?"
    versions = ", ".join([
        "nginx " + version(["nginx", "-v"], r"nginx/(\S+)"),
        "haproxy " + version(["haproxy", "-v"], r"version (\S+)"),
        "wrk " + version(["wrk", "-v"], r"wrk (\S+)"),
        "h2load " + version(["h2load", "--version"], r"nghttp2/(\S+)"),
        version(["openssl", "version"], r"(OpenSSL \S+)")])
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": f"{mem_kib / MIB:.0f} GiB RAM",
            "kernel": platform.release(), "versions": versions}


def run(args):
    os.makedirs(args.out, exist_ok=True)
    run_dir = os.path.join(os.path.abspath(args.out), "run")
    subprocess.run(["rm", "-rf", run_dir], check=True)
    os.makedirs(os.path.join(run_dir, "backend-tmp"))
    # Idle watches need two descriptors each in a proxy (client and upstream side).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    notes = []
    watches = min(args.watches, (hard - 200) // 2)
    if watches < args.watches:
        notes.append(f"{args.watches} watches asked, {watches} held over HTTP/1.1: the hard open-files limit "
                     f"here is {hard} and a proxy needs two descriptors per HTTP/1.1 watch.")
    # Over HTTP/2 a proxy that speaks HTTP/1.1 upstream needs one descriptor per watch
    # (its upstream connection) plus one per 250 (the client connections).
    h2_watches = min(args.watches, (hard - 200) * H2_MAX_STREAMS // (H2_MAX_STREAMS + 1))
    if h2_watches < args.watches:
        notes.append(f"{args.watches} watches asked, {h2_watches} held over HTTP/2: the hard open-files limit "
                     f"here is {hard}.")

    if args.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            raise SystemExit("bench/run: --pin needs at least 2 CPUs")
        procs.SERVER_CPUS, procs.CLIENT_CPUS = {cpus[-1]}, set(cpus[:-1])
        notes.append(f"pinned: proxies and backends on CPU {cpus[-1]}, wrk/h2load/curl on CPU(s) "
                     f"{','.join(map(str, cpus[:-1]))} (--pin).")
    t0 = time.monotonic()
    loadavg_start = " ".join(open("/proc/loadavg").read().split()[:3])
    pki = os.path.join(run_dir, "pki")
    subprocess.run([os.path.join(ROOT, "scripts/make-pki"), pki], check=True, stdout=subprocess.DEVNULL)
    data = os.path.join(run_dir, "data")
    list_bytes = workspace.make_data(ROOT, data, 50 * MIB)

    backend_a, backend_b, direct, direct_h2 = (procs.free_port() for _ in range(4))
    for name in ("backend-nginx.conf", "backend-locations.conf"):
        workspace.render(os.path.join(ROOT, "bench/configs", name), os.path.join(run_dir, name), {
            "RUN": run_dir, "PKI": pki, "DATA": data, "BACKEND_A_PORT": backend_a, "BACKEND_B_PORT": backend_b,
            "DIRECT_PORT": direct, "DIRECT_H2_PORT": direct_h2, "CIPHERSUITE": workspace.CIPHERSUITE, "NOFILE": hard,
            "CONNECTIONS": hard - 100})
    backend = procs.Proc("backend-nginx", ["nginx", "-p", run_dir, "-c", os.path.join(run_dir, "backend-nginx.conf"),
                                           "-e", os.path.join(run_dir, "backend-nginx.error.log"), "-g", "daemon off;"],
                         os.path.join(run_dir, "backend-nginx.log"))
    for port in (backend_a, backend_b, direct, direct_h2):
        targets.wait_listening(backend, port)
    watch_backend = procs.Proc("watch-backend", [
        args.watchbench, "backend", "--cert", f"{pki}/apiserver.crt", "--key", f"{pki}/apiserver.key",
        "--client-ca", f"{pki}/front-proxy-ca.crt", "--event-file", os.path.join(data, "watch-event.json")],
        os.path.join(run_dir, "watch-backend.log"))
    watch_port = int(watch_backend.wait_for_log(r"listening on \S+:(\d+)", 10).group(1))
    watch_control = int(watch_backend.wait_for_log(r"control on \S+:(\d+)", 10).group(1))

    env = targets.Env(ROOT, run_dir, pki, hard, backend_a, backend_b, watch_port)
    env.watch_control, env.watches, env.list_bytes = watch_control, watches, list_bytes
    env.h2_watches = h2_watches
    bench = Bench(args, env, f"{pki}/ca.crt", direct,
                  (f"{pki}/front-proxy-client.crt", f"{pki}/front-proxy-client.key"))
    bench.wait_ok(direct, workspace.SMALL_PATH)

    order = [targets.Direct(env, direct, direct_h2)]
    mvproxy_state = "measured"
    if os.access(args.mvproxy, os.X_OK):
        order.append(targets.Mvproxy(env, args.mvproxy, args.mvproxy_flags.split()))
    else:
        mvproxy_state = "not built"
        notes.append(f"mvproxy not built ({args.mvproxy} missing): its column is empty.")
    order += [targets.Nginx(env), targets.Haproxy(env)]
    if args.targets:
        order = [t for t in order if t.name in args.targets.split(",")]
    if any(isinstance(t, targets.Direct) for t in order):
        notes.append("direct: wrk and curl reach the backend without a client certificate (wrk cannot present one); "
                     "the watch client presents the front-proxy client certificate.")
    print(f"== setup done in {time.monotonic() - t0:.1f}s: {len(order)} targets, {args.rounds} round(s), "
          f"{args.duration}s load runs, {watches} watches ({h2_watches} over HTTP/2)", flush=True)

    rounds = {t.name: {} for t in order}
    if mvproxy_state == "not built" and (not args.targets or "mvproxy" in args.targets.split(",")):
        rounds["mvproxy"] = {k: ["not built"] for k, *_ in report.FIGURES}
    measurements = [bench.local, bench.peer, bench.list, bench.watch, bench.newconn, bench.h2, bench.h2list,
                    bench.h2watch]
    if args.only:
        measurements = [m for m in measurements if m.__name__ in args.only.split(",")]
    failed = []
    for r in range(args.rounds):
        rotated = order[r % len(order):] + order[:r % len(order)]
        for measure in measurements:
            for target in rotated:
                print(f"-- round {r + 1}: {measure.__name__} {target.name}", flush=True)
                try:
                    figures = measure(target, r == 0)
                except Exception as e:  # one failed measurement must not hide the others
                    msg = str(e).replace("|", "/")
                    print(f"   FAILED: {msg}", flush=True)
                    failed.append(f"{target.name} {measure.__name__}: {msg}")
                    figures = {k: "error" for k in report.keys_of(measure.__name__)}
                for k, v in figures.items():
                    rounds[target.name].setdefault(k, []).append(v)
    names = [t.name for t in order]
    if mvproxy_state == "not built" and (not args.targets or "mvproxy" in args.targets.split(",")):
        names.insert(1 if names and names[0] == "direct" else 0, "mvproxy")
    figures = report.medians(rounds)
    for t in order:
        if isinstance(t, targets.Mvproxy) and t.peer_pending:
            notes.append("mvproxy peer route pending: two sidecars with static peers were started, but a "
                         f"widget GET through the first did not come back 200 ({t.peer_pending}).")
    notes += [f"{name} did not exit within 5 s of SIGTERM {n} time(s) and was killed (see DIR/run/{name}-*.log)"
              for name, n in sorted(bench.killed.items())]
    notes += [f"FAILED {f}" for f in failed]
    meta = machine()
    meta.update(date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                mode="quick" if args.quick else "full", rounds=args.rounds, duration=args.duration,
                concurrency=Bench.concurrency, h2_connections=Bench.h2_connections,
                h2_streams=Bench.h2_streams, list_mib=list_bytes / MIB, list_downloads=args.list_downloads,
                watches=watches, h2_watches=h2_watches, h2_max_streams=H2_MAX_STREAMS, tls=bench.tls,
                tls_h2=bench.tls_h2, notes=notes, mvproxy=mvproxy_state, pinned=args.pin,
                mvproxy_flags=args.mvproxy_flags,
                mvproxy_binary=mvproxy_binary(args),
                wall_seconds=round(time.monotonic() - t0, 1), loadavg=loadavg_start,
                loadavg_end=" ".join(open("/proc/loadavg").read().split()[:3]))
    checks = report.check_targets(figures)
    md = report.markdown(meta, figures, names, checks)
    ratios = {o: {k: report.ratio(figures, k, "mvproxy", o) for k, *_ in report.FIGURES} for o in ("nginx", "haproxy")}
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(md)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"meta": meta, "figures": figures, "rounds": rounds, "ratios_mvproxy_over": ratios,
                   "h2_over_h1": report.h2_over_h1(figures), "targets": checks,
                   "cpu_by_thread_us_per_request": bench.threads}, f, indent=2)
    print(md)
    print(f"== wrote {args.out}/results.md and results.json in {time.monotonic() - t0:.0f}s", flush=True)
    return 1 if failed else 0


def main():
    args = parse_args()

    def on_signal(signum, _):
        raise SystemExit(128 + signum)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)
    try:
        return run(args)
    finally:
        procs.stop_all()


if __name__ == "__main__":
    sys.exit(main())
