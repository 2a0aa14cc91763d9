"""Integration tests of the HTTP/1.1 reverse proxy: routing, forwarded headers, HTTP/1.1
connection behaviours (keep-alive, pipelining, chunking, 100-continue, HEAD, 1.0, upgrade)."""

import http.client
import json
import os
import re
import socket
import struct
import threading
import unittest

import harness
from harness import Strait, Upstream, curl, http_request, raw_request
from proxy_fixtures import SocketReader, echo_headers, simple_config

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

ROUTING_CONFIG = """
admin: {{address: 127.0.0.1, port: 0}}
workers: 2
listeners:
  - name: main
    address: 127.0.0.1
    port: 0
    virtual_hosts:
      - name: exact
        domains: ["exact.example.com"]
        routes:
          - match: {{prefix: /}}
            direct_response: {{status: 200, body: "vhost-exact"}}
      - name: suffix
        domains: ["*.example.com"]
        routes:
          - match: {{prefix: /}}
            direct_response: {{status: 200, body: "vhost-suffix"}}
      - name: narrow
        domains: ["narrow.test"]
        routes:
          - match: {{path: /only}}
            direct_response: {{status: 200, body: "only"}}
      - name: default
        domains: ["*"]
        response_headers_to_add: [{{name: x-vhost, value: default}}]
        routes:
          - match: {{path: /exact-path}}
            direct_response: {{status: 200, body: "by-path"}}
          - match: {{regex: "/re/[0-9]+"}}
            direct_response: {{status: 200, body: "by-regex"}}
          - match: {{prefix: /hdr, headers: [{{name: x-variant, exact: beta}}]}}
            direct_response: {{status: 200, body: "beta"}}
          - match: {{prefix: /hdr}}
            direct_response: {{status: 200, body: "stable"}}
          - match: {{prefix: /teapot}}
            direct_response: {{status: 418, body: "short and stout", content_type: text/x-tea}}
          - match: {{prefix: /redirect}}
            redirect: {{status: 302, host: new.example.com, path: /landing}}
          - match: {{prefix: /split}}
            route:
              weighted_clusters: [{{cluster: a, weight: 50}}, {{cluster: b, weight: 50}}]
          - match: {{prefix: /rw}}
            route: {{cluster: a, prefix_rewrite: /echo}}
          - match: {{prefix: /edit}}
            route: {{cluster: a, prefix_rewrite: /echo}}
            request_headers_to_add: [{{name: x-added, value: "added-1"}}]
            request_headers_to_remove: [x-secret]
            response_headers_to_add: [{{name: x-resp-added, value: r1}}]
            response_headers_to_remove: [x-upstream-name]
          - match: {{prefix: /to-b}}
            route: {{cluster: b}}
          - match: {{prefix: /}}
            route: {{cluster: a}}
clusters:
  - name: a
    endpoints: [{{address: 127.0.0.1, port: {a}}}]
  - name: b
    endpoints: [{{address: 127.0.0.1, port: {b}}}]
"""


class RoutingTest(harness.ProcessTestCase):
    @classmethod
    def setUpClass(cls):
        cls.up_a = Upstream(name="a")
        cls.up_b = Upstream(name="b")
        cls.proxy = Strait(harness.render_config(ROUTING_CONFIG, a=cls.up_a.port, b=cls.up_b.port))

    @classmethod
    def tearDownClass(cls):
        for thing in (cls.proxy, cls.up_a, cls.up_b):
            thing.__exit__(None, None, None)

    def get(self, path, host=None, headers=None, method="GET", body=None):
        headers = dict(headers or {})
        if host is not None:
            headers["Host"] = host
        return http_request(method, self.proxy.url(path), headers=headers, body=body)

    def test_virtual_host_exact_suffix_and_wildcard(self):
        self.assertEqual(self.get("/", host="exact.example.com")[2], b"vhost-exact")
        self.assertEqual(self.get("/", host="EXACT.example.com:8080")[2], b"vhost-exact")
        self.assertEqual(self.get("/", host="api.example.com")[2], b"vhost-suffix")
        self.assertEqual(self.get("/", host="deep.api.example.com")[2], b"vhost-suffix")
        status, headers, _ = self.get("/", host="other.test")
        self.assertEqual((status, headers["x-upstream-name"]), (200, "a"))
        self.assertEqual(headers["x-vhost"], "default")

    def test_path_regex_and_header_match(self):
        self.assertEqual(self.get("/exact-path", host="x")[2], b"by-path")
        self.assertEqual(self.get("/exact-path?q=1", host="x")[2], b"by-path")
        # A longer path is not the exact path: it falls through to the catch-all cluster.
        self.assertEqual(self.get("/exact-path/more", host="x")[1]["x-upstream-name"], "a")
        self.assertEqual(self.get("/re/123", host="x")[2], b"by-regex")
        self.assertEqual(self.get("/re/12a", host="x")[1]["x-upstream-name"], "a")
        self.assertEqual(self.get("/hdr", host="x", headers={"x-variant": "beta"})[2], b"beta")
        self.assertEqual(self.get("/hdr", host="x", headers={"x-variant": "alpha"})[2], b"stable")
        self.assertEqual(self.get("/hdr", host="x")[2], b"stable")

    def test_unknown_route_is_404(self):
        before = self.proxy.counter("strait_dp_downstream_rq_no_route_total")
        status, headers, body = self.get("/nope", host="narrow.test")
        self.assertEqual(status, 404)
        self.assertEqual(headers["content-type"], "text/plain")
        self.assertEqual(body, b"no route matched\n")
        self.assertEqual(self.proxy.counter("strait_dp_downstream_rq_no_route_total"), before + 1)
        self.assertEqual(self.get("/only", host="narrow.test")[2], b"only")

    def test_direct_response(self):
        status, headers, body = self.get("/teapot", host="x")
        self.assertEqual((status, body), (418, b"short and stout"))
        self.assertEqual(headers["content-type"], "text/x-tea")
        self.assertEqual(headers["content-length"], str(len(body)))

    def test_redirect(self):
        status, headers, body = self.get("/redirect/x?q=1", host="www.test")
        self.assertEqual(status, 302)
        self.assertEqual(headers["location"], "http://new.example.com/landing?q=1")
        self.assertEqual(body, b"")

    def test_weighted_clusters_split(self):
        counts = {"a": 0, "b": 0}
        conn = http.client.HTTPConnection("127.0.0.1", self.proxy.listener_port("main"), timeout=10)
        try:
            for _ in range(100):
                conn.request("GET", "/split", headers={"Host": "x"})
                response = conn.getresponse()
                response.read()
                self.assertEqual(response.status, 200)
                counts[response.getheader("x-upstream-name")] += 1
        finally:
            conn.close()
        self.assertEqual(counts["a"] + counts["b"], 100)
        # 50/50 over 100 picks: each side below 15 has a probability around 1e-12.
        self.assertGreater(counts["a"], 15, counts)
        self.assertGreater(counts["b"], 15, counts)

    def test_prefix_rewrite_keeps_query(self):
        status, headers, body = self.get("/rw?a=1", host="x")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["path"], "/echo?a=1")

    def test_request_and_response_header_edits(self):
        status, headers, body = self.get("/edit", host="x", headers={
            "x-secret": "s3cr3t", "x-keep": "kept"})
        self.assertEqual(status, 200)
        _, seen = echo_headers(body)
        self.assertEqual(seen["x-added"], ["added-1"])
        self.assertNotIn("x-secret", seen)
        self.assertEqual(seen["x-keep"], ["kept"])
        self.assertEqual(headers["x-resp-added"], "r1")
        self.assertNotIn("x-upstream-name", headers)
        # The virtual host's response header is added on routed responses too.
        self.assertEqual(headers["x-vhost"], "default")


class ForwardedHeadersTest(harness.ProcessTestCase):
    @classmethod
    def setUpClass(cls):
        cls.upstream = Upstream(name="fwd")
        cls.proxy = Strait(simple_config(cls.upstream.port))

    @classmethod
    def tearDownClass(cls):
        cls.proxy.__exit__(None, None, None)
        cls.upstream.__exit__(None, None, None)

    def echo(self, headers=None):
        status, _, body = http_request("GET", self.proxy.url("/echo"), headers=headers or {})
        self.assertEqual(status, 200)
        return echo_headers(body)[1]

    def test_x_forwarded_for_and_proto(self):
        seen = self.echo()
        self.assertEqual(seen["x-forwarded-for"], ["127.0.0.1"])
        self.assertEqual(seen["x-forwarded-proto"], ["http"])
        seen = self.echo({"X-Forwarded-For": "1.2.3.4"})
        self.assertEqual(seen["x-forwarded-for"], ["1.2.3.4, 127.0.0.1"])

    def test_request_id_generated_or_kept(self):
        first = self.echo()["x-request-id"]
        second = self.echo()["x-request-id"]
        self.assertEqual(len(first), 1)
        self.assertRegex(first[0], UUID)
        self.assertRegex(second[0], UUID)
        self.assertNotEqual(first, second)
        self.assertEqual(self.echo({"x-request-id": "my-id-42"})["x-request-id"], ["my-id-42"])

    def test_hop_by_hop_headers_not_forwarded(self):
        reply = raw_request(self.proxy.listener_port("main"),
                            b"GET /echo HTTP/1.1\r\nHost: h\r\nConnection: x-foo, close\r\n"
                            b"X-Foo: nominated\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n"
                            b"Proxy-Connection: keep-alive\r\nX-End-To-End: yes\r\n\r\n")
        head, _, body = reply.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        self.assertIn(b"connection: close", head.lower())
        _, seen = echo_headers(body)
        for name in ("x-foo", "keep-alive", "te", "proxy-connection"):
            self.assertNotIn(name, seen)
        # The proxy's own upstream connection header (keep-alive) may be there; never the
        # client's "x-foo, close".
        self.assertNotIn("x-foo, close", seen.get("connection", []))
        self.assertEqual(seen["x-end-to-end"], ["yes"])
        self.assertEqual(seen["host"], ["h"])


class Http1BehaviourTest(harness.ProcessTestCase):
    def setUp(self):
        super().setUp()
        self.upstream = self.start(Upstream(name="beh"))
        self.proxy = self.start(Strait(simple_config(self.upstream.port)))
        self.port = self.proxy.listener_port("main")

    def test_keep_alive_reuses_downstream_and_upstream_connections(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            for i in range(5):
                conn.request("GET", "/x?body_size=%d" % (10 + i))
                response = conn.getresponse()
                self.assertEqual((response.status, len(response.read())), (200, 10 + i))
                self.assertIsNone(response.getheader("connection"))
            stats = self.upstream.stats()
            self.assertEqual(stats["requests"], 5)
            self.assertEqual(stats["connections"], 1)
            self.assertEqual(self.proxy.counter("strait_dp_downstream_cx_total"), 1)
            self.assertEqual(self.proxy.counter("strait_dp_downstream_cx_active"), 1)
            self.assertEqual(self.proxy.counter("strait_dp_upstream_cx_total"), 1)
            # Both connections are still open, and their byte counters have moved already
            # (five responses of 10-14 body bytes plus heads).
            self.assertGreater(self.proxy.counter("strait_dp_upstream_cx_rx_bytes_total"), 300)
            self.assertGreater(self.proxy.counter("strait_dp_downstream_cx_tx_bytes_total"), 300)
            self.assertGreater(self.proxy.counter("strait_dp_downstream_cx_rx_bytes_total"), 100)
        finally:
            conn.close()

    def test_pipelining_answers_in_order(self):
        reply = raw_request(self.port,
                            b"GET /x?body_size=70000&delay_ms=100 HTTP/1.1\r\nHost: p\r\n\r\n"
                            b"GET /echo HTTP/1.1\r\nHost: second\r\n\r\n"
                            b"GET /x?status=404 HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n")
        reader = SocketReader(_BytesSocket(reply))
        responses = [reader.read_response() for _ in range(3)]
        self.assertEqual([r[0] for r in responses], [200, 200, 404])
        self.assertEqual(len(responses[0][2]), 70000)
        self.assertEqual(echo_headers(responses[1][2])[1]["host"], ["second"])
        self.assertEqual(reader.buffer, b"")

    def test_chunked_request_body(self):
        payload = os.urandom(123457)
        code, out, err = curl("-H", "Transfer-Encoding: chunked", "--data-binary", "@-",
                              self.proxy.url("/echo"), input=payload)
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out)["body_bytes"], len(payload))

    def test_chunked_response(self):
        status, headers, body = http_request("GET", self.proxy.url("/x?chunked=1&body_size=100000"))
        self.assertEqual((status, len(body)), (200, 100000))
        self.assertEqual(headers.get("transfer-encoding"), "chunked")

    def test_expect_100_continue(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                         b"Expect: 100-continue\r\n\r\n")
            reader = SocketReader(sock)
            status, _, _ = reader.read_response()
            self.assertEqual(status, 100)
            sock.sendall(b"hello")
            status, _, body = reader.read_response()
            self.assertEqual(status, 200)
            doc, seen = echo_headers(body)
            self.assertEqual(doc["body_bytes"], 5)

    def test_head_has_no_body_and_keeps_length(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(b"HEAD /x?body_size=500 HTTP/1.1\r\nHost: h\r\n\r\n"
                         b"GET /x?body_size=3 HTTP/1.1\r\nHost: h\r\n\r\n")
            reader = SocketReader(sock)
            status, headers, _ = reader.read_response(head_request=True)
            self.assertEqual((status, headers["content-length"]), (200, "500"))
            # The next bytes are the second response: the HEAD answer carried no body.
            status, headers, body = reader.read_response()
            self.assertEqual((status, body), (200, b"abc"))

    def test_http10_response_closes(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(b"GET /x?body_size=2 HTTP/1.0\r\n\r\n")
            reader = SocketReader(sock)
            status, headers, body = reader.read_response()
            self.assertEqual((status, body), (200, b"ab"))
            self.assertEqual(headers.get("connection"), "close")
            self.assertTrue(reader.at_eof())

    def test_connection_close(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(b"GET /x?body_size=4 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            reader = SocketReader(sock)
            status, headers, body = reader.read_response()
            self.assertEqual((status, body), (200, b"abcd"))
            self.assertEqual(headers.get("connection"), "close")
            self.assertTrue(reader.at_eof())

    def test_websocket_upgrade_tunnel(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\n\r\n")
            reader = SocketReader(sock)
            status, headers, _ = reader.read_response()
            self.assertEqual(status, 101)
            self.assertEqual(headers.get("upgrade"), "websocket")
            payload = os.urandom(200000)
            sender = threading.Thread(target=sock.sendall, args=(payload,))
            sender.start()
            received = reader.read_exact(len(payload))
            sender.join()
            self.assertEqual(received, payload)
        # The client left: the proxy closes its side of the tunnel to the upstream as well
        # (the upstream's own /__stats connection is the one left active).
        harness.wait_for(lambda: self.upstream.stats()["active"] <= 1, what="tunnel closed")


class UpstreamConnectionReuseTest(harness.ProcessTestCase):
    def test_max_requests_per_connection_closes_the_upstream_connection(self):
        upstream = self.start(Upstream(name="capped"))
        proxy = self.start(Strait(simple_config(
            upstream.port, clusters_extra="    max_requests_per_connection: 2\n")))
        conn = http.client.HTTPConnection("127.0.0.1", proxy.listener_port("main"), timeout=10)
        self.addCleanup(conn.close)
        for _ in range(5):
            conn.request("GET", "/x")
            response = conn.getresponse()
            response.read()
            self.assertEqual(response.status, 200)
        # Two requests per upstream connection: 2 + 2 + 1; the client's connection stays one.
        self.assertEqual(upstream.stats()["connections"], 3)
        self.assertEqual(proxy.counter("strait_dp_upstream_cx_total"), 3)
        self.assertEqual(proxy.counter("strait_dp_downstream_cx_total"), 1)


class Http1EdgeTest(harness.ProcessTestCase):
    def setUp(self):
        super().setUp()
        self.upstream = self.start(Upstream(name="edge"))
        self.proxy = self.start(Strait(simple_config(self.upstream.port)))
        self.port = self.proxy.listener_port("main")

    def test_pipelined_posts_with_bodies(self):
        reply = raw_request(self.port,
                            b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
                            b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                            b"4\r\nwxyz\r\n0\r\n\r\n"
                            b"GET /echo HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        reader = SocketReader(_BytesSocket(reply))
        bodies = [json.loads(reader.read_response()[2])["body_bytes"] for _ in range(3)]
        self.assertEqual(bodies, [3, 4, 0])

    def test_http10_keep_alive(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            reader = SocketReader(sock)
            for _ in range(2):
                sock.sendall(b"GET /x?body_size=3 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                status, headers, body = reader.read_response()
                self.assertEqual((status, body), (200, b"abc"))
                self.assertEqual(headers.get("connection"), "keep-alive")

    def test_http10_chunked_upstream_response_is_close_delimited(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(b"GET /x?chunked=1&body_size=5000 HTTP/1.0\r\n\r\n")
            reader = SocketReader(sock)
            status, headers, body = reader.read_response()
            self.assertEqual((status, len(body)), (200, 5000))
            self.assertNotIn("transfer-encoding", headers)

    def test_head_of_chunked_response(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(b"HEAD /x?chunked=1&body_size=500 HTTP/1.1\r\nHost: h\r\n\r\n"
                         b"GET /x?body_size=2 HTTP/1.1\r\nHost: h\r\n\r\n")
            reader = SocketReader(sock)
            status, _, _ = reader.read_response(head_request=True)
            self.assertEqual(status, 200)
            self.assertEqual(reader.read_response()[2], b"ab")

    def test_204_and_304_have_no_body(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(b"GET /x?status=204 HTTP/1.1\r\nHost: h\r\n\r\n"
                         b"GET /x?status=304 HTTP/1.1\r\nHost: h\r\n\r\n"
                         b"GET /x?body_size=2 HTTP/1.1\r\nHost: h\r\n\r\n")
            reader = SocketReader(sock)
            self.assertEqual(reader.read_response()[0], 204)
            self.assertEqual(reader.read_response()[0], 304)
            self.assertEqual(reader.read_response()[2], b"ab")

    def test_upstream_close_then_next_request(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            for path in ("/x?close=1", "/x", "/x?close=1", "/x"):
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                self.assertEqual(response.status, 200)
        finally:
            conn.close()
        self.assertEqual(self.upstream.stats()["requests"], 4)

    def test_half_closed_client_still_gets_its_answer(self):
        # A client may shut down its sending side once the request is out (e.g. nc -N): the
        # proxy answers what was asked, then closes.
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(b"GET /x?delay_ms=100&body_size=3 HTTP/1.1\r\nHost: h\r\n\r\n")
            sock.shutdown(socket.SHUT_WR)
            reader = SocketReader(sock)
            status, headers, body = reader.read_response()
            self.assertEqual((status, body), (200, b"abc"))
            self.assertTrue(reader.at_eof())

    def test_client_reset_cancels_upstream_request(self):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        sock.sendall(b"GET /x?delay_ms=60000 HTTP/1.1\r\nHost: h\r\n\r\n")
        harness.wait_for(lambda: self.upstream.stats()["requests"] >= 1, what="upstream request")
        self.assertEqual(self.proxy.counter("strait_dp_downstream_rq_active"), 1)
        # SO_LINGER 0: close() sends a RST, an abortive close the proxy must act on at once.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        harness.wait_for(lambda: self.upstream.stats()["active"] <= 1, what="upstream closed")
        harness.wait_for(lambda: self.proxy.counter("strait_dp_downstream_rq_active") == 0
                         and self.proxy.counter("strait_dp_upstream_rq_active") == 0,
                         what="no active requests")

    def test_chunked_request_with_trailers(self):
        reply = raw_request(self.port,
                            b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                            b"Connection: close\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n")
        status, _, body = SocketReader(_BytesSocket(reply)).read_response()
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["body_bytes"], 5)

    def test_large_header_forwarded_intact(self):
        value = "v" * 30000
        status, _, body = http_request("GET", self.proxy.url("/echo"), headers={"x-large": value})
        self.assertEqual(status, 200)
        self.assertEqual(echo_headers(body)[1]["x-large"], [value])

    def test_large_post_with_content_length(self):
        payload = os.urandom(3 * 1024 * 1024)
        status, headers, body = http_request("POST", self.proxy.url("/echo"), body=payload)
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["body_bytes"], len(payload))


    def test_absolute_form_target(self):
        # RFC 9112 3.2.2: the authority of an absolute-form target replaces Host.
        reply = raw_request(self.port, b"GET http://Other.Host:81/echo?a=1 HTTP/1.1\r\n"
                            b"Host: ignored\r\nConnection: close\r\n\r\n")
        status, _, body = SocketReader(_BytesSocket(reply)).read_response()
        self.assertEqual(status, 200, body)
        doc, seen = echo_headers(body)
        self.assertEqual(doc["path"], "/echo?a=1")
        self.assertEqual(seen["host"], ["Other.Host:81"])

    def test_many_pipelined_requests(self):
        # 2000 requests in one send: far more than the proxy holds (64 KiB) before it pauses
        # reading, so this goes through the read-disable path.
        count = 2000
        data = (b"GET /x?body_size=10 HTTP/1.1\r\nHost: h\r\n\r\n" * (count - 1) +
                b"GET /x?body_size=10 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        reply = raw_request(self.port, data, timeout=30)
        reader = SocketReader(_BytesSocket(reply))
        bodies = [reader.read_response()[2] for _ in range(count)]
        self.assertEqual(set(bodies), {b"abcdefghij"})
        self.assertEqual(reader.buffer, b"")
        self.assertEqual(self.upstream.stats()["requests"], count)

    def test_tunnel_closed_when_upstream_dies(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\n\r\n")
            reader = SocketReader(sock)
            self.assertEqual(reader.read_response()[0], 101)
            self.upstream.process.kill()
            self.assertTrue(reader.at_eof(timeout=5))


class _BytesSocket:
    """A socket stand-in over bytes already received."""

    def __init__(self, data):
        self.data = data

    def settimeout(self, timeout):
        pass

    def recv(self, n):
        chunk, self.data = self.data[:n], self.data[n:]
        return chunk


if __name__ == "__main__":
    unittest.main()
