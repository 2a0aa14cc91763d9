#!/usr/bin/python3
"""What proxies' behaviour reports cost strait-cp (issue 12, docs/discovery-protocol.md
"Reports"). One real strait-cp serves group edge, --clusters clusters of --endpoints endpoints
each (a JSON source); --proxies long-poll clients register as its nodes and each sends one
report of every cluster (POST /v1/report, the same line a proxy writes on its stream), with the
first endpoint of every cluster ejected by most of them, so every cluster has a finding.

Side by side in one run, medians over --rounds:
  - GET /status and GET /metrics before any report (the baseline) and with every node's report
    held (each read evaluates every fresh report: findings);
  - one report's round trip (parse, store, track the locality share) and its size.

  perf/cp_reports.py [--clusters 1000] [--endpoints 10] [--proxies 20] [--rounds 5]
"""

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build", "bin")


def address(c, e):
    return "10.%d.%d.%d" % (c // 250, c % 250, e + 1)


def source(clusters, endpoints):
    return {"clusters": [{
        "name": "c%d" % c,
        "endpoints": [{"address": address(c, e), "port": 8080, "weight": 1,
                       "locality": {"region": "r", "zone": "z%d" % (e % 3)}}
                      for e in range(endpoints)]} for c in range(clusters)]}


def report(node, clusters, endpoints, ejecting):
    return json.dumps({"report": {
        "node": {"id": node, "cluster": "edge"}, "interval_ms": 600000, "window_ms": 10000,
        "applied": {},
        "clusters": [{
            "name": "c%d" % c,
            "endpoints": [{"address": "%s:8080" % address(c, e), "locality": "r/z%d" % (e % 3),
                           "health": "healthy", "ejected": ejecting and e == 0,
                           "requests": 10, "errors": 0} for e in range(endpoints)],
            "breakers_open": [], "locality_weights": {}} for c in range(clusters)]}})


def request(port, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        start = time.perf_counter()
        conn.request(method, path, body=body)
        response = conn.getresponse()
        data = response.read()
        return response.status, data, time.perf_counter() - start
    finally:
        conn.close()


def wait_file(path, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return open(path).read()
        time.sleep(0.05)
    raise RuntimeError("no " + path)


def reads(admin, rounds):
    status = [request(admin, "GET", "/status?format=json")[2] for _ in range(rounds)]
    metrics = [request(admin, "GET", "/metrics")[2] for _ in range(rounds)]
    return statistics.median(status), statistics.median(metrics)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--endpoints", type=int, default=10)
    parser.add_argument("--proxies", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="strait-cp-reports-")
    os.makedirs(os.path.join(work, "source", "edge"))
    with open(os.path.join(work, "source", "edge", "clusters.json"), "w") as f:
        json.dump(source(args.clusters, args.endpoints), f)
    ports_file = os.path.join(work, "ports")
    cp = subprocess.Popen([os.path.join(BIN, "strait-cp"), "--source", os.path.join(work, "source"),
                           "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
                           "--ports-file", ports_file, "--hold", "1s"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_file(ports_file)
        time.sleep(0.2)  # the ports file is renamed into place whole; read it again to be sure
        ports = dict(line.split() for line in open(ports_file).read().splitlines() if line)
        discovery, admin = int(ports["discovery"]), int(ports["admin"])
        while request(admin, "GET", "/ready")[0] != 200:
            time.sleep(0.05)
        nodes = ["p%d" % i for i in range(args.proxies)]
        for node in nodes:
            code, _, _ = request(discovery, "POST", "/v1/discovery/clusters",
                                 json.dumps({"node": {"id": node, "cluster": "edge"}}))
            assert code == 200, code
        base_status, base_metrics = reads(admin, args.rounds)
        posts = []
        size = 0
        for i, node in enumerate(nodes):
            line = report(node, args.clusters, args.endpoints, ejecting=i % 4 != 0)
            size = len(line)
            code, body, elapsed = request(discovery, "POST", "/v1/report", line)
            assert code == 204, (code, body[:200])
            posts.append(elapsed)
        status, metrics = reads(admin, args.rounds)
        findings = len(json.loads(request(admin, "GET", "/status?format=json")[1])["findings"])
        print("strait-cp with %d nodes, %d clusters x %d endpoints, medians of %d" %
              (args.proxies, args.clusters, args.endpoints, args.rounds))
        print("report: %d bytes, POST /v1/report round trip p50 %.1f ms, max %.1f ms" %
              (size, 1000 * statistics.median(posts), 1000 * max(posts)))
        print("findings: %d" % findings)
        print("%-10s %14s %18s %8s" % ("read", "no reports ms", "with reports ms", "ratio"))
        for name, before, after in (("/status", base_status, status),
                                    ("/metrics", base_metrics, metrics)):
            print("%-10s %14.1f %18.1f %8.2f" % (name, 1000 * before, 1000 * after, after / before))
    finally:
        cp.terminate()
        cp.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
