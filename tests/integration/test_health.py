"""Active health checks and DNS clusters (issue 3): real proxy, real test upstreams, port 0.

Upstreams are stopped and started again on the same port to fail and recover a host; every wait
polls /clusters with a deadline.
"""

import json
import socket
import unittest

import harness
from harness import Strait, Upstream, http_request, wait_for


def two_host_config(port_a, port_b, path="/healthz", healthy_threshold=1, unhealthy_threshold=2):
    return (
        "admin: {address: 127.0.0.1, port: 0}\n"
        "workers: 2\n"
        "listeners:\n"
        "  - name: main\n"
        "    address: 127.0.0.1\n"
        "    port: 0\n"
        "    virtual_hosts:\n"
        "      - name: default\n"
        "        domains: [\"*\"]\n"
        "        routes:\n"
        "          - match: {prefix: /}\n"
        "            route: {cluster: backend}\n"
        "clusters:\n"
        "  - name: backend\n"
        "    endpoints:\n"
        "      - {address: 127.0.0.1, port: %d}\n"
        "      - {address: 127.0.0.1, port: %d}\n"
        "    health_check:\n"
        "      path: \"%s\"\n"
        "      interval: 200ms\n"
        "      timeout: 500ms\n"
        "      healthy_threshold: %d\n"
        "      unhealthy_threshold: %d\n"
        % (port_a, port_b, path, healthy_threshold, unhealthy_threshold))


def dns_config(port):
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
        "            route: {cluster: backend}\n"
        "clusters:\n"
        "  - name: backend\n"
        "    dns: {name: localhost, port: %d, refresh: 200ms}\n" % port)


class HealthCheckTest(harness.ProcessTestCase):
    def clusters(self, proxy):
        status, _, body = http_request("GET", proxy.admin_url("/clusters"))
        self.assertEqual(status, 200)
        return {c["name"]: c for c in json.loads(body)["clusters"]}

    def endpoint(self, proxy, port, cluster="backend"):
        for entry in self.clusters(proxy)[cluster]["endpoints"]:
            if entry["address"].endswith(":%d" % port):
                return entry
        raise AssertionError("no endpoint with port %d" % port)

    def wait_endpoint(self, proxy, port, health, reason=None, timeout=10):
        def ready():
            entry = self.endpoint(proxy, port)
            if entry["health"] != health or entry["last_check"] is None:
                return None
            if reason is not None and entry["health_reason"] != reason:
                return None
            return entry
        return wait_for(ready, timeout=timeout,
                        what="endpoint :%d %s (%s)" % (port, health, reason))

    def test_host_fails_and_recovers(self):
        a = self.start(Upstream(name="a"))
        b = self.start(Upstream(name="b"))
        proxy = self.start(Strait(two_host_config(a.port, b.port)))
        # Hosts start healthy and serve at once; the first checks then report "ok".
        self.assertEqual(http_request("GET", proxy.url("/"))[0], 200)
        self.wait_endpoint(proxy, a.port, "healthy", "ok")
        self.wait_endpoint(proxy, b.port, "healthy", "ok")
        cluster = self.clusters(proxy)["backend"]
        self.assertEqual(cluster["healthy_hosts"], 2)
        self.assertFalse(cluster["panic"])

        b_port = b.port
        b.stop()
        entry = self.wait_endpoint(proxy, b_port, "unhealthy", "connect refused")
        self.assertRegex(entry["last_check"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(self.clusters(proxy)["backend"]["healthy_hosts"], 1)
        names = []
        for _ in range(20):
            status, headers, _ = http_request("GET", proxy.url("/"))
            self.assertEqual(status, 200)
            names.append(headers.get("x-upstream-name"))
        self.assertEqual(names, ["a"] * 20)
        self.assertGreaterEqual(
            proxy.counter("strait_dp_health_check_failures_total", {"cluster": "backend"}), 2)
        self.assertEqual(
            proxy.counter("strait_dp_health_check_healthy_hosts", {"cluster": "backend"}), 1)
        self.assertEqual(
            proxy.counter("strait_dp_upstream_healthy_hosts", {"cluster": "backend"}), 1)

        # Back on the same port: one good check (healthy_threshold 1) makes it healthy again.
        self.start(Upstream(name="b", extra_args=["--port", str(b_port)]))
        self.wait_endpoint(proxy, b_port, "healthy", "ok")
        wait_for(lambda: {http_request("GET", proxy.url("/"))[1].get("x-upstream-name")
                          for _ in range(4)} == {"a", "b"}, timeout=5, what="traffic to a and b")
        self.assertEqual(
            proxy.counter("strait_dp_health_check_healthy_hosts", {"cluster": "backend"}), 2)
        self.assertGreater(
            proxy.counter("strait_dp_health_check_attempts_total", {"cluster": "backend"}), 4)

    def test_all_unhealthy_is_panic_and_still_serves(self):
        a = self.start(Upstream(name="a"))
        b = self.start(Upstream(name="b"))
        # The check asks for a 503 (the test upstream's ?status= knob); real requests get 200.
        proxy = self.start(Strait(two_host_config(a.port, b.port, path="/healthz?status=503",
                                                  unhealthy_threshold=1)))
        self.wait_endpoint(proxy, a.port, "unhealthy", "status 503")
        self.wait_endpoint(proxy, b.port, "unhealthy", "status 503")
        cluster = self.clusters(proxy)["backend"]
        self.assertTrue(cluster["panic"])
        self.assertEqual(cluster["healthy_hosts"], 0)
        names = set()
        for _ in range(10):
            status, headers, _ = http_request("GET", proxy.url("/"))
            self.assertEqual(status, 200)
            names.add(headers.get("x-upstream-name"))
        self.assertEqual(names, {"a", "b"})
        self.assertEqual(
            proxy.counter("strait_dp_upstream_healthy_hosts", {"cluster": "backend"}), 0)

    def test_check_request_shape(self):
        # A one-shot HTTP server on port 0 records the first health check the proxy sends.
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.settimeout(10)
        port = listener.getsockname()[1]
        a = self.start(Upstream(name="a"))
        proxy = self.start(Strait(two_host_config(a.port, port, path="/ready/check")))
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
        head = data.decode("latin-1").lower()
        self.assertTrue(head.startswith("get /ready/check http/1.1\r\n"), head)
        self.assertIn("\r\nhost: backend\r\n", head)
        self.assertIn("\r\nuser-agent: strait-health-check\r\n", head)
        # 204 is a 2xx: the check passes.
        entry = wait_for(lambda: (lambda e: e if e["last_check"] else None)(
            self.endpoint(proxy, port)), timeout=10, what="first check of the raw server")
        self.assertEqual(entry["health_reason"], "ok")


class DnsClusterTest(harness.ProcessTestCase):
    def test_dns_cluster_serves_and_refreshes(self):
        up = self.start(Upstream(name="dns-a"))
        proxy = self.start(Strait(dns_config(up.port)))
        status, headers, _ = http_request("GET", proxy.url("/"))
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("x-upstream-name"), "dns-a")
        _, _, body = http_request("GET", proxy.admin_url("/clusters"))
        cluster = json.loads(body)["clusters"][0]
        self.assertEqual([e["address"] for e in cluster["endpoints"]],
                         ["127.0.0.1:%d" % up.port])
        self.assertEqual(cluster["endpoints"][0]["health_reason"], "no health check configured")
        self.assertIsNone(cluster["endpoints"][0]["last_check"])
        # Refreshes run (every 200ms); an unchanged answer publishes no new snapshot.
        version = proxy.counter("strait_dp_config_version")
        proxy.wait_counter("strait_dp_dns_resolutions_total", {"cluster": "backend"}, at_least=3)
        self.assertEqual(proxy.counter("strait_dp_config_version"), version)
        self.assertEqual(
            proxy.counter("strait_dp_dns_resolution_failures_total", {"cluster": "backend"}), 0)
        for _ in range(5):
            self.assertEqual(http_request("GET", proxy.url("/"))[0], 200)


if __name__ == "__main__":
    unittest.main()
