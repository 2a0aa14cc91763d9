"""Overload protection in the real proxy (issue 13): the adaptive_concurrency filter in front of
the test upstream. The limit is held at 2 (max_limit) so that which requests are refused does
not depend on timing: two slow requests are held open until the proxy reports them in flight
(polled, by count), then every further request is over the limit.
"""

import os
import shutil
import tempfile
import threading
import unittest

from harness import ProcessTestCase, Strait, Upstream, http_request, wait_for
from proxy_fixtures import read_lines
from test_filters import filter_config

import json


def adaptive(extra="", mode="enforce"):
    return ("        - name: adaptive_concurrency\n"
            "          config:\n"
            "            mode: %s\n"
            "            min_limit: 1\n"
            "            max_limit: 2\n"
            "            initial_limit: 2\n"
            "            min_rtt: {requests: 5, max_duration: 60s}\n"
            "            exclude: {prefix: /healthz}\n%s" % (mode, extra))


def metric(proxy, name, labels=None):
    merged = {"listener": "main"}
    merged.update(labels or {})
    return proxy.counter(name, merged)


class AdaptiveConcurrencyTest(ProcessTestCase):
    def start_pair(self, filters, top=""):
        upstream = self.start(Upstream(name="app"))
        proxy = self.start(Strait(filter_config(upstream.port, filters, workers=2, top=top)))
        return upstream, proxy

    def hold_two(self, proxy):
        """Two slow requests in flight; returns the threads (joined by the caller) and results."""
        results = []

        def slow():
            results.append(http_request("GET", proxy.url("/slow?delay_ms=3000"), timeout=30)[0])

        threads = [threading.Thread(target=slow) for _ in range(2)]
        for t in threads:
            t.start()
        wait_for(lambda: metric(proxy, "strait_dp_adaptive_concurrency_in_flight") == 2 or None,
                 timeout=20, what="two requests in flight")
        return threads, results

    def test_over_the_limit_is_refused_with_a_cause(self):
        log_dir = tempfile.mkdtemp(prefix="strait-overload-")
        self.addCleanup(shutil.rmtree, log_dir, True)
        log = os.path.join(log_dir, "access.log")
        upstream, proxy = self.start_pair(
            adaptive(), top="access_log: {path: \"%s\", format: json}\n" % log)
        threads, results = self.hold_two(proxy)
        for _ in range(3):
            status, headers, body = http_request("GET", proxy.url("/fast"))
            self.assertEqual(status, 503, body)
            self.assertEqual(headers.get("x-strait-overloaded"), "true")
            self.assertEqual(body, b"adaptive_concurrency over limit (limit 2, in flight 2)\n")
        # A health check is not limited.
        self.assertEqual(http_request("GET", proxy.url("/healthz"))[0], 200)
        for t in threads:
            t.join()
        self.assertEqual(results, [200, 200])
        self.assertEqual(upstream.stats()["requests"], 3)  # the 503s never reached it
        self.assertEqual(metric(proxy, "strait_dp_adaptive_concurrency_refused_total",
                                {"cause": "over_limit"}), 3)
        self.assertEqual(metric(proxy, "strait_dp_adaptive_concurrency_excluded_total"), 1)
        self.assertEqual(metric(proxy, "strait_dp_adaptive_concurrency_samples_total"), 2)
        self.assertEqual(metric(proxy, "strait_dp_adaptive_concurrency_limit"), 2)
        self.assertEqual(metric(proxy, "strait_dp_adaptive_concurrency_in_flight"), 0)
        records = wait_for(lambda: (lambda r: r if len(r) >= 6 else None)(
            [json.loads(line) for line in read_lines(log)]), what="six access log lines")
        refused = [r for r in records if r.get("status") == 503]
        self.assertEqual(len(refused), 3, records)
        for r in refused:
            self.assertEqual(r.get("response_flags"), "LS", r)

    def test_queued_request_goes_on_when_a_slot_frees(self):
        upstream, proxy = self.start_pair(adaptive("            queue: {max: 4, timeout: 20s}\n"))
        threads, results = self.hold_two(proxy)
        status, _, _ = http_request("GET", proxy.url("/queued"), timeout=30)
        self.assertEqual(status, 200)
        for t in threads:
            t.join()
        self.assertEqual(results, [200, 200])
        queued = (metric(proxy, "strait_dp_adaptive_concurrency_queued_total", {"phase": "steady"})
                  + metric(proxy, "strait_dp_adaptive_concurrency_queued_total",
                           {"phase": "probe"}))
        self.assertEqual(queued, 1)
        self.assertEqual(upstream.stats()["requests"], 3)

    def test_dry_run_lets_everything_through_and_counts(self):
        upstream, proxy = self.start_pair(adaptive(mode="dry_run"))
        threads, results = self.hold_two(proxy)
        self.assertEqual(http_request("GET", proxy.url("/fast"))[0], 200)
        for t in threads:
            t.join()
        self.assertEqual(metric(proxy, "strait_dp_adaptive_concurrency_dry_run_refused_total"), 1)
        self.assertEqual(metric(proxy, "strait_dp_adaptive_concurrency_refused_total",
                                {"cause": "over_limit"}), 0)
        self.assertEqual(upstream.stats()["requests"], 3)


if __name__ == "__main__":
    unittest.main()


def mesh_listener(min_limit, max_limit, api_port):
    """A proxy's own `edge` listener and `api` cluster (they override strait-cp's), the listener
    with adaptive_concurrency."""
    return """
listeners:
  - name: edge
    address: 127.0.0.1
    port: 0
    http:
      filters:
        - name: adaptive_concurrency
          config: {min_limit: %d, max_limit: %d, initial_limit: %d}
    virtual_hosts:
      - name: all
        domains: ["*"]
        routes:
          - match: {prefix: /}
            route: {cluster: api, timeout: 10s}
clusters:
  - name: api
    endpoints: [{address: 127.0.0.1, port: %d}]
""" % (min_limit, max_limit, max_limit, api_port)


class ConcurrencyReportTest(ProcessTestCase):
    """The limit in force reaches strait-cp in each proxy's report (config::ClusterReport
    concurrency): a proxy held at its floor while another of its group is above its own is a
    concurrency_at_floor finding naming it."""

    def test_a_proxy_at_its_floor_is_a_finding(self):
        import harness
        from test_divergence import source
        from test_discovery import ready
        upstream = self.start(Upstream(name="api"))
        cp = self.start(harness.ControlPlane(source([upstream.port]),
                                             ["--watch-interval", "100ms"]))
        limits = {"edge-floor": (2, 2), "edge-free": (2, 8)}
        proxies = {}
        for node, (low, high) in limits.items():
            config = ("node: {id: %s, cluster: edge}\n"
                      "admin: {address: 127.0.0.1, port: 0}\n"
                      "workers: 1\n"
                      "control_plane: {address: 127.0.0.1:%d, report_interval: 300ms,"
                      " local_overrides: [edge, api]}\n" % (node, cp.discovery_port)
                      + mesh_listener(low, high, upstream.port))
            proxies[node] = self.start(Strait(config))
        for node, proxy in proxies.items():
            wait_for(lambda p=proxy: ready(p), timeout=30, what=node + " /ready")

        def finding():
            for f in cp.status()["findings"]:
                if f["kind"] == "concurrency_at_floor":
                    return f
            return None
        f = wait_for(finding, timeout=30, what="a concurrency_at_floor finding")
        self.assertEqual(f["subject"], "edge-floor")
        self.assertEqual(f["cluster"], "api")
        self.assertEqual(f["nodes"], ["edge-floor"])
        self.assertEqual(metric(proxies["edge-free"], "strait_dp_adaptive_concurrency_limit",
                                {"listener": "edge"}), 8)
