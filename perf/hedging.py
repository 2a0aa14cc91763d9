#!/usr/bin/env python3
"""Hedged requests: the tail latency of a route whose upstreams are sometimes slow, with no
hedging, a fixed hedge delay, or a delay learned from the route's own latency, side by side.

Three strait-test-upstream processes, each --latency bimodal:FAST_MS,SLOW_MS,P_SLOW (default
bimodal:2,200,0.01: 1% of the requests, at random, take 100x the median; each upstream has its
own seed), one cluster of the three (round_robin), one route (timeout 5s), one Strait worker.
The load is strait-loadgen (perf/loadgen): Poisson arrivals at --rate whatever the responses
do, --seconds per mode, after a --warmup-seconds warm-up at the same rate that is not recorded
(the percentile delay needs one full window of traffic before it applies). Every mode gets
fresh upstreams and a fresh proxy.

Modes (--modes):
  none        no hedge block
  fixed       hedge: {delay: --fixed-delay (10ms), max_attempts: 2, max_extra_load: 5%}
  percentile  hedge: {delay: p95, max_attempts: 2, max_extra_load: 5%, window: 2s}

Per mode: requests, p50/p90/p99/p99.9/max of the 2xx, non-2xx and errors; the tail cut against
none (none's p99 / the mode's p99, the same for p99.9); the extra upstream load = (requests
counted by the three upstreams' /__stats during the recorded phase) / (requests the client
sent) - 1; and from the proxy's /stats (the recorded phase only: after minus after the warm-up)
hedges sent, won, cancelled, budget exhausted, and the learned delay
(strait_dp_route_hedge_delay_microseconds at the end). Absent metrics count as 0. The target:
p99 and p99.9 cut by at least 10x for at most 5% extra upstream requests, PASS/MISS per mode.

  perf/hedging.py [--strait PATH] [--bin-dir DIR] [--modes none,fixed,percentile]
                  [--latency bimodal:2,200,0.01] [--rate 500] [--seconds 20]
                  [--warmup-seconds 5] [--fixed-delay 10ms] [--percentile-delay p95]
                  [--connections 200] [--write]

--bin-dir holds strait-test-upstream and strait-loadgen (default build/bin); --strait is the
proxy (default <bin-dir>/strait). --write puts the tables into perf/RESULTS.md between the
hedging.py markers and the plot into perf/hedging.png; raw CSVs stay in perf/out/hedging/.
"""

import argparse
import datetime
import json
import math
import os
import platform
import shlex
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "perf", "lib"))
import harness  # noqa: E402  (process control: every child is killed on exit)
from proxy_fixtures import simple_config  # noqa: E402
from bench import (fmt, has_cairo, loadgen, percentile, start_proxy, validate,  # noqa: E402
                   write_section)

OUT = os.path.join(ROOT, "perf", "out", "hedging")
RESULTS = os.path.join(ROOT, "perf", "RESULTS.md")
PLOT = os.path.join(ROOT, "perf", "hedging.png")
BEGIN = "<!-- hedging.py:begin -->"
END = "<!-- hedging.py:end -->"
UPSTREAMS = 3
TARGET_CUT = 10.0     # p99 and p99.9 of none / of the mode, at least
TARGET_EXTRA = 0.05   # extra upstream requests, at most
# The percentiles of the plot, on a "nines" axis: x = -log10(1 - p/100).
PLOT_PERCENTILES = (50, 90, 99, 99.5, 99.9, 99.99)
HEDGES = {
    "hedges_sent": "strait_dp_upstream_hedges_sent_total",
    "hedges_won": "strait_dp_upstream_hedges_won_total",
    "hedges_cancelled": "strait_dp_upstream_hedges_cancelled_total",
    "budget_exhausted": "strait_dp_upstream_hedge_budget_exhausted_total",
}
DELAY_GAUGE = "strait_dp_route_hedge_delay_microseconds"


def hedge_block(mode, args):
    """The route's `hedge:` map (indented for the route map below), or '' for none."""
    if mode == "none":
        return ""
    lines = ["hedge:"]
    if mode == "fixed":
        lines += ["  delay: %s" % args.fixed_delay, "  max_attempts: 2", "  max_extra_load: 5%"]
    elif mode == "percentile":
        lines += ["  delay: %s" % args.percentile_delay, "  max_attempts: 2",
                  "  max_extra_load: 5%", "  window: 2s"]
    else:
        raise ValueError("unknown mode %s" % mode)
    return "".join("              %s\n" % line for line in lines)


def proxy_config(upstream_ports, mode, args):
    routes = ("          - match: {prefix: /}\n"
              "            route:\n"
              "              cluster: backend\n"
              "              timeout: 5s\n" + hedge_block(mode, args))
    return simple_config(None, routes=routes, endpoints=[(port, 1) for port in upstream_ports],
                         clusters_extra="    lb: round_robin\n")


def start_upstreams(args):
    upstreams = []
    try:
        for i in range(UPSTREAMS):
            upstreams.append(harness.Upstream(name="hedging-%d" % i, extra_args=[
                "--latency", args.latency, "--seed", str(args.seed + 100 * (i + 1))]))
    except BaseException:
        for upstream in upstreams:
            upstream.stop()
        raise
    return upstreams


def upstream_requests(upstreams):
    """The sum of the upstreams' request counters, once nothing is in flight there any more
    (a hedge's loser still in service; waits up to 2 s, then reads anyway)."""
    try:
        harness.wait_for(lambda: all(u.stats()["in_flight"] == 0 for u in upstreams), timeout=2,
                         interval=0.05, what="the upstreams to be idle")
    except TimeoutError:
        pass
    return [u.stats()["requests"] for u in upstreams]


def proxy_metrics(text):
    """The hedging counters (summed over their labels) and the learned delay (the largest
    sample, in ms); absent metrics are 0."""
    values = {key: harness.prometheus_value(text, name) for key, name in HEDGES.items()}
    delays = [value for name, _, value in harness.parse_prometheus(text) if name == DELAY_GAUGE]
    values["delay_ms"] = max(delays) / 1000 if delays else 0.0
    return values


def one_mode(args, mode):
    """Fresh upstreams and proxy, warm-up, the recorded phase; returns (rows, load)."""
    upstreams = start_upstreams(args)
    try:
        proxy = start_proxy(args, proxy_config([u.port for u in upstreams], mode, args))
        try:
            port = proxy.listener_port("main")
            loadgen(args, port, [(args.rate, args.warmup_seconds)],
                    os.path.join(OUT, "%s-warmup.csv" % mode), seed=args.seed + 1)
            before = upstream_requests(upstreams)
            warm_text = proxy.stats_text()
            rows = loadgen(args, port, [(args.rate, args.seconds)],
                           os.path.join(OUT, "%s.csv" % mode))
            after = upstream_requests(upstreams)
            end_text = proxy.stats_text()
        finally:
            proxy.stop()
    finally:
        for upstream in upstreams:
            upstream.stop()
    for name, text in (("warmup", warm_text), ("end", end_text)):
        with open(os.path.join(OUT, "%s-metrics-%s.txt" % (mode, name)), "w",
                  encoding="utf-8") as f:
            f.write(text)
    warm, end = proxy_metrics(warm_text), proxy_metrics(end_text)
    load = {key: end[key] - warm[key] for key in HEDGES}
    load["delay_warmup_ms"] = warm["delay_ms"]
    load["delay_ms"] = end["delay_ms"]
    load["upstream_before"] = before
    load["upstream_after"] = after
    load["upstream"] = sum(after) - sum(before)
    with open(os.path.join(OUT, "%s-counters.json" % mode), "w", encoding="utf-8") as f:
        json.dump(load, f, indent=2)
    return rows, load


def summarize(rows, load):
    ok = sorted(float(r["latency_ms"]) for r in rows if r["status"].startswith("2"))
    sent = sum(1 for r in rows if r["outcome"] != "drop")
    s = {
        "rows": len(rows),
        "sent": sent,
        "ok": len(ok),
        "non2xx": sum(1 for r in rows if r["status"] not in ("0", "") and
                      not r["status"].startswith("2")),
        "errors": sum(1 for r in rows if r["outcome"] in ("timeout", "error")),
        "drops": sum(1 for r in rows if r["outcome"] == "drop"),
        "max": ok[-1] if ok else float("nan"),
        "extra": load["upstream"] / sent - 1 if sent else float("nan"),
    }
    for p in PLOT_PERCENTILES + (50, 90, 99, 99.9):
        s[p] = percentile(ok, p)
    s.update(load)
    return s


def cut(results, mode, p):
    """none's percentile / the mode's: how many times the tail was cut (nan without none)."""
    if "none" not in results:
        return float("nan")
    base, value = results["none"][p], results[mode][p]
    if base != base or value != value or value <= 0:
        return float("nan")
    return base / value


def verdict(results, mode):
    if mode == "none":
        return "baseline"
    cuts = (cut(results, mode, 99), cut(results, mode, 99.9))
    extra = results[mode]["extra"]
    if any(c != c for c in cuts) or extra != extra:
        return "-"
    return "PASS" if min(cuts) >= TARGET_CUT and extra <= TARGET_EXTRA else "MISS"


def main_table(results):
    lines = ["| mode | requests | p50 ms | p99 ms | p99.9 ms | p99 cut | p99.9 cut | "
             "extra upstream load | hedges sent / won | learned delay ms | target |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for mode, s in results.items():
        lines.append("| %s | %d | %s | %s | %s | %s | %s | %s%% | %d / %d | %s | %s |" % (
            mode, s["sent"], fmt(s[50], 2), fmt(s[99], 2), fmt(s[99.9], 2),
            _ratio(cut(results, mode, 99)), _ratio(cut(results, mode, 99.9)),
            fmt(100 * s["extra"], 2), s["hedges_sent"], s["hedges_won"], fmt(s["delay_ms"], 2),
            verdict(results, mode)))
    return lines


def detail_table(results):
    lines = ["| mode | 2xx | p90 ms | max ms | non-2xx | errors | drops | upstream requests | "
             "hedges cancelled | budget exhausted | delay after warm-up ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for mode, s in results.items():
        lines.append("| %s | %d | %s | %s | %d | %d | %d | %d (%s) | %d | %d | %s |" % (
            mode, s["ok"], fmt(s[90], 2), fmt(s["max"], 1), s["non2xx"], s["errors"], s["drops"],
            s["upstream"], " + ".join(str(a - b) for a, b in zip(s["upstream_after"],
                                                                  s["upstream_before"])),
            s["hedges_cancelled"], s["budget_exhausted"], fmt(s["delay_warmup_ms"], 2)))
    return lines


def _ratio(value):
    return "-" if value != value else "%.1fx" % value


def targets(results):
    lines = ["Target: p99 and p99.9 cut by at least %gx against none, for at most %g%% extra "
             "upstream requests." % (TARGET_CUT, 100 * TARGET_EXTRA)]
    for mode, s in results.items():
        if mode == "none":
            continue
        lines.append("- %s: p99 cut %s, p99.9 cut %s, extra upstream load %s%%: %s." % (
            mode, _ratio(cut(results, mode, 99)), _ratio(cut(results, mode, 99.9)),
            fmt(100 * s["extra"], 2), verdict(results, mode)))
    return lines


def bimodal(spec):
    """(fast ms, slow ms, p slow) of a bimodal --latency SPEC, or None."""
    kind, _, rest = spec.partition(":")
    if kind != "bimodal":
        return None
    fast, slow, p_slow = (float(v) for v in rest.split(","))
    return fast, slow, p_slow


def warnings(args, results):
    lines = []
    shape = bimodal(args.latency)
    none = results.get("none")
    if shape and none and none[99] == none[99] and none[99] < shape[1] / 2:
        lines.append("Note: none's p99 (%.1f ms) is in the fast mode: with P_SLOW = %g the 99th "
                     "percentile sits at the edge of the slow requests, so the p99 cut says "
                     "little here (a P_SLOW of 0.015 or more puts none's p99 in the slow mode)." %
                     (none[99], shape[2]))
    for mode, s in results.items():
        if s["non2xx"] or s["errors"] or s["drops"]:
            lines.append("Note: %s had %d non-2xx, %d errors, %d drops (not in the percentiles)."
                         % (mode, s["non2xx"], s["errors"], s["drops"]))
    return lines


def plot(args, results):
    data = os.path.join(OUT, "hedging.tsv")
    with open(data, "w", encoding="utf-8") as f:
        for mode, s in results.items():
            f.write("# %s\n" % mode)
            for p in PLOT_PERCENTILES:
                if s[p] == s[p]:
                    f.write("%.4f\t%.3f\n" % (-math.log10(1 - p / 100), max(s[p], 0.01)))
            f.write("\n\n")
    tics = ", ".join("'p%g' %.4f" % (p, -math.log10(1 - p / 100)) for p in PLOT_PERCENTILES)
    plots = ["'%s' index %d using 1:2 with linespoints lw 2 title '%s'" % (data, i, mode)
             for i, mode in enumerate(results)]
    shape = bimodal(args.latency)
    if shape:
        plots.append("%g with lines dt 2 lc rgb 'gray' title 'upstream slow mode (%g ms)'" %
                     (shape[1], shape[1]))
    script = [
        "set terminal pngcairo size 900,550 font ',10' noenhanced" if has_cairo() else
        "set terminal png size 900,550 noenhanced",
        "set output '%s'" % os.path.join(OUT, "hedging.png"),
        "set title 'Hedged requests: 3 upstreams --latency %s, %g req/s, %g s per mode'" % (
            args.latency, args.rate, args.seconds),
        "set xlabel 'percentile'", "set xtics (%s)" % tics, "set xrange [0:4.2]",
        "set ylabel 'latency of 2xx (ms, log)'", "set logscale y", "set grid",
        "set key top left",
        "plot " + ", ".join(plots),
    ]
    subprocess.run(["gnuplot"], input="\n".join(script), text=True, check=True)


def write_results(block):
    write_section(RESULTS, BEGIN, END, "Hedged requests (perf/hedging.py)", block)


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%d CPU(s), %s, kernel %s" % (os.cpu_count(), model, platform.release())


def sanitized(binary):
    try:
        out = subprocess.run(["ldd", binary], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return b"libasan" in out


def header_lines(args):
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            stdout=subprocess.PIPE, text=True).stdout.strip()
    return [
        "%s, commit %s, strait %s%s. Machine: %s; shared and noisy, nothing pinned. "
        "Upstreams: %d x strait-test-upstream `--latency %s` (seeds %s), one cluster "
        "(round_robin), one route (timeout 5s), one Strait worker. Load: strait-loadgen, Poisson "
        "arrivals at %g req/s, %g s per mode after a %g s warm-up at the same rate (not "
        "recorded), at most %d connections, timeout %d ms. Hedge: fixed `delay: %s`, percentile "
        "`delay: %s` (`window: 2s`), both `max_attempts: 2`, `max_extra_load: 5%%`." % (
            datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), commit,
            args.strait, " (ASan build)" if sanitized(args.strait) else "", machine(), UPSTREAMS,
            args.latency, ", ".join(str(args.seed + 100 * (i + 1)) for i in range(UPSTREAMS)),
            args.rate, args.seconds, args.warmup_seconds, args.connections, args.timeout_ms,
            args.fixed_delay, args.percentile_delay),
        "",
        "Command: `perf/hedging.py %s`" % shlex.join(sys.argv[1:]),
        "",
        "Latency from each request's scheduled send, 2xx only. Cut = none's percentile / the "
        "mode's. Extra upstream load = upstream requests / client requests - 1 (recorded phase). "
        "Hedge counters: recorded phase only; learned delay: the gauge at the end.",
        "",
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "build", "bin"))
    ap.add_argument("--strait", help="the proxy binary (default <bin-dir>/strait)")
    ap.add_argument("--modes", default="none,fixed,percentile")
    ap.add_argument("--latency", default="bimodal:2,200,0.01")
    ap.add_argument("--rate", type=float, default=500)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--warmup-seconds", type=float, default=5)
    ap.add_argument("--fixed-delay", default="10ms")
    ap.add_argument("--percentile-delay", default="p95")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--connections", type=int, default=200)
    ap.add_argument("--timeout-ms", type=int, default=6000,
                    help="client timeout (above the route's 5s, so a 504 shows as a status)")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    args.bin_dir = os.path.abspath(args.bin_dir)
    args.strait = os.path.abspath(args.strait or os.path.join(args.bin_dir, "strait"))
    os.environ["STRAIT_BIN_DIR"] = args.bin_dir  # strait-test-upstream comes from here
    modes = [m for m in args.modes.split(",") if m]
    for mode in modes:
        if mode not in ("none", "fixed", "percentile"):
            ap.error("unknown mode %s (none, fixed, percentile)" % mode)
    for path in (args.strait, os.path.join(args.bin_dir, "strait-test-upstream"),
                 os.path.join(args.bin_dir, "strait-loadgen")):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            print("missing %s: build it, or give --bin-dir / --strait" % path)
            return 3
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)

    for mode in modes:
        text = proxy_config([1, 2, 3], mode, args)
        ok, message = validate(args.strait, text, OUT)
        if not ok:
            print("mode %s: this strait does not accept its config (%s):\n  %s\nthe config:\n%s" %
                  (mode, "does it parse the route's hedge block?" if mode != "none" else
                   "the plain route", message.replace("\n", "\n  "), text))
            return 3

    results = {}
    for mode in modes:
        print("mode %s ..." % mode, flush=True)
        rows, load = one_mode(args, mode)
        results[mode] = s = summarize(rows, load)
        print("  %d requests, p50 %s p99 %s p99.9 %s max %s ms; extra upstream load %s%%; "
              "hedges %d sent, %d won; delay %s ms (after warm-up %s)" % (
                  s["sent"], fmt(s[50], 2), fmt(s[99], 2), fmt(s[99.9], 2), fmt(s["max"], 1),
                  fmt(100 * s["extra"], 2), s["hedges_sent"], s["hedges_won"], fmt(s["delay_ms"], 2),
                  fmt(s["delay_warmup_ms"], 2)), flush=True)

    lines = header_lines(args)
    lines += main_table(results)
    lines += [""] + detail_table(results)
    lines += [""] + targets(results)
    notes = warnings(args, results)
    if notes:
        lines += [""] + notes
    plot(args, results)
    lines += ["", "![latency percentiles per mode](hedging.png)"]
    block = "\n".join(lines)
    print("\n" + block)
    if args.write:
        write_results(block)
        shutil.copyfile(os.path.join(OUT, "hedging.png"), PLOT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
