"""Hedged requests (issue 14): a backup request after the route's hedge delay, on another
endpoint; the first response wins and the loser is cancelled upstream (HTTP/1.1: its connection
closed; HTTP/2: RST_STREAM CANCEL); POSTs, bodies over the buffer and an exhausted budget send no
hedge; stats and the access log say what happened. Real proxy, real upstreams, port 0.
"""

import json
import os
import select
import shutil
import socket
import tempfile
import threading
import time
import unittest

import h2.config
import h2.connection
import h2.errors
import h2.events

import harness
from harness import Strait, Upstream, http_request
from proxy_fixtures import read_lines


def hedge_config(ports, hedge, cluster_extra="", log_path=None):
    endpoints = "".join("      - {address: 127.0.0.1, port: %d}\n" % p for p in ports)
    log = ""
    if log_path is not None:
        log = "access_log: {path: \"%s\", format: json}\n" % log_path
    return (
        "admin: {address: 127.0.0.1, port: 0}\n"
        "workers: 1\n"
        + log +
        "listeners:\n"
        "  - name: main\n"
        "    address: 127.0.0.1\n"
        "    port: 0\n"
        "    virtual_hosts:\n"
        "      - name: default\n"
        "        domains: [\"*\"]\n"
        "        routes:\n"
        "          - name: items\n"
        "            match: {prefix: /}\n"
        "            route: {cluster: backend, timeout: 20s, hedge: %s}\n"
        "clusters:\n"
        "  - name: backend\n"
        "    lb: round_robin\n"
        "%s"
        "    endpoints:\n" % (hedge, cluster_extra) + endpoints)


class H2DelayUpstream:
    """An HTTP/2 (h2c prior knowledge) server on python3-h2 that answers every request after
    `delay` seconds (200, its name in x-upstream-name), one thread per connection, and records
    the streams the peer reset (with their error codes) before their answer went out."""

    def __init__(self, name, delay):
        self.name = name
        self.delay = delay
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.requests = 0
        self.resets = []
        self.lock = threading.Lock()
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.stopping = True
        self.listener.close()

    def _accept(self):
        while not self.stopping:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock):
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        due = {}  # stream id -> when to answer
        try:
            while not self.stopping:
                timeout = None
                if due:
                    timeout = max(0.0, min(due.values()) - time.monotonic())
                readable, _, _ = select.select([sock], [], [], timeout)
                if readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    for event in conn.receive_data(data):
                        if isinstance(event, h2.events.RequestReceived):
                            with self.lock:
                                self.requests += 1
                        elif isinstance(event, h2.events.StreamEnded):
                            due[event.stream_id] = time.monotonic() + self.delay
                        elif isinstance(event, h2.events.StreamReset):
                            if due.pop(event.stream_id, None) is not None:
                                with self.lock:
                                    self.resets.append(event.error_code)
                now = time.monotonic()
                for stream_id in [s for s, at in due.items() if at <= now]:
                    del due[stream_id]
                    conn.send_headers(stream_id, [(":status", "200"),
                                                  ("x-upstream-name", self.name)])
                    conn.send_data(stream_id, self.name.encode(), end_stream=True)
                sock.sendall(conn.data_to_send())
        except (OSError, h2.exceptions.ProtocolError):
            return
        finally:
            sock.close()


class HedgingTest(harness.ProcessTestCase):

    def counter(self, proxy, name):
        return proxy.counter(name, {"cluster": "backend"})

    def slow_and_fast(self):
        slow = self.start(Upstream(name="slow", delay_ms=3000))
        fast = self.start(Upstream(name="fast"))
        return slow, fast

    def test_the_hedge_wins_and_the_slow_request_is_cancelled_upstream(self):
        slow, fast = self.slow_and_fast()
        workdir = tempfile.mkdtemp(prefix="strait-hedging-")
        self.addCleanup(shutil.rmtree, workdir, True)
        log_path = os.path.join(workdir, "access.log")
        proxy = self.start(Strait(hedge_config(
            [slow.port, fast.port], "{delay: 50ms, max_attempts: 2, max_extra_load: 100%}",
            log_path=log_path)))
        # Round robin sends some first attempts to the slow endpoint: those are hedged to the
        # fast one after 50 ms, and every answer comes from it.
        for _ in range(4):
            status, headers, _ = http_request("GET", proxy.url("/items"))
            self.assertEqual(status, 200)
            self.assertEqual(headers.get("x-upstream-name"), "fast")
        # Every request the slow endpoint got is hedged or is a hedge (a fast first attempt that
        # took over 50 ms on a loaded machine is hedged to the slow one, and still wins), and one
        # attempt of each hedged request is cancelled. Round robin sends at least one of the four
        # first attempts to the slow endpoint: that hedge wins.
        sent = int(self.counter(proxy, "strait_dp_upstream_hedges_sent_total"))
        won = int(self.counter(proxy, "strait_dp_upstream_hedges_won_total"))
        self.assertGreaterEqual(won, 1)
        self.assertGreaterEqual(sent, won)
        self.assertEqual(slow.stats()["requests"], sent)
        self.assertEqual(self.counter(proxy, "strait_dp_upstream_hedges_cancelled_total"), sent)
        # The slow endpoint saw each of its requests cancelled (its connection closed) before it
        # answered.
        harness.wait_for(lambda: slow.stats()["cancelled"] == sent,
                         what="the slow upstream to see %d cancels" % sent)
        # Neither the hedge nor the cancel is a failure: the slow host is not ejected and no 5xx
        # was counted.
        self.assertEqual(proxy.counter("strait_dp_upstream_rq_total",
                                       {"cluster": "backend", "code_class": "5xx"}), 0)
        gauge = proxy.counter("strait_dp_route_hedge_delay_microseconds",
                              {"listener": "main", "route": "default/items"})
        self.assertEqual(gauge, 50000)
        # The access log: the hedged requests won on attempt 2, with the HD flag.
        lines = harness.wait_for(
            lambda: (lambda ls: ls if len(ls) == 4 else None)(read_lines(log_path)),
            what="4 access log lines")
        entries = [json.loads(line) for line in lines]
        hedged = [e for e in entries if "HD" in e["response_flags"]]
        self.assertEqual(len(hedged), won)
        for e in hedged:
            self.assertEqual((e["attempts"], e["winning_attempt"]), (2, 2))
        for e in entries:
            if e not in hedged:
                self.assertEqual(e["winning_attempt"], 1)
        self.assertEqual(sum(e["attempts"] for e in entries), 4 + sent)

    def test_a_post_is_not_hedged_unless_the_route_says_so(self):
        slow = self.start(Upstream(name="slow", delay_ms=300))
        proxy = self.start(Strait(hedge_config(
            [slow.port, slow.port], "{delay: 20ms, max_extra_load: 100%}")))
        status, _, _ = http_request("POST", proxy.url("/items"), body=b"x")
        self.assertEqual(status, 200)
        self.assertEqual(slow.stats()["requests"], 1)
        self.assertEqual(self.counter(proxy, "strait_dp_upstream_hedges_sent_total"), 0)
        # A GET on the same route is hedged (both attempts go to the slow upstream).
        status, _, _ = http_request("GET", proxy.url("/items"))
        self.assertEqual(status, 200)
        self.assertEqual(self.counter(proxy, "strait_dp_upstream_hedges_sent_total"), 1)

    def test_a_body_over_the_buffer_is_not_hedged_and_one_within_it_is_replayed(self):
        slow, fast = self.slow_and_fast()
        proxy = self.start(Strait(hedge_config(
            [slow.port, fast.port],
            "{delay: 50ms, max_extra_load: 100%, non_idempotent: true, max_body_bytes: 1024}")))
        # Within the buffer: whichever endpoint took the first attempt, the answer is the fast
        # one's echo of the whole body (a hedge replays it from the kept copy).
        for i in range(2):
            body = (b"%d" % i) * 1000
            status, headers, echoed = http_request("PUT", proxy.url("/echo"), body=body)
            self.assertEqual(status, 200)
            self.assertEqual(headers.get("x-upstream-name"), "fast")
            self.assertEqual(json.loads(echoed)["body_bytes"], len(body))
        sent = int(self.counter(proxy, "strait_dp_upstream_hedges_sent_total"))
        self.assertGreater(sent, 0)
        # Over it: no hedge; a request whose first attempt goes to the slow endpoint waits for it.
        names = set()
        for _ in range(2):
            status, headers, _ = http_request("PUT", proxy.url("/items"), body=b"y" * 2000)
            self.assertEqual(status, 200)
            names.add(headers.get("x-upstream-name"))
        self.assertEqual(names, {"slow", "fast"})
        self.assertEqual(self.counter(proxy, "strait_dp_upstream_hedges_sent_total"), sent)

    def test_budget_exhaustion_sends_no_hedge_and_counts_it(self):
        slow = self.start(Upstream(name="slow", delay_ms=200))
        # 5% of the route's requests: the first requests of a window allow no hedge.
        proxy = self.start(Strait(hedge_config(
            [slow.port, slow.port], "{delay: 20ms, max_extra_load: 5%, window: 60s}")))
        for _ in range(3):
            status, _, _ = http_request("GET", proxy.url("/items"))
            self.assertEqual(status, 200)
        self.assertEqual(self.counter(proxy, "strait_dp_upstream_hedges_sent_total"), 0)
        self.assertEqual(
            self.counter(proxy, "strait_dp_upstream_hedge_budget_exhausted_total"), 3)
        self.assertEqual(slow.stats()["requests"], 3)

    def test_the_cluster_retry_budget_also_bounds_hedges(self):
        slow = self.start(Upstream(name="slow", delay_ms=200))
        proxy = self.start(Strait(hedge_config(
            [slow.port, slow.port], "{delay: 20ms, max_extra_load: 100%}",
            cluster_extra="    circuit_breakers: {retry_budget: {percent: 0, "
                          "min_concurrency: 0}}\n")))
        status, _, _ = http_request("GET", proxy.url("/items"))
        self.assertEqual(status, 200)
        self.assertEqual(self.counter(proxy, "strait_dp_upstream_hedges_sent_total"), 0)
        self.assertEqual(
            self.counter(proxy, "strait_dp_upstream_hedge_budget_exhausted_total"), 1)

    def test_hedging_over_http2_upstreams_cancels_the_loser_with_rst_stream(self):
        slow = H2DelayUpstream("slow", 3.0)
        fast = H2DelayUpstream("fast", 0.0)
        self.addCleanup(slow.close)
        self.addCleanup(fast.close)
        proxy = self.start(Strait(hedge_config(
            [slow.port, fast.port], "{delay: 50ms, max_extra_load: 100%}",
            cluster_extra="    protocol: http2\n")))
        for _ in range(4):
            status, headers, body = http_request("GET", proxy.url("/items"))
            self.assertEqual(status, 200)
            self.assertEqual(headers.get("x-upstream-name"), "fast")
            self.assertEqual(body, b"fast")
        sent = int(self.counter(proxy, "strait_dp_upstream_hedges_sent_total"))
        self.assertGreaterEqual(self.counter(proxy, "strait_dp_upstream_hedges_won_total"), 1)
        # Each slow stream (a first attempt that was hedged, or a hedge of a fast first attempt
        # that was late on a loaded machine) was cancelled with RST_STREAM CANCEL, on its
        # connection that stays open for the next streams.
        harness.wait_for(lambda: slow.requests == sent and len(slow.resets) == sent,
                         what="%d RST_STREAM" % sent)
        self.assertEqual(slow.resets, [h2.errors.ErrorCodes.CANCEL] * sent)


if __name__ == "__main__":
    unittest.main()
