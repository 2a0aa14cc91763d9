#!/usr/bin/env python3
"""The "full chain" of issue 5, in one place (standard library only).

Issue 5: "With the full chain of this issue's filters enabled on a route and not triggering,
requests/s on perf/compare.sh stays within 10% of the same route with no filters." The chain:
every built-in filter this build registers, on the listener (mtls_authz with an allow-all rule;
fault, when built, with every fault at 0%; bulkhead, when built, with room to spare), plus
circuit breakers and outlier detection on the cluster and a retry policy with a per-try timeout
on the route. Nothing triggers: the upstream answers every request 200.

Used by perf/filter_overhead.py (import) and by perf/compare.sh --strait-chain:

  filter_chain.py --strait BIN --workdir DIR --out CHAIN.yaml < PLAIN.yaml

reads a plain config, writes it with the chain added to CHAIN.yaml (the filters this build does
not register are left out: each is probed with `strait --validate`, the probe configs go to DIR)
and prints a one-line description of the chain.

  filter_chain.py --chain overload ...

writes issue 13's chain instead: adaptive_concurrency and load_shed on the listener, nothing on
the routes and clusters, neither triggering (the adaptive limit's floor is above any connection
count compare.sh uses, so it computes and samples but never refuses; load_shed with its defaults
sheds nothing while the process has CPU to spare and its worker keeps time).
"""

import argparse
import os
import re
import subprocess
import sys

MTLS_AUTHZ = ("        - name: mtls_authz\n"
              "          config: {rules: [{name: all, action: allow}]}\n")

OPTIONAL_FILTERS = {
    "fault": "        - name: fault\n"
             "          config: {delay: {fixed: 100ms, percent: 0}, abort: {status: 503, percent: 0},\n"
             "                   response_delay: {fixed: 100ms, percent: 0},\n"
             "                   response_rate_limit: {kbps: 1000, percent: 0},\n"
             "                   connection: {reset: 0, black_hole: 0}}\n",
    "bulkhead": "        - name: bulkhead\n"
                "          config:\n"
                "            compartments:\n"
                "              - {name: all, max_concurrent: 100000, max_queue: 0}\n",
}

OVERLOAD_FILTERS = ("        - name: load_shed\n"
                    "          config: {}\n"
                    "        - name: adaptive_concurrency\n"
                    "          config: {min_limit: 1000, max_limit: 5000, initial_limit: 1000}\n")

DESCRIPTIONS = {
    "mtls_authz": "mtls_authz (one allow-all rule)",
    "fault": "fault (delay, abort, response delay, response rate limit, connection faults, all at 0%)",
    "bulkhead": "bulkhead (max_concurrent 100000)",
}

ROUTE_RETRY = "retry: {on: [5xx, reset, connect-failure], attempts: 2, per_try_timeout: 5s}"

CLUSTER_LINES = ("    circuit_breakers: {max_requests: 100000, max_pending_requests: 100000}\n"
                 "    outlier_detection: {consecutive_5xx: 5, interval: 1s}\n")

HTTP_FLOW = re.compile(r"^    http: \{(.*)\}$")
ROUTE_FLOW = re.compile(r"^(\s+route: \{.*)\}$")


def add_chain(text, filters_text, policies=True):
    """`text` (a plain config) with the chain added: `filters_text` (filter list items indented by
    eight spaces) on every listener and, with `policies`, the retry policy on every route, circuit
    breakers and outlier detection on every cluster.

    `text` must have the shape perf/compare.sh and perf/filter_overhead.py write: listener keys
    indented by four spaces, a listener's `http:` either absent or a one-line flow mapping of
    scalars, each route a one-line `route: {...}`, each cluster's `endpoints:` on one line.
    Anything else raises ValueError rather than giving a config without the chain."""
    out = []
    counts = {"listeners": 0, "routes": 0, "clusters": 0}
    http_done = False
    for line in text.splitlines():
        if line.startswith("  - name: "):
            http_done = False
        m = HTTP_FLOW.match(line)
        if m:
            items = m.group(1).split(", ") if m.group(1).strip() else []
            if any(c in m.group(1) for c in "{}[]"):
                raise ValueError("add_chain: nested value in the listener's http mapping: " + line)
            out.append("    http:")
            out.extend("      " + item for item in items)
            out.append("      filters:")
            out.extend(filters_text.rstrip("\n").split("\n"))
            http_done = True
            counts["listeners"] += 1
            continue
        if line.rstrip() == "    http:":
            raise ValueError("add_chain: a block-style listener http mapping is not supported")
        if line == "    virtual_hosts:" and not http_done:
            out.append("    http:")
            out.append("      filters:")
            out.extend(filters_text.rstrip("\n").split("\n"))
            http_done = True
            counts["listeners"] += 1
        m = ROUTE_FLOW.match(line) if policies else None
        if m:
            out.append(m.group(1) + ", " + ROUTE_RETRY + "}")
            counts["routes"] += 1
            continue
        out.append(line)
        if policies and line.startswith("    endpoints: "):
            out.extend(CLUSTER_LINES.rstrip("\n").split("\n"))
            counts["clusters"] += 1
    missing = [k for k, n in counts.items() if n == 0 and (policies or k == "listeners")]
    if missing:
        raise ValueError("add_chain: found no " + ", ".join(missing) + " to add the chain to")
    return "\n".join(out) + "\n"


def registered_filters(strait_bin, workdir, plain_text):
    """The chain's listener filters this build accepts (probed with `strait --validate` on
    `plain_text` with the chain added), mtls_authz always: (filters_text, names)."""
    text = MTLS_AUTHZ
    names = ["mtls_authz"]
    for name, snippet in OPTIONAL_FILTERS.items():
        path = os.path.join(workdir, "probe-%s.yaml" % name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(add_chain(plain_text, text + snippet))
        ok = subprocess.run([strait_bin, "--validate", "--config", path],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
        if ok:
            text += snippet
            names.append(name)
    return text, names


def describe(names):
    return ("listener filters %s; route retry (2 attempts, per_try_timeout 5s); cluster "
            "circuit_breakers and outlier_detection; nothing triggers" %
            ", ".join(DESCRIPTIONS.get(n, n) for n in names))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--strait", required=True, help="the strait binary (probes the optional filters)")
    ap.add_argument("--workdir", required=True, help="where the probe configs go")
    ap.add_argument("--out", required=True, help="the config with the chain")
    ap.add_argument("--chain", choices=("full", "overload"), default="full")
    args = ap.parse_args()
    plain = sys.stdin.read()
    if args.chain == "overload":
        text = add_chain(plain, OVERLOAD_FILTERS, policies=False)
        description = ("listener filters load_shed (defaults) and adaptive_concurrency (gradient, "
                       "min_limit 1000: computes, never refuses); nothing triggers")
    else:
        filters_text, names = registered_filters(args.strait, args.workdir, plain)
        text = add_chain(plain, filters_text)
        description = describe(names)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    check = subprocess.run([args.strait, "--validate", "--config", args.out],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if check.returncode != 0:
        print("filter_chain.py: %s is not valid:\n%s" % (args.out, check.stderr), file=sys.stderr)
        return 1
    print(description)
    return 0


if __name__ == "__main__":
    sys.exit(main())
