"""Medians over rounds, ratios against nginx and haproxy from the same run, the
issue's targets, and the Markdown/JSON that bench/run writes."""
import statistics

# (key, label, unit, better): better is "higher" or "lower".
FIGURES = [
    ("local_rps", "(a) GET ~1 KiB, local route: requests/s", "req/s", "higher"),
    ("local_p50_ms", "(a) GET ~1 KiB, local route: latency p50", "ms", "lower"),
    ("local_p99_ms", "(a) GET ~1 KiB, local route: latency p99", "ms", "lower"),
    ("local_cpu_us", "(a) GET ~1 KiB, local route: proxy CPU per request", "µs", "lower"),
    ("local_csw_vol", "(a) GET ~1 KiB, local route: proxy voluntary context switches per request", "", "lower"),
    ("local_csw_invol", "(a) GET ~1 KiB, local route: proxy preemptions per request", "", "lower"),
    ("peer_rps", "(a) GET ~1 KiB, peer route (two hops): requests/s", "req/s", "higher"),
    ("peer_p50_ms", "(a) GET ~1 KiB, peer route (two hops): latency p50", "ms", "lower"),
    ("peer_p99_ms", "(a) GET ~1 KiB, peer route (two hops): latency p99", "ms", "lower"),
    ("peer_cpu_us", "(a) GET ~1 KiB, peer route: CPU per request, both hops", "µs", "lower"),
    ("peer_csw_vol", "(a) GET ~1 KiB, peer route: voluntary context switches per request, both hops", "", "lower"),
    ("peer_csw_invol", "(a) GET ~1 KiB, peer route: preemptions per request, both hops", "", "lower"),
    ("list_mbps", "(b) LIST ~50 MiB, chunked as kube-apiserver sends it", "MB/s", "higher"),
    ("list_cl_mbps", "(b) LIST ~50 MiB, with Content-Length", "MB/s", "higher"),
    ("list_peak_rss_mib", "(b) LISTs: proxy peak RSS (VmHWM)", "MiB", "lower"),
    ("list_rss_growth_mib", "(b) LISTs: proxy RSS growth (peak − before)", "MiB", "lower"),
    ("watches", "(c) idle watches held open", "", "higher"),
    ("watch_kib", "(c) memory per watch (RSS growth ÷ watches)", "KiB", "lower"),
    ("watch_upstream_conns", "(c) proxy→backend connections while the watches are open", "", "lower"),
    ("watch_fanout_ms", "(c) one event reaches every watcher", "ms", "lower"),
    ("watch_open_s", "(c) time to open all watches", "s", "lower"),
    ("newconn_cps", "(d) new TLS connections/s (1 request each)", "conn/s", "higher"),
    # Everything above is HTTP/1.1 from the client; below, HTTP/2 in, HTTP/1.1 out.
    ("h2_rps", "HTTP/2 (a) GET ~1 KiB, local route: requests/s", "req/s", "higher"),
    ("h2_p50_ms", "HTTP/2 (a) GET ~1 KiB, local route: latency p50", "ms", "lower"),
    ("h2_p99_ms", "HTTP/2 (a) GET ~1 KiB, local route: latency p99", "ms", "lower"),
    ("h2list_mbps", "HTTP/2 (b) LIST ~50 MiB, chunked upstream", "MB/s", "higher"),
    ("h2list_cl_mbps", "HTTP/2 (b) LIST ~50 MiB, Content-Length upstream", "MB/s", "higher"),
    ("h2list_peak_rss_mib", "HTTP/2 (b) LISTs: proxy peak RSS (VmHWM)", "MiB", "lower"),
    ("h2list_rss_growth_mib", "HTTP/2 (b) LISTs: proxy RSS growth (peak − before)", "MiB", "lower"),
    ("h2watches", "HTTP/2 (c) idle watches held open", "", "higher"),
    ("h2watch_conns", "HTTP/2 (c) client connections they share", "", "lower"),
    ("h2watch_kib", "HTTP/2 (c) memory per watch (RSS growth ÷ watches)", "KiB", "lower"),
    ("h2watch_upstream_conns", "HTTP/2 (c) proxy→backend connections while the watches are open", "", "lower"),
    ("h2watch_fanout_ms", "HTTP/2 (c) one event reaches every watcher", "ms", "lower"),
    ("h2watch_open_s", "HTTP/2 (c) time to open all watches", "s", "lower"),
]
PROXIES = ["mvproxy", "nginx", "haproxy"]
MEASUREMENTS = ["local", "peer", "list", "watch", "newconn", "h2", "h2list", "h2watch"]


def keys_of(measurement):
    """The figures one measurement yields ("h2" does not yield the "h2list_" or "h2watch" ones)."""
    longer = [m for m in MEASUREMENTS if m != measurement and m.startswith(measurement)]
    return [k for k, *_ in FIGURES if k.startswith(measurement) and not any(k.startswith(m) for m in longer)]


def h2_over_h1(figures):
    """Each target's HTTP/2 LIST MB/s ÷ its own HTTP/1.1 LIST MB/s, same run."""
    out = {}
    for t, f in figures.items():
        out[t] = {}
        for k in ("list_mbps", "list_cl_mbps"):
            h1, h2 = f.get(k), f.get("h2" + k)
            ok = isinstance(h1, (int, float)) and isinstance(h2, (int, float)) and h1
            out[t][k] = h2 / h1 if ok else None
    return out


def medians(rounds):
    """{target: {figure: [values or error strings]}} -> {target: {figure: median or str}}."""
    out = {}
    for target, figs in rounds.items():
        out[target] = {}
        for key, values in figs.items():
            numbers = [v for v in values if isinstance(v, (int, float))]
            if numbers and len(numbers) == len(values):
                out[target][key] = statistics.median(numbers)
            else:
                out[target][key] = next(v for v in values if not isinstance(v, (int, float)))
    return out


def ratio(figures, key, a, b):
    x, y = figures.get(a, {}).get(key), figures.get(b, {}).get(key)
    if isinstance(x, (int, float)) and isinstance(y, (int, float)) and y:
        return x / y
    return None


def check_targets(figures):
    """The issue's targets, each met / missed / not measured."""
    mv = figures.get("mvproxy", {})

    def num(target, key):
        v = figures.get(target, {}).get(key)
        return v if isinstance(v, (int, float)) else None

    def verdict(name, ok_fn, *needs):
        values = [num(t, k) for t, k in needs]
        if any(v is None for v in values):
            missing = [f"{t} {k}: {figures.get(t, {}).get(k, 'not measured')}"
                       for (t, k), v in zip(needs, values) if v is None]
            return {"target": name, "verdict": "not measured", "detail": "; ".join(missing)}
        return {"target": name, "verdict": "met" if ok_fn(*values) else "missed",
                "detail": ", ".join(f"{t} {k} {fmt(v)}" for (t, k), v in zip(needs, values))}

    checks = []
    for route in ("local", "peer"):
        for other in ("nginx", "haproxy"):
            checks.append(verdict(f"(a) {route}: req/s ≥ {other}", lambda m, o: m >= o,
                                  ("mvproxy", f"{route}_rps"), (other, f"{route}_rps")))
            checks.append(verdict(f"(a) {route}: p99 ≤ {other}", lambda m, o: m <= o,
                                  ("mvproxy", f"{route}_p99_ms"), (other, f"{route}_p99_ms")))
            checks.append(verdict(f"(a) {route}: proxy CPU per request ≤ {other}", lambda m, o: m <= o,
                                  ("mvproxy", f"{route}_cpu_us"), (other, f"{route}_cpu_us")))
    for key, kind in (("list_mbps", "chunked"), ("list_cl_mbps", "Content-Length")):
        checks.append(verdict(f"(b) LIST ({kind}) MB/s ≥ 0.9 × nginx", lambda m, o: m >= 0.9 * o,
                              ("mvproxy", key), ("nginx", key)))
    checks.append(verdict("(b) LIST RSS growth ≤ 16 MiB", lambda m: m <= 16, ("mvproxy", "list_rss_growth_mib")))
    checks.append(verdict("(c) memory per watch ≤ nginx", lambda m, o: m <= o,
                          ("mvproxy", "watch_kib"), ("nginx", "watch_kib")))
    checks.append(verdict("(c) memory per watch ≤ 32 KiB", lambda m: m <= 32, ("mvproxy", "watch_kib")))
    checks.append(verdict("(d) new connections/s ≥ nginx", lambda m, o: m >= o,
                          ("mvproxy", "newconn_cps"), ("nginx", "newconn_cps")))
    for other in ("nginx", "haproxy"):
        checks.append(verdict(f"HTTP/2 (a): req/s ≥ {other}", lambda m, o: m >= o,
                              ("mvproxy", "h2_rps"), (other, "h2_rps")))
        checks.append(verdict(f"HTTP/2 (a): p99 ≤ {other}", lambda m, o: m <= o,
                              ("mvproxy", "h2_p99_ms"), (other, "h2_p99_ms")))
    for key, kind in (("list_mbps", "chunked"), ("list_cl_mbps", "Content-Length")):
        checks.append(verdict(f"HTTP/2 (b) LIST ({kind}) MB/s ≥ 0.9 × mvproxy's HTTP/1.1 LIST",
                              lambda h2, h1: h2 >= 0.9 * h1, ("mvproxy", "h2" + key), ("mvproxy", key)))
    # Issue 14 (c): idle HTTP/2 watches.
    checks.append(verdict("HTTP/2 (c) memory per watch ≤ haproxy", lambda m, o: m <= o,
                          ("mvproxy", "h2watch_kib"), ("haproxy", "h2watch_kib")))
    checks.append(verdict("HTTP/2 (c) memory per watch ≤ 4 KiB", lambda m: m <= 4, ("mvproxy", "h2watch_kib")))
    if not mv:
        for c in checks:
            c["verdict"], c["detail"] = "not measured", "mvproxy not built"
    return checks


def fmt(v):
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    if isinstance(v, int):  # counts (watches, connections) stay whole
        return f"{v:,}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def markdown(meta, figures, targets, checks):
    lines = [f"# mvproxy benchmark — {meta['date']} ({meta['mode']} mode)", "",
             f"Machine: {meta['cpu']}, {meta['cores']} cores, {meta['memory']}; kernel {meta['kernel']}; "
             f"load average at start {meta['loadavg']}, at end {meta['loadavg_end']} "
             f"(over {meta['cores']} means other work competed); {meta['wall_seconds']:.0f} s in all.",
             f"Versions: {meta['versions']}; mvproxy: {meta['mvproxy_binary'] or 'not built'}.",
             f"Rounds: {meta['rounds']} (targets interleaved, medians shown); load runs {meta['duration']} s "
             f"with wrk at {meta['concurrency']} connections, 1 thread; LIST {meta['list_mib']:.1f} MiB × "
             f"{meta['list_downloads']} downloads of each kind per round (curl); {meta['watches']} watches. "
             f"All HTTP/1.1 from the client except the HTTP/2 rows: h2load -t1 -c{meta['h2_connections']} "
             f"-m{meta['h2_streams']} for {meta['duration']} s, curl --http2 for the LISTs, "
             f"{meta.get('h2_watches', '—')} HTTP/2 watches with h2watchbench "
             f"(≤ {meta.get('h2_max_streams', '—')} streams per connection); nginx and haproxy speak HTTP/1.1 "
             "to the backends (the proxy→backend connection counts show what each proxy used).",
             ""]
    lines += ["| figure | " + " | ".join(targets) + " | mvproxy ÷ nginx | mvproxy ÷ haproxy |",
              "|---" * (len(targets) + 3) + "|"]
    for key, label, unit, _ in FIGURES:
        cells = [fmt(figures.get(t, {}).get(key)) for t in targets]
        ratios = [ratio(figures, key, "mvproxy", o) for o in ("nginx", "haproxy")]
        lines.append(f"| {label}{' (' + unit + ')' if unit else ''} | " + " | ".join(cells) + " | "
                     + " | ".join("—" if r is None else f"{r:.2f}×" for r in ratios) + " |")
    if meta["tls"]:
        lines += ["", "TLS negotiated by an OpenSSL client with each listener: " +
                  "; ".join(f"{t}: {v}" for t, v in meta["tls"].items()) + "."]
    if meta.get("tls_h2"):
        lines += ["", "Negotiated by h2load with each HTTP/2 listener: " +
                  "; ".join(f"{t}: {v}" for t, v in meta["tls_h2"].items()) + "."]
    h2h1 = h2_over_h1(figures)
    shown = [t for t in targets if any(v is not None for v in h2h1.get(t, {}).values())]
    if shown:
        lines += ["", "HTTP/2 LIST ÷ the same target's HTTP/1.1 LIST (chunked, Content-Length): " +
                  "; ".join(f"{t} " + ", ".join("—" if h2h1[t][k] is None else f"{h2h1[t][k]:.2f}×"
                                                for k in ("list_mbps", "list_cl_mbps")) for t in shown) + "."]
    lines += ["", "| target | verdict | figures |", "|---|---|---|"]
    for c in checks:
        lines.append(f"| {c['target']} | {c['verdict']} | {c['detail']} |")
    if meta.get("notes"):
        lines += [""] + [f"- {n}" for n in meta["notes"]]
    return "\n".join(lines) + "\n"
