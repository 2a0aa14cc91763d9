"""Circuit breakers (issue 5): max_requests with its pending queue and queue_timeout,
max_pending_requests, max_connections, all per process. Real proxy with two workers, real test
upstream (slow answers with ?delay_ms=N), port 0.
"""

import os
import signal
import threading
import unittest

import harness
from harness import Strait, Upstream, http_request
from proxy_fixtures import concurrent_requests, monotonic_ms, simple_config


def breakers_config(upstream_port, breakers, workers=2):
    return simple_config(
        upstream_port, workers=workers,
        routes="          - match: {prefix: /}\n"
               "            route: {cluster: backend, timeout: 10s}\n",
        clusters_extra="    circuit_breakers: %s\n" % breakers)


def in_flight(proxy):
    return proxy.counter("strait_dp_upstream_rq_in_flight", {"cluster": "backend"})


def pending_active(proxy):
    return proxy.counter("strait_dp_upstream_rq_pending_active", {"cluster": "backend"})


def send_in_background(test, proxy, path, until, what):
    """Sends GET `path` in a thread and waits until `until()` holds.

    Returns a function that joins the thread and gives (status, headers, body).
    """
    result = {}
    thread = threading.Thread(target=lambda: result.update(
        reply=http_request("GET", proxy.url(path))))
    thread.start()
    test.addCleanup(thread.join)
    harness.wait_for(until, what=what)

    def join():
        thread.join()
        return result["reply"]
    return join


def hold_the_slot(test, proxy, path):
    """A slow request (`path`) in the background, once it holds a max_requests slot."""
    return send_in_background(test, proxy, path, lambda: in_flight(proxy) == 1,
                              "the first request holds a slot")


class PendingQueueTest(harness.ProcessTestCase):
    def holder_and_queued(self, max_pending_requests):
        """A proxy with max_requests 1: one slow request holds the slot, a second one waits in
        the queue. Returns (upstream, proxy, holder, queued); holder() and queued() join them."""
        upstream = self.start(Upstream())
        proxy = self.start(Strait(breakers_config(
            upstream.port, "{max_requests: 1, max_pending_requests: %d, queue_timeout: 5s}"
            % max_pending_requests)))
        holder = hold_the_slot(self, proxy, "/hold?delay_ms=800")
        queued = send_in_background(self, proxy, "/queued", lambda: pending_active(proxy) == 1,
                                    "the second request waits in the queue")
        return upstream, proxy, holder, queued

    def counter(self, proxy, name):
        return proxy.counter(name, {"cluster": "backend"})

    def test_requests_over_max_requests_wait_for_a_slot_and_all_succeed(self):
        upstream = self.start(Upstream())
        proxy = self.start(Strait(breakers_config(
            upstream.port, "{max_requests: 2, max_pending_requests: 10, queue_timeout: 5s}")))
        results = concurrent_requests(proxy, ["/slow?delay_ms=300"] * 6)
        self.assertEqual([r[0] for r in results], [200] * 6, [r[2] for r in results])
        # Two at a time, 300 ms each: the last ones waited two rounds.
        self.assertGreaterEqual(max(r[3] for r in results), 0.85)
        # Never more than two at the upstream at once, across both workers.
        self.assertEqual(upstream.stats()["max_in_flight"], 2)
        self.assertGreaterEqual(self.counter(proxy, "strait_dp_upstream_rq_pending_total"), 4)
        self.assertEqual(self.counter(proxy, "strait_dp_upstream_rq_overflow_total"), 0)
        self.assertEqual(pending_active(proxy), 0)
        self.assertEqual(in_flight(proxy), 0)

    def test_queue_timeout_answers_503_overloaded_and_the_slot_holder_finishes(self):
        upstream = self.start(Upstream())
        proxy = self.start(Strait(breakers_config(
            upstream.port, "{max_requests: 1, max_pending_requests: 10, queue_timeout: 200ms}")))
        holder = hold_the_slot(self, proxy, "/hold?delay_ms=1500")
        began = monotonic_ms()
        status, headers, body = http_request("GET", proxy.url("/queued"))
        waited = monotonic_ms() - began
        self.assertEqual(status, 503)
        self.assertEqual(headers.get("x-strait-overloaded"), "true")
        self.assertIn(b"queue_timeout of 200ms", body)
        self.assertGreaterEqual(waited, 190)
        self.assertLess(waited, 1400)  # not served after the holder: it gave up
        self.assertEqual(self.counter(proxy, "strait_dp_upstream_rq_pending_timeout_total"), 1)
        self.assertEqual(self.counter(proxy, "strait_dp_upstream_rq_overflow_total"), 1)
        self.assertEqual(holder()[0], 200)
        # The queued request never reached the upstream.
        self.assertEqual(upstream.stats()["requests"], 1)

    def test_full_pending_queue_refuses_at_once_and_the_gauge_reads_open(self):
        upstream, proxy, holder, queued = self.holder_and_queued(max_pending_requests=1)
        began = monotonic_ms()
        status, headers, body = http_request("GET", proxy.url("/refused"))
        self.assertEqual(status, 503)
        self.assertLess(monotonic_ms() - began, 500)  # refused at once, not after the holder
        self.assertEqual(headers.get("x-strait-overloaded"), "true")
        self.assertIn(b"max_pending_requests", body)
        self.assertEqual(self.counter(proxy, "strait_dp_upstream_rq_pending_overflow_total"), 1)
        self.assertEqual(proxy.counter("strait_dp_upstream_circuit_open",
                                       {"cluster": "backend", "limit": "max_pending_requests"}), 1)
        self.assertEqual(holder()[0], 200)
        self.assertEqual(queued()[0], 200)  # it got the holder's slot
        self.assertEqual(self.counter(proxy, "strait_dp_upstream_rq_pending_total"), 1)

    def test_a_reload_that_rebuilds_the_cluster_keeps_queued_requests(self):
        upstream, proxy, holder, queued = self.holder_and_queued(max_pending_requests=10)
        # New limits: the cluster is rebuilt with fresh counts; the two requests in flight stay
        # on the old one, and the queued one gets the holder's slot there.
        with open(proxy.config_path, "w", encoding="utf-8") as f:
            f.write(breakers_config(
                upstream.port, "{max_requests: 5, max_pending_requests: 10, queue_timeout: 5s}"))
        os.kill(proxy.pid, signal.SIGHUP)
        proxy.wait_counter("strait_dp_config_reload_total", at_least=1)
        self.assertEqual(proxy.counter("strait_dp_config_version"), 2)
        self.assertEqual(holder()[0], 200)
        self.assertEqual(queued()[0], 200)
        self.assertEqual(upstream.stats()["requests"], 2)
        # The new cluster starts from zero and admits at once.
        status, _, _ = http_request("GET", proxy.url("/after"))
        self.assertEqual(status, 200)
        self.assertEqual(self.counter(proxy, "strait_dp_upstream_rq_overflow_total"), 0)

    def test_zero_queue_timeout_refuses_over_max_requests_at_once(self):
        upstream = self.start(Upstream())
        proxy = self.start(Strait(breakers_config(
            upstream.port, "{max_requests: 1, queue_timeout: 0s}")))
        holder = hold_the_slot(self, proxy, "/hold?delay_ms=800")
        status, headers, body = http_request("GET", proxy.url("/refused"))
        self.assertEqual(status, 503)
        self.assertEqual(headers.get("x-strait-overloaded"), "true")
        self.assertIn(b"max_requests reached", body)
        self.assertEqual(self.counter(proxy, "strait_dp_upstream_rq_pending_total"), 0)
        self.assertEqual(self.counter(proxy, "strait_dp_upstream_rq_overflow_total"), 1)
        self.assertEqual(proxy.counter("strait_dp_upstream_circuit_open",
                                       {"cluster": "backend", "limit": "max_requests"}), 1)
        self.assertEqual(holder()[0], 200)


class ConnectionLimitTest(harness.ProcessTestCase):
    def test_requests_waiting_for_a_connection_count_against_max_pending_requests(self):
        upstream = self.start(Upstream())
        proxy = self.start(Strait(breakers_config(
            upstream.port, "{max_connections: 1, max_pending_requests: 1, max_requests: 100}",
            workers=1)))
        holder = hold_the_slot(self, proxy, "/hold?delay_ms=800")  # has the only connection
        waiting = send_in_background(self, proxy, "/waits", lambda: pending_active(proxy) == 1,
                                     "the second request waits for the connection")
        status, headers, body = http_request("GET", proxy.url("/refused"))
        self.assertEqual(status, 503)
        self.assertEqual(headers.get("x-strait-overloaded"), "true")
        self.assertIn(b"max_pending_requests", body)
        self.assertEqual(proxy.counter("strait_dp_upstream_rq_pending_overflow_total",
                                       {"cluster": "backend"}), 1)
        self.assertEqual(proxy.counter("strait_dp_upstream_rq_overflow_total",
                                       {"cluster": "backend"}), 1)
        self.assertEqual(holder()[0], 200)
        self.assertEqual(waiting()[0], 200)  # it got the connection after the holder
        self.assertEqual(upstream.stats()["connections"], 1)

    def test_max_connections_is_shared_by_the_workers(self):
        upstream = self.start(Upstream())
        proxy = self.start(Strait(breakers_config(
            upstream.port, "{max_connections: 3, max_requests: 100, max_pending_requests: 100}")))
        results = concurrent_requests(proxy, ["/slow?delay_ms=300"] * 12)
        self.assertEqual([r[0] for r in results], [200] * 12, [r[2] for r in results])
        # Per worker, two workers could have opened 6. Per process, 3, plus at most one forced by a
        # worker whose pool had none when the others held all three.
        self.assertLessEqual(upstream.stats()["connections"], 4)
        self.assertGreater(proxy.counter("strait_dp_upstream_cx_overflow_total",
                                         {"cluster": "backend"}), 0)
        # Every connection gives its unit back when it closes.
        self.assertLessEqual(proxy.counter("strait_dp_upstream_cx_counted",
                                           {"cluster": "backend"}), 4)


if __name__ == "__main__":
    unittest.main()
