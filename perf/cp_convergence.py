#!/usr/bin/python3
"""strait-cp under many proxies: N simulated proxies (one asyncio HTTP/2 connection each,
speaking the discovery stream of docs/discovery-protocol.md with python3-h2, not N processes)
subscribe to a group and ACK what they are sent; then the group's endpoints file is rewritten R
times and, for each change, every proxy's time from the write to its ACK of the new endpoints
version is recorded. Reports p50/p99/max convergence per N, the time to the last ACK, and
strait-cp's RSS with N proxies connected.

  perf/cp_convergence.py [--proxies 100,1000] [--rounds 5] [--watch-interval 100ms]

Needs a build (build/bin/strait-cp). The convergence time includes the source watch: a change
is read once the directory stayed the same for one more --watch-interval.
"""

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import h2.config
import h2.connection
import h2.events

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TYPES = ("clusters", "endpoints", "listeners", "routes")

LISTENERS = """listeners:
  - name: inbound
    address: 127.0.0.1
    port: 15006
    virtual_hosts:
      - name: all
        domains: ["*"]
        routes: [{match: {prefix: /}, route: {cluster: c0}}]
"""


def clusters_yaml(clusters, base_port):
    lines = ["clusters:"]
    for c in range(clusters):
        lines.append("  - name: c%d" % c)
        lines.append("    endpoints: [{address: 10.0.%d.1, port: %d}, {address: 10.0.%d.2, port: %d}]"
                     % (c % 250, base_port, c % 250, base_port))
    return "\n".join(lines) + "\n"


def replace_file(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


class Proxy:
    """One simulated proxy: a discovery stream that ACKs every response."""

    def __init__(self, index, port, on_response):
        self.index = index
        self.port = port
        self.on_response = on_response
        self.versions = {}
        self.buffer = b""

    def request(self, type_name, version="", nonce=""):
        body = {"node": {"id": "proxy-%d" % self.index, "cluster": "mesh"},
                "type_url": "type.strait.dev/" + type_name,
                "version_info": version, "response_nonce": nonce}
        return (json.dumps(body) + "\n").encode()

    async def run(self, ready):
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        conn.increment_flow_control_window(1 << 30)
        stream = conn.get_next_available_stream_id()
        conn.send_headers(stream, [(":method", "POST"), (":scheme", "http"),
                                   (":authority", "127.0.0.1"), (":path", "/v1/discovery"),
                                   ("content-type", "application/x-ndjson")])
        conn.send_data(stream, b"".join(self.request(t) for t in TYPES))
        writer.write(conn.data_to_send())
        await writer.drain()
        while True:
            data = await reader.read(65536)
            if not data:
                return
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.DataReceived):
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    self.buffer += event.data
                    while b"\n" in self.buffer:
                        line, self.buffer = self.buffer.split(b"\n", 1)
                        response = json.loads(line)
                        type_name = response["type_url"].rsplit("/", 1)[1]
                        self.versions[type_name] = response["version_info"]
                        conn.send_data(stream, self.request(
                            type_name, response["version_info"], response["nonce"]))
                        self.on_response(self, type_name, response["version_info"])
                        if len(self.versions) == len(TYPES):
                            ready.set()
                elif isinstance(event, h2.events.StreamEnded):
                    return
            out = conn.data_to_send()
            if out:
                writer.write(out)
                await writer.drain()


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100.0 * (len(ordered) - 1))))]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def measure(binary, proxies, rounds, watch, clusters):
    work = tempfile.mkdtemp(prefix="strait-cp-bench-")
    source = os.path.join(work, "source", "mesh")
    os.makedirs(source)
    replace_file(os.path.join(source, "listeners.yaml"), LISTENERS)
    replace_file(os.path.join(source, "clusters.yaml"), clusters_yaml(clusters, 8000))
    ports = os.path.join(work, "ports")
    cp = subprocess.Popen([binary, "--source", os.path.dirname(source), "--listen", "127.0.0.1:0",
                           "--admin", "127.0.0.1:0", "--ports-file", ports,
                           "--watch-interval", watch],
                          stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "cp.log"), "w"))
    try:
        for _ in range(200):
            if os.path.exists(ports):
                break
            await asyncio.sleep(0.05)
        port = int(dict(l.split() for l in open(ports).read().splitlines())["discovery"])
        target = {"version": None, "start": 0.0}
        done = {}

        def on_response(proxy, type_name, version):
            if type_name == "endpoints" and version == target["version"] and proxy.index not in done:
                done[proxy.index] = time.monotonic() - target["start"]

        fleet = [Proxy(i, port, on_response) for i in range(proxies)]
        readies = [asyncio.Event() for _ in fleet]
        tasks = []
        for proxy, ready in zip(fleet, readies):
            tasks.append(asyncio.create_task(proxy.run(ready)))
            if len(tasks) % 100 == 0:
                await asyncio.sleep(0)  # (let the connects go out in waves)
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), timeout=300)
        rss = rss_kib(cp.pid)
        results = []
        for r in range(rounds):
            done.clear()
            replace_file(os.path.join(source, "clusters.yaml"), clusters_yaml(clusters, 8001 + r))
            target["start"] = time.monotonic()
            # The version strait-cp will publish: read it from the first proxy to get it.
            target["version"] = None
            deadline = time.monotonic() + 120
            first = fleet[0].versions.get("endpoints")
            while fleet[0].versions.get("endpoints") == first:
                if time.monotonic() > deadline:
                    raise RuntimeError("no push within 120 s")
                await asyncio.sleep(0.001)
            target["version"] = fleet[0].versions["endpoints"]
            for proxy in fleet:  # those that already had it when the version became known
                if proxy.versions.get("endpoints") == target["version"] and proxy.index not in done:
                    done[proxy.index] = time.monotonic() - target["start"]
            while len(done) < proxies:
                if time.monotonic() > deadline:
                    raise RuntimeError("%d of %d proxies converged" % (len(done), proxies))
                await asyncio.sleep(0.001)
            results.extend(done.values())
            await asyncio.sleep(0.3)
        for task in tasks:
            task.cancel()
        return {"proxies": proxies, "rounds": rounds, "rss_kib": rss,
                "p50_ms": percentile(results, 50) * 1000, "p99_ms": percentile(results, 99) * 1000,
                "max_ms": max(results) * 1000}
    finally:
        cp.terminate()
        cp.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--proxies", default="100,1000")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clusters", type=int, default=50)
    parser.add_argument("--watch-interval", default="100ms")
    parser.add_argument("--binary", default=os.path.join(ROOT, "build", "bin", "strait-cp"))
    args = parser.parse_args()
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print("| proxies | rounds | convergence p50 | p99 | max (last ACK) | strait-cp RSS |")
    print("|---|---|---|---|---|---|")
    for n in (int(x) for x in args.proxies.split(",")):
        r = asyncio.run(measure(args.binary, n, args.rounds, args.watch_interval, args.clusters))
        print("| %d | %d | %.0f ms | %.0f ms | %.0f ms | %.1f MiB |" % (
            r["proxies"], r["rounds"], r["p50_ms"], r["p99_ms"], r["max_ms"],
            r["rss_kib"] / 1024.0))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
