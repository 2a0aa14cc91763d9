#!/usr/bin/env python3
"""Reload at scale: how long from a config file change to the new config applied, with 10,000
routes and 1,000 clusters (issue 3). Starts build/bin/strait on a generated config, replaces the
file the way an editor does (write + rename) with a changed version, and reads the time the proxy
logged for "config version N applied". Prints the measurements; --write appends them to
perf/RESULTS.md.

  perf/reload_scale.py [--routes 10000] [--clusters 1000] [--rounds 5] [--write]
"""

import argparse
import datetime
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STRAIT = os.path.join(ROOT, "build", "bin", "strait")


def generate(routes, clusters, tag):
    lines = ["admin: {address: 127.0.0.1, port: 0}", "workers: 2", "listeners:",
             "  - name: main", "    address: 127.0.0.1", "    port: 0", "    virtual_hosts:"]
    per_vhost = 100
    for v in range(routes // per_vhost):
        lines += ["      - name: vh%d" % v,
                  "        domains: [\"h%d.example.com\"%s]" % (v, ', "*"' if v == 0 else ""),
                  "        routes:"]
        for r in range(per_vhost):
            i = v * per_vhost + r
            lines += ["          - match: {prefix: /svc%d/, headers: [{name: x-tenant, exact: t%d}]}" % (i, i % 7),
                      "            route: {cluster: c%d, timeout: 5s}" % (i % clusters),
                      "            request_headers_to_add: [{name: x-tag, value: \"%s\"}]" % tag]
    lines.append("clusters:")
    for c in range(clusters):
        lines += ["  - name: c%d" % c,
                  "    endpoints: [{address: 127.0.0.1, port: %d}]" % (20000 + c % 1000),
                  "    connect_timeout: 1s"]
    return "\n".join(lines) + "\n"


APPLIED = re.compile(r"^\[(\S+)Z\] \[info\] config version (\d+) applied \(([^)]*)\) in ([\d.]+) ms: "
                     r"parse and validate ([\d.]+) ms, build and publish ([\d.]+) ms")


def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise RuntimeError("timed out")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=int, default=10000)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="append the results to perf/RESULTS.md")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="strait-reload-scale-")
    config = os.path.join(workdir, "strait.yaml")
    log_path = os.path.join(workdir, "strait.log")
    with open(config, "w") as f:
        f.write(generate(args.routes, args.clusters, "v0"))
    size_mb = os.path.getsize(config) / 1e6
    log = open(log_path, "w")
    proc = subprocess.Popen([STRAIT, "--config", config, "--admin-address-path",
                             os.path.join(workdir, "admin")], stderr=log, stdout=log)
    results = []
    try:
        started = time.monotonic()
        wait_for(lambda: os.path.exists(os.path.join(workdir, "admin")), 120)
        startup_s = time.monotonic() - started
        for round_ in range(1, args.rounds + 1):
            text = generate(args.routes, args.clusters, "v%d" % round_)
            tmp = config + ".tmp"
            with open(tmp, "w") as f:
                f.write(text)
            changed_at = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
            os.replace(tmp, config)

            def applied():
                with open(log_path) as f:
                    for line in f:
                        m = APPLIED.match(line)
                        if m and int(m.group(2)) == round_ + 1:
                            return m
                return None
            m = wait_for(applied, 60)
            applied_at = datetime.datetime.fromisoformat(m.group(1))
            latency_ms = (applied_at - changed_at).total_seconds() * 1000
            results.append((latency_ms, float(m.group(4)), float(m.group(5)), float(m.group(6))))
            print("round %d: file change -> applied %.0f ms (reload %.0f ms: parse+validate %.0f, "
                  "build+publish %.0f; includes the watcher's 100 ms debounce)" %
                  (round_, latency_ms, results[-1][1], results[-1][2], results[-1][3]))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)

    med = [statistics.median(col) for col in zip(*results)]
    worst = max(r[0] for r in results)
    summary = (
        "\n## Reload at scale (`perf/reload_scale.py`)\n\n"
        "%s, commit %s: %d routes (%d virtual hosts), %d clusters, config file %.1f MB, 2 workers. "
        "Startup (parse, build, bind) %.2f s.\n\n"
        "| measure | median of %d | worst |\n|---|---:|---:|\n"
        "| file change -> applied (incl. 100 ms debounce) | %.0f ms | %.0f ms |\n"
        "| reload total | %.0f ms | |\n| parse + validate (yaml-cpp) | %.0f ms | |\n"
        "| build snapshot + publish | %.0f ms | |\n\n"
        "Command: `perf/reload_scale.py --routes %d --clusters %d --rounds %d`\n" % (
            datetime.date.today().isoformat(),
            subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                           capture_output=True, text=True).stdout.strip(),
            args.routes, args.routes // 100, args.clusters, size_mb, startup_s, len(results),
            med[0], worst, med[1], med[2], med[3], args.routes, args.clusters, args.rounds))
    print(summary)
    if args.write:
        with open(os.path.join(ROOT, "perf", "RESULTS.md"), "a") as f:
            f.write(summary)
    return 0 if worst < 1000 else 1


if __name__ == "__main__":
    sys.exit(main())
