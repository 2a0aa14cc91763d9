#!/usr/bin/env python3
"""Filter chain overhead (issue 5): the same proxy, the same route, with the full resilience
chain enabled and not triggering, against no filters at all. Two strait processes (one worker
each) run side by side in front of one test upstream, pinned to the same CPU; wrk drives them
alternately (off, on, off, on, ...) so that machine noise falls on both. Prints req/s and
p50/p99 per run, the medians, and the ratio on/off; --write appends the table to perf/RESULTS.md.

"On" means: every built-in filter that is registered (mtls_authz with an allow-all rule, and
fault and bulkhead when they are built: fault with a request delay, an abort, a response delay, a
response rate limit and connection faults all at 0%, bulkhead with room to spare), plus on the
cluster outlier detection and circuit breakers, and on the route a retry policy with a per-try
timeout. Nothing triggers: every request is answered 200 by the upstream. The chain is defined in
perf/lib/filter_chain.py, which perf/compare.sh --strait-chain uses too.

  perf/filter_overhead.py [--rounds 5] [--duration 5] [--connections 50] [--build-dir DIR] [--write]
  perf/filter_overhead.py --instructions
  perf/filter_overhead.py --chain overload [--instructions]   (issue 13's two filters instead)

--instructions: the noise-free view. Each proxy runs under valgrind's callgrind and serves 200,
then (in a second run) 1200 sequential requests on one keep-alive connection; the difference of
the two totals over 1000 is the proxy's user-space instructions per request (start-up cancels
out). Kernel time (the larger share: read, write, epoll) is not in it, so the throughput ratio is
closer to 1 than the instruction ratio.
"""

import argparse
import datetime
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build", "bin")
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402  (the integration harness: process control, wrk parsing)
from proxy_fixtures import simple_config  # noqa: E402  (the tests' one-listener config)
sys.path.insert(0, os.path.join(ROOT, "perf", "lib"))
import filter_chain  # noqa: E402  (the chain itself, shared with perf/compare.sh --strait-chain)


def config(upstream_port, with_filters, filters_text):
    """One listener, one route, one cluster; with_filters: plus the full chain (see
    perf/lib/filter_chain.py) with `filters_text` as the listener's filters."""
    text = simple_config(upstream_port,
                         routes="          - match: {prefix: /}\n"
                                "            route: {cluster: backend, timeout: 15s}\n")
    if not with_filters:
        return text
    if CHAIN == "overload":
        return filter_chain.add_chain(text, filter_chain.OVERLOAD_FILTERS, policies=False)
    return filter_chain.add_chain(text, filters_text)


CHAIN = "full"


def registered_filters(workdir):
    """The optional filters this build accepts (strait --validate), with mtls_authz always."""
    if CHAIN == "overload":
        return filter_chain.OVERLOAD_FILTERS, ["load_shed", "adaptive_concurrency"]
    return filter_chain.registered_filters(os.path.join(BIN, "strait"), workdir, config(1, False, ""))


def instructions_per_request(config_text, workdir, label):
    """User-space instructions per request of strait with `config_text` (see --instructions)."""
    totals = {}
    wrapper = os.path.join(workdir, "strait-callgrind")
    for count in (200, 1200):
        out = os.path.join(workdir, "callgrind-%s-%d.out" % (label, count))
        with open(wrapper, "w", encoding="utf-8") as f:
            f.write("#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file=%s %s \"$@\"\n"
                    % (out, os.path.join(BIN, "strait")))
        os.chmod(wrapper, 0o755)
        saved = os.environ.get("STRAIT_BIN_DIR")
        os.environ["STRAIT_BIN_DIR"] = workdir
        try:
            proxy = harness.Strait(config_text, binary="strait-callgrind", start_timeout=120)
        finally:
            if saved is None:
                del os.environ["STRAIT_BIN_DIR"]
            else:
                os.environ["STRAIT_BIN_DIR"] = saved
        try:
            conn = http.client.HTTPConnection("127.0.0.1", proxy.listener_port("main"), timeout=30)
            for _ in range(count):
                conn.request("GET", "/")
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    raise RuntimeError("%s: status %d" % (label, response.status))
            conn.close()
        finally:
            proxy.stop(timeout=120)
        with open(out, encoding="utf-8") as f:
            totals[count] = next(int(line.split()[1]) for line in f if line.startswith("summary:"))
    return (totals[1200] - totals[200]) / 1000.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--cpu", default="0", help="CPU for both proxies (taskset)")
    parser.add_argument("--load-cpu", default="1", help="CPU for wrk and the upstream")
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "build"),
                        help="where bin/strait and bin/strait-test-upstream are (default: build)")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions per request under callgrind instead")
    parser.add_argument("--chain", choices=("full", "overload"), default="full",
                        help="overload: adaptive_concurrency + load_shed only, not triggering "
                             "(issue 13; perf/lib/filter_chain.py)")
    args = parser.parse_args()
    global BIN, CHAIN
    CHAIN = args.chain
    BIN = os.path.join(os.path.abspath(args.build_dir), "bin")
    os.environ["STRAIT_BIN_DIR"] = BIN  # the harness starts strait and the upstream from here
    if args.instructions:
        return main_instructions()

    workdir = tempfile.mkdtemp(prefix="strait-filter-overhead-")
    filters_text, names = registered_filters(workdir)
    upstream = harness.Upstream(name="bench")
    procs = {}
    try:
        subprocess.run(["taskset", "-pc", args.load_cpu, str(upstream.pid)],
                       stdout=subprocess.DEVNULL, check=False)
        for mode in ("off", "on"):
            procs[mode] = harness.Strait(config(upstream.port, mode == "on", filters_text))
            subprocess.run(["taskset", "-apc", args.cpu, str(procs[mode].pid)],
                           stdout=subprocess.DEVNULL, check=False)
        results = {"off": [], "on": []}
        for mode in ("off", "on"):  # warm-up
            harness.wrk(procs[mode].url("/"), connections=args.connections, duration_s=1)
        for r in range(args.rounds):
            order = ("off", "on") if r % 2 == 0 else ("on", "off")
            for mode in order:
                out = harness.wrk(procs[mode].url("/"), connections=args.connections,
                                  duration_s=args.duration,
                                  extra_args=())
                if out["non_2xx_3xx"] or out["socket_errors"]:
                    raise RuntimeError("errors in the %s run:\n%s" % (mode, out["raw"]))
                results[mode].append(out)
                print("round %d %-3s: %8.0f req/s  p50 %.2f ms  p99 %.2f ms" % (
                    r + 1, mode, out["requests_per_s"], out["p50_ms"], out["p99_ms"]))
    finally:
        for p in procs.values():
            p.stop()
        upstream.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    def med(mode, key):
        return statistics.median(o[key] for o in results[mode])

    rps_off, rps_on = med("off", "requests_per_s"), med("on", "requests_per_s")
    ratio = rps_on / rps_off
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    table = [
        "## Filter chain overhead (`perf/filter_overhead.py`)",
        "",
        "%s, commit %s: one worker per proxy, both on CPU %s; wrk (-c %d, %d s per run, not pinned) and the "
        "upstream on CPU %s; %d rounds alternating off/on. Filters on: %s; plus outlier "
        "detection, circuit breakers and a retry policy with a per-try timeout; nothing triggers." % (
            datetime.date.today().isoformat(), commit, args.cpu, args.connections, args.duration,
            args.load_cpu, args.rounds, ", ".join(names)),
        "",
        "| chain | req/s (median) | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
        "| none | %.0f | %.2f | %.2f |" % (rps_off, med("off", "p50_ms"), med("off", "p99_ms")),
        "| full | %.0f | %.2f | %.2f |" % (rps_on, med("on", "p50_ms"), med("on", "p99_ms")),
        "",
        "Ratio on/off: **%.3f** (target: at least 0.90)." % ratio,
        "",
        "Command: `perf/filter_overhead.py --rounds %d --duration %d --connections %d`" % (
            args.rounds, args.duration, args.connections),
        "",
    ]
    print("\n".join(table))
    if args.write:
        # Replaces this benchmark's section (up to the next "## "), or appends one.
        path = os.path.join(ROOT, "perf", "RESULTS.md")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        start = text.find(table[0])
        if start < 0:
            text = text.rstrip("\n") + "\n\n" + "\n".join(table)
        else:
            end = text.find("\n## ", start + len(table[0]))
            rest = "" if end < 0 else text[end + 1:]
            text = text[:start] + "\n".join(table) + ("\n" + rest if rest else "")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


def main_instructions():
    workdir = tempfile.mkdtemp(prefix="strait-filter-instructions-")
    filters_text, names = registered_filters(workdir)
    upstream = harness.Upstream(name="bench")
    try:
        counts = {mode: instructions_per_request(config(upstream.port, mode == "on", filters_text),
                                                 workdir, mode)
                  for mode in ("off", "on")}
    finally:
        upstream.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print("instructions per request (user space, callgrind): none %.0f, full %.0f (%s): "
          "+%.0f, x%.3f" % (counts["off"], counts["on"], ", ".join(names),
                            counts["on"] - counts["off"], counts["on"] / counts["off"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
