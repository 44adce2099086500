"""What the benchmark serves and how its servers are configured: the backend's file
tree (small objects, a ~50 MiB pod LIST generated at run time, discovery documents
from tests/fixtures/discovery) and the rendered nginx/haproxy configurations."""
import copy
import json
import os
import shutil

FIXTURES = "tests/fixtures/discovery"
SMALL_PATH = "/api/v1/namespaces/default/configmaps/small"
PEER_PATH = "/apis/bench.mvproxy.io/v1/namespaces/default/widgets/small"
LIST_PATH = "/api/v1/pods"  # chunked, like kube-apiserver's LIST
LIST_CL_PATH = "/api/v1/namespaces/default/pods"  # the same bytes with Content-Length
WATCH_PATH = "/api/v1/namespaces/default/pods?watch=true&allowWatchBookmarks=true"
# The HTTP/2 watches ask, as client-go's reflector does with WatchListClient, for the
# initial events; the watch backend answers with the one BOOKMARK that ends them for an
# empty collection. nginx 1.22 holds an HTTP/2 response head until the first body
# byte, so without it nginx's watches would never open.
WATCH_LIST_PATH = WATCH_PATH + "&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
# What every server is told to negotiate (and what OpenSSL clients such as wrk and
# curl offer first, so a server that keeps OpenSSL's defaults picks it too).
CIPHERSUITE = "TLS_AES_256_GCM_SHA384"

PEER_GROUP = {
    "metadata": {"name": "bench.mvproxy.io", "creationTimestamp": None},
    "versions": [{
        "version": "v1", "freshness": "Current",
        "resources": [{
            "resource": "widgets", "singularResource": "widget", "scope": "Namespaced",
            "responseKind": {"group": "bench.mvproxy.io", "version": "v1", "kind": "Widget"},
            "verbs": ["get", "list", "watch"],
        }],
    }],
}


def _fixture(root, name):
    with open(os.path.join(root, FIXTURES, name)) as f:
        return json.load(f)


def _write(path, doc):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        if isinstance(doc, str):
            f.write(doc)
        else:
            json.dump(doc, f, separators=(",", ":"))


def small_object(kind, api_version, name):
    """A ~1 KiB object, the size of a typical ConfigMap GET."""
    obj = {"kind": kind, "apiVersion": api_version,
           "metadata": {"name": name, "namespace": "default", "uid": "5c2d7c1e-8f43-4f8e-9a36-2f1d1b6b9d10",
                        "resourceVersion": "123456", "creationTimestamp": "2026-06-15T04:14:53Z",
                        "labels": {"app.kubernetes.io/name": "bench"}},
           "data": {}}
    i = 0
    while len(json.dumps(obj, separators=(",", ":"))) < 1000:
        obj["data"][f"key-{i}"] = "v" * 40
        i += 1
    return obj


def pod_list(root, min_bytes):
    """A PodList of at least min_bytes (as compact JSON text), from the kind cluster's
    kube-system pods with fresh names, as a real LIST of a big namespace looks."""
    fixture = _fixture(root, "pod-list-kube-system-v1.36.2-kind.json")
    # Each pod is serialized once with markers, then only the markers change.
    templates = []
    for pod in fixture["items"]:
        pod = copy.deepcopy(pod)
        pod["metadata"]["name"] += "-@N@"
        pod["metadata"]["uid"] = "00000000-0000-4000-8000-@UID@"
        templates.append(json.dumps(pod, separators=(",", ":")))
    items, size, n = [], 0, 0
    while size < min_bytes:
        item = templates[n % len(templates)].replace("@N@", str(n)).replace("@UID@", f"{n:012d}")
        items.append(item)
        size += len(item) + 1
        n += 1
    head = dict(fixture)
    head["items"] = []
    head_text = json.dumps(head, separators=(",", ":"))
    assert head_text.endswith('"items":[]}'), "items must be the PodList's last field"
    return head_text[:-len("[]}")] + "[" + ",".join(items) + "]}"


def core_aggregated(legacy, api_version):
    """/api as aggregated discovery, built from the legacy /api/v1 resource list."""
    resources = {}
    for r in legacy["resources"]:
        name, _, sub = r["name"].partition("/")
        kind = {"group": "", "version": "", "kind": r["kind"]}
        if sub:
            resources.setdefault(name, {"resource": name, "subresources": []})
            resources[name].setdefault("subresources", []).append(
                {"subresource": sub, "responseKind": kind, "verbs": r["verbs"]})
            continue
        entry = resources.setdefault(name, {"resource": name, "subresources": []})
        entry.update({"responseKind": kind, "scope": "Namespaced" if r["namespaced"] else "Cluster",
                      "singularResource": r.get("singularName") or r["kind"].lower(), "verbs": r["verbs"]})
        for k in ("shortNames", "categories"):
            if k in r:
                entry[k] = r[k]
    return {"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{api_version}",
            "metadata": {},
            "items": [{"metadata": {"creationTimestamp": None},
                       "versions": [{"version": "v1", "freshness": "Current",
                                     "resources": [r for r in resources.values() if "verbs" in r]}]}]}


def make_data(root, data_dir, list_bytes):
    """data/a is apiserver A, data/b apiserver B (A's documents plus the widgets
    group that only B serves, which the peer route asks for)."""
    shutil.rmtree(data_dir, ignore_errors=True)
    a, b = os.path.join(data_dir, "a"), os.path.join(data_dir, "b")
    legacy_v1 = _fixture(root, "legacy-api-v1-resourcelist-v1.21.json")
    apis_v2 = _fixture(root, "aggregated-apis-v2-allapis-v1.31-dev-0209a4c.json")
    apis_v2beta1 = _fixture(root, "aggregated-apis-v2beta1-allapis-v1.31-dev-0209a4c.json")
    apis_legacy = _fixture(root, "legacy-apis-grouplist-allapis-v1.30-dev-c25b1ef.json")
    common = {
        "discovery/api.v2": core_aggregated(legacy_v1, "v2"),
        "discovery/api.v2beta1": core_aggregated(legacy_v1, "v2beta1"),
        "discovery/api.legacy": _fixture(root, "legacy-api-versions-v1.21.json"),
        "discovery/api-v1.legacy": legacy_v1,
        "discovery/version.legacy": _fixture(root, "version-v1.21.json"),
        SMALL_PATH.lstrip("/"): small_object("ConfigMap", "v1", "small"),
    }
    for tree in (a, b):
        for rel, doc in common.items():
            _write(os.path.join(tree, rel), doc)
    _write(os.path.join(a, "discovery/apis.v2"), apis_v2)
    _write(os.path.join(a, "discovery/apis.v2beta1"), apis_v2beta1)
    _write(os.path.join(a, "discovery/apis.legacy"), apis_legacy)
    for doc in (apis_v2, apis_v2beta1):
        doc["items"].append(PEER_GROUP)
    apis_legacy["groups"].append({"name": "bench.mvproxy.io",
                                  "versions": [{"groupVersion": "bench.mvproxy.io/v1", "version": "v1"}],
                                  "preferredVersion": {"groupVersion": "bench.mvproxy.io/v1", "version": "v1"}})
    _write(os.path.join(b, "discovery/apis.v2"), apis_v2)
    _write(os.path.join(b, "discovery/apis.v2beta1"), apis_v2beta1)
    _write(os.path.join(b, "discovery/apis.legacy"), apis_legacy)
    _write(os.path.join(b, PEER_PATH.lstrip("/")), small_object("Widget", "bench.mvproxy.io/v1", "small"))

    list_file = os.path.join(a, LIST_PATH.lstrip("/"))
    _write(list_file, pod_list(root, list_bytes))
    for tree, path in ((a, LIST_CL_PATH), (b, LIST_PATH), (b, LIST_CL_PATH)):
        os.link(list_file, os.path.join(tree, path.lstrip("/")))

    with open(os.path.join(root, FIXTURES, "watch-pods-kube-system-v1.36.2-kind.jsonl")) as f:
        event = json.loads(f.readline())
    event["type"] = "MODIFIED"
    _write(os.path.join(data_dir, "watch-event.json"), json.dumps(event, separators=(",", ":")) + "\n")
    return os.path.getsize(list_file)


def render(template_path, out_path, values):
    with open(template_path) as f:
        text = f.read()
    for k, v in values.items():
        text = text.replace(f"@@{k}@@", str(v))
    if "@@" in text:
        raise RuntimeError(f"{template_path}: unfilled placeholder near {text[text.index('@@'):][:40]}")
    with open(out_path, "w") as f:
        f.write(text)


def combined_pem(pki, name, out_path):
    """haproxy wants certificate and key in one file."""
    with open(out_path, "w") as out:
        for ext in ("crt", "key"):
            with open(os.path.join(pki, f"{name}.{ext}")) as f:
                out.write(f.read())
    os.chmod(out_path, 0o600)
