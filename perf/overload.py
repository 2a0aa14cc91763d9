#!/usr/bin/env python3
"""Staying up under overload (issue 13): an upstream with a real capacity, open-loop load
ramping past it, and the proxy in front with no protection, a fixed circuit breaker, or the
adaptive_concurrency filter, side by side.

The upstream is strait-test-upstream --capacity N --latency SPEC: N requests in service at once,
the rest wait in FIFO order, so its capacity is C = N / mean service time requests per second and
an overload builds a real queue. The load is strait-loadgen (perf/loadgen): arrivals on a
Poisson schedule whatever the responses do, in stages of --stages multiples of C (default 0.5C,
1C, 1.5C, 2C, --stage-seconds each). Each run gets a fresh upstream and proxy and a short
warm-up at 0.3C that is not recorded.

Runs (--runs):
  none      no protection: the proxy forwards everything (default circuit breakers, 1024)
  breaker   cluster circuit_breakers max_requests = N (the concurrency that serves 1xC without
            queueing upstream), with the same small queue as the adaptive run
            (max_pending_requests 16, queue_timeout 20ms)
  adaptive  the adaptive_concurrency filter (gradient, min 3, max 200, initial 10, window
            100ms, queue 16 / 20ms fifo)

--scenario priority: the same ramp with 20% critical, 30% important, 50% nice_to_have in the
x-strait-priority header, through load_shed + adaptive_concurrency; reports success and p99 per
class per stage and a plot (perf/overload-priority.png). The gateway's routes classify (one
route per class, matched on the header; the client is no mTLS peer whose header load_shed could
trust), load_shed takes the class from the route's name.

Per run and stage: offered rate, goodput (2xx answered within the SLO, per second), p50/p99 of
the 2xx, refusals (503s; "ovl" = those carrying x-strait-overloaded: true), other errors
(timeouts, resets, other statuses) and client-side drops (no free connection). The SLO is
--slo-ms, or 5x the p99 of the upstream alone at 0.2C, measured first.

  perf/overload.py [--strait PATH] [--bin-dir DIR] [--runs none,breaker,adaptive]
                   [--capacity 8] [--latency lognormal:20,0.3] [--stage-seconds 10]
                   [--stages 0.5,1,1.5,2] [--slo-ms MS] [--scenario overload|priority] [--write]

--bin-dir holds strait-test-upstream and strait-loadgen (default build/bin); --strait is the
proxy (default <bin-dir>/strait). --write puts the tables into perf/RESULTS.md between the
overload.py markers and the plot into perf/overload.png; raw CSVs stay in perf/out/overload/.
"""

import argparse
import datetime
import json
import math
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402  (process control: every child is killed on exit)
from proxy_fixtures import simple_config  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "perf", "lib"))
from bench import fmt, has_cairo, loadgen, percentile, start_proxy, validate  # noqa: E402

OUT = os.path.join(ROOT, "perf", "out", "overload")
RESULTS = os.path.join(ROOT, "perf", "RESULTS.md")
PLOT = os.path.join(ROOT, "perf", "overload.png")
BEGIN = "<!-- overload.py:begin -->"
END = "<!-- overload.py:end -->"
PRIORITY_MIX = "x-strait-priority=critical:20,important:30,nice_to_have:50"
CLASSES = ("critical", "important", "nice_to_have")

ADAPTIVE_FILTER = """\
        - name: adaptive_concurrency
          config:
            mode: enforce
            algorithm: gradient
            min_limit: 3
            max_limit: 200
            initial_limit: 10
            sample_window: 100ms
            queue: {max: 16, timeout: 20ms, order: fifo}
"""
# The client here is not an mTLS peer, so the header cannot be trusted as such (load_shed honours
# x-strait-priority only from trusted_principals): the gateway's routes classify instead, one
# route per class matched on the header, and load_shed takes the class from the route's name.
LOAD_SHED_FILTER = """\
        - name: load_shed
          config:
            priority:
              routes: {critical: critical, important: important, nice_to_have: nice_to_have}
              default: important
            # CoDel's target near the upstream's service time (20 ms here): the default 5 ms
            # reads 15 ms of queueing as 3x overload, critical's hard limit.
            signals:
              queue_delay: {target: 25ms}
"""
PRIORITY_ROUTES = "".join(
    "          - name: %s\n"
    "            match: {prefix: /, headers: [{name: x-strait-priority, exact: %s}]}\n"
    "            route: {cluster: backend, timeout: 30s}\n" % (c, c)
    for c in ("critical", "important", "nice_to_have"))


def mean_service_ms(spec):
    """The mean of a --latency SPEC, in ms (C = capacity / mean)."""
    kind, _, rest = spec.partition(":")
    values = [float(v) for v in rest.split(",")]
    if kind in ("fixed", "exp"):
        return values[0]
    if kind == "lognormal":
        return values[0] * math.exp(values[1] ** 2 / 2)
    if kind == "bimodal":
        return values[0] * (1 - values[2]) + values[1] * values[2]
    raise ValueError("unknown latency spec %s" % spec)




def proxy_config(upstream_port, run, args):
    routes = ("          - match: {prefix: /}\n"
              "            route: {cluster: backend, timeout: 30s}\n")
    filters = ""
    if run == "adaptive":
        filters = ADAPTIVE_FILTER
    elif run == "priority":
        # A longer queue than the adaptive run's: load_shed reads (in flight + queued) / limit
        # per request and sheds the lower classes while the queue is short, so what does queue
        # (mostly critical) must not time out before the shedding settles.
        filters = args.load_shed_text + ADAPTIVE_FILTER.replace(
            "queue: {max: 16, timeout: 20ms, order: fifo}",
            "queue: {max: 64, timeout: 100ms, order: fifo}")
        routes = PRIORITY_ROUTES + routes
    http_options = "      filters:\n" + filters if filters else ""
    breakers = ""
    if run == "breaker":
        breakers = ("    circuit_breakers: {max_requests: %d, max_pending_requests: 16, "
                    "queue_timeout: 20ms}\n" % args.capacity)
    return simple_config(upstream_port, http_options=http_options, routes=routes,
                         clusters_extra=breakers)




def start_upstream(args):
    return harness.Upstream(name="overload", extra_args=[
        "--capacity", str(args.capacity), "--latency", args.latency, "--seed", str(args.seed)])






def summarize(rows, seconds, slo_ms):
    """One stage (or class): counts, goodput, percentiles."""
    ok = sorted(float(r["latency_ms"]) for r in rows if r["status"].startswith("2"))
    refused = [r for r in rows if r["status"] == "503"]
    drops = sum(1 for r in rows if r["outcome"] == "drop")
    good = sum(1 for v in ok if v <= slo_ms)
    return {
        "sent": len(rows),
        "offered": len(rows) / seconds,
        "ok": len(ok),
        "good": good,
        "goodput": good / seconds,
        "p50": percentile(ok, 50),
        "p99": percentile(ok, 99),
        "refused": len(refused),
        "refused_ovl": sum(1 for r in refused if r["overloaded"] == "1"),
        "drops": drops,
        "errors": len(rows) - len(ok) - len(refused) - drops,
        "success": len(ok) / len(rows) if rows else float("nan"),
        "within_slo": good / len(rows) if rows else float("nan"),
    }


def calibrate(args, c_rps):
    """p99 of the upstream alone at 0.2C: the unloaded latency the SLO is built on."""
    with start_upstream(args) as upstream:
        rows = loadgen(args, upstream.port, [(0.2 * c_rps, args.calibrate_seconds)],
                       os.path.join(OUT, "calibrate.csv"))
    return summarize(rows, args.calibrate_seconds, float("inf"))


def one_run(args, run, stages, mix=None):
    """Fresh upstream and proxy, warm-up, the stages; returns (rows, upstream stats)."""
    upstream = start_upstream(args)
    try:
        proxy = start_proxy(args, proxy_config(upstream.port, run, args))
        try:
            port = proxy.listener_port("main")
            loadgen(args, port, [(0.3 * args.c_rps, args.warmup_seconds)],
                    os.path.join(OUT, "%s-warmup.csv" % run), mix=mix, seed=args.seed + 1)
            rows = loadgen(args, port, stages, os.path.join(OUT, "%s.csv" % run), mix=mix)
            stats = upstream.stats()
            metrics = proxy.stats_text()
            with open(os.path.join(OUT, "%s-metrics.txt" % run), "w", encoding="utf-8") as f:
                f.write(metrics)
        finally:
            proxy.stop()
    finally:
        upstream.stop()
    return rows, stats




def overload_tables(args, results, calibration):
    lines = ["| run | load | offered/s | goodput/s | goodput/C | p50 ms | p99 ms | "
             "refused (ovl) | errors | drops |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for run, (stages, stats) in results.items():
        for multiple, s in zip(args.multiples, stages):
            lines.append("| %s | %gC | %.0f | %.0f | %.0f%% | %s | %s | %d (%d) | %d | %d |" % (
                run, multiple, s["offered"], s["goodput"], 100 * s["goodput"] / args.c_rps,
                fmt(s["p50"]), fmt(s["p99"]), s["refused"], s["refused_ovl"], s["errors"],
                s["drops"]))
    lines.append("")
    lines.append("Upstream peaks per run (its /__stats): " + "; ".join(
        "%s: max_in_service %d, max_queued %d" % (run, stats["max_in_service"], stats["max_queued"])
        for run, (_, stats) in results.items()) + ".")
    return lines


def targets(args, results, calibration):
    """The issue's targets at the last stage, against the unloaded p99 (the upstream alone, and
    through the proxy: the first stage of the first run)."""
    first_run = next(iter(results.values()))[0]
    unloaded = {"upstream alone": calibration["p99"], "first stage via proxy": first_run[0]["p99"]}
    lines = []
    for run, (stages, _) in results.items():
        last = stages[-1]
        share = last["goodput"] / args.c_rps
        checks = ", ".join("p99 %.1f ms %s 2x %s p99 (%.1f ms)" % (
            last["p99"], "<=" if last["p99"] <= 2 * ref else ">", name, 2 * ref)
            for name, ref in unloaded.items())
        lines.append("- %s at %gC: goodput %.0f%% of C (target >= 95%%: %s); %s." % (
            run, args.multiples[-1], 100 * share, "met" if share >= 0.95 else "not met", checks))
    return lines


def priority_table(per_class, slo_ms):
    lines = ["| class | sent | success | within SLO | p50 ms | p99 ms | refused |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, s in per_class.items():
        lines.append("| %s | %d | %.2f%% | %.2f%% | %s | %s | %d |" % (
            name, s["sent"], 100 * s["success"], 100 * s["within_slo"], fmt(s["p50"]),
            fmt(s["p99"]), s["refused"]))
    return lines


def priority_ramp_table(args, per_stage):
    lines = ["| offered | " + " | ".join(CLASSES) + " |", "|---|" + "---:|" * len(CLASSES)]
    for multiple, classes in zip(args.multiples, per_stage):
        lines.append("| %gxC | " % multiple + " | ".join(
            "%.2f%%" % (100 * classes[name]["success"]) for name in CLASSES) + " |")
    return lines


def plot_priority(args, per_stage):
    data = os.path.join(OUT, "overload-priority.tsv")
    with open(data, "w", encoding="utf-8") as f:
        for name in CLASSES:
            f.write("# %s\n" % name)
            for multiple, classes in zip(args.multiples, per_stage):
                s = classes[name]
                p99 = s["p99"] if s["p99"] == s["p99"] else 0
                f.write("%g\t%.2f\t%.2f\n" % (multiple, 100 * s["success"], max(p99, 0.1)))
            f.write("\n\n")
    _gnuplot("overload-priority.png",
             "Priority shedding: C = %.0f req/s, %s" % (args.c_rps, PRIORITY_MIX), [
                 ["set key bottom left", "set ylabel 'success (%)'", "set yrange [0:105]",
                  _series(data, CLASSES, 2)],
                 ["set ylabel 'p99 of 2xx (ms)'", "set yrange [0:*]", "set key top left",
                  _series(data, CLASSES, 3) +
                  ", %.1f with lines dt 2 lc rgb 'gray' title 'SLO'" % args.slo_ms]])


def _series(data, names, column):
    """A gnuplot `plot` of one column of every block of `data`, one line per name."""
    return "plot " + ", ".join("'%s' index %d using 1:%d with linespoints lw 2 title '%s'" %
                               (data, i, column, name) for i, name in enumerate(names))


def _gnuplot(png, title, panels):
    """Two panels side by side into OUT/png; each panel: its settings, its plot line last."""
    script = [
        "set terminal pngcairo size 1100,450 font ',10' noenhanced" if has_cairo() else
        "set terminal png size 1100,450 noenhanced",
        "set output '%s'" % os.path.join(OUT, png),
        "set multiplot layout 1,%d title '%s'" % (len(panels), title),
        "set xlabel 'offered load (x C)'", "set grid",
    ]
    for panel in panels:
        script += panel
    script.append("unset multiplot")
    subprocess.run(["gnuplot"], input="\n".join(script), text=True, check=True)


def plot(args, results):
    data = os.path.join(OUT, "overload.tsv")
    with open(data, "w", encoding="utf-8") as f:
        for run, (stages, _) in results.items():
            f.write("# %s\n" % run)
            for multiple, s in zip(args.multiples, stages):
                p99 = s["p99"] if s["p99"] == s["p99"] else 0
                f.write("%g\t%.1f\t%.2f\n" % (multiple, s["goodput"], max(p99, 0.1)))
            f.write("\n\n")
    _gnuplot("overload.png", "Overload: capacity C = %.0f req/s (%d in service, %s)" % (
        args.c_rps, args.capacity, args.latency), [
            ["set key top left",
             "set ylabel 'goodput (2xx within %.0f ms SLO, per s)'" % args.slo_ms,
             "set yrange [0:*]",
             _series(data, results, 2) +
             ", %.1f with lines dt 2 lc rgb 'gray' title 'C'" % args.c_rps],
            ["set ylabel 'p99 of 2xx (ms, log)'", "set logscale y", "set yrange [*:*]",
             _series(data, results, 3) +
             ", %.1f with lines dt 2 lc rgb 'gray' title 'SLO'" % args.slo_ms]])




def write_results(block, scenario):
    with open(RESULTS, encoding="utf-8") as f:
        text = f.read()
    begin, end = BEGIN, END
    if scenario != "overload":
        begin, end = BEGIN.replace(":begin", "-%s:begin" % scenario), END.replace(
            ":end", "-%s:end" % scenario)
    section = begin + "\n" + block + "\n" + end
    if begin in text:
        text = text[:text.index(begin)] + section + text[text.index(end) + len(end):]
    elif scenario != "overload" and END in text:
        at = text.index(END) + len(END)
        text = text[:at] + "\n\n### Priority shedding\n\n" + section + text[at:]
    else:
        text = text.rstrip("\n") + "\n\n## Overload (issue 13)\n\n" + section + "\n"
    with open(RESULTS, "w", encoding="utf-8") as f:
        f.write(text)


def header_lines(args, calibration):
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            stdout=subprocess.PIPE, text=True).stdout.strip()
    return [
        "%s, commit %s, strait %s; %d CPUs, nothing pinned. Upstream: `--capacity %d --latency %s`"
        " (C = %.0f req/s); SLO %.0f ms (%s); the upstream alone at 0.2C: p50 %.1f ms, p99 %.1f"
        " ms. Load: strait-loadgen, Poisson arrivals, %g s per stage, at most %d connections, "
        "timeout %d ms." % (
            datetime.date.today().isoformat(), commit, args.strait, os.cpu_count(), args.capacity,
            args.latency, args.c_rps, args.slo_ms,
            "--slo-ms" if args.slo_given else "5x the upstream's unloaded p99",
            calibration["p50"], calibration["p99"], args.stage_seconds, args.connections,
            args.timeout_ms),
        "",
        "Command: `perf/overload.py %s`" % " ".join(sys.argv[1:]),
        "",
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "build", "bin"))
    ap.add_argument("--strait", help="the proxy binary (default <bin-dir>/strait)")
    ap.add_argument("--runs", default="none,breaker,adaptive")
    ap.add_argument("--scenario", choices=("overload", "priority"), default="overload")
    ap.add_argument("--capacity", type=int, default=8)
    ap.add_argument("--latency", default="lognormal:20,0.3")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--stages", default="0.5,1,1.5,2", help="multiples of C")
    ap.add_argument("--stage-seconds", type=float, default=10)
    ap.add_argument("--warmup-seconds", type=float, default=2)
    ap.add_argument("--calibrate-seconds", type=float, default=5)
    ap.add_argument("--slo-ms", type=float)
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--timeout-ms", type=int, default=5000)
    ap.add_argument("--load-shed-config", help="file with the load_shed filter list item")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    args.bin_dir = os.path.abspath(args.bin_dir)
    args.strait = os.path.abspath(args.strait or os.path.join(args.bin_dir, "strait"))
    os.environ["STRAIT_BIN_DIR"] = args.bin_dir  # strait-test-upstream comes from here
    args.multiples = [float(m) for m in args.stages.split(",")]
    args.c_rps = args.capacity / (mean_service_ms(args.latency) / 1000)
    args.load_shed_text = LOAD_SHED_FILTER
    if args.load_shed_config:
        with open(args.load_shed_config, encoding="utf-8") as f:
            args.load_shed_text = f.read()
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)

    runs = ["priority"] if args.scenario == "priority" else args.runs.split(",")
    for run in runs:
        ok, message = validate(args.strait, proxy_config(1, run, args), OUT)
        if not ok:
            print("run %s: this strait does not accept its config:\n  %s" % (run, message))
            return 3

    print("C = %.0f req/s; calibrating the upstream alone at 0.2C ..." % args.c_rps, flush=True)
    calibration = calibrate(args, args.c_rps)
    args.slo_given = args.slo_ms is not None
    if not args.slo_given:
        args.slo_ms = 5 * calibration["p99"]
    print("  unloaded p50 %.1f ms, p99 %.1f ms; SLO %.0f ms" %
          (calibration["p50"], calibration["p99"], args.slo_ms), flush=True)

    lines = header_lines(args, calibration)
    if args.scenario == "priority":
        stages = [(m * args.c_rps, args.stage_seconds) for m in args.multiples]
        print("run priority ...", flush=True)
        rows, _ = one_run(args, "priority", stages, mix=PRIORITY_MIX)
        per_stage = [{name: summarize([r for r in rows if r["stage"] == str(i) and
                                       r["class"] == name], args.stage_seconds, args.slo_ms)
                      for name in CLASSES} for i in range(len(stages))]
        lines += ["Priority (%s) through load_shed + adaptive_concurrency, at %gxC:" % (
            PRIORITY_MIX, args.multiples[-1]), ""]
        lines += priority_table(per_stage[-1], args.slo_ms)
        lines += ["", "Success per class at each stage (2xx / sent):", ""]
        lines += priority_ramp_table(args, per_stage)
        plot_priority(args, per_stage)
        lines += ["", "![success and p99 per class and stage](overload-priority.png)"]
    else:
        results = {}
        stages = [(m * args.c_rps, args.stage_seconds) for m in args.multiples]
        for run in runs:
            print("run %s ..." % run, flush=True)
            rows, stats = one_run(args, run, stages)
            per_stage = [summarize([r for r in rows if r["stage"] == str(i)], args.stage_seconds,
                                   args.slo_ms) for i in range(len(stages))]
            results[run] = (per_stage, stats)
        lines += overload_tables(args, results, calibration)
        lines += [""] + targets(args, results, calibration)
        plot(args, results)
        lines += ["", "![goodput and p99 per stage](overload.png)"]
    block = "\n".join(lines)
    print("\n" + block)
    if args.write:
        write_results(block, args.scenario)
        name = "overload.png" if args.scenario == "overload" else "overload-priority.png"
        shutil.copyfile(os.path.join(OUT, name), os.path.join(os.path.dirname(PLOT), name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
