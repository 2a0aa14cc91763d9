"""Reusable pieces for Strait integration tests (Python 3 standard library only).

Tests start real binaries on port 0 and discover the ports from files the binaries write:
`Upstream` runs `strait-test-upstream`, `Strait` runs the proxy, `ControlPlane` runs strait-cp.
All are context managers that always kill their process, and keep its stdout/stderr in files
that are printed when a test fails (see `ProcessTestCase`). Nothing here sleeps to wait for a
condition: every wait polls with a deadline.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CURL = "/usr/bin/curl"
WRK = "/usr/bin/wrk"

# Every process started by this module, so a failing test can show their logs.
_started = []


def find_binary(name):
    """Path of a built binary: $STRAIT_BIN_DIR (set by ctest), else build/bin in the repo."""
    candidates = []
    if os.environ.get("STRAIT_BIN_DIR"):
        candidates.append(os.path.join(os.environ["STRAIT_BIN_DIR"], name))
    candidates.append(os.path.join(REPO_ROOT, "build", "bin", name))
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise FileNotFoundError(
        "%s not found (looked in %s); build it or set STRAIT_BIN_DIR" % (name, ", ".join(candidates)))


def sanitized_build():
    """True when the strait under test is an AddressSanitizer build (its RSS then includes the
    allocator's quarantine and shadow memory, so memory bounds of the release build do not apply)."""
    try:
        out = subprocess.run(["ldd", find_binary("strait")], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return b"libasan" in out


def wait_for(predicate, timeout=10.0, interval=0.01, what="condition"):
    """Polls predicate() until it returns a truthy value, which is returned; raises on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def _read_file(path):
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return None


class _Process:
    """A child process with its output captured to files in its own temporary directory."""

    def __init__(self, label, argv, workdir, env=None):
        self.label = label
        self.argv = argv
        self.workdir = workdir
        self.stdout_path = os.path.join(workdir, "stdout.log")
        self.stderr_path = os.path.join(workdir, "stderr.log")
        self._stdout = open(self.stdout_path, "wb")
        self._stderr = open(self.stderr_path, "wb")
        self._final = None
        self.proc = subprocess.Popen(argv, stdout=self._stdout, stderr=self._stderr,
                                     stdin=subprocess.DEVNULL, env=env, cwd=workdir)
        _started.append(self)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def check_alive(self, waiting_for):
        if not self.alive():
            raise RuntimeError("%s exited with %s while waiting for %s\n%s" % (
                self.label, self.proc.returncode, waiting_for, self.describe()))

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Sends sig, waits up to timeout, then kills. Returns the exit code."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close_logs()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_logs()

    def _close_logs(self):
        # Keep the logs in memory: the temporary directory goes away before a failing test's
        # cleanup prints them.
        if self._final is None:
            self._stdout.close()
            self._stderr.close()
            self._final = (_read_file(self.stdout_path) or "", _read_file(self.stderr_path) or "")

    def stdout(self):
        if self._final is not None:
            return self._final[0]
        self._stdout.flush()
        return _read_file(self.stdout_path) or ""

    def stderr(self):
        if self._final is not None:
            return self._final[1]
        self._stderr.flush()
        return _read_file(self.stderr_path) or ""

    def describe(self):
        return "---- %s: %s (pid %d, exit %s)\n-- stdout (%s):\n%s\n-- stderr (%s):\n%s" % (
            self.label, " ".join(self.argv), self.proc.pid, self.proc.poll(),
            self.stdout_path, self.stdout()[-8000:], self.stderr_path, self.stderr()[-8000:])

    def rss_bytes(self):
        """Resident set size from /proc/PID/status (VmRSS)."""
        status = _read_file("/proc/%d/status" % self.proc.pid) or ""
        match = re.search(r"^VmRSS:\s+(\d+)\s+kB", status, re.M)
        return int(match.group(1)) * 1024 if match else 0


def _wait_for_file(process, path, timeout):
    def ready():
        process.check_alive("%s to appear" % path)
        content = _read_file(path)
        return content.strip() if content and content.strip() else None

    return wait_for(ready, timeout=timeout, what=path)


class Upstream:
    """Runs strait-test-upstream on port 0 and finds its port through --port-file."""

    def __init__(self, name="upstream", status=None, body_size=None, delay_ms=None,
                 address="127.0.0.1", extra_args=(), start_timeout=10):
        self.name = name
        self.address = address
        self.workdir = tempfile.mkdtemp(prefix="strait-upstream-")
        port_file = os.path.join(self.workdir, "port")
        argv = [find_binary("strait-test-upstream"), "--address", address, "--port", "0",
                "--port-file", port_file, "--name", name]
        if status is not None:
            argv += ["--status", str(status)]
        if body_size is not None:
            argv += ["--body-size", str(body_size)]
        if delay_ms is not None:
            argv += ["--delay-ms", str(delay_ms)]
        argv += list(extra_args)
        self.process = _Process("upstream %s" % name, argv, self.workdir)
        try:
            self.port = int(_wait_for_file(self.process, port_file, start_timeout))
        except Exception:
            self.process.kill()
            raise

    @property
    def pid(self):
        return self.process.pid

    def url(self, path="/"):
        return "http://%s:%d%s" % (self.address, self.port, path)

    def stats(self):
        """The upstream's counters: requests and connections (not counting /__stats itself)."""
        status, _, body = http_request("GET", self.url("/__stats"))
        if status != 200:
            raise RuntimeError("/__stats answered %d" % status)
        return json.loads(body)

    def rss_bytes(self):
        return self.process.rss_bytes()

    def force_status(self, status=None):
        """Makes every later request (health checks too) answer `status`; None restores."""
        query = "" if status is None else "?status=%d" % status
        code, _, _ = http_request("GET", self.url("/__control" + query))
        if code != 200:
            raise RuntimeError("/__control answered %d" % code)

    def log(self):
        return self.process.stderr()

    def stop(self, sig=signal.SIGTERM, timeout=10):
        code = self.process.stop(sig, timeout)
        shutil.rmtree(self.workdir, ignore_errors=True)
        return code

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.process.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)
        return False


class Strait:
    """Runs the proxy with a YAML config; finds the admin server and the listeners' ports."""

    def __init__(self, config_yaml_text, extra_args=(), start_timeout=10, binary="strait",
                 env=None):
        self.workdir = tempfile.mkdtemp(prefix="strait-proxy-")
        self.config_path = os.path.join(self.workdir, "strait.yaml")
        with open(self.config_path, "w", encoding="utf-8") as f:
            f.write(config_yaml_text)
        admin_file = os.path.join(self.workdir, "admin-address")
        argv = [find_binary(binary), "--config", self.config_path,
                "--admin-address-path", admin_file] + list(extra_args)
        child_env = dict(os.environ)
        child_env.update(env or {})
        self.process = _Process("strait", argv, self.workdir, env=child_env)
        try:
            self.admin_address = _wait_for_file(self.process, admin_file, start_timeout)
            self._listeners = self._fetch_listeners()
        except Exception:
            self.process.kill()
            raise

    def _fetch_listeners(self):
        status, _, body = http_request("GET", self.admin_url("/listeners"))
        if status != 200:
            raise RuntimeError("admin /listeners answered %d: %r" % (status, body[:200]))
        return {entry["name"]: entry for entry in json.loads(body)["listeners"]}

    @property
    def pid(self):
        return self.process.pid

    def listener_port(self, name):
        if name not in self._listeners:
            self._listeners = self._fetch_listeners()
        return int(self._listeners[name]["port"])

    def admin_url(self, path="/"):
        return "http://%s%s" % (self.admin_address, path)

    def url(self, path="/", listener=None):
        """URL on a listener; without a name, the only (or first) listener."""
        if listener is None:
            listener = next(iter(self._listeners))
        entry = self._listeners[listener]
        host = entry.get("address", "127.0.0.1")
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = "[%s]" % host
        return "http://%s:%d%s" % (host, self.listener_port(listener), path)

    def stats_text(self):
        status, _, body = http_request("GET", self.admin_url("/stats"))
        if status != 200:
            raise RuntimeError("admin /stats answered %d" % status)
        return body.decode("utf-8", errors="replace")

    def counter(self, name, labels=None):
        """Value of one Prometheus sample (summed if several match), or 0.0 if absent."""
        return prometheus_value(self.stats_text(), name, labels)

    def wait_counter(self, name, labels=None, at_least=1.0, timeout=10):
        """Polls until a counter reaches at_least; returns its value."""
        return wait_for(lambda: (lambda v: v if v >= at_least else None)(self.counter(name, labels)),
                        timeout=timeout, what="%s%s >= %s" % (name, labels or "", at_least))

    def stop(self, sig=signal.SIGTERM, timeout=10):
        return self.process.stop(sig, timeout)

    def log(self):
        return self.process.stderr()

    def rss_bytes(self):
        return self.process.rss_bytes()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        # Stop gracefully so that a sanitizer build runs its exit-time checks (LeakSanitizer):
        # SIGTERM drains, a second SIGTERM exits at once, SIGKILL only as the last resort.
        if self.process.alive():
            try:
                self.process.proc.send_signal(signal.SIGTERM)
                self.process.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                try:
                    self.process.proc.send_signal(signal.SIGTERM)
                    self.process.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
        self.process.kill()
        report = sanitizer_report(self.process.stderr() or "")
        shutil.rmtree(self.workdir, ignore_errors=True)
        if report:
            raise AssertionError("strait reported a sanitizer error:\n" + report)
        return False


def wait_for_binary(name, timeout=60):
    """find_binary, waiting while the binary is briefly missing (another build replacing it)."""
    def found():
        try:
            return find_binary(name)
        except FileNotFoundError:
            return None

    return wait_for(found, timeout=timeout, interval=0.2, what="binary %s" % name)


def replace_file(path, text):
    """Writes path whole under a temporary name in the same folder and renames it over path, so a
    process watching the folder never reads half a file. The temporary name ends in .tmp, which
    strait-cp's source watch ignores."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".",
                                suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def write_tree(root, files):
    """Writes {relative path: text} under root (folders created, each file replaced whole)."""
    for relative, text in files.items():
        replace_file(os.path.join(root, relative), text)


class ControlPlane:
    """Runs strait-cp on port 0 over a source directory; finds its ports through --ports-file.

    files: {relative path: YAML text} written into the source directory before the start
    ("edge/clusters.yaml" is a file of group edge, "_shared/x.yaml" applies to every group).
    """

    def __init__(self, files=None, extra_args=(), start_timeout=20, source_dir=None):
        self.workdir = tempfile.mkdtemp(prefix="strait-cp-")
        self.source_dir = source_dir or os.path.join(self.workdir, "source")
        os.makedirs(self.source_dir, exist_ok=True)
        write_tree(self.source_dir, files or {})
        ports_file = os.path.join(self.workdir, "ports")
        argv = [wait_for_binary("strait-cp"), "--source", self.source_dir,
                "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
                "--ports-file", ports_file] + list(extra_args)
        self.process = _Process("strait-cp", argv, self.workdir)
        self.exit_code = None
        try:
            # strait-cp writes the file under a temporary name and renames it: never half of it.
            text = _wait_for_file(self.process, ports_file, start_timeout)
            ports = dict(line.split() for line in text.splitlines() if line.strip())
            self.discovery_port = int(ports["discovery"])
            self.admin_port = int(ports["admin"])
        except Exception:
            self.process.kill()
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise

    @property
    def pid(self):
        return self.process.pid

    def source_path(self, relative):
        return os.path.join(self.source_dir, relative)

    def write_source(self, files):
        """Writes {relative path: text} into the source directory, each file replaced whole."""
        write_tree(self.source_dir, files)

    def discovery_url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.discovery_port, path)

    def admin_url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.admin_port, path)

    def status(self):
        """The parsed /status JSON."""
        code, _, body = http_request("GET", self.admin_url("/status"))
        if code != 200:
            raise RuntimeError("/status answered %d: %r" % (code, body[:200]))
        return json.loads(body)

    def metrics_text(self):
        code, _, body = http_request("GET", self.admin_url("/metrics"))
        if code != 200:
            raise RuntimeError("/metrics answered %d" % code)
        return body.decode("utf-8", errors="replace")

    def counter(self, name, labels=None):
        """Value of one strait_cp_* sample (summed if several match), or 0.0 if absent."""
        return prometheus_value(self.metrics_text(), name, labels)

    def wait_counter(self, name, labels=None, at_least=1.0, timeout=20):
        """Polls until a counter reaches at_least; returns its value."""
        def reached():
            value = self.counter(name, labels)
            return value if value >= at_least else None

        return wait_for(reached, timeout=timeout,
                        what="%s%s >= %s" % (name, labels or "", at_least))

    def log(self):
        return self.process.stderr()

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Stops the process (SIGTERM, then SIGKILL after timeout); returns its exit code."""
        self.exit_code = self.process.stop(sig, timeout)
        return self.exit_code

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        # A graceful stop lets a sanitizer build run its exit-time checks (LeakSanitizer).
        self.stop()
        report = sanitizer_report(self.process.stderr() or "")
        shutil.rmtree(self.workdir, ignore_errors=True)
        if report:
            raise AssertionError("strait-cp reported a sanitizer error:\n" + report)
        return False


def sanitizer_report(text):
    """The AddressSanitizer / LeakSanitizer / UBSan part of a process's stderr, or ''."""
    markers = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
    for marker in markers:
        at = text.find(marker)
        if at >= 0:
            return text[max(0, at - 200):at + 4000]
    return ""


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def parse_prometheus(text):
    """Parses Prometheus text into a list of (name, {label: value}, float)."""
    samples = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if not match:
            continue
        labels = {}
        for key, raw in _LABEL.findall(match.group(3) or ""):
            labels[key] = raw.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
        try:
            value = float(match.group(4))
        except ValueError:
            continue
        samples.append((match.group(1), labels, value))
    return samples


def prometheus_value(text, name, labels=None):
    """Sum of the samples called name whose labels include every given label; 0.0 if none."""
    wanted = {k: str(v) for k, v in (labels or {}).items()}
    total = 0.0
    for sample_name, sample_labels, value in parse_prometheus(text):
        if sample_name == name and all(sample_labels.get(k) == v for k, v in wanted.items()):
            total += value
    return total


def http_request(method, url, headers=None, body=None, timeout=10):
    """One request on a fresh connection. Returns (status, {lower-case name: value}, body)."""
    parts = urllib.parse.urlsplit(url)
    conn_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_class(parts.hostname, parts.port, timeout=timeout)
    try:
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        conn.request(method, target, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        merged = {}
        for name, value in response.getheaders():
            key = name.lower()
            merged[key] = merged[key] + ", " + value if key in merged else value
        return response.status, merged, data
    finally:
        conn.close()


def raw_request(port, data, timeout=5, host="127.0.0.1"):
    """Sends raw bytes and returns everything received until the peer closes or timeout."""
    chunks = []
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def curl(*args, timeout=120, input=None):
    """Runs curl -sS with args. Returns (exit code, stdout bytes, stderr text)."""
    result = subprocess.run([CURL, "-sS"] + [str(a) for a in args], input=input,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return result.returncode, result.stdout, result.stderr.decode("utf-8", errors="replace")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def _latency_ms(text):
    match = re.match(r"([\d.]+)(us|ms|s|m|h)$", text)
    return float(match.group(1)) * _UNITS[match.group(2)] if match else None


def parse_wrk(output):
    """Parses `wrk --latency` output into a dict (see wrk())."""
    result = {"requests": 0, "duration_s": 0.0, "requests_per_s": 0.0, "non_2xx_3xx": 0,
              "errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0},
              "latency_ms": {}, "p50_ms": None, "p99_ms": None, "raw": output}
    match = re.search(r"(\d+) requests in ([\d.]+)(\w+),", output)
    if match:
        result["requests"] = int(match.group(1))
        result["duration_s"] = _latency_ms(match.group(2) + match.group(3)) / 1000.0
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if match:
        result["requests_per_s"] = float(match.group(1))
    match = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if match:
        result["non_2xx_3xx"] = int(match.group(1))
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if match:
        for key, value in zip(("connect", "read", "write", "timeout"), match.groups()):
            result["errors"][key] = int(value)
    section = output.split("Latency Distribution", 1)
    if len(section) == 2:
        for pct, value in re.findall(r"^\s+(\d+)%\s+(\S+)", section[1], re.M):
            result["latency_ms"][int(pct)] = _latency_ms(value)
    result["p50_ms"] = result["latency_ms"].get(50)
    result["p99_ms"] = result["latency_ms"].get(99)
    return result


def wrk(url, connections, duration_s, threads=1, script=None, timeout_s=30, extra_args=()):
    """Runs wrk --latency and returns a dict: requests, requests_per_s, non_2xx_3xx,
    errors {connect, read, write, timeout}, socket_errors (their sum), p50_ms, p99_ms,
    latency_ms {50, 75, 90, 99}, raw (the output).

    wrk's own default counts a response slower than 2 s as a socket error; a loaded CI machine
    stalls a whole process for longer than that, so the default here is 30 s: a request that
    fails still counts, a slow one is latency."""
    argv = [WRK, "--latency", "-t", str(threads), "-c", str(max(connections, threads)),
            "-d", "%ss" % duration_s]
    if timeout_s is not None:
        argv += ["--timeout", "%ss" % timeout_s]
    if script is not None:
        argv += ["-s", script]
    argv += list(extra_args) + [url]
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            timeout=duration_s + 60)
    if result.returncode != 0:
        raise RuntimeError("wrk failed (%d): %s" % (result.returncode, result.stderr.decode()))
    parsed = parse_wrk(result.stdout.decode("utf-8", errors="replace"))
    parsed["socket_errors"] = sum(parsed["errors"].values())
    return parsed


def render_config(template, **values):
    """Fills {name} placeholders in a YAML template; other braces can be doubled ({{ }})."""
    return template.format(**values)


class ProcessTestCase(unittest.TestCase):
    """A TestCase that prints the logs of every process it started when a test fails."""

    def setUp(self):
        self._first_process = len(_started)
        self.addCleanup(self._dump_logs_on_failure)

    def _failed(self):
        outcome = getattr(self, "_outcome", None)
        if outcome is None:
            return False
        result = getattr(outcome, "result", None)
        if result is not None:
            for test, _ in list(result.errors) + list(result.failures):
                if test is self:
                    return True
        return not getattr(outcome, "success", True)

    def _dump_logs_on_failure(self):
        processes = _started[self._first_process:]
        del _started[self._first_process:]
        if processes and self._failed():
            for process in processes:
                sys.stderr.write(process.describe() + "\n")

    def start(self, thing):
        """Registers an Upstream/Strait so it is killed after the test, even on failure."""
        self.addCleanup(thing.__exit__, None, None, None)
        return thing
