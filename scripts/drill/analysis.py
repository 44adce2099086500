"""Ground truth, classification of every request, and the propagation measurements.

Ground truth: the drill itself stops and starts the apiservers, so it knows at each
instant which instances run and at which version. An instance counts as down from just
BEFORE its stop call until just AFTER its start call returned (so the window in which
it might be down is as wide as it can be), and as the new version from then on.

Classification of a request (send time s, receive time r, through sidecar S, class C):

  ok            2xx
  legit         404 or 503 while no running apiserver served C at s nor at r
  spurious404   404 "the server could not find the requested resource" while a running
                apiserver served C at s and at r
  avoidable     any other failure (5xx, other 4xx, connection error, timeout, a 404 for
                an object that exists) while a running apiserver served C at s and at r;
                and any failure other than 404/503 while nobody served C (the answer
                should have been the apiserver's 404 or mvproxy's 503)
  transition    a failure while C's availability changed during the request (served at
                one end only), or what would be an avoidable failure of a request that
                was in flight when the apiserver it was routed to (route from the entry
                sidecar's access line) was stopped: the stand-in cuts every connection
                at once, unlike a draining kube-apiserver. Not counted against the
                daemon, shown separately.
"""

import re

from .cluster import IDS, OLD
from .workload import CLASSES

OUTCOMES = ("ok", "legit", "spurious404", "avoidable", "transition")
FAILING = ("spurious404", "avoidable")


class Truth:
    def __init__(self):
        self.changes = []      # (t, instance, running, version)
        self.stops = []        # (instance, t_before_call, t_after_call)
        self.starts = []       # (instance, t_before_call, t_after_call, version)
        self.phases = []       # (name, label, t_begin, t_end)

    def state(self, inst, t):
        running, version = True, OLD
        for (tc, i, run, ver) in self.changes:
            if i == inst and tc <= t:
                running, version = run, ver
        return running, version

    def served(self, cls, t):
        vers = CLASSES[cls]["served_by"]
        for i in IDS:
            running, version = self.state(i, t)
            if running and version in vers:
                return True
        return False

    def phase_of(self, t):
        for (name, _label, b, e) in self.phases:
            if b <= t < e:
                return name
        if self.phases and t >= self.phases[-1][3]:
            return self.phases[-1][0]
        return self.phases[0][0] if self.phases else "?"


def _routed_to(rec):
    """The instance the request went to, from the sidecar's access line (None: unknown)."""
    if not rec.route:
        return None
    if rec.route == "local":
        return rec.sidecar
    if rec.route in IDS:
        return rec.route
    return None


def classify(rec, truth):
    st = rec.status
    if st is not None and 200 <= st < 300:
        return "ok", ""
    s_send, s_recv = truth.served(rec.cls, rec.t_send), truth.served(rec.cls, rec.t_recv)
    detail = rec.detail or {}
    obj404 = st == 404 and bool(detail.get("object_name"))
    if s_send and s_recv:
        if st == 404 and not obj404:
            return "spurious404", "404 while a running apiserver served it"
        if obj404:
            outcome, why = "avoidable", f"404 for object {detail.get('object_name')!r}, which exists"
        else:
            outcome, why = "avoidable", "failed while a running apiserver served it"
    elif not s_send and not s_recv:
        if st in (404, 503):
            return "legit", "no running apiserver served it"
        outcome, why = "avoidable", f"{st} while no apiserver served it (expected 404 or 503)"
    else:
        return "transition", "served at one end of the request only"
    # A failure of a request that was in flight when the apiserver it went to (the
    # route in the entry sidecar's access line; any, if unknown) was stopped.
    for (inst, tb, ta) in truth.stops:
        if rec.t_send <= ta and rec.t_recv >= tb:
            target = _routed_to(rec)
            if target is None or target == inst:
                return "transition", f"in flight when {inst} was stopped"
    return outcome, why


ACCESS_RE = re.compile(r"access: (\S+) (\S+) (\d+) route=(\S+)(.*)$")
TAG_RE = re.compile(r"[?&]drill=([0-9]+\.[0-9]+)")


def parse_access_log(path):
    """{request id: (method, target, status, route, rest)} from one sidecar's log."""
    out = {}
    try:
        with open(path, "rb") as f:
            for raw in f:
                line = raw.decode(errors="replace")
                m = ACCESS_RE.search(line)
                if not m:
                    continue
                t = TAG_RE.search(m.group(2))
                if t:
                    out[t.group(1)] = (m.group(1), m.group(2), int(m.group(3)), m.group(4),
                                       m.group(5).strip(), line.rstrip("\n"))
    except OSError:
        pass
    return out


def attach_routes(records, access_by_sidecar):
    """Sets rec.route from the entry sidecar's access line; returns consistency counts."""
    stats = {"matched": 0, "unmatched": 0, "status_mismatch": 0, "unmatched_failures": 0}
    mismatches = []
    for rec in records:
        line = access_by_sidecar.get(rec.sidecar, {}).get(rec.id)
        if line is None:
            stats["unmatched"] += 1
            if not (rec.status is not None and 200 <= rec.status < 300):
                stats["unmatched_failures"] += 1
            continue
        stats["matched"] += 1
        rec.route = line[3]
        if rec.status is not None and rec.status > 0 and line[2] != rec.status:
            stats["status_mismatch"] += 1
            mismatches.append((rec.id, rec.status, line[2]))
    return stats, mismatches


def classify_all(records, truth):
    for rec in records:
        rec.phase = truth.phase_of(rec.t_send)
        rec.outcome, rec.why = classify(rec, truth)


def table(records, truth):
    """{(phase, class): {outcome: n}} plus per-class totals under phase 'total'."""
    t = {}
    for rec in records:
        for key in ((rec.phase, rec.cls), ("total", rec.cls)):
            row = t.setdefault(key, dict({o: 0 for o in OUTCOMES}, slowest=0.0))
            row[rec.outcome] += 1
            if rec.verb != "watch":
                row["slowest"] = max(row["slowest"], rec.t_recv - rec.t_send)
    return t


def per_sidecar(records):
    t = {}
    for rec in records:
        row = t.setdefault((rec.sidecar, rec.cls), {o: 0 for o in OUTCOMES})
        row[rec.outcome] += 1
    return t


def lost_events(workload):
    exp = workload.expected_events()
    lost = {}
    for s in IDS:
        missing = exp - workload.seen_events(s)
        lost[s] = sorted(missing, key=lambda e: (e[1], e[0]))
    return exp, lost


def propagation(records, truth, workload):
    """Per restart and sidecar, what the drill can time cleanly:

    peers_view   first /debug/peers sample (every 100 ms) after the start call returned
                 in which sidecar S shows the restarted server (its own local model when
                 S is the restarted one) serving resource.k8s.io/v1alpha3
    first_new    first 200 LIST/GET of new-only through S after the start call returned,
                 for the first restart only (before it, no server serves new-only)
    last_spur    receive time of the last spurious 404 through S before the next stop
    old_local    old-only requests through the restarted sidecar: send time of the last
                 one its access log shows routed to its own (now new) apiserver, and of
                 the first one routed to a peer; n/a once no old apiserver is left
    """
    out = []
    stops_after = {}
    for (inst, tb, _ta) in truth.stops:
        stops_after[inst] = tb
    ends = []
    for idx, (inst, _tb, ta, _v) in enumerate(truth.starts):
        nxt = truth.stops[idx + 1][1] if idx + 1 < len(truth.stops) else float("inf")
        ends.append(nxt)
    samples = sorted(workload.peer_samples, key=lambda x: x[0])
    for idx, (inst, _tb, t_start, _version) in enumerate(truth.starts):
        t_end = ends[idx]
        row = {"restart": inst, "t_start": t_start, "sidecars": {}}
        old_left = any(truth.state(i, t_start)[1] == OLD and truth.state(i, t_start)[0]
                       for i in IDS)
        for s in IDS:
            cell = {}
            pv = next((t for (t, sid, view) in samples
                       if sid == s and t >= t_start and view.get(inst, {}).get("new")), None)
            cell["peers_view"] = None if pv is None else pv - t_start
            if idx == 0:
                fn = min((r.t_recv for r in records if r.cls == "new-only" and r.sidecar == s
                          and r.status == 200 and r.t_send >= t_start), default=None)
                cell["first_new"] = None if fn is None else fn - t_start
            sp = [r.t_recv for r in records if r.sidecar == s and r.outcome == "spurious404"
                  and t_start <= r.t_send < t_end]
            cell["spurious"] = len(sp)
            cell["last_spur"] = (max(sp) - t_start) if sp else None
            if s == inst:
                if old_left:
                    olds = sorted((r for r in records if r.sidecar == s and r.cls == "old-only"
                                   and t_start <= r.t_send < t_end and r.route),
                                  key=lambda r: r.t_send)
                    last_local = max((r.t_send for r in olds if r.route == "local"), default=None)
                    first_peer = min((r.t_send for r in olds if r.route != "local"), default=None)
                    cell["old_last_local"] = None if last_local is None else last_local - t_start
                    cell["old_first_peer"] = None if first_peer is None else first_peer - t_start
                    cell["old_n"] = len(olds)
                else:
                    cell["old_na"] = True
            row["sidecars"][s] = cell
        out.append(row)
    return out


def kubectl_expectations(runs, truth):
    """Marks each kubectl run: `get new-only` should succeed iff new-only was served for
    the whole run; api-resources and version should always succeed."""
    for run in runs:
        if run["cmd"] == "get new-only":
            s1, s2 = truth.served("new-only", run["t_start"]), truth.served("new-only", run["t_end"])
            if s1 and s2:
                run["expect"] = "ok"
            elif not s1 and not s2:
                run["expect"] = "fail"
            else:
                run["expect"] = "either"
        else:
            run["expect"] = "ok"
        rc = run["rc"]
        if run["expect"] == "either":
            run["as_expected"] = True
        elif run["expect"] == "ok":
            run["as_expected"] = rc == 0
        else:
            run["as_expected"] = rc not in (0, None)
        if run["cmd"] == "api-resources" and rc == 0:
            # One line per resource at its group's preferred version.
            lines = [ln.split() for ln in run["stdout"].splitlines()
                     if ln.startswith("resourceclaims ")]
            run["resourceclaims"] = ", ".join(next((f for f in ln if "/" in f), "?")
                                              for ln in lines) or "not listed"
    return runs


def rebase(t0, records, truth, workload):
    """Makes every time relative to t0 (the start of the load)."""
    for r in records:
        r.t_send -= t0
        r.t_recv -= t0
    truth.changes = [(t - t0, i, run, v) for (t, i, run, v) in truth.changes]
    truth.stops = [(i, tb - t0, ta - t0) for (i, tb, ta) in truth.stops]
    truth.starts = [(i, tb - t0, ta - t0, v) for (i, tb, ta, v) in truth.starts]
    truth.phases = [(n, lb, b - t0, e - t0) for (n, lb, b, e) in truth.phases]
    if workload is None:
        return
    with workload.lock:
        for s in workload.watch_sessions.values():
            for x in s:
                for k in ("start", "end"):
                    if x.get(k) is not None:
                        x[k] -= t0
        for s, evs in workload.watch_events.items():
            workload.watch_events[s] = [(e[0] - t0,) + tuple(e[1:]) for e in evs]
        workload.peer_samples = [(t - t0, s, v) for (t, s, v) in workload.peer_samples]
        for r in workload.kubectl_runs:
            r["t_start"] -= t0
            r["t_end"] -= t0
        for o in workload.objects.values():
            for k in ("created", "deleted"):
                if o.get(k) is not None:
                    o[k] -= t0
