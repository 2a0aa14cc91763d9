"""The load_shed filter in the real proxy (issue 13), driven by the cpu signal with a threshold
so small that any CPU the proxy uses is an overload far past every curve but critical's (whose
curve is moved out of reach): nice_to_have requests get 503 with retry-after,
x-strait-overloaded and the LS flag, critical ones (by route key) are still served, a priority
header from an untrusted peer is ignored and counted, and dry_run only counts.
"""

import unittest

import harness
from harness import Strait, Upstream, http_request, replace_file, wait_for
from test_filters import access_records, json_access_log


def shed_config(upstream_port, mode="enforce", top="", retry_after="2s"):
    return (
        "admin: {address: 127.0.0.1, port: 0}\n"
        "workers: 1\n"
        "%s"
        "listeners:\n"
        "  - name: main\n"
        "    address: 127.0.0.1\n"
        "    port: 0\n"
        "    http:\n"
        "      filters:\n"
        "        - name: load_shed\n"
        "          config:\n"
        "            mode: %s\n"
        "            interval: 20ms\n"
        "            retry_after: %s\n"
        "            priority:\n"
        "              routes: {pay: critical}\n"
        "              default: nice_to_have\n"
        "            classes:\n"
        "              critical: {start: 1000000, full: 1000000}\n"
        "            signals:\n"
        "              cpu: {threshold: 0.000001}\n"
        "              event_loop_lag: {enabled: false}\n"
        "    virtual_hosts:\n"
        "      - name: default\n"
        "        domains: [\"*\"]\n"
        "        routes:\n"
        "          - name: pay\n"
        "            match: {prefix: /pay}\n"
        "            route: {cluster: backend}\n"
        "          - name: rest\n"
        "            match: {prefix: /}\n"
        "            route: {cluster: backend}\n"
        "clusters:\n"
        "  - name: backend\n"
        "    endpoints: [{address: 127.0.0.1, port: %d}]\n" % (top, mode, retry_after, upstream_port))


def shed_counter(proxy, cls, cause="cpu", name="shed"):
    return proxy.counter("strait_dp_load_shed_%s_total" % name,
                         {"listener": "main", "class": cls, "cause": cause})


class LoadShedTest(harness.ProcessTestCase):
    def overloaded(self, proxy):
        """Polls (with requests that may be shed) until the sampler has seen the CPU."""
        def shed():
            status, headers, body = http_request("GET", proxy.url("/browse"))
            return status == 503 and (status, headers, body)
        return wait_for(shed, timeout=10, what="a nice_to_have request shed")

    def test_lowest_class_is_shed_and_critical_served(self):
        upstream = self.start(Upstream(name="app"))
        log_path, log_config = json_access_log(self)
        proxy = self.start(Strait(shed_config(upstream.port, top=log_config)))
        status, headers, body = self.overloaded(proxy)
        self.assertEqual(headers.get("retry-after"), "2")
        self.assertEqual(headers.get("x-strait-overloaded"), "true")
        self.assertEqual(body, b"load_shed nice_to_have cpu\n")
        served_before = upstream.stats()["requests"]
        for _ in range(5):
            status, _, _ = http_request("GET", proxy.url("/pay/now"))
            self.assertEqual(status, 200)
        self.assertEqual(upstream.stats()["requests"], served_before + 5)
        # The header is not honoured from a peer without a trusted identity.
        status, _, _ = http_request("GET", proxy.url("/browse"),
                                    headers={"x-strait-priority": "critical"})
        self.assertEqual(status, 503)
        self.assertEqual(proxy.counter("strait_dp_load_shed_untrusted_priority_total",
                                       {"listener": "main"}), 1)
        self.assertGreaterEqual(shed_counter(proxy, "nice_to_have"), 2)
        self.assertEqual(shed_counter(proxy, "critical"), 0)
        self.assertGreaterEqual(proxy.counter("strait_dp_load_shed_admitted_total",
                                              {"listener": "main", "class": "critical"}), 5)
        self.assertIn('strait_dp_load_shed_probability{listener="main",class="nice_to_have"} 1000',
                      proxy.stats_text())
        records = wait_for(lambda: [r for r in access_records(log_path) if r["status"] == 503]
                           and access_records(log_path), what="access log lines")
        shed = [r for r in records if r["status"] == 503]
        self.assertTrue(shed)
        for record in shed:
            self.assertEqual(record["response_flags"], "LS", record)

    def test_dry_run_counts_and_serves(self):
        upstream = self.start(Upstream(name="app"))
        proxy = self.start(Strait(shed_config(upstream.port, mode="dry_run")))

        def counted():
            status, _, _ = http_request("GET", proxy.url("/browse"))
            self.assertEqual(status, 200)
            return shed_counter(proxy, "nice_to_have", name="dry_run_shed") >= 1
        wait_for(counted, timeout=10, what="a dry-run shed counted")
        self.assertEqual(shed_counter(proxy, "nice_to_have"), 0)

    def test_reload_with_a_changed_block_replaces_the_controller(self):
        upstream = self.start(Upstream(name="app"))
        proxy = self.start(Strait(shed_config(upstream.port)))
        _, headers, _ = self.overloaded(proxy)
        self.assertEqual(headers.get("retry-after"), "2")
        # The old factory (and its sampling timer) goes when the old snapshot does, on whichever
        # thread lets go last; the new one samples from scratch.
        replace_file(proxy.config_path, shed_config(upstream.port, retry_after="5s"))

        def new_block():
            status, headers, _ = http_request("GET", proxy.url("/browse"))
            return status == 503 and headers.get("retry-after") == "5"
        wait_for(new_block, timeout=10, what="the new block applied")
        for _ in range(3):
            status, _, _ = http_request("GET", proxy.url("/pay/x"))
            self.assertEqual(status, 200)
        self.assertGreaterEqual(proxy.counter("strait_dp_config_reload_total"), 1)


if __name__ == "__main__":
    unittest.main()
