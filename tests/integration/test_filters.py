"""The filter chain in the real proxy (issue 5's contract), driven through mtls_authz on a
plaintext listener, where no request has a verified identity: only principal-free rules can
allow. TLS identities are tested in test_tls.py.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
import unittest

import harness
from harness import Strait, Upstream, http_request, wait_for
from proxy_fixtures import SocketReader, concurrent_requests, read_lines


def authz_config(upstream_port, mode="enforce"):
    return (
        "admin: {address: 127.0.0.1, port: 0}\n"
        "workers: 1\n"
        "listeners:\n"
        "  - name: main\n"
        "    address: 127.0.0.1\n"
        "    port: 0\n"
        "    http:\n"
        "      filters:\n"
        "        - name: mtls_authz\n"
        "          config:\n"
        "            mode: %s\n"
        "            default: deny\n"
        "            rules:\n"
        "              - {name: public, action: allow, methods: [GET], paths: [{prefix: /public/}]}\n"
        "              - {name: web, action: allow, principals: [\"spiffe://example.org/web\"]}\n"
        "    virtual_hosts:\n"
        "      - name: default\n"
        "        domains: [\"*\"]\n"
        "        routes:\n"
        "          - match: {prefix: /}\n"
        "            route: {cluster: backend}\n"
        "clusters:\n"
        "  - name: backend\n"
        "    endpoints: [{address: 127.0.0.1, port: %d}]\n" % (mode, upstream_port))


class AuthzChainTest(harness.ProcessTestCase):
    def test_denied_requests_never_reach_the_upstream(self):
        upstream = self.start(Upstream(name="app"))
        proxy = self.start(Strait(authz_config(upstream.port)))
        status, headers, body = http_request("GET", proxy.url("/public/page"))
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("x-upstream-name"), "app")

        for method, path in (("POST", "/public/page"), ("GET", "/private"),
                             ("GET", "/no/such/route/either")):
            status, headers, body = http_request(method, proxy.url(path), body=b"x" * 10)
            self.assertEqual(status, 403, (method, path))
            self.assertEqual(headers.get("x-strait-authz-reason"), "no_principal")
            self.assertEqual(body, b"access denied: no_principal\n")
            self.assertIsNone(headers.get("x-upstream-name"))
        self.assertEqual(upstream.stats()["requests"], 1)
        self.assertEqual(proxy.counter("strait_dp_authz_allowed_total", {"listener": "main"}), 1)
        self.assertEqual(proxy.counter("strait_dp_authz_denied_total",
                                       {"listener": "main", "reason": "no_principal"}), 3)
        self.assertEqual(proxy.counter("strait_dp_downstream_rq_total",
                                       {"listener": "main", "code_class": "4xx"}), 3)

    def test_dry_run_counts_and_lets_through(self):
        upstream = self.start(Upstream(name="app"))
        proxy = self.start(Strait(authz_config(upstream.port, mode="dry_run")))
        for _ in range(3):
            status, _, _ = http_request("GET", proxy.url("/private"))
            self.assertEqual(status, 200)
        self.assertEqual(upstream.stats()["requests"], 3)
        self.assertEqual(
            proxy.counter("strait_dp_authz_dry_run_denied_total", {"listener": "main"}), 3)
        self.assertEqual(proxy.counter("strait_dp_authz_denied_total",
                                       {"listener": "main", "reason": "no_principal"}), 0)

    def test_keep_alive_connection_survives_a_denial(self):
        upstream = self.start(Upstream(name="app"))
        proxy = self.start(Strait(authz_config(upstream.port)))
        port = proxy.listener_port("main")
        request = (b"GET /private HTTP/1.1\r\nHost: x\r\n\r\n"
                   b"GET /public/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = harness.raw_request(port, request)
        self.assertIn(b"HTTP/1.1 403", data)
        self.assertIn(b"HTTP/1.1 200", data)
        self.assertLess(data.index(b"HTTP/1.1 403"), data.index(b"HTTP/1.1 200"))


def filter_config(upstream_port, filters_yaml, workers=1, top=""):
    """A listener with the given `filters:` list items (already indented by 8 spaces); `top`:
    more top-level keys (whole lines)."""
    return (
        "admin: {address: 127.0.0.1, port: 0}\n"
        "workers: %d\n"
        "%s"
        "listeners:\n"
        "  - name: main\n"
        "    address: 127.0.0.1\n"
        "    port: 0\n"
        "    http:\n"
        "      filters:\n"
        "%s"
        "    virtual_hosts:\n"
        "      - name: default\n"
        "        domains: [\"*\"]\n"
        "        routes:\n"
        "          - match: {prefix: /}\n"
        "            route: {cluster: backend, timeout: 30s}\n"
        "clusters:\n"
        "  - name: backend\n"
        "    endpoints: [{address: 127.0.0.1, port: %d}]\n"
        % (workers, top, filters_yaml, upstream_port))


def fault(config_body):
    return "        - name: fault\n          config: %s\n" % config_body


def fault_counter(proxy, what):
    return proxy.counter("strait_dp_fault_%s_total" % what, {"listener": "main"})


class FaultFilterTest(harness.ProcessTestCase):
    def test_abort_answers_503_and_the_upstream_sees_nothing(self):
        upstream = self.start(Upstream(name="app"))
        proxy = self.start(Strait(filter_config(upstream.port, fault("{abort: {status: 503}}"))))
        for _ in range(3):
            status, _, body = http_request("GET", proxy.url("/x"))
            self.assertEqual(status, 503)
            self.assertEqual(body, b"fault filter abort\n")
        self.assertEqual(upstream.stats()["requests"], 0)
        self.assertEqual(fault_counter(proxy, "aborts_injected"), 3)

    def test_delay_holds_the_request(self):
        upstream = self.start(Upstream(name="app"))
        proxy = self.start(Strait(filter_config(upstream.port,
                                                fault("{delay: {fixed: 300ms}}"))))
        started = time.monotonic()
        status, _, _ = http_request("GET", proxy.url("/x"))
        elapsed = time.monotonic() - started
        self.assertEqual(status, 200)
        self.assertGreaterEqual(elapsed, 0.3)
        self.assertEqual(upstream.stats()["requests"], 1)
        self.assertEqual(fault_counter(proxy, "delays_injected"), 1)

    def test_header_control_only_when_enabled(self):
        upstream = self.start(Upstream(name="app"))
        proxy = self.start(Strait(filter_config(upstream.port, fault("{header_control: true}"))))
        status, _, _ = http_request("GET", proxy.url("/x"), headers={"x-strait-fault-abort": "418"})
        self.assertEqual(status, 418)
        status, _, _ = http_request("GET", proxy.url("/x"))
        self.assertEqual(status, 200)

        off = self.start(Strait(filter_config(upstream.port, fault("{header_control: false}"))))
        status, _, _ = http_request("GET", off.url("/x"), headers={"x-strait-fault-abort": "418"})
        self.assertEqual(status, 200)

    def test_abort_percent_50(self):
        upstream = self.start(Upstream(name="app"))
        proxy = self.start(Strait(filter_config(upstream.port,
                                                fault("{abort: {status: 503, percent: 50}}"))))
        port = proxy.listener_port("main")
        aborted = 0
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(400):
            conn.request("GET", "/x")
            response = conn.getresponse()
            response.read()
            if response.status == 503:
                aborted += 1
            if response.getheader("connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.close()
        self.assertGreaterEqual(aborted, 140)
        self.assertLessEqual(aborted, 260)
        self.assertEqual(fault_counter(proxy, "aborts_injected"), aborted)
        self.assertEqual(upstream.stats()["requests"], 400 - aborted)

    def test_reset_cuts_the_connection(self):
        upstream = self.start(Upstream(name="app"))
        proxy = self.start(Strait(filter_config(upstream.port, fault("{abort: {reset: true}}"))))
        port = proxy.listener_port("main")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
            reset = False
            data = b""
            try:
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except ConnectionResetError:
                reset = True
        self.assertTrue(reset, data)
        self.assertEqual(data, b"")
        self.assertEqual(fault_counter(proxy, "resets_injected"), 1)
        self.assertEqual(upstream.stats()["requests"], 0)

    def test_response_rate_limit(self):
        upstream = self.start(Upstream(name="app"))
        proxy = self.start(Strait(filter_config(upstream.port,
                                                fault("{response_rate_limit: {kbps: 64}}"))))
        started = time.monotonic()
        status, _, body = http_request("GET", proxy.url("/x?body_size=65536"))
        elapsed = time.monotonic() - started
        self.assertEqual(status, 200)
        self.assertEqual(len(body), 65536)
        self.assertGreaterEqual(elapsed, 0.8)
        self.assertLess(elapsed, 5)
        self.assertEqual(fault_counter(proxy, "rate_limits_injected"), 1)

    def test_dry_run_injects_nothing_and_counts(self):
        upstream = self.start(Upstream(name="app"))
        proxy = self.start(Strait(filter_config(
            upstream.port, fault("{mode: dry_run, abort: {status: 503}, delay: {fixed: 2s}}"))))
        for _ in range(3):
            started = time.monotonic()
            status, _, _ = http_request("GET", proxy.url("/x"))
            self.assertEqual(status, 200)
            self.assertLess(time.monotonic() - started, 1.5)
        self.assertEqual(upstream.stats()["requests"], 3)
        self.assertEqual(fault_counter(proxy, "dry_run"), 3)
        self.assertEqual(fault_counter(proxy, "aborts_injected"), 0)

    def test_response_delay_holds_the_response_head(self):
        upstream = self.start(Upstream(name="app"))
        log_dir = tempfile.mkdtemp(prefix="strait-fault-log-")
        self.addCleanup(shutil.rmtree, log_dir, True)
        log_path = os.path.join(log_dir, "access.log")
        proxy = self.start(Strait(filter_config(
            upstream.port, fault("{response_delay: {fixed: 300ms}}"),
            top="access_log: {path: \"%s\", format: json}\n" % log_path)))
        port = proxy.listener_port("main")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            started = time.monotonic()
            sock.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\nx-request-id: rd-1\r\n\r\n")
            first = sock.recv(1)  # the first byte of the status line
            head_after = time.monotonic() - started
            self.assertEqual(first, b"H")
            reader = SocketReader(sock)
            reader.buffer = first
            response = reader.read_response()
        self.assertEqual(response[0], 200)
        self.assertGreaterEqual(head_after, 0.3)
        self.assertLess(head_after, 5)
        # The upstream had the request at once: only the response waited.
        self.assertEqual(upstream.stats()["requests"], 1)
        self.assertEqual(fault_counter(proxy, "response_delays_injected"), 1)
        self.assertEqual(fault_counter(proxy, "delays_injected"), 0)

        def entry():
            for line in read_lines(log_path):
                record = json.loads(line)
                if record.get("request_id") == "rd-1":
                    return record
            return None

        self.assertIn("FI", wait_for(entry, what="access log line")["response_flags"])

    def test_response_delay_dry_run_counts_and_holds_nothing(self):
        upstream = self.start(Upstream(name="app"))
        proxy = self.start(Strait(filter_config(
            upstream.port, fault("{mode: dry_run, response_delay: {fixed: 2s}}"))))
        started = time.monotonic()
        status, _, _ = http_request("GET", proxy.url("/x"))
        self.assertEqual(status, 200)
        self.assertLess(time.monotonic() - started, 1.5)
        self.assertEqual(fault_counter(proxy, "dry_run"), 1)
        self.assertEqual(fault_counter(proxy, "response_delays_injected"), 0)


def gauge(proxy, name):
    return proxy.counter(name, {"listener": "main"})


def wait_gauge(proxy, name, value, timeout=10):
    return wait_for(lambda: gauge(proxy, name) == value or None, timeout=timeout,
                    what="%s == %s" % (name, value))


def read_until_closed(sock):
    """Reads until EOF; returns (bytes, whether the connection was reset)."""
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data, False
            data += chunk
    except ConnectionResetError:
        return data, True


BLACK_HOLES = "strait_dp_fault_connection_black_holes_active"


def json_access_log(test):
    """A fresh access log path and the `top` config line that writes JSON lines to it."""
    log_dir = tempfile.mkdtemp(prefix="strait-fault-log-")
    test.addCleanup(shutil.rmtree, log_dir, True)
    path = os.path.join(log_dir, "access.log")
    return path, "access_log: {path: \"%s\", format: json}\n" % path


def access_records(path):
    return [json.loads(line) for line in read_lines(path)]


class FaultConnectionTest(harness.ProcessTestCase):
    """Connection faults: drawn when a connection is accepted, before any byte is read."""

    def test_reset_closes_the_connection_before_any_response(self):
        upstream = self.start(Upstream(name="app"))
        log_path, log_config = json_access_log(self)
        proxy = self.start(Strait(filter_config(upstream.port, fault("{connection: {reset: 100}}"),
                                                top=log_config)))
        port = proxy.listener_port("main")
        for _ in range(3):
            # The RST may reach the client during connect(), during send, or as its read.
            # Whichever it is, no byte of a response ever arrives.
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                    sock.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
                    data, _ = read_until_closed(sock)
                    self.assertEqual(data, b"")
            except (ConnectionResetError, BrokenPipeError):
                pass
        self.assertEqual(fault_counter(proxy, "connection_resets_injected"), 3)
        self.assertEqual(upstream.stats()["requests"], 0)
        # One access log line per connection: no request, status 0, flagged FI.
        records = wait_for(lambda: len(access_records(log_path)) == 3 and access_records(log_path),
                           what="three access log lines")
        for record in records:
            self.assertEqual((record["status"], record["response_flags"], record["method"]),
                             (0, "FI", None), record)

    def test_reset_is_seen_as_a_reset_by_a_client_that_waits(self):
        upstream = self.start(Upstream(name="app"))
        proxy = self.start(Strait(filter_config(upstream.port,
                                                fault("{connection: {reset: 100}}"))))
        try:
            sock = socket.create_connection(("127.0.0.1", proxy.listener_port("main")), timeout=5)
        except ConnectionResetError:
            sock = None  # the RST came before connect() returned: a reset all the same
        if sock is not None:
            with sock:
                # Wait for the proxy to have acted (the counter), then read: the RST is there.
                proxy.wait_counter("strait_dp_fault_connection_resets_injected_total",
                                   {"listener": "main"}, at_least=1)
                with self.assertRaises(ConnectionResetError):
                    sock.recv(1)
        self.assertEqual(fault_counter(proxy, "connection_resets_injected"), 1)

    def test_black_hole_reads_and_never_answers_until_the_client_closes(self):
        upstream = self.start(Upstream(name="app"))
        log_path, log_config = json_access_log(self)
        proxy = self.start(Strait(filter_config(
            upstream.port, fault("{connection: {black_hole: 100}}"), top=log_config)))
        sock = socket.create_connection(("127.0.0.1", proxy.listener_port("main")), timeout=5)
        try:
            sock.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
            wait_gauge(proxy, BLACK_HOLES, 1)
            sock.settimeout(0.5)
            with self.assertRaises(socket.timeout):
                sock.recv(1)  # nothing is answered, and the connection is not closed
            sock.sendall(b"x" * 100000)  # everything is read and dropped
            with self.assertRaises(socket.timeout):
                sock.recv(1)
            self.assertEqual(gauge(proxy, BLACK_HOLES), 1)
        finally:
            sock.close()
        wait_gauge(proxy, BLACK_HOLES, 0)
        self.assertEqual(fault_counter(proxy, "connection_black_holes_injected"), 1)
        self.assertEqual(gauge(proxy, "strait_dp_downstream_cx_active"), 0)
        self.assertEqual(upstream.stats()["requests"], 0)
        # Its access log line comes when it closes, with every byte it swallowed.
        records = wait_for(lambda: access_records(log_path), what="the access log line")
        self.assertEqual(len(records), 1)
        self.assertEqual((records[0]["status"], records[0]["response_flags"]), (0, "FI"))
        self.assertEqual(records[0]["bytes_received"], len(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n") + 100000)
        self.assertGreaterEqual(records[0]["duration_ms"], 500)

    def test_black_holed_connections_are_closed_by_a_drain(self):
        upstream = self.start(Upstream(name="app"))
        proxy = self.start(Strait(filter_config(upstream.port,
                                                fault("{connection: {black_hole: 100}}"),
                                                workers=2)))
        socks = [socket.create_connection(("127.0.0.1", proxy.listener_port("main")), timeout=5)
                 for _ in range(2)]
        try:
            wait_gauge(proxy, BLACK_HOLES, 2)
            started = time.monotonic()
            proxy.process.proc.send_signal(signal.SIGTERM)
            for sock in socks:
                data, _ = read_until_closed(sock)
                self.assertEqual(data, b"")
            # Drained at once (drain.timeout is 30s): nothing was left to wait for.
            proxy.process.proc.wait(timeout=10)
            self.assertLess(time.monotonic() - started, 10)
            self.assertIn("drained", proxy.log())
        finally:
            for sock in socks:
                sock.close()

    def test_dry_run_serves_the_connection_and_counts(self):
        upstream = self.start(Upstream(name="app"))
        proxy = self.start(Strait(filter_config(
            upstream.port, fault("{mode: dry_run, connection: {reset: 100}}"))))
        for _ in range(2):
            status, _, _ = http_request("GET", proxy.url("/x"))
            self.assertEqual(status, 200)
        self.assertEqual(upstream.stats()["requests"], 2)
        self.assertGreaterEqual(fault_counter(proxy, "dry_run"), 2)
        self.assertEqual(fault_counter(proxy, "connection_resets_injected"), 0)


def bulkhead(compartments_yaml, mode="enforce"):
    return ("        - name: bulkhead\n"
            "          config:\n"
            "            mode: %s\n"
            "            compartments:\n%s" % (mode, compartments_yaml))


class BulkheadFilterTest(harness.ProcessTestCase):
    def test_full_compartment_rejects_with_overloaded(self):
        upstream = self.start(Upstream(name="app"))
        proxy = self.start(Strait(filter_config(upstream.port, bulkhead(
            "              - {name: default, max_concurrent: 2, max_queue: 0}\n"), workers=2)))
        results = concurrent_requests(proxy, ["/x?delay_ms=500"] * 4)
        statuses = sorted(r[0] for r in results)
        self.assertEqual(statuses, [200, 200, 503, 503], results)
        for status, headers, body, _ in results:
            if status == 503:
                self.assertEqual(headers.get("x-strait-overloaded"), "true")
                self.assertEqual(body, b"bulkhead default full\n")
        self.assertEqual(proxy.counter("strait_dp_bulkhead_rejected_total",
                                       {"listener": "main", "compartment": "default"}), 2)

    def test_queue_lets_all_through(self):
        upstream = self.start(Upstream(name="app"))
        proxy = self.start(Strait(filter_config(upstream.port, bulkhead(
            "              - {name: default, max_concurrent: 2, max_queue: 2,"
            " queue_timeout: 2s}\n"), workers=2)))
        results = concurrent_requests(proxy, ["/x?delay_ms=500"] * 4)
        self.assertEqual([r[0] for r in results], [200] * 4, results)
        self.assertEqual(upstream.stats()["requests"], 4)
        self.assertEqual(proxy.counter("strait_dp_bulkhead_queued_total",
                                       {"listener": "main", "compartment": "default"}), 2)

    def test_queue_timeout(self):
        upstream = self.start(Upstream(name="app"))
        proxy = self.start(Strait(filter_config(upstream.port, bulkhead(
            "              - {name: default, max_concurrent: 2, max_queue: 2,"
            " queue_timeout: 100ms}\n"))))
        results = concurrent_requests(proxy, ["/x?delay_ms=1000"] * 4)
        timed_out = [r for r in results if r[0] == 503]
        self.assertEqual(len(timed_out), 2, results)
        for status, headers, body, seconds in timed_out:
            self.assertEqual(headers.get("x-strait-overloaded"), "true")
            self.assertEqual(body, b"bulkhead default queue timeout\n")
            self.assertGreaterEqual(seconds, 0.09)
            self.assertLess(seconds, 0.9)
        self.assertEqual(proxy.counter("strait_dp_bulkhead_timed_out_total",
                                       {"listener": "main", "compartment": "default"}), 2)

    def test_noisy_compartment_does_not_block_another(self):
        upstream = self.start(Upstream(name="app"))
        proxy = self.start(Strait(filter_config(upstream.port, bulkhead(
            "              - {name: noisy, match: {prefix: /noisy}, max_concurrent: 1,"
            " max_queue: 0}\n"
            "              - {name: default, max_concurrent: 4, max_queue: 0}\n"))))
        results = concurrent_requests(proxy, ["/noisy?delay_ms=500"] * 3 + ["/quiet"])
        noisy = sorted(r[0] for r in results[:3])
        self.assertEqual(noisy, [200, 503, 503], results)
        self.assertEqual(results[3][0], 200)
        self.assertLess(results[3][3], 0.45)


if __name__ == "__main__":
    unittest.main()
