"""Helpers of scripts/upgrade-drill (Python 3 standard library only).

cluster   starts and stops the throwaway control plane (PKI, fake-apiserver, sidecars)
client    HTTPS client connections and the request log every measurement goes into
workload  the load the drill puts on the sidecars (steady, bursts, churn, watches, kubectl)
analysis  ground truth, classification, access-log matching, propagation times
report    the text report and the self-contained HTML page
"""
