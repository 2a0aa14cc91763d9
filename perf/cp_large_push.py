#!/usr/bin/python3
"""A large push into one real proxy: strait-cp serves a group of --clusters clusters and
--routes routes; one strait takes it over the discovery stream. Reports, side by side, the time
from a change of the source (every route's body) to the proxy running it, and the time the same
config takes as a file reload of that proxy's static file (SIGHUP), with the proxy's own
"applied in X ms" for each, over --rounds rounds.

  perf/cp_large_push.py [--clusters 1000] [--routes 10000] [--rounds 3]
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build", "bin")


def source_text(clusters, routes, tag):
    out = ["clusters:"]
    for c in range(clusters):
        out.append("  - {name: c%d, endpoints: [{address: 127.0.0.1, port: %d}]}" % (c, 20000 + c))
    out += ["listeners:", "  - name: inbound", "    address: 127.0.0.1", "    port: 0",
            "    virtual_hosts:", "      - name: all", "        domains: [\"*\"]",
            "        routes:"]
    for r in range(routes):
        out.append("          - {match: {path: /r%d}, route: {cluster: c%d}, "
                   "request_headers_to_add: [{name: x-tag, value: \"%s\"}]}"
                   % (r, r % clusters, tag))
    return "\n".join(out) + "\n"


def get(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def wait_file(path, timeout=60):
    deadline = time.monotonic() + timeout
    while not (os.path.exists(path) and open(path).read().strip()):
        if time.monotonic() > deadline:
            raise RuntimeError("no " + path)
        time.sleep(0.01)
    return open(path).read().strip()


def wait_applied(log_path, version, source, timeout=120):
    """Polls the proxy's log (cheap, unlike /config_dump of 10,000 routes) for the line of
    `version` applied by `source`."""
    pattern = re.compile(r"config version %d applied \((%s)" % (version, source))
    deadline = time.monotonic() + timeout
    while not pattern.search(open(log_path).read()):
        if time.monotonic() > deadline:
            raise RuntimeError("version %d not applied" % version)
        time.sleep(0.002)


def applied_ms(log_path, version):
    text = open(log_path).read()
    match = re.search(r"config version %d applied \([^)]*\) in ([\d.]+) ms" % version, text)
    return float(match.group(1)) if match else float("nan")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--routes", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="strait-large-push-")
    procs = []
    try:
        group = os.path.join(work, "source", "mesh")
        os.makedirs(group)
        path = os.path.join(group, "mesh.yaml")
        with open(path, "w") as f:
            f.write(source_text(args.clusters, args.routes, "v0"))
        cp = subprocess.Popen([os.path.join(BIN, "strait-cp"), "--source", os.path.dirname(group),
                               "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
                               "--ports-file", os.path.join(work, "ports"),
                               "--watch-interval", "100ms"],
                              stderr=open(os.path.join(work, "cp.log"), "w"))
        procs.append(cp)
        ports = dict(l.split() for l in wait_file(os.path.join(work, "ports")).splitlines())
        proxy_dir = os.path.join(work, "proxy")
        os.makedirs(proxy_dir)
        config = os.path.join(proxy_dir, "strait.yaml")
        with open(config, "w") as f:
            f.write("node: {id: p1, cluster: mesh}\nadmin: {address: 127.0.0.1, port: 0}\n"
                    "workers: 1\ncontrol_plane: {address: 127.0.0.1:%s}\n" % ports["discovery"])
        log = os.path.join(proxy_dir, "strait.log")
        proxy = subprocess.Popen([os.path.join(BIN, "strait"), "--config", config,
                                  "--admin-address-path", os.path.join(proxy_dir, "admin")],
                                 stderr=open(log, "w"))
        procs.append(proxy)
        admin = "http://" + wait_file(os.path.join(proxy_dir, "admin"))

        def proxy_routes_version():
            dump = json.loads(get(admin + "/config_dump"))
            return dump.get("control_plane", {}).get("versions", {}).get("routes"), dump["version"]

        def cp_routes_version():
            status = json.loads(get("http://127.0.0.1:%s/status" % ports["admin"]))
            return status["groups"].get("mesh", {}).get("versions", {}).get("routes")

        deadline = time.monotonic() + 120
        while proxy_routes_version()[0] is None or proxy_routes_version()[0] != cp_routes_version():
            if time.monotonic() > deadline:
                raise RuntimeError("the first push did not arrive")
            time.sleep(0.05)
        pushes = []
        snapshot = proxy_routes_version()[1]
        for r in range(args.rounds):
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                f.write(source_text(args.clusters, args.routes, "v%d" % (r + 1)))
            start = time.monotonic()
            os.replace(tmp, path)
            snapshot += 1
            wait_applied(log, snapshot, "control_plane")
            pushes.append(((time.monotonic() - start) * 1000, applied_ms(log, snapshot)))
            time.sleep(0.5)
        # The same config as the proxy's static file, reloaded by SIGHUP.
        static_dir = os.path.join(work, "static")
        os.makedirs(static_dir)
        static = os.path.join(static_dir, "strait.yaml")
        with open(static, "w") as f:
            f.write("admin: {address: 127.0.0.1, port: 0}\nworkers: 1\n" +
                    source_text(args.clusters, args.routes, "s0"))
        slog = os.path.join(static_dir, "strait.log")
        sproxy = subprocess.Popen([os.path.join(BIN, "strait"), "--config", static,
                                   "--admin-address-path", os.path.join(static_dir, "admin")],
                                  stderr=open(slog, "w"))
        procs.append(sproxy)
        sadmin = "http://" + wait_file(os.path.join(static_dir, "admin"))
        reloads = []
        version = json.loads(get(sadmin + "/config_dump"))["version"]
        for r in range(args.rounds):
            with open(static, "w") as f:
                f.write("admin: {address: 127.0.0.1, port: 0}\nworkers: 1\n" +
                        source_text(args.clusters, args.routes, "s%d" % (r + 1)))
            start = time.monotonic()
            sproxy.send_signal(signal.SIGHUP)
            version += 1
            wait_applied(slog, version, "sighup|file_change")
            reloads.append(((time.monotonic() - start) * 1000, applied_ms(slog, version)))
            time.sleep(0.5)
        print("%d clusters, %d routes, %d rounds (median of each column)" %
              (args.clusters, args.routes, args.rounds))
        print("| path | end to end | of which the proxy's publish |")
        print("|---|---|---|")

        def median(values):
            return sorted(values)[len(values) // 2]

        print("| strait-cp push (source change -> running) | %.0f ms | %.0f ms |" %
              (median([p[0] for p in pushes]), median([p[1] for p in pushes])))
        print("| file reload (SIGHUP -> running) | %.0f ms | %.0f ms |" %
              (median([p[0] for p in reloads]), median([p[1] for p in reloads])))
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
