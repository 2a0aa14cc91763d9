#!/usr/bin/env python3
"""Carbon-aware routing (issue 15): a 24-hour carbon-intensity trace per region, replayed at one
simulated hour per --hour-seconds, traffic through the real proxy, carbon-blind and carbon-aware
side by side; and the kill switch when the greenest region starts failing.

Three regions, each one strait-test-upstream with its own fixed latency (--delay-ms), one cluster
with carbon_aware (alpha 1, min_share 0.05, max_share 0.8, latency_budget 20ms, dwell 0s,
hysteresis 0.02), its endpoints' localities the three regions:
  north   hydro-heavy grid: low and flat (25-60 gCO2eq/kWh), 8 ms away
  west    solar-heavy grid: dirty at night (~420), clean around noon (~110), 4 ms away
  south   coal and gas: high, with an evening peak (430-560), 2 ms away
The shapes follow what public grid data shows for such mixes (flat hydro, a solar midday dip, a
fossil evening peak); the numbers are this benchmark's own, not a copy of any dataset.

The signal file is rewritten at the start of each simulated hour (observed_at now, ttl 1h); the
proxy re-reads it within a second. strait-loadgen sends Poisson arrivals at --rate for the whole
day; each hour the script reads the proxy's accounting (strait_dp_carbon_requests_total and
strait_dp_carbon_emissions_milligrams_total per locality, and the carbon-blind counterfactual):
shares and gCO2 per request per hour. Runs: blind (the route has no `carbon` opt-in: plain round
robin; the accounting still counts) and aware (`carbon: interactive`). In the aware run, from
--fail-hour for --fail-hours hours the north upstream answers 503 (force_status): the SLO burn
trips the kill switch (carbon-blind) and its recovery brings carbon-aware routing back; the
mode per hour is reported (strait_dp_carbon_mode).

  perf/carbon.py [--bin-dir DIR] [--rate 200] [--hour-seconds 2] [--fail-hour 18]
                 [--fail-hours 2] [--slo-ms 50] [--write]

Per run: gCO2eq per 1000 requests (energy 0.2 mWh a request, PUE 1), p50/p99 of the 2xx, errors,
the share per region per hour, and the mode per hour. Target: >= 30% less gCO2 per request than
carbon-blind with p99 within the SLO, and the kill switch shown working. --write puts the tables
into perf/RESULTS.md between the carbon.py markers and a plot into perf/carbon.png.
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "perf", "lib"))
import harness  # noqa: E402  (process control: every child is killed on exit)
from bench import (fmt, has_cairo, loadgen, percentile, start_proxy, validate,  # noqa: E402
                   write_section)

OUT = os.path.join(ROOT, "perf", "out", "carbon")
RESULTS = os.path.join(ROOT, "perf", "RESULTS.md")
PLOT = os.path.join(ROOT, "perf", "carbon.png")
BEGIN = "<!-- carbon.py:begin -->"
END = "<!-- carbon.py:end -->"

REGIONS = ("north", "west", "south")
DELAY_MS = {"north": 8, "west": 4, "south": 2}
# gCO2eq/kWh per hour of the day (0..23).
TRACE = {
    "north": [40, 38, 36, 35, 35, 36, 40, 45, 50, 55, 58, 60, 58, 55, 52, 50, 52, 56, 60, 58,
              52, 48, 44, 42],
    "west": [420, 425, 430, 430, 425, 410, 370, 300, 230, 170, 130, 115, 110, 120, 150, 200,
             270, 340, 390, 410, 415, 418, 420, 420],
    "south": [450, 440, 435, 430, 430, 440, 470, 500, 510, 500, 480, 470, 465, 470, 480, 500,
              530, 555, 560, 550, 520, 490, 470, 460],
}
MODES = ("carbon_aware", "carbon_blind_stale", "kill_switch", "dry_run")


def proxy_config(ports, signals_path, aware):
    endpoints = "".join("      - {address: 127.0.0.1, port: %d, locality: {region: %s}}\n"
                        % (ports[r], r) for r in REGIONS)
    carbon = ", carbon: interactive" if aware else ""
    return (
        "admin: {address: 127.0.0.1, port: 0}\n"
        "workers: 1\n"
        "carbon_signals: {provider: file, path: \"%s\"}\n"
        "listeners:\n"
        "  - name: main\n"
        "    address: 127.0.0.1\n"
        "    port: 0\n"
        "    virtual_hosts:\n"
        "      - name: default\n"
        "        domains: [\"*\"]\n"
        "        routes:\n"
        "          - match: {prefix: /}\n"
        "            route: {cluster: backend, timeout: 5s%s}\n"
        "clusters:\n"
        "  - name: backend\n"
        "    lb: round_robin\n"
        "    carbon_aware: {alpha: 1, min_share: 0.05, max_share: 0.8, latency_budget: 20ms, "
        "dwell: 0s, hysteresis: 0.02, slo_guard: {max_burn_rate: 10, window: 4s, "
        "slo_target: 0.99, recovery: 2s}}\n"
        "    endpoints:\n" % (signals_path, carbon) + endpoints)


def write_signals(path, hour):
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = "signals:\n" + "".join(
        "  - {region: %s, intensity: %d, type: average, emission_factor: lifecycle, "
        "observed_at: \"%s\", ttl: 1h}\n" % (r, TRACE[r][hour], stamp) for r in REGIONS)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def sample(proxy):
    """Requests and emissions (mg) per region, the blind counterfactual (mg), the mode."""
    text = proxy.stats_text()
    out = {"requests": {r: 0.0 for r in REGIONS}, "mg": {r: 0.0 for r in REGIONS},
           "blind_mg": 0.0, "mode": "none"}
    for name, labels, value in harness.parse_prometheus(text):
        if name == "strait_dp_carbon_requests_total" and labels.get("locality") in REGIONS:
            out["requests"][labels["locality"]] = value
        elif name == "strait_dp_carbon_emissions_milligrams_total" and \
                labels.get("locality") in REGIONS:
            out["mg"][labels["locality"]] = value
        elif name == "strait_dp_carbon_blind_emissions_milligrams_total":
            out["blind_mg"] = value
        elif name == "strait_dp_carbon_mode" and value == 1:
            out["mode"] = labels.get("mode", "none")
    return out


def one_run(args, aware):
    run = "aware" if aware else "blind"
    workdir = os.path.join(OUT, run)
    os.makedirs(workdir, exist_ok=True)
    signals = os.path.join(workdir, "signals.yaml")
    write_signals(signals, 0)
    upstreams = {r: harness.Upstream(name=r, delay_ms=DELAY_MS[r]) for r in REGIONS}
    try:
        text = proxy_config({r: u.port for r, u in upstreams.items()}, signals, aware)
        ok, message = validate(args.strait, text, workdir)
        if not ok:
            raise SystemExit("carbon.py: the proxy refuses its config: %s" % message)
        proxy = start_proxy(args, text)
        try:
            port = proxy.listener_port("main")
            harness.wait_for(lambda: sample(proxy)["mode"] != "none", timeout=10,
                             what="the carbon policy's first tick")
            result = {}
            seconds = 24 * args.hour_seconds
            thread = threading.Thread(target=lambda: result.update(rows=loadgen(
                args, port, [(args.rate, seconds)], os.path.join(workdir, "load.csv"))))
            thread.start()
            start = time.monotonic()
            hours = []
            previous = sample(proxy)
            for hour in range(24):
                if hour > 0:
                    write_signals(signals, hour)
                if aware and hour == args.fail_hour:
                    upstreams["north"].force_status(503)
                if aware and hour == args.fail_hour + args.fail_hours:
                    upstreams["north"].force_status(None)
                time.sleep(max(0.0, start + (hour + 1) * args.hour_seconds - time.monotonic()))
                now = sample(proxy)
                requests = {r: now["requests"][r] - previous["requests"][r] for r in REGIONS}
                mg = sum(now["mg"][r] - previous["mg"][r] for r in REGIONS)
                total = sum(requests.values())
                hours.append({
                    "hour": hour, "requests": total,
                    "share": {r: requests[r] / total if total else 0 for r in REGIONS},
                    "mg_per_request": mg / total if total else 0,
                    "blind_mg_per_request": (now["blind_mg"] - previous["blind_mg"]) / total
                    if total else 0,
                    "mode": now["mode"]})
                previous = now
            thread.join()
        finally:
            proxy.stop()
    finally:
        for u in upstreams.values():
            u.stop()
    rows = result.get("rows", [])
    ok_latency = sorted(float(r["latency_ms"]) for r in rows if r["status"].startswith("2"))
    summary = {
        "run": run,
        "requests": len(rows),
        "errors": sum(1 for r in rows if not r["status"].startswith("2")),
        "p50": percentile(ok_latency, 50), "p99": percentile(ok_latency, 99),
        "mg_per_request": sum(h["mg_per_request"] * h["requests"] for h in hours) /
        max(1, sum(h["requests"] for h in hours)),
        "blind_mg_per_request": sum(h["blind_mg_per_request"] * h["requests"] for h in hours) /
        max(1, sum(h["requests"] for h in hours)),
        "hours": hours,
    }
    with open(os.path.join(workdir, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    return summary


def tables(args, blind, aware):
    lines = []
    saving = 1 - aware["mg_per_request"] / blind["mg_per_request"] if blind["mg_per_request"] else 0
    counterfactual = (1 - aware["mg_per_request"] / aware["blind_mg_per_request"]
                      if aware["blind_mg_per_request"] else 0)
    lines.append("| run | requests | errors | p50 ms | p99 ms | gCO2eq / 1000 requests | vs blind |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    for s in (blind, aware):
        lines.append("| %s | %d | %d | %s | %s | %.3f | %s |" % (
            s["run"], s["requests"], s["errors"], fmt(s["p50"], 2), fmt(s["p99"], 2),
            s["mg_per_request"], "-" if s is blind else "%.1f%% less" % (100 * saving)))
    lines.append("")
    lines.append("The aware run's own counterfactual (the same requests under carbon-blind shares, "
                 "`strait_dp_carbon_blind_emissions_milligrams_total`): %.3f g per 1000 requests, "
                 "so %.1f%% saved by that measure." % (aware["blind_mg_per_request"],
                                                      100 * counterfactual))
    lines.append("")
    lines.append("| hour | north | west | south (trace gCO2eq/kWh) | aware share north / west / "
                 "south | aware g/1000 | blind g/1000 | aware mode |")
    lines.append("|---:|---:|---:|---:|---|---:|---:|---|")
    for h_aware, h_blind in zip(aware["hours"], blind["hours"]):
        hour = h_aware["hour"]
        share = h_aware["share"]
        lines.append("| %d | %d | %d | %d | %.2f / %.2f / %.2f | %.3f | %.3f | %s |" % (
            hour, TRACE["north"][hour], TRACE["west"][hour], TRACE["south"][hour],
            share["north"], share["west"], share["south"], h_aware["mg_per_request"],
            h_blind["mg_per_request"], h_aware["mode"]))
    target_ok = saving >= 0.30 and aware["p99"] <= args.slo_ms
    kill = [h["hour"] for h in aware["hours"] if h["mode"] == "kill_switch"]
    lines.append("")
    lines.append("Target: >= 30%% less gCO2 per request than carbon-blind with p99 within the "
                 "%g ms SLO: %s (%.1f%% less, p99 %s ms). Kill switch (north answering 503 from "
                 "hour %d for %d hours): carbon-blind in hours %s." % (
                     args.slo_ms, "PASS" if target_ok else "MISS", 100 * saving,
                     fmt(aware["p99"], 2), args.fail_hour, args.fail_hours,
                     ", ".join(str(h) for h in kill) or "none"))
    return lines, saving


def plot(args, blind, aware):
    data = os.path.join(OUT, "plot.dat")
    with open(data, "w", encoding="utf-8") as f:
        for h_aware, h_blind in zip(aware["hours"], blind["hours"]):
            s = h_aware["share"]
            f.write("%d %.4f %.4f %.4f %.4f %.4f %d %d %d\n" % (
                h_aware["hour"], s["north"], s["west"], s["south"], h_aware["mg_per_request"],
                h_blind["mg_per_request"], TRACE["north"][h_aware["hour"]],
                TRACE["west"][h_aware["hour"]], TRACE["south"][h_aware["hour"]]))
    terminal = ("set terminal pngcairo size 1100,700 font ',10' noenhanced" if has_cairo() else
                "set terminal png size 1100,700")
    script = [terminal, "set output '%s'" % PLOT, "set multiplot layout 3,1",
              "set grid", "set xrange [0:23]", "set key outside right",
              "set title 'carbon intensity per region (gCO2eq/kWh)'",
              "plot '%s' using 1:7 with lines title 'north', '' using 1:8 with lines title 'west', "
              "'' using 1:9 with lines title 'south'" % data,
              "set title 'carbon-aware share per region (north fails hours %d-%d)'" % (
                  args.fail_hour, args.fail_hour + args.fail_hours - 1),
              "set yrange [0:1]",
              "plot '%s' using 1:2 with linespoints title 'north', '' using 1:3 with linespoints "
              "title 'west', '' using 1:4 with linespoints title 'south'" % data,
              "set title 'gCO2eq per 1000 requests'", "set yrange [0:*]", "set xlabel 'hour'",
              "plot '%s' using 1:5 with linespoints title 'aware', '' using 1:6 with linespoints "
              "title 'blind'" % data,
              "unset multiplot"]
    subprocess.run(["gnuplot"], input="\n".join(script), text=True, check=True)


def write_results(block):
    write_section(RESULTS, BEGIN, END, "Carbon-aware routing (perf/carbon.py)", block)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "build", "bin"))
    ap.add_argument("--strait", help="the proxy binary (default <bin-dir>/strait)")
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--hour-seconds", type=float, default=2)
    ap.add_argument("--fail-hour", type=int, default=18)
    ap.add_argument("--fail-hours", type=int, default=2)
    ap.add_argument("--slo-ms", type=float, default=50)
    ap.add_argument("--connections", type=int, default=200)
    ap.add_argument("--timeout-ms", type=int, default=6000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    args.strait = args.strait or os.path.join(args.bin_dir, "strait")
    os.environ["STRAIT_BIN_DIR"] = args.bin_dir
    os.makedirs(OUT, exist_ok=True)
    blind = one_run(args, aware=False)
    aware = one_run(args, aware=True)
    lines, _ = tables(args, blind, aware)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            stdout=subprocess.PIPE, text=True).stdout.strip()
    header = ["%s UTC, commit %s. Machine: %d CPUs, shared and noisy. Regions north/west/south "
              "%d/%d/%d ms away, %g req/s, one simulated hour per %g s." % (
                  datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
                  commit, os.cpu_count(), DELAY_MS["north"], DELAY_MS["west"],
                  DELAY_MS["south"], args.rate, args.hour_seconds),
              "", "Command: `perf/carbon.py %s`" % " ".join(sys.argv[1:]), ""]
    block = "\n".join(header + lines)
    print(block)
    if args.write:
        plot(args, blind, aware)
        write_results(block + "\n\n![carbon-aware routing over a day](carbon.png)")


if __name__ == "__main__":
    main()
