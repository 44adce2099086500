"""Watches through a sidecar with Debian's python3-kubernetes, as an operator's script
would: prints one line per event ("ADDED <name>"), flushed, after a "watching" line.

usage: watch.py KUBECONFIG SERVER core|custom NAMESPACE [GROUP VERSION PLURAL]
"""
import sys

import kubernetes
from kubernetes import client, config, watch


def main():
    kubeconfig, server, kind, namespace = sys.argv[1:5]
    config.load_kube_config(config_file=kubeconfig)
    conf = client.Configuration.get_default_copy()
    conf.host = server
    api_client = client.ApiClient(conf)
    print("client python-kubernetes", kubernetes.__version__, flush=True)
    if kind == "core":
        lister = client.CoreV1Api(api_client).list_namespaced_config_map
        args = {"namespace": namespace}
    else:
        group, version, plural = sys.argv[5:8]
        lister = client.CustomObjectsApi(api_client).list_namespaced_custom_object
        args = {"group": group, "version": version, "namespace": namespace, "plural": plural}
    # The client sends watch=True (capitalised), which the apiserver reads as true.
    stream = watch.Watch().stream(lister, timeout_seconds=60, **args)
    print("watching", flush=True)
    for event in stream:
        obj = event["object"]
        name = obj["metadata"]["name"] if isinstance(obj, dict) else obj.metadata.name
        print(event["type"], name, flush=True)


if __name__ == "__main__":
    main()
