"""Chaos scenario (issue 5): one of three upstream endpoints starts answering 503 under wrk load.
Outlier detection ejects it; the 5xx the clients see stay under 1% once it is ejected; when the
endpoint recovers, traffic returns to it. Phases are measured with the proxy's own counters
(exact), while wrk keeps the load on.
"""

import json
import threading
import time
import unittest

import harness
from harness import Strait, Upstream, http_request, wait_for


def chaos_config(ports):
    endpoints = "".join("      - {address: 127.0.0.1, port: %d}\n" % p for p in ports)
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
        "    lb: round_robin\n"
        "    endpoints:\n" + endpoints +
        "    outlier_detection:\n"
        "      consecutive_5xx: 3\n"
        "      interval: 100ms\n"
        "      base_ejection_time: 1s\n"
        "      max_ejection_time: 3s\n"
        "      max_ejection_percent: 34\n")


class ChaosTest(harness.ProcessTestCase):
    def codes(self, proxy):
        ok = proxy.counter("strait_dp_downstream_rq_total",
                           {"listener": "main", "code_class": "2xx"})
        bad = proxy.counter("strait_dp_downstream_rq_total",
                            {"listener": "main", "code_class": "5xx"})
        return ok, bad

    def endpoint(self, proxy, port):
        _, _, body = http_request("GET", proxy.admin_url("/clusters"))
        for e in json.loads(body)["clusters"][0]["endpoints"]:
            if e["address"].endswith(":%d" % port):
                return e
        raise AssertionError("no endpoint on port %d" % port)

    def test_failing_endpoint_is_ejected_and_returns(self):
        ups = [self.start(Upstream(name=n)) for n in ("a", "b", "c")]
        bad = ups[1]
        proxy = self.start(Strait(chaos_config([u.port for u in ups])))
        # The phases are counted in requests; an ASan build serves them several times slower
        # (and slower still when ctest runs other suites beside it), so the load, which must
        # outlast every phase, and the phases' deadlines are longer there.
        slow = harness.sanitized_build()
        phase_timeout = 25 if slow else 10
        load = {}
        worker = threading.Thread(target=lambda: load.update(
            harness.wrk(proxy.url("/"), connections=8, duration_s=30 if slow else 9)))
        worker.start()
        wait_for(lambda: self.codes(proxy)[0] > 2000, timeout=phase_timeout, what="load running")

        # Phase 1: healthy.
        ok0, bad0 = self.codes(proxy)
        # Each phase is a number of requests served, not a length of time.
        wait_for(lambda: sum(self.codes(proxy)) >= ok0 + bad0 + 5000, timeout=phase_timeout,
                 what="5000 requests while healthy")
        ok1, bad1 = self.codes(proxy)
        self.assertEqual(bad1 - bad0, 0)

        # Phase 2: b fails. Time to eject = first /clusters view with b ejected.
        failed_at = time.monotonic()
        bad.force_status(503)
        wait_for(lambda: self.endpoint(proxy, bad.port)["outlier_ejected"], timeout=5,
                 interval=0.005, what="b ejected")
        eject_s = time.monotonic() - failed_at
        ok2, bad2 = self.codes(proxy)
        errors_until_ejection = bad2 - bad1
        # Ejected (with re-ejections as each ejection ends while b still fails): 15,000 requests.
        wait_for(lambda: sum(self.codes(proxy)) >= ok2 + bad2 + 15000, timeout=phase_timeout,
                 what="15000 requests while b fails")
        ok3, bad3 = self.codes(proxy)
        during_ratio = (bad3 - bad2) / max(1, (ok3 - ok2) + (bad3 - bad2))
        self.assertLess(during_ratio, 0.01,
                        "5xx %d of %d once ejected" % (bad3 - bad2, (ok3 - ok2) + (bad3 - bad2)))

        # Phase 3: b recovers; traffic returns once its ejection ends.
        served_before = bad.stats()["requests"]
        recovered_at = time.monotonic()
        bad.force_status(None)
        wait_for(lambda: bad.stats()["requests"] > served_before + 50, timeout=6, interval=0.01,
                 what="traffic back on b")
        return_s = time.monotonic() - recovered_at
        self.assertFalse(self.endpoint(proxy, bad.port)["outlier_ejected"])
        worker.join()
        ok4, bad4 = self.codes(proxy)
        self.assertEqual(load["socket_errors"], 0, load["raw"])
        ejections = proxy.counter("strait_dp_outlier_ejections_total",
                                  {"cluster": "backend", "detector": "consecutive_5xx"})
        self.assertGreaterEqual(ejections, 1)
        print("\nchaos: before 0 5xx of %d; b fails: ejected after %.0f ms with %d 5xx seen; "
              "while ejected %d 5xx of %d (%.3f%%); b recovered: traffic back after %.0f ms; "
              "after: %d 5xx of %d; ejections %d" % (
                  ok1 - ok0, eject_s * 1000, errors_until_ejection, bad3 - bad2,
                  (ok3 - ok2) + (bad3 - bad2), during_ratio * 100, return_s * 1000,
                  bad4 - bad3, (ok4 - ok3) + (bad4 - bad3), ejections))


if __name__ == "__main__":
    unittest.main()
