"""Pieces the open-loop benchmarks share (perf/overload.py, perf/hedging.py): a percentile,
the proxy's config check and start, one strait-loadgen run, number formatting, and whether
gnuplot can draw with cairo. Standard library plus tests/integration/harness.py.
"""

import csv
import math
import os
import subprocess

import harness


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, int(math.ceil(p / 100 * len(sorted_values))) - 1))
    return sorted_values[index]


def validate(strait, text, workdir):
    path = os.path.join(workdir, "validate.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    result = subprocess.run([strait, "--validate", "--config", path], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    return result.returncode == 0, result.stdout.strip()


def start_proxy(args, text):
    saved = os.environ.get("STRAIT_BIN_DIR")
    os.environ["STRAIT_BIN_DIR"] = os.path.dirname(args.strait)
    try:
        return harness.Strait(text, binary=os.path.basename(args.strait), start_timeout=30)
    finally:
        os.environ["STRAIT_BIN_DIR"] = args.bin_dir if saved is None else saved


def loadgen(args, port, stages, out, mix=None, seed=None):
    """Runs strait-loadgen to the end; returns the rows of its CSV."""
    argv = [os.path.join(args.bin_dir, "strait-loadgen"), "--url", "127.0.0.1:%d/x" % port,
            "--stages", ",".join("%.1f:%g" % stage for stage in stages),
            "--connections", str(args.connections), "--timeout-ms", str(args.timeout_ms),
            "--seed", str(seed if seed is not None else args.seed), "--out", out]
    if mix:
        argv += ["--header-mix", mix]
    budget = sum(seconds for _, seconds in stages) + args.timeout_ms / 1000 + 30
    result = subprocess.run(argv, stderr=subprocess.PIPE, text=True, timeout=budget)
    if result.returncode != 0:
        raise RuntimeError("strait-loadgen failed: %s" % result.stderr)
    print("    " + result.stderr.strip(), flush=True)
    with open(out, newline="") as f:
        return list(csv.DictReader(f))


def fmt(value, digits=1):
    return "-" if value != value else "%.*f" % (digits, value)


def has_cairo():
    result = subprocess.run(["gnuplot", "-e", "set terminal"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    return "pngcairo" in result.stdout


def write_section(results, begin, end, title, block):
    """Puts `block` between the `begin` and `end` markers of the results file, or appends it as a
    new `## title` section with the markers when they are not there yet."""
    with open(results, encoding="utf-8") as f:
        text = f.read()
    section = begin + "\n" + block + "\n" + end
    if begin in text and end in text:
        text = text[:text.index(begin)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n## " + title + "\n\n" + section + "\n"
    with open(results, "w", encoding="utf-8") as f:
        f.write(text)
