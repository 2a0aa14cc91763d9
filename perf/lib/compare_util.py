#!/usr/bin/env python3
"""Helpers for perf/compare.sh (standard library only).

Subcommands:
  freeports N                      print N distinct free TCP ports on 127.0.0.1
  wait-http URL TIMEOUT_S          poll URL until it answers 200 (exit 1 on timeout)
  rss PID                          print "self_kib children_kib n_children child_pids"
  cputime PID                      CPU seconds used by PID and its child processes
  idle-conns HOST PORT N PATH READY_FILE
                                   open N keep-alive connections, one request each,
                                   write "open=K failed=F" to READY_FILE, hold them until
                                   SIGTERM/SIGINT, then close them
  parse-wrk FILE                   print one TSV line parsed from `wrk --latency` output:
                                   rps p50_ms p99_ms requests non2xx connect read write timeout secs
  report ...                       medians, tables, RESULTS.md section, gnuplot plot
"""

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

# ---------------------------------------------------------------------------------------------
# small process / network helpers


def cmd_freeports(args):
    socks = []
    ports = []
    try:
        while len(ports) < args.n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            port = s.getsockname()[1]
            if port not in ports:
                ports.append(port)
    finally:
        for s in socks:
            s.close()
    print(" ".join(str(p) for p in ports))


def cmd_wait_http(args):
    deadline = time.monotonic() + args.timeout
    last = "no attempt"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(args.url, timeout=2) as r:
                r.read()
                if r.status == 200:
                    return 0
                last = f"status {r.status}"
        except Exception as e:  # noqa: BLE001 - any failure means "not ready yet"
            last = str(e)
        time.sleep(0.1)
    print(f"wait-http: {args.url} not ready after {args.timeout}s: {last}", file=sys.stderr)
    return 1


def vmrss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
            # field 4 (ppid) comes after the ")" closing the command name
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            out.append(int(d))
    return sorted(out)


def cmd_rss(args):
    kids = children(args.pid)
    kids_rss = sum(vmrss_kib(k) for k in kids)
    print(vmrss_kib(args.pid), kids_rss, len(kids), ",".join(map(str, kids)) or "-")


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0.0


def cmd_cputime(args):
    """CPU seconds (user + system, all threads) of PID and its child processes."""
    total = cpu_seconds(args.pid) + sum(cpu_seconds(k) for k in children(args.pid))
    print(f"{total:.3f}")


def read_response(sock):
    """Read one HTTP/1.1 response; return (status, keep_alive)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before response headers")
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        need = int(headers["content-length"])
        while len(body) < need:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed in body")
            body += chunk
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        while not body.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed in chunked body")
            body += chunk
    keep_alive = headers.get("connection", "").lower() != "close"
    return status, keep_alive


def cmd_idle_conns(args):
    stop = {"flag": False}

    def on_signal(_signo, _frame):
        stop["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    req = (f"GET {args.path} HTTP/1.1\r\nHost: bench\r\nConnection: keep-alive\r\n\r\n").encode()
    socks = []
    failed = 0
    errors = {}
    for _ in range(args.n):
        if stop["flag"]:
            break
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect((args.host, args.port))
            s.sendall(req)
            status, keep_alive = read_response(s)
            if status != 200 or not keep_alive:
                raise ConnectionError(f"status {status} keep_alive={keep_alive}")
            socks.append(s)
        except Exception as e:  # noqa: BLE001
            failed += 1
            key = type(e).__name__ + ": " + str(e)[:60]
            errors[key] = errors.get(key, 0) + 1
            s.close()
    # Count the connections the proxy still holds open (a closed one reads EOF).
    still_open = 0
    for s in socks:
        s.setblocking(False)
        try:
            data = s.recv(1)
            if data:
                still_open += 1  # unexpected bytes, but the connection is open
        except BlockingIOError:
            still_open += 1
        except OSError:
            pass
    err = "; ".join(f"{k} x{v}" for k, v in errors.items()) or "-"
    tmp = args.ready_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"open={still_open} failed={failed} errors={err}\n")
    os.rename(tmp, args.ready_file)
    deadline = time.monotonic() + args.hold
    while not stop["flag"] and time.monotonic() < deadline:
        time.sleep(0.05)
    for s in socks:
        s.close()
    return 0


# ---------------------------------------------------------------------------------------------
# wrk output parsing

UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def to_ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text.strip())
    if not m:
        return float("nan")
    return float(m.group(1)) * UNIT_MS[m.group(2)]


def parse_wrk(text):
    res = {"rps": float("nan"), "p50_ms": float("nan"), "p99_ms": float("nan"), "requests": 0,
           "non2xx": 0, "connect": 0, "read": 0, "write": 0, "timeout": 0, "secs": float("nan")}
    m = re.search(r"Requests/sec:\s+([0-9.]+)", text)
    if m:
        res["rps"] = float(m.group(1))
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(rf"^\s+{pct}(?:\.0+)?%\s+(\S+)\s*$", text, re.M)
        if m:
            res[key] = to_ms(m.group(1))
    m = re.search(r"(\d+) requests in ([0-9.]+)(us|ms|s|m|h)", text)
    if m:
        res["requests"] = int(m.group(1))
        res["secs"] = to_ms(m.group(2) + m.group(3)) / 1000.0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        res["connect"], res["read"], res["write"], res["timeout"] = map(int, m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        res["non2xx"] = int(m.group(1))
    return res


WRK_FIELDS = ["rps", "p50_ms", "p99_ms", "requests", "non2xx", "connect", "read", "write", "timeout", "secs"]


def cmd_parse_wrk(args):
    with open(args.file, errors="replace") as f:
        res = parse_wrk(f.read())
    out = []
    for k in WRK_FIELDS:
        v = res[k]
        out.append(f"{v:.3f}" if isinstance(v, float) else str(v))
    print("\t".join(out))


# ---------------------------------------------------------------------------------------------
# report

PROXY_ORDER = ["strait", "strait-chain", "nginx", "haproxy"]
COLORS = {"strait": "#e66101", "strait-chain": "#fdb863", "nginx": "#1a9641", "haproxy": "#2c7bb6"}
CHAIN_TARGET = 0.90  # issue 5: the full chain, not triggering, within 10% of no filters (req/s)


def human_bytes(n):
    n = int(n)
    if n and n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} B"


def fnum(v, digits=0):
    if v is None or v != v:  # NaN
        return "n/a"
    if digits == 0:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def read_tsv(path):
    rows = []
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            if not line.strip():
                continue
            rows.append(dict(zip(header, line.rstrip("\n").split("\t"))))
    return rows


def read_meta(path):
    meta = []
    with open(path) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("\t")
            if k:
                meta.append((k, v))
    return meta


def summarize(rows):
    """Median per (conns, body, proxy) over rounds; error counts summed."""
    cells = {}
    for r in rows:
        key = (int(r["conns"]), int(r["body"]), r["proxy"])
        cells.setdefault(key, []).append(r)
    out = {}
    for key, rs in cells.items():
        rps = [float(r["rps"]) for r in rs if float(r["rps"]) == float(r["rps"])]
        p50 = [float(r["p50_ms"]) for r in rs if float(r["p50_ms"]) == float(r["p50_ms"])]
        p99 = [float(r["p99_ms"]) for r in rs if float(r["p99_ms"]) == float(r["p99_ms"])]
        cpu_pct, cpu_us = [], []
        for r in rs:
            try:
                cpu_s, secs, req = float(r["cpu_s"]), float(r["secs"]), int(r["requests"])
            except (KeyError, ValueError):
                continue
            if secs == secs and secs > 0 and req > 0:
                cpu_pct.append(cpu_s / secs * 100)
                cpu_us.append(cpu_s * 1e6 / req)
        med = statistics.median(rps) if rps else float("nan")
        spread = (max(rps) - min(rps)) / med * 100 if rps and med else float("nan")
        out[key] = {
            "rounds": len(rs),
            "rps": med,
            "spread_pct": spread,
            "p50_ms": statistics.median(p50) if p50 else float("nan"),
            "p99_ms": statistics.median(p99) if p99 else float("nan"),
            "non2xx": sum(int(r["non2xx"]) for r in rs),
            "sock_errors": sum(int(r[k]) for r in rs for k in ("connect", "read", "write", "timeout")),
            "sock_detail": "/".join(str(sum(int(r[k]) for r in rs))
                                    for k in ("connect", "read", "write", "timeout")),
            "requests": sum(int(r["requests"]) for r in rs),
            "cpu_pct": statistics.median(cpu_pct) if cpu_pct else float("nan"),
            "cpu_us_per_req": statistics.median(cpu_us) if cpu_us else float("nan"),
        }
    return out


def error_mark(*stats):
    """" ⚠" when any of the summaries had errors."""
    return " ⚠" if any(s["non2xx"] or s["sock_errors"] for s in stats) else ""


def ratio(a, b):
    if a != a or b != b or not b:
        return float("nan")
    return a / b


def paired_ratios(rows, num, den):
    """Per (conns, body): the req/s ratios num ÷ den of the rounds in which both ran."""
    rps = {(int(r["conns"]), int(r["body"]), r["round"], r["proxy"]): float(r["rps"]) for r in rows}
    out = {}
    for (c, b, rnd, p), v in rps.items():
        d = rps.get((c, b, rnd, den))
        if p == num and d and v == v and d == d:
            out.setdefault((c, b), []).append(v / d)
    return out


def build_tables(summary, subject, mem_rows, meta, rows=()):
    proxies = [p for p in PROXY_ORDER if any(k[2] == p for k in summary)]
    proxies += sorted({k[2] for k in summary} - set(proxies))
    cells = sorted({(k[0], k[1]) for k in summary})
    lines = []
    warnings = []

    lines.append("### Throughput and latency (median over rounds)")
    lines.append("")
    lines.append("| conns | body | proxy | req/s | rps spread | p50 ms | p99 ms | proxy CPU % | CPU µs / req | "
                 "non-2xx | socket errors c/r/w/t | rounds |")
    lines.append("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for c, b in cells:
        for p in proxies:
            s = summary.get((c, b, p))
            if not s:
                continue
            bad = s["non2xx"] or s["sock_errors"]
            flag = " **ERRORS**" if bad else ""
            if bad:
                warnings.append(f"{p} at c={c}, body={human_bytes(b)}: {s['non2xx']} non-2xx responses, "
                                f"socket errors connect/read/write/timeout = {s['sock_detail']}")
            lines.append(f"| {c} | {human_bytes(b)} | {p}{flag} | {fnum(s['rps'])} | "
                         f"{fnum(s['spread_pct'], 1) + '%' if s['rounds'] > 1 else '–'} | {fnum(s['p50_ms'], 3)} | {fnum(s['p99_ms'], 3)} | "
                         f"{fnum(s['cpu_pct'])} | {fnum(s['cpu_us_per_req'], 1)} | "
                         f"{s['non2xx']} | {s['sock_detail']} | {s['rounds']} |")
    lines.append("")
    lines.append("`rps spread` = (max − min) / median of requests/s across rounds: the noise of this run. "
                 "`proxy CPU %` = CPU time (user + system, all threads; nginx: master + worker) the proxy used "
                 "during the measured run ÷ its duration: near 100 % the proxy is the bottleneck, well below "
                 "it the upstream or wrk is. `CPU µs / req` = that CPU time ÷ requests: the cost per proxied "
                 "request, steadier than req/s on a noisy machine.")
    lines.append("")

    chain = f"{subject}-chain"  # the subject again, with the full filter chain (--strait-chain)
    peers = [p for p in proxies if p not in (subject, chain)]
    lines.append(f"### {subject.capitalize()} relative to its peers")
    lines.append("")
    if not any(k[2] == subject for k in summary):
        lines.append(f"_{subject} was not run: no ratios._")
    elif not peers:
        lines.append("_No peer was run: no ratios._")
    else:
        hdr = "| conns | body |"
        sep = "|---:|---:|"
        for p in peers:
            hdr += f" rps ÷ {p} | p99 ÷ {p} | CPU/req ÷ {p} |"
            sep += "---:|---:|---:|"
        lines.append(hdr)
        lines.append(sep)
        for c, b in cells:
            s = summary.get((c, b, subject))
            if not s:
                continue
            row = f"| {c} | {human_bytes(b)} |"
            for p in peers:
                o = summary.get((c, b, p))
                if not o:
                    row += " n/a | n/a | n/a |"
                    continue
                mark = error_mark(s, o)
                row += (f" {fnum(ratio(s['rps'], o['rps']), 2)}{mark} | {fnum(ratio(s['p99_ms'], o['p99_ms']), 2)}{mark} |"
                        f" {fnum(ratio(s['cpu_us_per_req'], o['cpu_us_per_req']), 2)}{mark} |")
            lines.append(row)
        lines.append("")
        lines.append(f"rps ÷ peer > 1: {subject} serves more requests/s; p99 ÷ peer < 1: {subject} has the "
                     f"lower tail latency; CPU/req ÷ peer < 1: {subject} spends less CPU per request. "
                     "⚠ = a run of that cell had errors (see above).")
    lines.append("")

    if any(k[2] == chain for k in summary):
        lines.extend(chain_table(summary, subject, chain, cells, paired_ratios(rows, chain, subject)))

    if mem_rows:
        n_idle = mem_rows[0].get("idle_target", "1000")
        lines.append(f"### Memory (VmRSS, KiB): idle, and with {n_idle} idle keep-alive connections")
        lines.append("")
        lines.append("| proxy | process(es) counted | RSS at start | RSS idle (warm) | RSS with idle conns | "
                     "conns held open | KiB / idle conn | RSS after close | not counted |")
        lines.append("|---|---|---:|---:|---:|---:|---:|---:|---|")
        for m in mem_rows:
            try:
                per = (int(m["rss_conns"]) - int(m["rss_idle"])) / max(int(m["idle_target"]), 1)
                per_s = f"{per:.2f}"
            except ValueError:
                per_s = "n/a"
            if m.get("conns_open") and m["conns_open"] != m["idle_target"]:
                warnings.append(f"{m['proxy']}: only {m['conns_open']} of {m['idle_target']} idle connections "
                                f"were open when RSS was read ({m.get('conns_note', '')})")
            lines.append(f"| {m['proxy']} | {m['counted']} | {m['rss_start']} | {m['rss_idle']} | "
                         f"{m['rss_conns']} | {m['conns_open']} | {per_s} | {m['rss_after']} | {m['other']} |")
        lines.append("")
        lines.append("KiB / idle conn = (RSS with idle conns − RSS idle) / number of connections attempted. "
                     "RSS idle is read after a short warm-up (one connection, a few requests, closed).")
        lines.append("")

    if warnings:
        lines.append("### ⚠ Errors and anomalies in this run")
        lines.append("")
        for w in warnings:
            lines.append(f"- {w}")
        lines.append("")
    return lines, warnings, proxies, cells


def chain_table(summary, subject, chain, cells, paired):
    """The filter chain overhead per cell: chain ÷ subject (issue 5: req/s ratio >= CHAIN_TARGET)."""
    lines = [f"### Filter chain overhead: {chain} ÷ {subject} (target: req/s ratio ≥ {CHAIN_TARGET:.2f})",
             "",
             f"| conns | body | {subject} req/s | {chain} req/s | **req/s {chain} ÷ {subject}** | "
             f"≥ {CHAIN_TARGET:.2f} | per-round ratios: median (min–max) | p99 ÷ | CPU/req ÷ |",
             "|---:|---:|---:|---:|---:|---|---:|---:|---:|"]
    if not any(k[2] == subject for k in summary):
        return lines[:2] + [f"_{subject} was not run: no ratio._", ""]
    worst = None
    for c, b in cells:
        s, o = summary.get((c, b, subject)), summary.get((c, b, chain))
        if not s or not o:
            continue
        r = ratio(o["rps"], s["rps"])
        if r == r and (worst is None or r < worst[0]):
            worst = (r, c, b)
        mark = error_mark(s, o)
        verdict = "n/a" if r != r else ("yes" if r >= CHAIN_TARGET else "**NO**")
        pr = paired.get((c, b), [])
        per_round = "n/a" if not pr else (f"{statistics.median(pr):.3f}" + (
            f" ({min(pr):.2f}–{max(pr):.2f})" if len(pr) > 1 else ""))
        lines.append(f"| {c} | {human_bytes(b)} | {fnum(s['rps'])} | {fnum(o['rps'])} | "
                     f"**{fnum(r, 3)}**{mark} | {verdict} | {per_round} | "
                     f"{fnum(ratio(o['p99_ms'], s['p99_ms']), 2)}{mark} | "
                     f"{fnum(ratio(o['cpu_us_per_req'], s['cpu_us_per_req']), 2)}{mark} |")
    lines.append("")
    if worst:
        lines.append(f"Lowest req/s ratio {chain} ÷ {subject}: **{worst[0]:.3f}** (c={worst[1]}, "
                     f"body={human_bytes(worst[2])}): "
                     f"{'meets' if worst[0] >= CHAIN_TARGET else 'BELOW'} the target ≥ {CHAIN_TARGET:.2f}.")
        lines.append("")
    lines.append(f"{chain} = the same binary and config as {subject} on a second port, plus the full filter "
                 "chain of issue 5 (perf/lib/filter_chain.py; listed in the run's details), nothing triggering. "
                 "Issue 5 target: "
                 f"req/s with the chain ≥ {CHAIN_TARGET:.2f} × req/s without it, read from the ratio of the "
                 "medians (bold), which is only as good as the `rps spread` of both rows. Per-round ratios: "
                 f"{chain} ÷ {subject} within each round (the two run one right after the other except in the "
                 "round where the rotation wraps), less exposed to noise that lasts longer than a run. ⚠ = a run of that cell had errors.")
    lines.append("")
    return lines


def write_plot(summary, proxies, cells, png, workdir, title):
    dat = os.path.join(workdir, "compare-plot.dat")
    with open(dat, "w") as f:
        f.write("# cell\t" + "\t".join(f"{p}_rps\t{p}_p99\t{p}_cpu_us" for p in proxies) + "\n")
        for c, b in cells:
            label = f"c={c}\\n{human_bytes(b)}"
            if any(summary[(c, b, p)]["non2xx"] or summary[(c, b, p)]["sock_errors"]
                   for p in proxies if (c, b, p) in summary):
                label += "\\n(errors!)"
            vals = []
            for p in proxies:
                s = summary.get((c, b, p))
                if s and s["rps"] == s["rps"]:
                    vals.append(f"{s['rps']:.1f}\t{s['p99_ms']:.4f}\t{s['cpu_us_per_req']:.3f}")
                else:
                    vals.append("NaN\tNaN\tNaN")
            f.write(f"\"{label}\"\t" + "\t".join(vals) + "\n")
    width = max(900, 160 + 110 * len(cells) * max(1, len(proxies)) // 2)
    gp = os.path.join(workdir, "compare.gp")
    plots_rps = []
    plots_p99 = []
    plots_cpu = []
    for i, p in enumerate(proxies):
        col_rps = 2 + 3 * i
        col_p99 = 3 + 3 * i
        col_cpu = 4 + 3 * i
        color = COLORS.get(p, "#777777")
        xt = ":xtic(1)" if i == 0 else ""
        plots_rps.append(f"'{dat}' using {col_rps}{xt} title '{p}' lc rgb '{color}'")
        plots_p99.append(f"'{dat}' using {col_p99}{xt} title '{p}' lc rgb '{color}'")
        plots_cpu.append(f"'{dat}' using {col_cpu}{xt} title '{p}' lc rgb '{color}'")
    script = f"""
set terminal pngcairo size {width},1250 font 'Sans,11'
set output '{png}'
set datafile separator '\\t'
set datafile missing 'NaN'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key outside right top vertical
set grid ytics
set bmargin 5
set lmargin 10
set multiplot layout 3,1 title "{title}" font 'Sans,13'
set title 'requests/s (median over rounds, higher is better)'
set ylabel 'requests/s'
set yrange [0:*]
set format y '%.0f'
set xtics nomirror
plot {', '.join(plots_rps)}
set title 'p99 latency (median over rounds, lower is better; log scale)'
set ylabel 'p99 ms'
set logscale y
set yrange [*:*]
set format y '%g'
plot {', '.join(plots_p99)}
set title 'proxy CPU time per request (median over rounds, lower is better)'
set ylabel 'CPU µs / request'
unset logscale y
set yrange [0:*]
plot {', '.join(plots_cpu)}
unset multiplot
"""
    with open(gp, "w") as f:
        f.write(script)
    subprocess.run(["gnuplot", gp], check=True)


def replace_section(path, section_lines):
    begin, end = "<!-- compare.sh:begin -->", "<!-- compare.sh:end -->"
    block = begin + "\n" + "\n".join(section_lines).rstrip() + "\n" + end
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    else:
        text = ("# Strait vs nginx vs haproxy: benchmark results\n\n"
                "Hand-written notes go outside the generated block; `perf/compare.sh` only rewrites what\n"
                "lies between the two markers. See `perf/README.md` for how to run and read this.\n\n")
    if begin in text and end in text and text.index(begin) < text.index(end):
        pre = text[: text.index(begin)]
        post = text[text.index(end) + len(end):]
        text = pre + block + post
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def cmd_report(args):
    rows = read_tsv(args.tsv)
    mem_rows = read_tsv(args.mem) if args.mem and os.path.exists(args.mem) else []
    meta = read_meta(args.meta)
    summary = summarize(rows)
    lines, warnings, proxies, cells = build_tables(summary, args.subject, mem_rows, meta, rows)

    # summary TSV
    with open(args.summary_tsv, "w") as f:
        f.write("conns\tbody\tproxy\trounds\trps_median\trps_spread_pct\tp50_ms_median\tp99_ms_median\t"
                "non2xx_total\tsock_errors_total\tproxy_cpu_pct_median\tcpu_us_per_req_median\n")
        for (c, b, p), s in sorted(summary.items()):
            f.write(f"{c}\t{b}\t{p}\t{s['rounds']}\t{s['rps']:.1f}\t{s['spread_pct']:.1f}\t"
                    f"{s['p50_ms']:.4f}\t{s['p99_ms']:.4f}\t{s['non2xx']}\t{s['sock_errors']}\t"
                    f"{s['cpu_pct']:.1f}\t{s['cpu_us_per_req']:.2f}\n")

    md = dict(meta)
    title = f"Strait vs nginx vs haproxy ({md.get('mode', '')}, {md.get('date', '')})"
    if rows:
        write_plot(summary, proxies, cells, args.png, args.workdir, title)

    section = ["## Latest `compare.sh` run", ""]
    section.append("| | |")
    section.append("|---|---|")
    for k, v in meta:
        v = v.replace("|", "\\|")
        if k == "command":
            v = f"`{v}`"
        section.append(f"| {k} | {v} |")
    section.append("")
    if md.get("mode", "").startswith("quick"):
        section.append("> **Quick mode**: one short round per cell. A smoke test that the setup works, "
                       "not a measurement; do not quote these numbers.")
        section.append("")
    section.extend(lines)
    section.append(f"![requests/s and p99 per cell]({os.path.basename(args.png)})")
    section.append("")
    section.append("Raw per-run data: `perf/out/compare.tsv`, medians: `perf/out/compare-summary.tsv`, "
                   "memory: `perf/out/memory.tsv`, wrk outputs: `perf/out/raw/`.")

    with open(args.section_out, "w") as f:
        f.write("\n".join(section) + "\n")
    if args.results_md:
        replace_section(args.results_md, section)

    # Terminal output: the same tables, without the metadata block.
    print("\n".join(lines))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("freeports")
    p.add_argument("n", type=int)
    p.set_defaults(fn=cmd_freeports)
    p = sub.add_parser("wait-http")
    p.add_argument("url")
    p.add_argument("timeout", type=float)
    p.set_defaults(fn=cmd_wait_http)
    p = sub.add_parser("rss")
    p.add_argument("pid", type=int)
    p.set_defaults(fn=cmd_rss)
    p = sub.add_parser("cputime")
    p.add_argument("pid", type=int)
    p.set_defaults(fn=cmd_cputime)
    p = sub.add_parser("idle-conns")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("n", type=int)
    p.add_argument("path")
    p.add_argument("ready_file")
    p.add_argument("--hold", type=float, default=300.0, help="give up holding after this many seconds")
    p.set_defaults(fn=cmd_idle_conns)
    p = sub.add_parser("parse-wrk")
    p.add_argument("file")
    p.set_defaults(fn=cmd_parse_wrk)
    p = sub.add_parser("report")
    p.add_argument("--tsv", required=True)
    p.add_argument("--mem")
    p.add_argument("--meta", required=True)
    p.add_argument("--subject", default="strait")
    p.add_argument("--summary-tsv", required=True)
    p.add_argument("--png", required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("--section-out", required=True)
    p.add_argument("--results-md", default="")
    p.set_defaults(fn=cmd_report)
    args = ap.parse_args()
    sys.exit(args.fn(args) or 0)


if __name__ == "__main__":
    main()
