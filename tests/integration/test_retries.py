"""Retries (issue 5): 5xx retried on another endpoint with a jittered backoff, only idempotent
methods, per-try timeouts, and every retry counted. Real proxy, real test upstreams, port 0.
"""

import http.client
import json
import time
import unittest

import harness
from harness import Strait, Upstream, http_request


def retry_config(ports, retry):
    endpoints = "".join("      - {address: 127.0.0.1, port: %d}\n" % p for p in ports)
    return (
        "admin: {address: 127.0.0.1, port: 0}\n"
        "workers: 1\n"
        "listeners:\n"
        "  - name: main\n"
        "    address: 127.0.0.1\n"
        "    port: 0\n"
        "    virtual_hosts:\n"
        "      - name: default\n"
        "        domains: [\"*\"]\n"
        "        routes:\n"
        "          - match: {prefix: /}\n"
        "            route: {cluster: backend, timeout: 5s, retry: %s}\n"
        "clusters:\n"
        "  - name: backend\n"
        "    lb: round_robin\n"
        "    endpoints:\n" % retry + endpoints)


class RetryTest(harness.ProcessTestCase):
    def retries(self, proxy):
        return proxy.counter("strait_dp_upstream_rq_retry_total", {"cluster": "backend"})

    def test_5xx_is_retried_on_the_other_endpoint(self):
        failing = self.start(Upstream(name="failing"))
        good = self.start(Upstream(name="good"))
        failing.force_status(503)
        proxy = self.start(Strait(retry_config(
            [failing.port, good.port], "{on: [5xx], attempts: 2, backoff: {base: 5ms, max: 20ms}}")))
        for _ in range(20):
            status, headers, _ = http_request("GET", proxy.url("/"))
            self.assertEqual(status, 200)
            self.assertEqual(headers.get("x-upstream-name"), "good")
        # Round robin sent about half of the first attempts to the failing endpoint; each of
        # those was retried once, on the other endpoint.
        tried_failing = failing.stats()["requests"]
        self.assertGreater(tried_failing, 0)
        self.assertEqual(self.retries(proxy), tried_failing)
        self.assertEqual(good.stats()["requests"], 20)

    def test_non_idempotent_method_is_not_retried(self):
        failing = self.start(Upstream(name="failing"))
        failing.force_status(503)
        proxy = self.start(Strait(retry_config(
            [failing.port], "{on: [5xx], attempts: 3, backoff: {base: 5ms, max: 20ms}}")))
        status, _, _ = http_request("POST", proxy.url("/"))
        self.assertEqual(status, 503)
        self.assertEqual(failing.stats()["requests"], 1)
        self.assertEqual(self.retries(proxy), 0)
        # GET is retried: 1 + 3 attempts, then the last 503 goes to the client.
        status, _, _ = http_request("GET", proxy.url("/"))
        self.assertEqual(status, 503)
        self.assertEqual(failing.stats()["requests"], 1 + 4)
        self.assertEqual(self.retries(proxy), 3)

    def test_request_body_is_replayed_on_the_retry(self):
        failing = self.start(Upstream(name="failing"))
        good = self.start(Upstream(name="good"))
        failing.force_status(503)
        proxy = self.start(Strait(retry_config(
            [failing.port, good.port],
            "{on: [5xx], attempts: 1, non_idempotent: true, max_body_bytes: 16384, "
            "backoff: {base: 5ms, max: 10ms}}")))
        body = bytes(range(256)) * 40  # 10,240 bytes: fits max_body_bytes
        for _ in range(6):
            status, headers, reply = http_request("POST", proxy.url("/echo"), body=body)
            self.assertEqual(status, 200)
            self.assertEqual(headers.get("x-upstream-name"), "good")
            self.assertEqual(json.loads(reply)["body_bytes"], len(body))
        self.assertGreater(self.retries(proxy), 0)
        self.assertEqual(self.retries(proxy), failing.stats()["requests"])

    def test_body_over_max_body_bytes_is_not_retried(self):
        failing = self.start(Upstream(name="failing"))
        failing.force_status(503)
        proxy = self.start(Strait(retry_config(
            [failing.port],
            "{on: [5xx], attempts: 2, non_idempotent: true, max_body_bytes: 1024, "
            "backoff: {base: 5ms, max: 10ms}}")))
        status, _, _ = http_request("POST", proxy.url("/echo"), body=b"x" * 4096)
        self.assertEqual(status, 503)
        self.assertEqual(failing.stats()["requests"], 1)
        self.assertEqual(self.retries(proxy), 0)
        status, _, _ = http_request("POST", proxy.url("/echo"), body=b"x" * 512)
        self.assertEqual(status, 503)
        self.assertEqual(failing.stats()["requests"], 1 + 3)
        self.assertEqual(self.retries(proxy), 2)

    def test_per_try_timeout_moves_to_the_next_endpoint(self):
        slow = self.start(Upstream(name="slow", delay_ms=2000))
        fast = self.start(Upstream(name="fast"))
        proxy = self.start(Strait(retry_config(
            [slow.port, fast.port],
            "{on: [5xx], attempts: 1, per_try_timeout: 200ms, backoff: {base: 5ms, max: 10ms}}")))
        for _ in range(4):
            started = time.monotonic()
            status, headers, _ = http_request("GET", proxy.url("/"))
            elapsed = time.monotonic() - started
            self.assertEqual(status, 200)
            self.assertEqual(headers.get("x-upstream-name"), "fast")
            self.assertLess(elapsed, 1.5)
        self.assertGreater(self.retries(proxy), 0)

    def test_per_try_timer_is_reused_on_a_keep_alive_connection(self):
        # The per-try timer belongs to the downstream connection and serves request after
        # request: a fast request leaves it disarmed, a slow one still times out, and the next
        # request on the same connection is not cut by an earlier arming.
        upstream = self.start(Upstream(name="only"))
        proxy = self.start(Strait(retry_config(
            [upstream.port],
            "{on: [5xx], attempts: 1, per_try_timeout: 300ms, backoff: {base: 5ms, max: 10ms}}")))
        conn = http.client.HTTPConnection("127.0.0.1", proxy.listener_port("main"), timeout=10)
        self.addCleanup(conn.close)

        def get(path):
            started = time.monotonic()
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            return response.status, time.monotonic() - started

        status, _ = get("/fast")
        self.assertEqual(status, 200)
        status, elapsed = get("/slow?delay_ms=2000")  # two attempts of 300 ms, then 504
        self.assertEqual(status, 504)
        self.assertGreaterEqual(elapsed, 0.55)
        self.assertLess(elapsed, 1.5)
        # 250 ms each: under one per-try timeout, over what a stale arming would have left.
        for _ in range(3):
            status, elapsed = get("/ok?delay_ms=250")
            self.assertEqual(status, 200)
        self.assertEqual(self.retries(proxy), 1)


if __name__ == "__main__":
    unittest.main()
