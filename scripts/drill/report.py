"""The drill's report: text (printed, report.txt) and one self-contained HTML page.

Each section is built once as a table (title, notes, header, rows) and rendered both
as aligned text and as HTML.
"""

import html
import json

from .analysis import FAILING, OUTCOMES
from .cluster import IDS
from .workload import CLASSES, CLASS_ORDER

COLS = (("ok", "ok"), ("legit", "legit 404/503"), ("spurious404", "spurious 404"),
        ("avoidable", "avoidable failures"), ("transition", "transition*"))
COLORS = {"ok": "#3a9d4a", "legit": "#9aa3ad", "transition": "#f0b43c",
          "spurious404": "#e0483e", "avoidable": "#7d1d8f", None: "#ffffff"}
RANK = {None: 0, "ok": 1, "legit": 2, "transition": 3, "spurious404": 4, "avoidable": 5}
VERSION_COLORS = {"v1.30": "#5b8fd6", "v1.31": "#8e63c9", "down": "#d8d8d8"}


def fmt_s(x, none="-"):
    return none if x is None else f"{x:.2f}s"


class Cell(str):
    """A table cell; `bad` marks it (text: a trailing '!', HTML: highlighted)."""

    def __new__(cls, value, bad=False):
        c = super().__new__(cls, value)
        c.bad = bad
        return c


class Section:
    def __init__(self, title, header=None, rows=None, notes=(), lines=(), group_col=None):
        self.title = title
        self.header = header
        self.rows = rows or []
        self.notes = list(notes)
        self.lines = list(lines)     # free text after the table (pre-formatted)
        self.group_col = group_col   # rows whose first cell is non-empty start a group


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
        return bool(t["spurious404"] or t["avoidable"] or self.lost_total()
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


# -- sections ----------------------------------------------------------------------------

def _schedule(res):
    lines = []
    t0 = 0.0
    ev = [(tb, f"stop {i}: POST /instances/{i}/stop took {1000 * (ta - tb):.0f} ms")
          for (i, tb, ta) in res.truth.stops]
    ev += [(ta, f"{i} started as {v}: POST /instances/{i}/start returned "
                f"({1000 * (ta - tb):.0f} ms)") for (i, tb, ta, v) in res.truth.starts]
    for t, what in sorted(ev):
        lines.append(f"t={t - t0:6.2f}s  {what}")
    return Section("Schedule (t = seconds since the load started)", lines=lines)


def _main_table(res):
    rows = []
    for (name, label, b, e) in res.truth.phases + [("total", "", 0, 0)]:
        first = True
        for cls in CLASS_ORDER:
            row = res.table.get((name, cls))
            if row is None:
                continue
            title = (f"{name} {label} ({e - b:.1f}s)" if name != "total" else "total") if first else ""
            rows.append([title, cls] + [Cell(str(row[k]), k in FAILING and row[k] > 0)
                                        for k, _h in COLS] + [f"{row['slowest']:.2f}s"])
            first = False
    return Section("Requests per phase and resource class (phase by send time)",
                   ["phase", "class"] + [h for _k, h in COLS] + ["slowest"], rows, group_col=0,
                   notes=[
                       "slowest: the longest a request of the row took (send to response read; "
                       "watches not counted): a sidecar that holds requests while an apiserver "
                       "restarts shows here.",
                       "classes: " + "; ".join(f"{c} = {CLASSES[c]['what']}" for c in CLASS_ORDER),
                       "* transition: a failure while the class's availability changed during the "
                       "request (served at one end only), or an otherwise avoidable failure of a "
                       "request in flight when the apiserver it was routed to was stopped; shown, "
                       "not counted as a failure."])


def _per_sidecar(res):
    rows = []
    for s in IDS:
        row = [s]
        for cls in CLASS_ORDER:
            r = res.per_sidecar.get((s, cls), {})
            sp, av = r.get("spurious404", 0), r.get("avoidable", 0)
            row.append(Cell(f"{sp} / {av}", bad=(sp + av) > 0))
        rows.append(row)
    return Section("Spurious 404s / avoidable failures per sidecar (entry point) and class",
                   ["sidecar"] + list(CLASS_ORDER), rows)


def _watches(res):
    rows = []
    lines = []
    for s in IDS:
        sess = res.watch_sessions[s]
        ends = {}
        for x in sess:
            r = (x["end_reason"] or "open").split(":")[0]
            ends[r] = ends.get(r, 0) + 1
        lost = res.lost[s]
        rows.append([s, str(res.n_expected), Cell(str(len(lost)), bad=bool(lost)), str(len(sess)),
                     ", ".join(f"{k} {v}" for k, v in sorted(ends.items())),
                     str(res.relists[s])])
        if lost:
            lines.append(f"sidecar {s} lost: " + ", ".join(f"{t} {n}" for t, n in lost[:10]) +
                         (" ..." if len(lost) > 10 else ""))
    return Section(
        "Watch events (one reflector-style watch per sidecar on configmaps in default)",
        ["sidecar", "events expected", "lost", "watch requests", "how they ended", "relists"],
        rows, lines=lines, notes=[
            f"expected: ADDED and DELETED of each of the drill's {res.n_objects} ConfigMaps whose "
            "create/delete was acknowledged; checked after the load stopped and the watches "
            "were given the settle time to catch up. A watch that ends is resumed from its last "
            "resourceVersion (relist on 410). 'cut (no last chunk)' is a stream that ended "
            "without HTTP's last chunk, which is how a proxied watch ends when its apiserver "
            "goes away; the watch resumes and loses nothing if the daemon is right."])


def _propagation(res):
    rows = []
    for row in res.propagation:
        first = True
        for s in IDS:
            c = row["sidecars"][s]
            if "old_na" in c:
                old = "n/a: no old apiserver left"
            elif "old_n" in c:
                if c["old_first_peer"] is None:
                    old = (f"all {c['old_n']} went to its own apiserver (last at "
                           f"{fmt_s(c['old_last_local'])})")
                else:
                    old = (f"last to own {fmt_s(c['old_last_local'], 'none')}, first to a peer "
                           f"{fmt_s(c['old_first_peer'])}")
            else:
                old = ""
            rows.append([f"{row['restart']} (t={row['t_start']:.2f}s)" if first else "", s,
                         fmt_s(c["peers_view"], "not seen"),
                         fmt_s(c.get("first_new"), "-") if "first_new" in c else "",
                         Cell(f"{fmt_s(c['last_spur'], 'none')} ({c['spurious']})",
                              bad=c["spurious"] > 0), old])
            first = False
    return Section(
        "Propagation of each restart (seconds after the start call returned)",
        ["restart", "sidecar", "sees it as new", "first 200 new-only", "last spurious 404 (n)",
         "old-only via the restarted sidecar"], rows, group_col=0, notes=[
            "sees it as new: first /debug/peers sample (every 100 ms, each sidecar) showing the "
            "restarted server (the sidecar's own local model for its own apiserver) serving "
            "resource.k8s.io/v1alpha3;",
            "first 200 new-only: first 200 for a new-only request sent through the sidecar after "
            "the start (first restart only: before it nothing served new-only);",
            "last spurious 404: receive time of the last spurious 404 through the sidecar before "
            "the next stop;",
            "old-only via the restarted sidecar: send times of the last old-only request whose "
            "access line shows route=local (its own apiserver, now new) and of the first routed "
            "to a peer."])


def _kubectl(res):
    if not res.kubectl:
        return Section("kubectl", lines=[res.kubectl_note or "no kubectl runs"])
    by = {}
    for r in res.kubectl:
        by.setdefault((r["phase"], r["sidecar"]), {})[r["cmd"]] = r
    rows = []
    for (ph, s), cmds in sorted(by.items()):
        v = cmds.get("version", {})
        ar = cmds.get("api-resources", {})
        g = cmds.get("get new-only", {})
        out = (g.get("stdout", "").strip() or g.get("stderr", "").strip()).splitlines()
        gline = out[-1] if out else ""
        rows.append([ph, s, f"{v.get('client') or '?'} / {v.get('server') or '?'}",
                     Cell(f"exit {ar.get('rc')}", bad=not ar.get("as_expected", True)),
                     ar.get("resourceclaims", "-"),
                     Cell(f"exit {g.get('rc')} (expected {g.get('expect', '?')})",
                          bad=not g.get("as_expected", True)), gline[:80]])
    return Section(
        "kubectl, once per phase and sidecar (--server https://127.0.0.1:<sidecar port>)",
        ["phase", "sidecar", "kubectl / server version", "api-resources",
         "resourceclaims listed as", "get resourceclaims.v1alpha3.resource.k8s.io", "its output"],
        rows, notes=[res.kubectl_client,
                     "get is expected to succeed when some running apiserver served new-only for "
                     "the whole run of the command, to fail when none did; api-resources always. "
                     "The full outputs are in run-N-details.json."])


def _failures(res):
    fails = [r for r in res.records if r.outcome in FAILING]
    if not fails:
        return Section("Failures", lines=["none"])
    groups = {}
    for r in fails:
        code = str(r.status) if r.status and r.status > 0 else (r.error or "?").split(":")[0]
        key = (r.phase, r.sidecar, r.cls, r.outcome, code, r.route or "?")
        groups.setdefault(key, []).append(r)
    rows = []
    for key, rs in sorted(groups.items(), key=lambda kv: kv[1][0].t_send):
        ph, s, cls, outc, code, route = key
        d = rs[0].detail or {}
        msg = d.get("message") or rs[0].error or ""
        rows.append([str(len(rs)), ph, s, cls, Cell(outc, True), code, route,
                     f"{min(r.t_send for r in rs):.2f}-{max(r.t_send for r in rs):.2f}s",
                     msg[:90]])
    lines = ["first failures, with the entry sidecar's access line:"]
    for r in sorted(fails, key=lambda r: r.t_send)[:8]:
        lines.append(f"  t={r.t_send:.3f}-{r.t_recv:.3f}s via {r.sidecar} {r.kind} {r.method} "
                     f"{r.target} -> {r.status}{' ' + r.error if r.error else ''}")
        lines.append(f"    {res.access_line(r) or '(no access line)'}")
    a = res.access_stats
    notes = [f"access-log cross-check: {a['matched']} of {len(res.records)} requests matched to "
             f"the entry sidecar's access line by their drill= tag; {a['unmatched']} not "
             f"({a['unmatched_failures']} of them failures); {a['status_mismatch']} status "
             f"mismatches between client and access line."]
    return Section(f"Failures ({len(fails)}), grouped", ["n", "phase", "via", "class", "outcome",
                                                       "status", "route", "sent", "message"],
                   rows, notes=notes, lines=lines)


def sections(res):
    out = [_schedule(res), _main_table(res), _per_sidecar(res), _watches(res)]
    if res.propagation:
        out.append(_propagation(res))
    out += [_kubectl(res), _failures(res)]
    return out


# -- text rendering ------------------------------------------------------------------------

def _text_table(header, rows):
    cols = len(header)
    width = [len(h) for h in header]
    for r in rows:
        for i in range(cols):
            width[i] = max(width[i], len(r[i]) + (2 if getattr(r[i], "bad", False) else 0))
    num = [all((not r[i]) or r[i].replace(" ", "").replace("/", "").isdigit() for r in rows)
           for i in range(cols)]

    def fmt(cells, header_row=False):
        out = []
        for i, c in enumerate(cells):
            c = c + (" !" if getattr(c, "bad", False) else "")
            out.append(c.rjust(width[i]) if num[i] and not header_row else c.ljust(width[i]))
        return "  ".join(out).rstrip()

    lines = [fmt(header, True), "  ".join("-" * w for w in width)]
    for r in rows:
        lines.append(fmt(r))
    return lines


def text_report(res):
    o = [f"== run {res.run}: {res.schedule_desc}"]
    if res.error:
        o.append(f"   ERROR: {res.error}")
    o.append(f"   {len(res.records)} requests ({res.counts_by_kind})")
    for sec in sections(res):
        o.append("")
        o.append(f"   -- {sec.title}")
        if sec.header:
            o.extend("   " + ln for ln in _text_table(sec.header, sec.rows))
        o.extend("   " + ln for ln in sec.lines)
        for n in sec.notes:
            o.append("   " + n)
    o.append("")
    o.append("   " + ("FAIL: " if res.failed() else "PASS: ") + res.summary())
    return "\n".join(o)


# -- HTML --------------------------------------------------------------------------------

def _e(s):
    return html.escape(str(s))


def _html_section(sec):
    h = [f"<h3>{_e(sec.title)}</h3>"]
    if sec.header:
        h.append("<table><tr>" + "".join(f"<th>{_e(c)}</th>" for c in sec.header) + "</tr>")
        for r in sec.rows:
            cls = ' class="first"' if sec.group_col is not None and r[sec.group_col] else ""
            h.append(f"<tr{cls}>" + "".join(
                f'<td{" class=bad" if getattr(c, "bad", False) else ""}>{_e(c)}</td>'
                for c in r) + "</tr>")
        h.append("</table>")
    if sec.lines:
        h.append("<pre>" + _e("\n".join(sec.lines)) + "</pre>")
    for n in sec.notes:
        h.append(f"<p class=note>{_e(n)}</p>")
    return "\n".join(h)


def _timeline_svg(res):
    truth = res.truth
    t_begin = truth.phases[0][2]
    t_end = truth.phases[-1][3]
    span = max(t_end - t_begin, 1.0)
    bucket = max(0.1, round(span / 240, 2))
    nb = int(span / bucket) + 1
    left, width, rowh = 130, 980, 16
    x = lambda t: left + (t - t_begin) / span * width  # noqa: E731
    rows = [("apiserver " + i, "truth", i) for i in IDS]
    for s in IDS:
        rows += [(f"via {s}: {cls}", "req", (s, cls)) for cls in CLASS_ORDER]
        rows.append((f"via {s}: watch", "watch", s))
    top = 38
    bottom = top + len(rows) * rowh
    height = bottom + 58
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 30}" height="{height}" '
           f'font-family="sans-serif" font-size="11">']
    grid = {}
    for r in res.records:
        if r.verb == "watch":
            continue
        b = int((r.t_send - t_begin) / bucket)
        if 0 <= b < nb:
            k = (r.sidecar, r.cls, b)
            if RANK[r.outcome] > RANK[grid.get(k)]:
                grid[k] = r.outcome
    for i, (label, kind, key) in enumerate(rows):
        y = top + i * rowh
        if kind != "truth" and key and (key[1] if kind == "req" else None) == CLASS_ORDER[0]:
            svg.append(f'<line x1="0" y1="{y}" x2="{left + width}" y2="{y}" stroke="#bbb"/>')
        svg.append(f'<text x="{left - 6}" y="{y + rowh - 4}" text-anchor="end">{_e(label)}</text>')
        if kind == "truth":
            pts = [(t_begin, True, "v1.30")]
            pts += [(tc, running, ver) for (tc, inst, running, ver) in truth.changes if inst == key]
            pts.append((t_end, None, None))
            for j in range(len(pts) - 1):
                t1, running, ver = pts[j]
                t2 = pts[j + 1][0]
                col = VERSION_COLORS["down"] if not running else VERSION_COLORS.get(ver, "#999")
                txt = "down" if not running else ver
                svg.append(f'<rect x="{x(t1):.1f}" y="{y + 1}" width="{max(0.5, x(t2) - x(t1)):.1f}" '
                           f'height="{rowh - 2}" fill="{col}"><title>apiserver {_e(key)}: {txt} '
                           f'{t1 - t_begin:.2f}-{t2 - t_begin:.2f}s</title></rect>')
                if x(t2) - x(t1) > 40:
                    svg.append(f'<text x="{x(t1) + 3:.1f}" y="{y + rowh - 4}" '
                               f'fill="{"#333" if not running else "#fff"}">{txt}</text>')
        elif kind == "req":
            s, cls = key
            for b in range(nb):
                oc = grid.get((s, cls, b))
                if oc is None:
                    continue
                t1 = t_begin + b * bucket
                svg.append(f'<rect x="{x(t1):.1f}" y="{y + 1}" width="{width / span * bucket + 0.3:.1f}" '
                           f'height="{rowh - 2}" fill="{COLORS[oc]}"><title>via {s}, {cls}, '
                           f'{t1 - t_begin:.1f}s: worst outcome {oc}</title></rect>')
        else:
            for sess in res.watch_sessions[key]:
                if sess["status"] != 200:
                    continue
                t1 = sess["start"]
                t2 = sess["end"] if sess["end"] is not None else t_end
                svg.append(f'<rect x="{x(t1):.1f}" y="{y + 4}" width="{max(1, x(t2) - x(t1) - 1):.1f}" '
                           f'height="{rowh - 8}" fill="#3a9d4a" opacity="0.7"><title>watch '
                           f'{t1 - t_begin:.2f}-{t2 - t_begin:.2f}s, {sess["events"]} events, '
                           f'{_e(sess["end_reason"])}</title></rect>')
            if res.lost[key]:
                svg.append(f'<text x="{left + width + 4}" y="{y + rowh - 4}" fill="#c0302a">'
                           f'{len(res.lost[key])} lost</text>')
    for (inst, tb, _ta) in truth.stops:
        svg.append(f'<line x1="{x(tb):.1f}" y1="{top - 14}" x2="{x(tb):.1f}" y2="{bottom}" '
                   f'stroke="#333" stroke-dasharray="3,2"/>')
        svg.append(f'<text x="{x(tb):.1f}" y="{top - 26}" text-anchor="middle">stop {inst}</text>')
    for (inst, _tb, ta, ver) in truth.starts:
        svg.append(f'<line x1="{x(ta):.1f}" y1="{top - 4}" x2="{x(ta):.1f}" y2="{bottom}" '
                   f'stroke="#000" stroke-width="1.5"/>')
        svg.append(f'<text x="{x(ta):.1f}" y="{top - 6}" text-anchor="middle">{inst} {ver}</text>')
    step = 1 if span <= 30 else 5 if span <= 150 else 10
    t = 0
    while t <= span:
        svg.append(f'<line x1="{x(t_begin + t):.1f}" y1="{bottom}" x2="{x(t_begin + t):.1f}" '
                   f'y2="{bottom + 4}" stroke="#333"/>')
        svg.append(f'<text x="{x(t_begin + t):.1f}" y="{bottom + 15}" text-anchor="middle">{t}s</text>')
        t += step
    lx, ly = left, bottom + 34
    for oc in ("ok", "legit", "transition", "spurious404", "avoidable"):
        svg.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{COLORS[oc]}"/>')
        svg.append(f'<text x="{lx + 14}" y="{ly}">{oc}</text>')
        lx += 95
    svg.append(f'<text x="{left}" y="{ly + 16}">Each cell: the worst outcome of the requests sent '
               f'in that {bucket:.2f} s through that sidecar for that class. Dashed: stop call; '
               f'solid: start returned. Watch rows: open watches.</text>')
    svg.append("</svg>")
    return "\n".join(svg)


def html_run(res):
    status = "FAIL" if res.failed() else "PASS"
    parts = [f'<h2>Run {res.run}: <span class="{status.lower()}">{status}</span></h2>',
             f"<p>{_e(res.summary())}. {_e(res.schedule_desc)}. {len(res.records)} requests "
             f"({_e(res.counts_by_kind)}).</p>"]
    if res.error:
        parts.append(f'<p class="fail">Error: {_e(res.error)}</p>')
    if res.truth.phases:
        parts.append("<h3>Timeline</h3>")
        parts.append(_timeline_svg(res))
    for sec in sections(res):
        parts.append(_html_section(sec))
    return "\n".join(parts)


def html_page(results, header):
    css = ("body{font-family:sans-serif;margin:1.5em;max-width:1250px}"
           "table{border-collapse:collapse;font-size:13px;margin-bottom:4px}"
           "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}"
           "td.bad{background:#f6c7c3;font-weight:bold}tr.first td{border-top:2px solid #888}"
           "pre{background:#f6f6f6;padding:8px;font-size:12px;overflow-x:auto}"
           "p.note{font-size:12px;color:#555;margin:2px 0}"
           ".pass{color:#2a7d36}.fail{color:#c0302a}")
    body = [f"<h1>mvproxy upgrade drill</h1><pre>{_e(header)}</pre>"]
    for res in results:
        body.append(html_run(res))
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
