"""Integration tests of the proxy's error edges: malformed requests and limits (raw sockets),
and upstream failures (connect failure, timeout, resets)."""

import json
import socket
import time
import unittest

import harness
from harness import Strait, Upstream, curl, http_request
from proxy_fixtures import SocketReader, closed_port, simple_config

LIMITS = (
    "      max_request_headers_kb: 4\n"
    "      max_headers: 20\n"
    "      max_request_body_kb: 8\n"
    "      request_headers_timeout: 500ms\n")


class BadInputTest(harness.ProcessTestCase):
    @classmethod
    def setUpClass(cls):
        cls.upstream = Upstream(name="bad")
        cls.proxy = Strait(simple_config(cls.upstream.port, http_options=LIMITS))
        cls.port = cls.proxy.listener_port("main")

    @classmethod
    def tearDownClass(cls):
        cls.proxy.__exit__(None, None, None)
        cls.upstream.__exit__(None, None, None)

    def rejected(self, status):
        return self.proxy.counter("strait_dp_downstream_rq_rejected_total",
                                  {"listener": "main", "status": str(status)})

    def expect_rejected(self, data, status, reason=None):
        """Sends data, expects one `status` local reply and then EOF; checks the counter."""
        before = self.rejected(status)
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            try:
                sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the proxy may answer and close before reading everything we send
            reader = SocketReader(sock)
            got, headers, body = reader.read_response()
            self.assertEqual(got, status, body)
            self.assertEqual(headers["content-type"], "text/plain")
            self.assertEqual(headers.get("connection"), "close")
            if reason is not None:
                self.assertEqual(body, reason.encode() + b"\n")
            self.assertTrue(reader.at_eof(), "connection left open after %d" % status)
        self.proxy.wait_counter("strait_dp_downstream_rq_rejected_total",
                                {"listener": "main", "status": str(status)}, before + 1)
        return body

    def test_content_length_with_transfer_encoding(self):
        self.expect_rejected(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
                             "content_length_with_transfer_encoding")

    def test_duplicate_content_length(self):
        self.expect_rejected(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                             b"Content-Length: 5\r\n\r\nhello", 400, "duplicate_content_length")

    def test_invalid_content_length(self):
        self.expect_rejected(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5x\r\n\r\nhello",
                             400)
        self.expect_rejected(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400)

    def test_obs_fold(self):
        self.expect_rejected(b"GET / HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n  b\r\n\r\n", 400,
                             "obs_fold")

    def test_missing_host(self):
        self.expect_rejected(b"GET / HTTP/1.1\r\nX-A: b\r\n\r\n", 400, "missing_host")

    def test_two_host_headers(self):
        self.expect_rejected(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "multiple_host")

    def test_transfer_encoding_in_http10(self):
        self.expect_rejected(b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
                             b"5\r\nhello\r\n0\r\n\r\n", 400, "transfer_encoding_in_http10")

    def test_bad_chunk_framing(self):
        self.expect_rejected(b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                             b"\r\nzz\r\nhello\r\n0\r\n\r\n", 400)

    def test_request_line_garbage(self):
        self.expect_rejected(b"NOT HTTP AT ALL\r\n\r\n", 400)

    def test_headers_over_byte_limit_431(self):
        big = b"X-Big: " + b"a" * 5000 + b"\r\n"
        self.expect_rejected(b"GET / HTTP/1.1\r\nHost: h\r\n" + big + b"\r\n", 431,
                             "headers_too_large")

    def test_too_many_headers_431(self):
        many = b"".join(b"X-H%d: v\r\n" % i for i in range(25))
        self.expect_rejected(b"GET / HTTP/1.1\r\nHost: h\r\n" + many + b"\r\n", 431,
                             "too_many_headers")

    def test_uri_too_long_414(self):
        self.expect_rejected(b"GET /" + b"a" * (16 * 1024 + 10) + b" HTTP/1.1\r\nHost: h\r\n\r\n",
                             414, "uri_too_long")

    def test_body_over_limit_413(self):
        self.expect_rejected(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 9000\r\n\r\n",
                             413, "body_too_large")
        # A chunked body is counted as it streams.
        chunk = b"%x\r\n%s\r\n" % (4096, b"z" * 4096)
        self.expect_rejected(b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                             b"\r\n" + chunk * 3 + b"0\r\n\r\n", 413, "body_too_large")

    def test_body_under_limit_passes(self):
        status, _, body = http_request("POST", self.proxy.url("/echo"), body=b"q" * 8000)
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["body_bytes"], 8000)

    def test_request_headers_timeout_408(self):
        before = self.rejected(408)
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            started = time.monotonic()
            sock.sendall(b"GET /slo")
            reader = SocketReader(sock, timeout=5)
            status, headers, body = reader.read_response()
            elapsed = time.monotonic() - started
            self.assertEqual(status, 408, body)
            self.assertGreaterEqual(elapsed, 0.4)
            self.assertLess(elapsed, 3.0)
            self.assertTrue(reader.at_eof())
        self.proxy.wait_counter("strait_dp_downstream_rq_rejected_total",
                                {"listener": "main", "status": "408"}, before + 1)

    def test_proxy_still_serves_after_bad_input(self):
        self.expect_rejected(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400)
        status, headers, _ = http_request("GET", self.proxy.url("/x"))
        self.assertEqual((status, headers["x-upstream-name"]), (200, "bad"))


    def test_expect_continue_over_body_limit_gets_413_without_100(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n"
                         b"Expect: 100-continue\r\n\r\n")
            reader = SocketReader(sock)
            status, _, body = reader.read_response()
            self.assertEqual((status, body), (413, b"body_too_large\n"))
            self.assertTrue(reader.at_eof())

    def test_pipelined_request_after_bad_one_is_not_served(self):
        before = self.upstream.stats()["requests"]
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"
                         b"GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n")
            reader = SocketReader(sock)
            self.assertEqual(reader.read_response()[0], 400)
            self.assertTrue(reader.at_eof())
        self.assertEqual(self.upstream.stats()["requests"], before)


class NoRouteWithBodyTest(harness.ProcessTestCase):
    def test_404_while_body_still_arriving(self):
        upstream = self.start(Upstream(name="nr"))
        routes = ("          - match: {path: /only}\n"
                  "            route: {cluster: backend}\n")
        proxy = self.start(Strait(simple_config(upstream.port, routes=routes)))
        with socket.create_connection(("127.0.0.1", proxy.listener_port("main")),
                                      timeout=10) as sock:
            sock.sendall(b"POST /elsewhere HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000\r\n"
                         b"\r\n" + b"x" * 1000)
            reader = SocketReader(sock)
            status, headers, body = reader.read_response()
            self.assertEqual((status, body), (404, b"no route matched\n"))
            self.assertEqual(headers.get("connection"), "close")
            self.assertTrue(reader.at_eof())
        self.assertEqual(upstream.stats()["requests"], 0)


class UpstreamFailureTest(harness.ProcessTestCase):
    def test_connect_failure_503(self):
        proxy = self.start(Strait(simple_config(closed_port())))
        status, headers, body = http_request("GET", proxy.url("/x"))
        self.assertEqual(status, 503)
        self.assertEqual(headers["content-type"], "text/plain")
        self.assertTrue(body.startswith(b"upstream connect error: "), body)
        self.assertTrue(body.endswith(b"\n"))
        self.assertGreaterEqual(proxy.counter("strait_dp_upstream_cx_connect_fail_total",
                                              {"cluster": "backend"}), 1)
        self.assertEqual(proxy.counter("strait_dp_downstream_rq_total",
                                       {"code_class": "5xx"}), 1)
        clusters = json.loads(http_request("GET", proxy.admin_url("/clusters"))[2])
        endpoint = clusters["clusters"][0]["endpoints"][0]
        self.assertGreaterEqual(endpoint["cx_connect_fail"], 1)

    def failure_proxy(self):
        upstream = self.start(Upstream(name="flaky"))
        routes = ("          - match: {prefix: /}\n"
                  "            route: {cluster: backend, timeout: 300ms}\n")
        proxy = self.start(Strait(simple_config(upstream.port, routes=routes)))
        return upstream, proxy

    def test_route_timeout_504(self):
        upstream, proxy = self.failure_proxy()
        started = time.monotonic()
        status, headers, body = http_request("GET", proxy.url("/x?delay_ms=2000"))
        elapsed = time.monotonic() - started
        self.assertEqual((status, body), (504, b"upstream request timeout\n"))
        self.assertGreaterEqual(elapsed, 0.25)
        self.assertLess(elapsed, 1.8)
        self.assertEqual(proxy.counter("strait_dp_upstream_rq_timeout_total",
                                       {"cluster": "backend"}), 1)
        # The timed-out upstream connection is closed, not handed to the next request.
        status, headers, _ = http_request("GET", proxy.url("/x"))
        self.assertEqual((status, headers["x-upstream-name"]), (200, "flaky"))

    def test_reset_before_response_503(self):
        upstream, proxy = self.failure_proxy()
        status, headers, body = http_request("GET", proxy.url("/x?reset=1"))
        self.assertEqual(status, 503)
        self.assertEqual(headers["content-type"], "text/plain")
        self.assertTrue(body.startswith(b"upstream reset before response: "), body)
        self.assertGreaterEqual(proxy.counter("strait_dp_upstream_rq_reset_total",
                                              {"cluster": "backend"}), 1)

    def test_reset_after_headers_cuts_client(self):
        upstream, proxy = self.failure_proxy()
        code, out, err = curl("-i", proxy.url("/x?reset=after_headers&body_size=5000"))
        # 18: partial file (the body was cut short); 56: failure receiving (reset).
        self.assertIn(code, (18, 56), err)
        self.assertIn(b"200", out.split(b"\r\n", 1)[0])
        self.assertIn(b"content-length: 5000", out)
        # The proxy keeps serving.
        status, _, _ = http_request("GET", proxy.url("/x"))
        self.assertEqual(status, 200)

    def test_clusters_admin_counts_requests(self):
        upstream, proxy = self.failure_proxy()
        for _ in range(3):
            self.assertEqual(http_request("GET", proxy.url("/x"))[0], 200)
        self.assertEqual(http_request("GET", proxy.url("/x?status=500"))[0], 500)
        clusters = json.loads(http_request("GET", proxy.admin_url("/clusters"))[2])
        self.assertEqual([c["name"] for c in clusters["clusters"]], ["backend"])
        endpoint = clusters["clusters"][0]["endpoints"][0]
        self.assertEqual(endpoint["address"], "127.0.0.1:%d" % upstream.port)
        self.assertEqual(endpoint["rq_total"], 4)
        self.assertEqual(endpoint["rq_error"], 1)
        self.assertEqual(endpoint["rq_active"], 0)
        self.assertEqual(endpoint["health"], "healthy")


if __name__ == "__main__":
    unittest.main()
