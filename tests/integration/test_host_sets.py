"""Mutable host sets (issue 10, item 4): an endpoint change (a weight, a new host, a removed
host) publishes a new host set to the workers' existing pools. Under wrk load the upstreams
that stay see no new connection, an ejected host stays ejected, the circuit-breaker counts
carry over, and a removed host's connections close once idle. Real proxy, real upstreams,
port 0.
"""

import json
import threading
import unittest

import harness
from harness import Strait, Upstream, http_request
from proxy_fixtures import simple_config


def cluster_config(endpoints):
    """One listener, one worker; cluster `backend` with `endpoints` [(port, weight)] and outlier
    detection that ejects after 3 consecutive 5xx for much longer than the test runs."""
    return simple_config(
        None, endpoints=endpoints,
        routes="          - match: {prefix: /}\n            route: {cluster: backend, timeout: 30s}\n",
        clusters_extra=(
            "    outlier_detection:\n"
            "      consecutive_5xx: 3\n"
            "      interval: 1s\n"
            "      base_ejection_time: 600s\n"
            "      max_ejection_time: 600s\n"
            "      max_ejection_percent: 34\n"))


BACKEND = {"cluster": "backend"}


class HostSetUpdateTest(harness.ProcessTestCase):
    def reload(self, proxy, endpoints):
        with open(proxy.config_path, "w") as f:
            f.write(cluster_config(endpoints))
        status, _, body = http_request("POST", proxy.admin_url("/reload"))
        self.assertEqual((status, body), (200, b"applied\n"))

    def hosts(self, proxy):
        """/clusters' endpoints of `backend`, by port."""
        doc = json.loads(http_request("GET", proxy.admin_url("/clusters"))[2])
        cluster = [c for c in doc["clusters"] if c["name"] == "backend"][0]
        return {int(e["address"].rsplit(":", 1)[1]): e for e in cluster["endpoints"]}

    def test_endpoint_changes_under_load_keep_pools_ejections_and_counts(self):
        a, b, c, d = (self.start(Upstream(name=n)) for n in ("a", "b", "c", "d"))
        c.force_status(500)
        proxy = self.start(Strait(cluster_config([(a.port, 1), (b.port, 1), (c.port, 1)])))

        # C answers 500 until outlier detection ejects it (3 in a row; round robin over 3 hosts).
        def c_ejected():
            http_request("GET", proxy.url("/warm"))
            return proxy.counter("strait_dp_outlier_ejections_active", BACKEND) == 1
        harness.wait_for(c_ejected, what="host c ejected")
        self.assertTrue(self.hosts(proxy)[c.port]["outlier_ejected"])

        # Sequential load (one wrk connection): each host has exactly one pooled connection.
        load = {}
        wrk_thread = threading.Thread(target=lambda: load.update(
            result=harness.wrk(proxy.url("/load"), connections=1, duration_s=10)))
        wrk_thread.start()
        self.addCleanup(wrk_thread.join)
        base_a = a.stats()["requests"]
        harness.wait_for(lambda: a.stats()["requests"] >= base_a + 20, what="load on a")
        # `connections` counts the upstream connections that carried a proxied request (not the
        # test's own /__stats reads).
        accepted = {name: u.stats()["connections"] for name, u in (("a", a), ("b", b))}
        self.assertEqual(accepted, {"a": 1, "b": 1})
        rq_total_a = self.hosts(proxy)[a.port]["rq_total"]

        # A weight changes and a host joins, while the load runs.
        self.reload(proxy, [(a.port, 3), (b.port, 1), (c.port, 1), (d.port, 1)])
        base_d = d.stats()["requests"]
        harness.wait_for(lambda: d.stats()["requests"] >= base_d + 10, what="load on d")
        self.assertEqual({"a": a.stats()["connections"], "b": b.stats()["connections"]}, accepted,
                         "hosts that stayed saw a new connection")
        self.assertEqual(d.stats()["connections"], 1)
        hosts = self.hosts(proxy)
        self.assertEqual(hosts[a.port]["weight"], 3)
        self.assertGreater(hosts[a.port]["rq_total"], rq_total_a)  # the same host, counting on
        self.assertTrue(hosts[c.port]["outlier_ejected"])
        self.assertEqual(proxy.counter("strait_dp_outlier_ejections_active", BACKEND), 1)
        self.assertEqual(proxy.counter("strait_dp_outlier_ejections_total",
                                       {"cluster": "backend", "detector": "consecutive_5xx"}), 1)
        wrk_thread.join()
        result = load["result"]
        self.assertGreater(result["requests"], 0)
        self.assertEqual((result["socket_errors"], result["non_2xx_3xx"]), (0, 0), result["raw"])

        # With no traffic, the circuit-breaker counts carry over a change exactly: the pooled
        # connections (a, b, d; c saw none after its ejection... or one, kept) stay counted.
        counted = proxy.counter("strait_dp_upstream_cx_counted", BACKEND)
        self.assertGreaterEqual(counted, 3)
        self.reload(proxy, [(a.port, 2), (b.port, 1), (c.port, 1), (d.port, 1)])
        self.assertEqual(proxy.counter("strait_dp_upstream_cx_counted", BACKEND), counted)
        # A request in flight across a change keeps its max_requests slot on the same count.
        holder = {}
        hold = threading.Thread(target=lambda: holder.update(
            reply=http_request("GET", proxy.url("/hold?delay_ms=3000"), timeout=30)))
        hold.start()
        self.addCleanup(hold.join)
        harness.wait_for(lambda: proxy.counter("strait_dp_upstream_rq_in_flight", BACKEND) == 1,
                         what="a request in flight")
        self.reload(proxy, [(a.port, 1), (b.port, 1), (c.port, 1), (d.port, 1)])
        self.assertEqual(proxy.counter("strait_dp_upstream_rq_in_flight", BACKEND), 1)
        hold.join()
        self.assertEqual(holder["reply"][0], 200)
        self.assertEqual(proxy.counter("strait_dp_upstream_rq_in_flight", BACKEND), 0)

        # B leaves: its idle connection closes; the others keep theirs and keep serving.
        # (`active` counts the /__stats read's own connection too.)
        self.assertEqual(b.stats()["active"], 2)
        self.reload(proxy, [(a.port, 1), (c.port, 1), (d.port, 1)])
        harness.wait_for(lambda: b.stats()["active"] == 1, what="b's connection closed")
        for _ in range(6):
            status, headers, _ = http_request("GET", proxy.url("/after"))
            self.assertEqual(status, 200)
            self.assertIn(headers["x-upstream-name"], ("a", "d"))
        self.assertEqual(a.stats()["connections"], accepted["a"])
        self.assertNotIn(b.port, self.hosts(proxy))
        self.assertEqual(proxy.counter("strait_dp_config_publish_total",
                                       {"source": "admin_reload"}), 4)


if __name__ == "__main__":
    unittest.main()
