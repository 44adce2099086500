"""The drill's report: text (printed, report.txt) and one self-contained HTML page."""

import html
import json

from .analysis import FAILING, OUTCOMES
from .cluster import IDS
from .workload import CLASSES, CLASS_ORDER

COLS = (("ok", "ok"), ("legit", "legit 404/503"), ("spurious404", "spurious 404"),
        ("avoidable", "avoidable"), ("transition", "transition*"))
COLORS = {"ok": "#3a9d4a", "legit": "#9aa3ad", "transition": "#f0b43c",
          "spurious404": "#e0483e", "avoidable": "#7d1d8f", None: "#ffffff"}
RANK = {None: 0, "ok": 1, "legit": 2, "transition": 3, "spurious404": 4, "avoidable": 5}
VERSION_COLORS = {"v1.30": "#5b8fd6", "v1.31": "#8e63c9", "down": "#d8d8d8"}


def fmt_s(x, signed=False):
    if x is None:
        return "-"
    return f"{x:+.2f}s" if signed else f"{x:.2f}s"


class RunResult:
    """Everything one run produced, analysed."""

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def totals(self):
        tot = {o: 0 for o in OUTCOMES}
        for (ph, _cls), row in self.table.items():
            if ph == "total":
                for o in OUTCOMES:
                    tot[o] += row[o]
        return tot

    def lost_total(self):
        return sum(len(v) for v in self.lost.values())

    def kubectl_unexpected(self):
        return [r for r in self.kubectl if not r.get("as_expected", True)]

    def failed(self):
        t = self.totals()
        return (t["spurious404"] or t["avoidable"] or self.lost_total()
                or self.kubectl_unexpected() or self.error)

    def summary(self):
        if self.error:
            return f"run {self.run}: {self.error}"
        t = self.totals()
        parts = [f"{t['spurious404']} spurious 404s", f"{t['avoidable']} avoidable failures",
                 f"{self.lost_total()} watch events lost"]
        ku = self.kubectl_unexpected()
        if ku:
            parts.append(f"{len(ku)} unexpected kubectl results")
        return f"run {self.run}: " + ", ".join(parts)


# -- text ------------------------------------------------------------------------------

def _table_text(res):
    out = []
    labels = {name: label for (name, label, _b, _e) in res.truth.phases}
    hdr = f"{'phase':<30} {'class':<9}" + "".join(f" {h:>14}" for _k, h in COLS)
    out.append(hdr)
    out.append("-" * len(hdr))
    for (name, label, b, e) in res.truth.phases + [("total", "total", 0, 0)]:
        title = f"{name} {label}" if name != "total" else "total"
        if name != "total":
            title += f" ({e - b:.1f}s)"
        first = True
        for cls in CLASS_ORDER:
            row = res.table.get((name, cls))
            if row is None:
                continue
            cells = []
            for k, _h in COLS:
                v = row[k]
                mark = " !" if k in FAILING and v else "  "
                cells.append(f" {v:>12}{mark}")
            out.append(f"{title if first else '':<30} {cls:<9}" + "".join(cells))
            first = False
        out.append("")
    del labels
    return out


def text_report(res):
    o = []
    o.append(f"== run {res.run}: {res.schedule_desc}")
    if res.error:
        o.append(f"   ERROR: {res.error}")
    o.append(f"   requests: {len(res.records)} ({res.counts_by_kind}); "
             f"classes: " + "; ".join(f"{c} = {CLASSES[c]['what']}" for c in CLASS_ORDER))
    o.append("")
    o.extend("   " + ln for ln in _table_text(res))
    o.append("   * transition: a failure while the class's availability changed during the "
             "request, or in flight")
    o.append("     when the apiserver it was routed to was stopped; not counted as a failure.")
    a = res.access_stats
    o.append(f"   access-log cross-check: {a['matched']} requests matched to the entry sidecar's "
             f"access line, {a['unmatched']} not ({a['unmatched_failures']} of them failures), "
             f"{a['status_mismatch']} status mismatches")
    o.append("")
    # per sidecar
    o.append("   spurious 404 / avoidable per sidecar and class:")
    for s in IDS:
        cells = []
        for cls in CLASS_ORDER:
            row = res.per_sidecar.get((s, cls), {})
            cells.append(f"{cls} {row.get('spurious404', 0)}/{row.get('avoidable', 0)}")
        o.append(f"     sidecar {s}: " + ", ".join(cells))
    o.append("")
    # watches
    o.append(f"   watch events (ADDED/DELETED of the drill's {res.n_objects} ConfigMaps: "
             f"{res.n_expected} events expected at every sidecar):")
    for s in IDS:
        sess = res.watch_sessions[s]
        ends = {}
        for x in sess:
            r = (x["end_reason"] or "open").split(":")[0]
            ends[r] = ends.get(r, 0) + 1
        lost = res.lost[s]
        line = (f"     sidecar {s}: {len(lost)} lost; {len(sess)} watch requests "
                f"({', '.join(f'{k} {v}' for k, v in sorted(ends.items()))}), "
                f"{res.relists[s]} relists")
        o.append(line)
        if lost:
            o.append("       lost: " + ", ".join(f"{t} {n}" for t, n in lost[:8]) +
                     (" ..." if len(lost) > 8 else ""))
    o.append("")
    # propagation
    o.append("   propagation after each restart (seconds after the start call returned):")
    o.append("     sees-new = first /debug/peers sample (polled every 100 ms) in which the sidecar")
    o.append("       shows the restarted server serving resource.k8s.io/v1alpha3;")
    o.append("     first-200 = first 200 for new-only through the sidecar (first restart only);")
    o.append("     last-spurious = the last spurious 404 through the sidecar before the next stop;")
    o.append("     old-only via the restarted sidecar: last request its access log routed to its")
    o.append("       own (new) apiserver, first one routed to a peer")
    for row in res.propagation:
        o.append(f"     restart of {row['restart']} (start returned at t={row['t_start']:.2f}s):")
        for s in IDS:
            c = row["sidecars"][s]
            bits = [f"sees-new {fmt_s(c['peers_view'])}"]
            if "first_new" in c:
                bits.append(f"first-200 {fmt_s(c['first_new'])}")
            bits.append(f"last-spurious {fmt_s(c['last_spur'])} ({c['spurious']})")
            if "old_na" in c:
                bits.append("old-only: n/a (no old apiserver left)")
            elif "old_n" in c:
                bits.append(f"old-only: last local {fmt_s(c['old_last_local'])}, "
                            f"first to a peer {fmt_s(c['old_first_peer'])} ({c['old_n']} routed)")
            o.append(f"       sidecar {s}: " + "; ".join(bits))
    o.append("")
    # kubectl
    if res.kubectl_note:
        o.append(f"   kubectl: {res.kubectl_note}")
    if res.kubectl:
        o.append(f"   kubectl ({res.kubectl_client}); one row per phase and sidecar:")
        by = {}
        for r in res.kubectl:
            by.setdefault((r["phase"], r["sidecar"]), {})[r["cmd"]] = r
        for (ph, s), cmds in sorted(by.items()):
            v = cmds.get("version", {})
            ar = cmds.get("api-resources", {})
            g = cmds.get("get new-only", {})
            first = (g.get("stdout", "").strip() or g.get("stderr", "").strip()).splitlines()
            gline = first[-1] if first else ""
            flag = "" if all(c.get("as_expected", True) for c in cmds.values()) else "  <-- unexpected"
            o.append(f"     phase {ph:<2} sidecar {s}: kubectl {v.get('client') or '?'} "
                     f"(server {v.get('server') or '?'}); api-resources exit {ar.get('rc')} "
                     f"(resourceclaims: {ar.get('resourceclaims', '-')}); "
                     f"get resourceclaims.v1alpha3 exit {g.get('rc')} "
                     f"[expected {g.get('expect', '?')}]: {gline[:90]}{flag}")
    o.append("")
    # failures
    fails = [r for r in res.records if r.outcome in FAILING]
    if fails:
        groups = {}
        for r in fails:
            code = r.status if r.status and r.status > 0 else (r.error or "").split(":")[0]
            key = (r.phase, r.sidecar, r.cls, r.outcome, code, r.route or "?")
            groups.setdefault(key, []).append(r)
        o.append(f"   failures ({len(fails)}), grouped by phase, sidecar, class, outcome, status, route:")
        for key, rs in sorted(groups.items(), key=lambda kv: kv[1][0].t_send):
            ph, s, cls, outc, code, route = key
            ts = [r.t_send for r in rs]
            msg = ""
            d = rs[0].detail or {}
            if d.get("message"):
                msg = d["message"][:70]
            elif rs[0].error:
                msg = rs[0].error[:70]
            o.append(f"     {len(rs):>4} x phase {ph:<7} sidecar {s} {cls:<9} {outc:<11} {code} "
                     f"route={route} t={min(ts):.2f}..{max(ts):.2f}s  {msg}")
        o.append("     first failures with the sidecar's access line:")
        for r in sorted(fails, key=lambda r: r.t_send)[:6]:
            line = res.access_line(r)
            o.append(f"       t={r.t_send:.3f}-{r.t_recv:.3f}s {r.sidecar} {r.verb} {r.target}"
                     f" -> {r.status} {r.error or ''}")
            o.append(f"         {line or '(no access line)'}")
    o.append("")
    o.append("   " + ("PASS: " if not res.failed() else "FAIL: ") + res.summary())
    return "\n".join(o)


# -- HTML ------------------------------------------------------------------------------

def _e(s):
    return html.escape(str(s))


def _timeline_svg(res):
    truth = res.truth
    t_begin = truth.phases[0][2]
    t_end = truth.phases[-1][3]
    span = max(t_end - t_begin, 1.0)
    bucket = max(0.1, round(span / 240, 2))
    nb = int(span / bucket) + 1
    left, width, rowh = 150, 960, 16
    x = lambda t: left + (t - t_begin) / span * width  # noqa: E731
    rows = []
    # ground truth rows
    for inst in IDS:
        rows.append(("apiserver " + inst, "truth", inst))
    for s in IDS:
        for cls in CLASS_ORDER:
            rows.append((f"via {s}: {cls}", "req", (s, cls)))
        rows.append((f"via {s}: watch", "watch", s))
    top = 34
    height = top + len(rows) * rowh + 40
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 20}" height="{height}" '
           f'font-family="sans-serif" font-size="11">']
    # buckets of requests
    grid = {}
    for r in res.records:
        if r.verb == "watch":
            continue
        b = int((r.t_send - t_begin) / bucket)
        if b < 0 or b >= nb:
            continue
        k = (r.sidecar, r.cls, b)
        cur = grid.get(k)
        if RANK[r.outcome] > RANK[cur]:
            grid[k] = r.outcome
    for i, (label, kind, key) in enumerate(rows):
        y = top + i * rowh
        svg.append(f'<text x="{left - 6}" y="{y + rowh - 4}" text-anchor="end">{_e(label)}</text>')
        if kind == "truth":
            # version bands from the recorded changes
            pts = [(t_begin, True, "v1.30")]
            for (tc, inst, running, ver) in truth.changes:
                if inst == key:
                    pts.append((tc, running, ver))
            pts.append((t_end, None, None))
            for j in range(len(pts) - 1):
                t1, running, ver = pts[j]
                t2 = pts[j + 1][0]
                col = VERSION_COLORS["down"] if not running else VERSION_COLORS.get(ver, "#999")
                txt = "down" if not running else ver
                svg.append(f'<rect x="{x(t1):.1f}" y="{y + 1}" width="{max(0.5, x(t2) - x(t1)):.1f}" '
                           f'height="{rowh - 2}" fill="{col}"><title>{_e(key)}: {txt} '
                           f'{t1:.2f}-{t2:.2f}s</title></rect>')
                if x(t2) - x(t1) > 40:
                    svg.append(f'<text x="{x(t1) + 3:.1f}" y="{y + rowh - 4}" fill="#fff">{txt}</text>')
        elif kind == "req":
            s, cls = key
            for b in range(nb):
                oc = grid.get((s, cls, b))
                if oc is None:
                    continue
                t1 = t_begin + b * bucket
                svg.append(f'<rect x="{x(t1):.1f}" y="{y + 1}" width="{width / span * bucket + 0.3:.1f}" '
                           f'height="{rowh - 2}" fill="{COLORS[oc]}"><title>{s} {cls} '
                           f'{t1:.2f}s: worst {oc}</title></rect>')
        else:
            for sess in res.watch_sessions[key]:
                if sess["status"] != 200:
                    continue
                t1, t2 = sess["start"], sess["end"] if sess["end"] is not None else t_end
                svg.append(f'<rect x="{x(t1):.1f}" y="{y + 4}" width="{max(1, x(t2) - x(t1)):.1f}" '
                           f'height="{rowh - 8}" fill="#3a9d4a" opacity="0.7"><title>watch '
                           f'{t1:.2f}-{t2:.2f}s, {sess["events"]} events, '
                           f'{_e(sess["end_reason"])}</title></rect>')
    # restart markers
    bottom = top + len(rows) * rowh
    for (inst, tb, _ta) in truth.stops:
        svg.append(f'<line x1="{x(tb):.1f}" y1="{top - 4}" x2="{x(tb):.1f}" y2="{bottom}" '
                   f'stroke="#333" stroke-dasharray="3,2"/>')
        svg.append(f'<text x="{x(tb):.1f}" y="{top - 18}" text-anchor="middle">stop {inst}</text>')
    for (inst, _tb, ta, ver) in truth.starts:
        svg.append(f'<line x1="{x(ta):.1f}" y1="{top - 4}" x2="{x(ta):.1f}" y2="{bottom}" '
                   f'stroke="#000" stroke-width="1.5"/>')
        svg.append(f'<text x="{x(ta):.1f}" y="{top - 6}" text-anchor="middle">{inst} {ver}</text>')
    # axis
    step = 1 if span <= 30 else 5 if span <= 150 else 10
    t = 0
    while t <= span:
        svg.append(f'<line x1="{x(t_begin + t):.1f}" y1="{bottom}" x2="{x(t_begin + t):.1f}" '
                   f'y2="{bottom + 4}" stroke="#333"/>')
        svg.append(f'<text x="{x(t_begin + t):.1f}" y="{bottom + 15}" text-anchor="middle">{t}s</text>')
        t += step
    # legend
    lx = left
    ly = bottom + 30
    for oc in ("ok", "legit", "transition", "spurious404", "avoidable"):
        svg.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{COLORS[oc]}"/>')
        svg.append(f'<text x="{lx + 14}" y="{ly}">{oc}</text>')
        lx += 100
    svg.append(f'<text x="{lx}" y="{ly}">(worst outcome per {bucket:.2f} s bucket, by send time; '
               f'dashed: stop call, solid: start returned)</text>')
    svg.append("</svg>")
    return "\n".join(svg)


def _html_table(res):
    h = ['<table><tr><th>phase</th><th>class</th>' +
         "".join(f"<th>{_e(hd)}</th>" for _k, hd in COLS) + "</tr>"]
    for (name, label, b, e) in res.truth.phases + [("total", "", 0, 0)]:
        first = True
        for cls in CLASS_ORDER:
            row = res.table.get((name, cls))
            if row is None:
                continue
            ph = f"{_e(name)} {_e(label)}" + (f" ({e - b:.1f}s)" if name != "total" else "")
            cells = "".join(
                f'<td class="n{" bad" if k in FAILING and row[k] else ""}">{row[k]}</td>'
                for k, _hd in COLS)
            h.append(f"<tr{' class=first' if first else ''}><td>{ph if first else ''}</td>"
                     f"<td>{_e(cls)}</td>{cells}</tr>")
            first = False
    h.append("</table>")
    return "\n".join(h)


def html_run(res, text):
    status = "FAIL" if res.failed() else "PASS"
    parts = [f'<h2>Run {res.run}: <span class="{status.lower()}">{status}</span></h2>',
             f"<p>{_e(res.summary())}. {_e(res.schedule_desc)}.</p>"]
    if res.truth.phases:
        parts.append("<h3>Timeline</h3>")
        parts.append(_timeline_svg(res))
        parts.append("<h3>Requests per phase and resource class</h3>")
        parts.append(_html_table(res))
    parts.append("<h3>Full text report</h3>")
    parts.append(f"<pre>{_e(text)}</pre>")
    return "\n".join(parts)


def html_page(results, texts, header):
    css = ("body{font-family:sans-serif;margin:1.5em;max-width:1200px}"
           "table{border-collapse:collapse;font-size:13px}"
           "td,th{border:1px solid #ccc;padding:2px 8px}td.n{text-align:right}"
           "td.bad{background:#f6c7c3;font-weight:bold}tr.first td{border-top:2px solid #888}"
           "pre{background:#f6f6f6;padding:8px;font-size:12px;overflow-x:auto}"
           ".pass{color:#2a7d36}.fail{color:#c0302a}")
    body = [f"<h1>mvproxy upgrade drill</h1><pre>{_e(header)}</pre>"]
    for res, text in zip(results, texts):
        body.append(html_run(res, text))
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>mvproxy upgrade drill"
            f"</title><style>{css}</style></head><body>{''.join(body)}</body></html>\n")


def records_jsonl(res):
    return "".join(json.dumps(r.as_dict()) + "\n" for r in res.records)


def details_json(res):
    """What the text report summarises, in full: ground truth, watches, peers, kubectl."""
    return {
        "run": res.run,
        "error": res.error,
        "phases": [{"name": n, "label": lb, "begin": b, "end": e}
                   for (n, lb, b, e) in res.truth.phases],
        "stops": [{"instance": i, "before_call": tb, "after_call": ta}
                  for (i, tb, ta) in res.truth.stops],
        "starts": [{"instance": i, "before_call": tb, "after_call": ta, "version": v}
                   for (i, tb, ta, v) in res.truth.starts],
        "watch_sessions": res.watch_sessions,
        "watch_lost": {s: [list(x) for x in v] for s, v in res.lost.items()},
        "watch_events": res.watch_events,
        "propagation": res.propagation,
        "kubectl": res.kubectl,
        "access_log_check": res.access_stats,
    }
