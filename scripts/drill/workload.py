"""The load the drill keeps on the three sidecars while the apiservers are upgraded.

- steady: one thread per sidecar x resource class, on its own keep-alive connection,
  alternating the class's LIST and GET requests every 50-100 ms;
- bursts: right after each restart, BURST concurrent requests per sidecar x class,
  on connections opened (TLS handshake done) beforehand, released at once;
- churn: ConfigMaps created through one sidecar and deleted ~1 s later through the next;
- watches: one reflector-style LIST+WATCH of configmaps in default per sidecar,
  re-established from the last resourceVersion when it ends, relisting on 410;
- peers poller: each sidecar's /debug/peers every 100 ms (what it believes each server serves);
- kubectl: once per phase per sidecar.
"""

import json
import os
import random
import subprocess
import threading
import time

from . import client as cl
from .cluster import IDS, http_get, kill_group

NS = "default"
ANCHOR = "drill-anchor"

# Resource classes, from the two discovery captures the profiles serve
# (tests/fixtures/discovery/aggregated-apis-v2-allapis-v1.30-dev-c25b1ef.json and
# ...-v1.31-dev-0209a4c.json): the versions that serve each, and the requests made.
CLASSES = {
    "both": {
        "served_by": ("v1.30", "v1.31"),
        "what": "configmaps (v1), deployments (apps/v1)",
        "requests": [
            ("list", f"/api/v1/namespaces/{NS}/configmaps?limit=500"),
            ("get", f"/api/v1/namespaces/{NS}/configmaps/{ANCHOR}"),
            ("list", f"/apis/apps/v1/namespaces/{NS}/deployments?limit=500"),
            ("get", f"/apis/apps/v1/namespaces/{NS}/deployments/{ANCHOR}"),
        ],
    },
    "old-only": {
        "served_by": ("v1.30",),
        "what": "resourceclaims (resource.k8s.io/v1alpha2)",
        "requests": [
            ("list", f"/apis/resource.k8s.io/v1alpha2/namespaces/{NS}/resourceclaims?limit=500"),
            ("get", f"/apis/resource.k8s.io/v1alpha2/namespaces/{NS}/resourceclaims/{ANCHOR}"),
        ],
    },
    "new-only": {
        "served_by": ("v1.31",),
        "what": "resourceclaims (resource.k8s.io/v1alpha3)",
        "requests": [
            ("list", f"/apis/resource.k8s.io/v1alpha3/namespaces/{NS}/resourceclaims?limit=500"),
            ("get", f"/apis/resource.k8s.io/v1alpha3/namespaces/{NS}/resourceclaims/{ANCHOR}"),
        ],
    },
    "none": {
        "served_by": (),
        "what": "resourceclaims (resource.k8s.io/v1beta1, served from 1.32 on)",
        "requests": [
            ("list", f"/apis/resource.k8s.io/v1beta1/namespaces/{NS}/resourceclaims?limit=500"),
            ("get", f"/apis/resource.k8s.io/v1beta1/namespaces/{NS}/resourceclaims/{ANCHOR}"),
        ],
    },
}
CLASS_ORDER = ("both", "old-only", "new-only", "none")

NEW_GV = "resource.k8s.io/v1alpha3"
OLD_GV = "resource.k8s.io/v1alpha2"


def do_request(log, conn, sidecar, cls, verb, method, path, kind, body=None):
    """One request through `conn`, recorded in `log`. Returns (record, body bytes)."""
    rid = log.next_id()
    target = cl.tagged(path, rid)
    t_send = log.clock.now()
    status, data, err, _resp, reused, retried = conn.request(method, target, body=body)
    t_recv = log.clock.now()
    detail = None
    if status >= 300 or status < 0:
        detail = cl.status_detail(data) if data else None
    rec = cl.Record(id=rid, sidecar=sidecar, cls=cls, verb=verb, method=method, target=target,
                    kind=kind, t_send=t_send, t_recv=t_recv, status=status, error=err,
                    detail=detail, reused=reused, retried=retried)
    log.add(rec)
    return rec, data


class Workload:
    def __init__(self, cluster, log, burst_size=16, request_timeout=30.0):
        self.cluster = cluster
        self.log = log
        self.clock = log.clock
        self.ctx = cl.tls_context(cluster.pki)
        self.burst_size = burst_size
        # Longer than any hold a sidecar may put on a request while an apiserver is down:
        # a client waiting is slow, not failed (client-go sets no timeout by default).
        self.request_timeout = request_timeout
        self.stop_load = threading.Event()     # steady load and churn
        self.stop_all = threading.Event()      # watches and poller too
        self.threads = []
        self.lock = threading.Lock()
        # churn bookkeeping: name -> {"created": t, "deleted": t}
        self.objects = {}
        # watch bookkeeping, per sidecar
        self.watch_events = {s: [] for s in IDS}      # (t, type, name, rv, via)
        self.watch_sessions = {s: [] for s in IDS}    # dicts
        self.watch_relists = {s: 0 for s in IDS}
        self._watch_conns = {}
        # /debug/peers samples: (t, sidecar, {server: {...}})
        self.peer_samples = []
        self.kubectl_runs = []
        self.kubectl_procs = []
        self.bursts = []

    # -- helpers --------------------------------------------------------------------------

    def conn(self, sid, timeout=None):
        return cl.Conn(self.cluster.port[sid], self.ctx, timeout or self.request_timeout)

    def _spawn(self, name, fn, *args):
        t = threading.Thread(target=fn, args=args, name=name, daemon=True)
        t.start()
        self.threads.append(t)
        return t

    # -- setup ----------------------------------------------------------------------------

    def create_anchors(self):
        """The objects the GETs read: a ConfigMap, a Deployment and a ResourceClaim (as
        v1alpha2; the store is per group/resource, as etcd, so v1alpha3 serves it too).
        Made through sidecar a while every apiserver is old; not part of the counts."""
        objs = [
            (f"/api/v1/namespaces/{NS}/configmaps",
             {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": ANCHOR},
              "data": {"drill": "anchor"}}),
            (f"/apis/apps/v1/namespaces/{NS}/deployments",
             {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": ANCHOR},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "drill"}},
                       "template": {"metadata": {"labels": {"app": "drill"}},
                                    "spec": {"containers": [{"name": "c", "image": "pause"}]}}}}),
            (f"/apis/resource.k8s.io/v1alpha2/namespaces/{NS}/resourceclaims",
             {"apiVersion": "resource.k8s.io/v1alpha2", "kind": "ResourceClaim",
              "metadata": {"name": ANCHOR}, "spec": {"resourceClassName": "drill"}}),
        ]
        c = self.conn("a")
        try:
            for path, obj in objs:
                status, data, err, *_ = c.request("POST", path, body=json.dumps(obj))
                if status not in (200, 201):
                    raise RuntimeError(f"creating {path}/{ANCHOR} through sidecar a: "
                                       f"{status} {err or data[:200]!r}")
        finally:
            c.close()

    # -- steady load ----------------------------------------------------------------------

    def _steady(self, sid, cls):
        conn = self.conn(sid)
        reqs = CLASSES[cls]["requests"]
        i = random.randrange(len(reqs))
        nxt = time.monotonic()
        try:
            while not self.stop_load.is_set():
                verb, path = reqs[i % len(reqs)]
                i += 1
                do_request(self.log, conn, sid, cls, verb, "GET", path, "steady")
                nxt += random.uniform(0.05, 0.10)
                delay = nxt - time.monotonic()
                if delay > 0:
                    self.stop_load.wait(delay)
                else:
                    nxt = time.monotonic()
        finally:
            conn.close()

    # -- bursts ---------------------------------------------------------------------------

    def prepare_burst(self, label, deadline_s=10.0):
        """Opens BURST connections per sidecar x class (TLS done) and parks a thread on
        each; fire_burst() releases them all at once."""
        go = threading.Event()
        self.bursts.append(go)
        ready = []
        lock = threading.Lock()

        def one(sid, cls, n):
            conn = self.conn(sid)
            try:
                conn.connect()
                ok = True
            except OSError:
                ok = False  # the request below will reconnect and record what happens
            with lock:
                ready.append(ok)
            go.wait()
            if self.stop_all.is_set():
                conn.close()
                return
            verb, path = CLASSES[cls]["requests"][n % len(CLASSES[cls]["requests"])]
            try:
                do_request(self.log, conn, sid, cls, verb, "GET", path, "burst")
            finally:
                conn.close()

        threads = []
        for sid in IDS:
            for cls in CLASS_ORDER:
                for n in range(self.burst_size):
                    t = threading.Thread(target=one, args=(sid, cls, n), daemon=True,
                                         name=f"burst-{label}-{sid}-{cls}-{n}")
                    t.start()
                    threads.append(t)
        end = time.monotonic() + deadline_s
        while len(ready) < len(threads) and time.monotonic() < end:
            time.sleep(0.01)
        self.threads.extend(threads)
        return go, threads

    @staticmethod
    def fire_burst(burst):
        go, _threads = burst
        go.set()

    def join_burst(self, burst, timeout=15.0):
        _go, threads = burst
        end = time.monotonic() + timeout
        for t in threads:
            t.join(max(0.0, end - time.monotonic()))

    # -- churn (ConfigMap create/delete) --------------------------------------------------

    def _churn(self, interval=0.25, lifetime=1.0):
        conns = {s: self.conn(s) for s in IDS}
        n = 0
        pending = []  # (t_created, name, created_via)
        run = self.log.run
        try:
            while not self.stop_load.is_set():
                sid = IDS[n % 3]
                name = f"drill-{run}-{n:04d}"
                obj = {"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": name, "labels": {"drill-run": str(run)}},
                       "data": {"n": str(n)}}
                rec, _ = do_request(self.log, conns[sid], sid, "both", "create", "POST",
                                    f"/api/v1/namespaces/{NS}/configmaps", "churn",
                                    body=json.dumps(obj))
                if rec.status == 201 or rec.status == 200:
                    with self.lock:
                        self.objects[name] = {"created": rec.t_recv, "deleted": None,
                                              "created_via": sid}
                    pending.append((rec.t_recv, name, n))
                n += 1
                now = self.clock.now()
                while pending and now - pending[0][0] >= lifetime:
                    self._delete(conns, pending.pop(0))
                self.stop_load.wait(interval)
            for p in pending:  # leave nothing behind
                self._delete(conns, p)
        finally:
            for c in conns.values():
                c.close()

    def _delete(self, conns, item):
        _t, name, n = item
        sid = IDS[(n + 1) % 3]
        rec, _ = do_request(self.log, conns[sid], sid, "both", "delete", "DELETE",
                            f"/api/v1/namespaces/{NS}/configmaps/{name}", "churn")
        if rec.status == 200:
            with self.lock:
                self.objects[name]["deleted"] = rec.t_recv

    # -- watches (reflector-style) --------------------------------------------------------

    def _note_event(self, sid, etype, name, rv, via):
        with self.lock:
            self.watch_events[sid].append((self.clock.now(), etype, name, rv, via))

    def _relist(self, sid, conn, known):
        """LIST configmaps; returns the list's resourceVersion or None. Like an informer's
        Replace, objects that appeared or vanished meanwhile are noted as events."""
        path = f"/api/v1/namespaces/{NS}/configmaps?limit=500"
        rec, data = do_request(self.log, conn, sid, "both", "list", "GET", path, "reflector")
        if rec.status != 200:
            return None
        try:
            lst = json.loads(data)
        except ValueError:
            return None
        names = {i["metadata"]["name"] for i in lst.get("items", [])}
        rv = lst.get("metadata", {}).get("resourceVersion")
        # An informer's initial list and every relist report what changed as events.
        for nme in names - known:
            self._note_event(sid, "ADDED", nme, None, "list")
        for nme in known - names:
            self._note_event(sid, "DELETED", nme, None, "list")
        known.clear()
        known.update(names)
        return rv

    def _watch(self, sid):
        try:
            self._watch_loop(sid)
        except Exception as e:  # noqa: BLE001 - a drill bug must not pass for a quiet watch
            self.watch_sessions[sid].append({"id": None, "start": self.clock.now(), "rv": None,
                                             "status": None, "end": self.clock.now(),
                                             "end_reason": f"drill error: {e!r}", "events": 0})
            raise

    def _watch_loop(self, sid):
        conn = self.conn(sid, timeout=75.0)
        self._watch_conns[sid] = conn
        known = set()
        rv = None
        first = True
        backoff = 0.1
        while not self.stop_all.is_set():
            if rv is None:
                rv = self._relist(sid, conn, known)
                if rv is None:
                    self.stop_all.wait(backoff)
                    continue
                if not first:
                    with self.lock:
                        self.watch_relists[sid] += 1
                first = False
            # client-go's reflector picks 5-10 min; shorter here so that watches also end
            # normally (timeoutSeconds) and are resumed during a drill.
            timeout_s = random.randint(15, 30)
            path = (f"/api/v1/namespaces/{NS}/configmaps?allowWatchBookmarks=true"
                    f"&resourceVersion={rv}&timeoutSeconds={timeout_s}&watch=true")
            rid = self.log.next_id()
            target = cl.tagged(path, rid)
            session = {"id": rid, "start": self.clock.now(), "rv": rv, "status": None,
                       "end": None, "end_reason": None, "events": 0}
            self.watch_sessions[sid].append(session)
            t_send = self.clock.now()
            status, err, resp = None, None, None
            try:
                if conn.c is None or conn._stale():
                    conn._fresh()
                conn.c.request("GET", target, headers={"Accept": "application/json",
                                                      "User-Agent": "upgrade-drill"})
                resp = conn.c.getresponse()
                status = resp.status
            except Exception as e:  # noqa: BLE001 - recorded as the request's outcome
                err = f"{type(e).__name__}: {e}"
                status = cl.TIMEOUT if "timed out" in str(e) else cl.CONN_ERROR
                conn.close()
            t_head = self.clock.now()
            detail = None
            if status != 200 and resp is not None:
                try:
                    detail = cl.status_detail(resp.read())
                except Exception:  # noqa: BLE001
                    pass
                conn.close()
            self.log.add(cl.Record(id=rid, sidecar=sid, cls="both", verb="watch", method="GET",
                                   target=target, kind="watch", t_send=t_send, t_recv=t_head,
                                   status=status, error=err, detail=detail, reused=None,
                                   retried=False))
            session["status"] = status
            if status != 200:
                session["end"], session["end_reason"] = t_head, f"not started ({status})"
                if status == 410:
                    rv = None
                self.stop_all.wait(backoff)
                continue
            reason = "ended by server"
            try:
                while True:
                    line = resp.readline()
                    if not line:
                        if self.stop_all.is_set():
                            reason = "stopped by drill"
                        elif resp.chunked and resp.chunk_left is not None:
                            # http.client returns b"" at a connection close between
                            # chunks; only a proper last chunk leaves chunk_left None.
                            reason = "cut (no last chunk)"
                        break
                    ev = json.loads(line)
                    etype = ev.get("type")
                    obj = ev.get("object") or {}
                    meta = obj.get("metadata") or {}
                    if etype == "ERROR":
                        code = obj.get("code")
                        reason = f"ERROR event {code} {obj.get('reason')}"
                        if code == 410:
                            rv = None
                        break
                    if meta.get("resourceVersion"):
                        rv = meta["resourceVersion"]
                    if etype == "BOOKMARK":
                        continue
                    name = meta.get("name")
                    session["events"] += 1
                    if etype == "ADDED":
                        known.add(name)
                    elif etype == "DELETED":
                        known.discard(name)
                    self._note_event(sid, etype, name, rv, "watch")
            except Exception as e:  # noqa: BLE001 - a cut stream: resume like a reflector
                reason = "stopped by drill" if self.stop_all.is_set() else f"broken: {type(e).__name__}"
            session["end"], session["end_reason"] = self.clock.now(), reason
            conn.close()
        conn.close()

    def interrupt_watches(self):
        for c in list(self._watch_conns.values()):
            s = c.c.sock if c.c is not None else None
            if s is not None:
                try:
                    s.shutdown(2)
                except OSError:
                    pass

    # -- /debug/peers poller ----------------------------------------------------------

    def _poll_peers(self, interval=0.1):
        def summary(srv):
            gvs = set(srv.get("groupVersions") or [])
            return {"synced": srv.get("synced"), "new": NEW_GV in gvs, "old": OLD_GV in gvs,
                    "healthy": srv.get("healthy"), "holder": srv.get("holderIdentity"),
                    "lastSync": srv.get("lastSync"), "errors": srv.get("errors")}
        while not self.stop_all.is_set():
            for sid in IDS:
                t = self.clock.now()
                try:
                    status, body = http_get(self.cluster.admin[sid], "/debug/peers", 1.0)
                    if status != 200:
                        continue
                    d = json.loads(body)
                except (OSError, ValueError):
                    continue
                view = {sid: summary(d.get("local") or {})}
                for p in d.get("peers") or []:
                    view[p.get("id")] = summary(p)
                with self.lock:
                    self.peer_samples.append((t, sid, view))
            self.stop_all.wait(interval)

    # -- kubectl ------------------------------------------------------------------------

    def run_kubectl(self, phase, sid, kubectl):
        """kubectl version, api-resources and get <new-only> through one sidecar."""
        cache = os.path.join(self.cluster.work, "kubectl-cache", sid)
        base = [kubectl, "--kubeconfig", os.path.join(self.cluster.pki, "admin.conf"),
                "--server", f"https://127.0.0.1:{self.cluster.port[sid]}", "--cache-dir", cache,
                "--request-timeout", "20s"]
        cmds = [("version", ["version", "-o", "json"]),
                ("api-resources", ["api-resources"]),
                ("get new-only", ["get", "resourceclaims.v1alpha3.resource.k8s.io", "-n", NS])]
        for name, args in cmds:
            if self.stop_all.is_set():
                return
            t_start = self.clock.now()
            p = subprocess.Popen(base + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, start_new_session=True)
            with self.lock:
                self.kubectl_procs.append(p)
            try:
                out, err = p.communicate(timeout=40)
                rc, out, err = p.returncode, out.decode(errors="replace"), err.decode(errors="replace")
            except subprocess.TimeoutExpired:
                kill_group(p)
                p.communicate()
                rc, out, err = None, "", "timed out after 40 s"
            t_end = self.clock.now()
            run = {"phase": phase, "sidecar": sid, "cmd": name, "argv": args, "rc": rc,
                   "stdout": out, "stderr": err, "t_start": t_start, "t_end": t_end}
            if name == "version":
                try:
                    v = json.loads(out)
                    run["client"] = v.get("clientVersion", {}).get("gitVersion")
                    run["server"] = v.get("serverVersion", {}).get("gitVersion")
                except ValueError:
                    pass
            with self.lock:
                self.kubectl_runs.append(run)

    def kubectl_phase(self, phase, kubectl):
        threads = []
        for sid in IDS:
            t = threading.Thread(target=self.run_kubectl, args=(phase, sid, kubectl), daemon=True,
                                 name=f"kubectl-{phase}-{sid}")
            t.start()
            threads.append(t)
            self.threads.append(t)
        return threads

    # -- lifecycle ----------------------------------------------------------------------

    def start_watches(self, deadline_s=20.0):
        """One watch per sidecar and the /debug/peers poller; returns once every watch
        is established (False if not within the deadline)."""
        for sid in IDS:
            self._spawn(f"watch-{sid}", self._watch, sid)
        self._spawn("peers-poller", self._poll_peers)
        end = time.monotonic() + deadline_s
        while not all(any(x["status"] == 200 for x in self.watch_sessions[s]) for s in IDS):
            if time.monotonic() > end:
                return False
            time.sleep(0.05)
        return True

    def start_load(self):
        for sid in IDS:
            for cls in CLASS_ORDER:
                self._spawn(f"steady-{sid}-{cls}", self._steady, sid, cls)
        self._spawn("churn", self._churn)

    def stop_writers(self, timeout=15.0):
        """Ends steady load and churn (churn deletes what it still holds)."""
        self.stop_load.set()
        end = time.monotonic() + timeout
        for t in self.threads:
            if t.name.startswith(("steady-", "churn")):
                t.join(max(0.0, end - time.monotonic()))

    def expected_events(self):
        with self.lock:
            exp = set()
            for name, o in self.objects.items():
                exp.add(("ADDED", name))
                if o["deleted"] is not None:
                    exp.add(("DELETED", name))
            return exp

    def seen_events(self, sid):
        with self.lock:
            return {(e[1], e[2]) for e in self.watch_events[sid] if e[1] in ("ADDED", "DELETED")}

    def wait_settled(self, timeout):
        """Polls until every watch has seen every acknowledged create and delete."""
        end = time.monotonic() + timeout
        while True:
            exp = self.expected_events()
            missing = {s: exp - self.seen_events(s) for s in IDS}
            if not any(missing.values()) or time.monotonic() > end:
                return missing
            time.sleep(0.1)

    def stop(self, timeout=10.0):
        self.stop_load.set()
        self.stop_all.set()
        for go in self.bursts:
            go.set()
        self.interrupt_watches()
        with self.lock:
            procs = list(self.kubectl_procs)
        for p in procs:
            if p.poll() is None:
                kill_group(p)
        end = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, end - time.monotonic()))
