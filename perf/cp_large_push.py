#!/usr/bin/python3
"""A large push into one real proxy: strait-cp serves a group of --clusters clusters and
--routes routes (a clusters file and a routes file); one strait takes it over the discovery
stream. Each round changes every route (a header value) in the routes file. Reports, side by
side, over --rounds rounds:

  - push: from strait-cp logging "published" to the proxy logging the version applied (the
    JSON path: the wire, the proxy assembling and validating the resources, its publish);
  - end to end: from the write of the source file to the proxy running it, which adds
    strait-cp's watch (debounce) and its read of the changed file;
  - the same config as a file reload of a proxy's static file (SIGHUP).

The source is written as YAML and, in a second pass, as JSON (strait-cp reads *.json files with
the JSON parser), so that the cost of yaml-cpp on the source side shows apart.

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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build", "bin")


def clusters_doc(clusters):
    return {"clusters": [{"name": "c%d" % c,
                          "endpoints": [{"address": "127.0.0.1", "port": 20000 + c}]}
                         for c in range(clusters)]}


def routes_doc(clusters, routes, tag):
    return {"listeners": [{
        "name": "inbound", "address": "127.0.0.1", "port": 0,
        "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
            {"match": {"path": "/r%d" % r}, "route": {"cluster": "c%d" % (r % clusters)},
             "request_headers_to_add": [{"name": "x-tag", "value": tag}]}
            for r in range(routes)]}]}]}


def yaml_text(doc):
    """Block YAML with one flow-style map per list item, as a person would write it."""
    out = []
    for key, items in doc.items():
        out.append(key + ":")
        for item in items:
            if key == "listeners":
                hosts = item["virtual_hosts"]
                out += ["  - name: %s" % item["name"], "    address: %s" % item["address"],
                        "    port: %d" % item["port"], "    virtual_hosts:"]
                for host in hosts:
                    out += ["      - name: %s" % host["name"], "        domains: [\"*\"]",
                            "        routes:"]
                    out += ["          - " + json.dumps(route) for route in host["routes"]]
            else:
                out.append("  - " + json.dumps(item))
    return "\n".join(out) + "\n"


def source_text(clusters, routes, tag):
    """The whole config as one YAML text (the static file of the reload side)."""
    return yaml_text(clusters_doc(clusters)) + yaml_text(routes_doc(clusters, routes, tag))


def write_source(group, fmt, clusters, routes, tag):
    """Writes the routes file (atomically); the clusters file too on the first call."""
    dump = (lambda d: json.dumps(d) + "\n") if fmt == "json" else yaml_text
    cpath = os.path.join(group, "clusters." + fmt)
    if not os.path.exists(cpath):
        with open(cpath, "w") as f:
            f.write(dump(clusters_doc(clusters)))
    path = os.path.join(group, "routes." + fmt)
    with open(path + ".tmp", "w") as f:
        f.write(dump(routes_doc(clusters, routes, tag)))
    os.replace(path + ".tmp", path)


class LogWatch:
    """Timestamps the lines of a log as they appear (polled every 2 ms) and hands them out in
    order: wait() returns the first line after the last one it returned that matches."""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.lines = []  # (monotonic time seen, line)
        self.next = 0

    def poll(self):
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        if b"\n" not in chunk:
            return
        chunk = chunk[:chunk.rindex(b"\n") + 1]
        self.offset += len(chunk)
        now = time.monotonic()
        self.lines += [(now, line) for line in chunk.decode(errors="replace").splitlines()]

    def skip(self):
        """Forgets every line seen so far."""
        self.poll()
        self.next = len(self.lines)

    def wait(self, pattern, timeout=120):
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            while self.next < len(self.lines):
                seen, line = self.lines[self.next]
                self.next += 1
                match = regex.search(line)
                if match:
                    return seen, match
            if time.monotonic() > deadline:
                raise RuntimeError("no line matching %r in %s" % (pattern, self.path))
            time.sleep(0.002)
            self.poll()


def wait_file(path, timeout=60):
    deadline = time.monotonic() + timeout
    while not (os.path.exists(path) and open(path).read().strip()):
        if time.monotonic() > deadline:
            raise RuntimeError("no " + path)
        time.sleep(0.01)
    return open(path).read().strip()


def start(procs, argv, log):
    proc = subprocess.Popen(argv, stderr=open(log, "w"))
    procs.append(proc)
    return proc


def push_rounds(work, procs, fmt, args):
    """strait-cp on a source written as `fmt`, one proxy; returns one row per round."""
    group = os.path.join(work, fmt, "source", "mesh")
    os.makedirs(group)
    write_source(group, fmt, args.clusters, args.routes, "v0")
    cp_log = os.path.join(work, fmt, "cp.log")
    ports_file = os.path.join(work, fmt, "ports")
    start(procs, [os.path.join(BIN, "strait-cp"), "--source", os.path.dirname(group),
                  "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--ports-file",
                  ports_file, "--watch-interval", "100ms"], cp_log)
    ports = dict(l.split() for l in wait_file(ports_file).splitlines())
    proxy_dir = os.path.join(work, fmt, "proxy")
    os.makedirs(proxy_dir)
    config = os.path.join(proxy_dir, "strait.yaml")
    with open(config, "w") as f:
        f.write("node: {id: p1, cluster: mesh}\nadmin: {address: 127.0.0.1, port: 0}\n"
                "workers: 1\ncontrol_plane: {address: 127.0.0.1:%s}\n" % ports["discovery"])
    log = os.path.join(proxy_dir, "strait.log")
    start(procs, [os.path.join(BIN, "strait"), "--config", config, "--admin-address-path",
                  os.path.join(proxy_dir, "admin")], log)
    cp_watch, proxy_watch = LogWatch(cp_log), LogWatch(log)
    proxy_watch.wait(r"config version \d+ applied \(control_plane")
    time.sleep(0.5)
    rows = []
    for r in range(args.rounds):
        cp_watch.skip()
        proxy_watch.skip()
        write_source(group, fmt, args.clusters, args.routes, "v%d" % (r + 1))
        written = time.monotonic()
        _, read = cp_watch.wait(r"source read in ([\d.]+) ms")
        published, _ = cp_watch.wait(r"group mesh: published")
        _, assembled = proxy_watch.wait(r"assembled and validated in ([\d.]+) ms")
        applied, match = proxy_watch.wait(
            r"config version \d+ applied \(control_plane[^)]*\) in ([\d.]+) ms")
        rows.append({"end_to_end": (applied - written) * 1000,
                     "push": (applied - published) * 1000,
                     "source_read": float(read.group(1)),
                     "assemble": float(assembled.group(1)),
                     "publish": float(match.group(1))})
        time.sleep(0.5)
    return rows


def reload_rounds(work, procs, args):
    static_dir = os.path.join(work, "static")
    os.makedirs(static_dir)
    static = os.path.join(static_dir, "strait.yaml")
    header = "admin: {address: 127.0.0.1, port: 0}\nworkers: 1\n"
    with open(static, "w") as f:
        f.write(header + source_text(args.clusters, args.routes, "s0"))
    log = os.path.join(static_dir, "strait.log")
    proxy = start(procs, [os.path.join(BIN, "strait"), "--config", static,
                          "--admin-address-path", os.path.join(static_dir, "admin")], log)
    watch = LogWatch(log)
    watch.wait(r"config version \d+ applied")
    rows = []
    for r in range(args.rounds):
        with open(static, "w") as f:
            f.write(header + source_text(args.clusters, args.routes, "s%d" % (r + 1)))
        watch.skip()
        begun = time.monotonic()
        proxy.send_signal(signal.SIGHUP)
        applied, match = watch.wait(r"config version \d+ applied \((?:sighup|file_change)[^)]*\) "
                                    r"in ([\d.]+) ms")
        rows.append({"end_to_end": (applied - begun) * 1000, "publish": float(match.group(1))})
        time.sleep(0.5)
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--routes", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="strait-large-push-")
    procs = []

    def median(rows, key):
        values = sorted(row[key] for row in rows)
        return values[len(values) // 2]

    try:
        results = {fmt: push_rounds(work, procs, fmt, args) for fmt in ("yaml", "json")}
        reloads = reload_rounds(work, procs, args)
        print("%d clusters, %d routes, %d rounds (medians)" %
              (args.clusters, args.routes, args.rounds))
        print("| path | push (published -> running) | of which assemble + validate | "
              "of which publish | strait-cp source read | end to end (write -> running) |")
        print("|---|---|---|---|---|---|")
        for fmt, rows in results.items():
            print("| strait-cp push, %s source | %.0f ms | %.0f ms | %.0f ms | %.0f ms | %.0f ms |" %
                  (fmt, median(rows, "push"), median(rows, "assemble"), median(rows, "publish"),
                   median(rows, "source_read"), median(rows, "end_to_end")))
        print("| file reload (SIGHUP -> running) | | | %.0f ms | | %.0f ms |" %
              (median(reloads, "publish"), median(reloads, "end_to_end")))
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
