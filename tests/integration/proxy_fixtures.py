"""Shared pieces for the proxy integration tests: config builders and raw-socket readers.

Everything here is on top of harness.py; ports are always 0 and discovered.
"""

import json
import socket
import threading
import time

import harness


def simple_config(cluster_port, http_options="", routes=None, workers=1, clusters_extra="",
                  endpoints=None):
    """A one-listener proxy config: every path goes to cluster `backend` at cluster_port.

    http_options: extra YAML lines for `listeners[0].http` (already indented by 6 spaces).
    routes: YAML for the routes list (indented by 10 spaces) replacing the default catch-all.
    endpoints: [(port, weight)] replacing the one endpoint at cluster_port (pass None for it).
    """
    if routes is None:
        routes = "          - match: {prefix: /}\n            route: {cluster: backend}\n"
    if endpoints is None:
        endpoint_block = "    endpoints: [{address: 127.0.0.1, port: %d}]\n" % cluster_port
    else:
        endpoint_block = "    endpoints:\n" + "".join(
            "      - {address: 127.0.0.1, port: %d, weight: %d}\n" % e for e in endpoints)
    http_block = "    http:\n" + http_options if http_options else ""
    return (
        "admin: {address: 127.0.0.1, port: 0}\n"
        "workers: %d\n"
        "listeners:\n"
        "  - name: main\n"
        "    address: 127.0.0.1\n"
        "    port: 0\n"
        "%s"
        "    virtual_hosts:\n"
        "      - name: default\n"
        "        domains: [\"*\"]\n"
        "        routes:\n"
        "%s"
        "clusters:\n"
        "  - name: backend\n"
        "%s"
        "%s" % (workers, http_block, routes, endpoint_block, clusters_extra))


def closed_port():
    """A local TCP port with nothing listening (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SocketReader:
    """Reads HTTP/1.1 responses from a socket, keeping bytes that belong to the next one."""

    def __init__(self, sock, timeout=10):
        self.sock = sock
        self.buffer = b""
        self.sock.settimeout(timeout)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed; have %r" % self.buffer[:200])
        self.buffer += chunk

    def read_until(self, marker):
        while marker not in self.buffer:
            self._fill()
        index = self.buffer.index(marker) + len(marker)
        data, self.buffer = self.buffer[:index], self.buffer[index:]
        return data

    def read_exact(self, n):
        while len(self.buffer) < n:
            self._fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def read_response(self, head_request=False):
        """Returns (status, {lower-case name: value}, body) of one response."""
        head = self.read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            if not line:
                continue
            name, _, value = line.partition(":")
            key = name.strip().lower()
            value = value.strip()
            headers[key] = headers[key] + ", " + value if key in headers else value
        if head_request or status < 200 or status in (204, 304):
            return status, headers, b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size_line = self.read_until(b"\r\n")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    self.read_until(b"\r\n")
                    return status, headers, body
                body += self.read_exact(size)
                self.read_exact(2)
        if "content-length" in headers:
            return status, headers, self.read_exact(int(headers["content-length"]))
        body = self.buffer
        self.buffer = b""
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                return status, headers, body
            body += chunk

    def at_eof(self, timeout=5):
        """True when the peer closes (or resets) within timeout with no more bytes."""
        if self.buffer:
            return False
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def echo_headers(body):
    """The /echo document's headers as {lower-case name: [values]}."""
    doc = json.loads(body)
    out = {}
    for name, value in doc["headers"]:
        out.setdefault(name.lower(), []).append(value)
    return doc, out


def sample_rss(process, stop_event, samples, interval=0.05):
    """Thread body: appends process.rss_bytes() to samples every interval until stop_event."""
    while not stop_event.is_set():
        samples.append(process.rss_bytes())
        stop_event.wait(interval)


def wait_upstream_requests(upstream, at_least, timeout=10):
    return harness.wait_for(lambda: upstream.stats()["requests"] >= at_least, timeout=timeout,
                            what="upstream requests >= %d" % at_least)


def monotonic_ms():
    return time.monotonic() * 1000.0


def concurrent_requests(proxy, paths, timeout=20):
    """GETs of `paths` all at once, each on its own connection, released together by a barrier.

    Returns [(status, headers, body, seconds)] in path order.
    """
    results = [None] * len(paths)
    barrier = threading.Barrier(len(paths))

    def run(i):
        barrier.wait()
        started = time.monotonic()
        status, headers, body = harness.http_request("GET", proxy.url(paths[i]), timeout=timeout)
        results[i] = (status, headers, body, time.monotonic() - started)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(paths))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def read_lines(path):
    """The whole lines of a file (a line is written with its newline in one write(2))."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    return data.split(b"\n")[:-1]
