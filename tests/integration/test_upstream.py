"""Integration tests of strait-test-upstream itself, through the harness."""

import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import harness
from harness import Upstream, curl, http_request, raw_request

MIB = 1024 * 1024


def read_response(sock, timeout=5):
    """Reads one HTTP/1.1 response with a content-length from a socket; returns (head, body)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed before headers: %r" % data)
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed inside body")
        rest += chunk
    return head.decode(), rest


class UpstreamTest(harness.ProcessTestCase):
    @classmethod
    def setUpClass(cls):
        cls.upstream = Upstream(name="u1")

    @classmethod
    def tearDownClass(cls):
        cls.upstream.__exit__(None, None, None)

    def url(self, path):
        return self.upstream.url(path)

    def test_default_response(self):
        status, headers, body = http_request("GET", self.url("/"))
        self.assertEqual(status, 200)
        self.assertEqual(headers["x-upstream-name"], "u1")
        self.assertEqual(headers["content-length"], "0")
        self.assertEqual(headers["x-upstream-request-body-bytes"], "0")
        self.assertEqual(body, b"")

    def test_status_and_body_size_query(self):
        status, headers, body = http_request("GET", self.url("/x?status=503&body_size=1000"))
        self.assertEqual(status, 503)
        self.assertEqual(len(body), 1000)
        self.assertEqual(headers["content-length"], "1000")

    def test_controls_as_headers_and_query_wins(self):
        status, _, body = http_request("GET", self.url("/x"), headers={
            "x-upstream-status": "418", "x-upstream-body-size": "7"})
        self.assertEqual((status, len(body)), (418, 7))
        status, _, body = http_request("GET", self.url("/x?status=201"), headers={
            "x-upstream-status": "418"})
        self.assertEqual(status, 201)

    def test_delay(self):
        started = time.monotonic()
        status, _, _ = http_request("GET", self.url("/x?delay_ms=200"))
        elapsed = time.monotonic() - started
        self.assertEqual(status, 200)
        self.assertGreaterEqual(elapsed, 0.19)
        self.assertLess(elapsed, 5)

    def test_delay_cancelled_when_client_leaves(self):
        before = self.upstream.stats()["active"]
        sock = socket.create_connection(("127.0.0.1", self.upstream.port))
        sock.sendall(b"GET /x?delay_ms=60000 HTTP/1.1\r\nHost: x\r\n\r\n")
        harness.wait_for(lambda: self.upstream.stats()["active"] > before, what="connection")
        sock.close()
        harness.wait_for(lambda: self.upstream.stats()["active"] <= before, what="close")

    def test_echo(self):
        status, headers, body = http_request(
            "POST", self.url("/echo?a=1"), headers={"X-Test": 'quote" back\\slash'},
            body=b"0123456789")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "application/json")
        doc = json.loads(body)
        self.assertEqual(doc["method"], "POST")
        self.assertEqual(doc["path"], "/echo?a=1")
        self.assertEqual(doc["version"], "1.1")
        self.assertEqual(doc["body_bytes"], 10)
        self.assertIsNone(doc["body_sha256"])
        self.assertIn(["X-Test", 'quote" back\\slash'], doc["headers"])
        names = [name.lower() for name, _ in doc["headers"]]
        self.assertLess(names.index("host"), names.index("x-test"))
        self.assertEqual(headers["x-upstream-request-body-bytes"], "10")

    def test_echo_escapes_control_and_non_utf8_bytes(self):
        reply = raw_request(self.upstream.port,
                            b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Bin: a\xffb\tc\r\n"
                            b"Connection: close\r\n\r\n")
        body = reply.partition(b"\r\n\r\n")[2]
        doc = json.loads(body)
        self.assertIn(["X-Bin", "a\u00ffb\tc"], doc["headers"])

    def test_healthz(self):
        status, _, body = http_request("GET", self.url("/healthz"))
        self.assertEqual((status, body), (200, b"ok\n"))
        status, _, _ = http_request("GET", self.url("/healthz?status=500"))
        self.assertEqual(status, 500)

    def test_control_forces_a_status_until_cleared(self):
        self.addCleanup(lambda: http_request("GET", self.url("/__control")))
        status, _, _ = http_request("GET", self.url("/__control?status=503"))
        self.assertEqual(status, 200)
        for path in ("/x", "/healthz", "/echo"):
            self.assertEqual(http_request("GET", self.url(path))[0], 503, path)
        self.assertEqual(http_request("GET", self.url("/__stats"))[0], 200)
        http_request("GET", self.url("/__control"))
        self.assertEqual(http_request("GET", self.url("/x"))[0], 200)

    def test_chunked_response(self):
        reply = raw_request(self.upstream.port,
                            b"GET /x?chunked=1&body_size=100000 HTTP/1.1\r\nHost: x\r\n"
                            b"Connection: close\r\n\r\n")
        head, _, body = reply.partition(b"\r\n\r\n")
        self.assertIn(b"transfer-encoding: chunked", head)
        self.assertNotIn(b"content-length", head)
        self.assertTrue(body.endswith(b"0\r\n\r\n"))
        # http.client decodes the chunks; the decoded length is the requested size.
        status, headers, decoded = http_request("GET", self.url("/x?chunked=1&body_size=100000"))
        self.assertEqual((status, len(decoded)), (200, 100000))

    def test_reset_gives_connection_error(self):
        with self.assertRaises((ConnectionError, OSError)):
            http_request("GET", self.url("/x?reset=1"))
        code, _, err = curl(self.url("/x?reset=1"))
        self.assertEqual(code, 56, err)

    def test_reset_after_headers(self):
        code, out, err = curl("-i", self.url("/x?reset=after_headers&body_size=5000"))
        self.assertNotEqual(code, 0)
        self.assertIn(b"content-length: 5000", out)

    def test_expect_100_continue(self):
        with socket.create_connection(("127.0.0.1", self.upstream.port), timeout=5) as sock:
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                         b"Expect: 100-continue\r\n\r\n")
            interim = b""
            while b"\r\n\r\n" not in interim:
                interim += sock.recv(4096)
            self.assertTrue(interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), interim)
            sock.sendall(b"hello")
            rest = interim[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
            head, body = read_response(_Prefixed(sock, rest))
            self.assertIn("200 OK", head)
            self.assertEqual(json.loads(body)["body_bytes"], 5)

    def test_head_has_no_body(self):
        reply = raw_request(self.upstream.port,
                            b"HEAD /x?body_size=500 HTTP/1.1\r\nHost: x\r\n\r\n"
                            b"GET /x?body_size=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        first, _, second = reply.partition(b"\r\n\r\n")
        self.assertIn(b"content-length: 500", first)
        # The very next bytes are the second response: the HEAD answer carried no body.
        self.assertTrue(second.startswith(b"HTTP/1.1 200 OK"), second[:40])
        self.assertTrue(second.endswith(b"\r\n\r\nabc"))

    def test_http10_closes_unless_keep_alive(self):
        reply = raw_request(self.upstream.port, b"GET /x?body_size=2 HTTP/1.0\r\n\r\n")
        self.assertIn(b"connection: close", reply)
        self.assertTrue(reply.endswith(b"ab"))
        with socket.create_connection(("127.0.0.1", self.upstream.port), timeout=5) as sock:
            for _ in range(2):
                sock.sendall(b"GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                head, _ = read_response(sock)
                self.assertIn("connection: keep-alive", head)

    def test_pipelining_in_order(self):
        reply = raw_request(self.upstream.port,
                            b"GET /x?body_size=70000 HTTP/1.1\r\nHost: x\r\n\r\n"
                            b"GET /echo HTTP/1.1\r\nHost: second\r\n\r\n"
                            b"GET /x?status=404 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        responses = split_responses(reply)
        self.assertEqual([head.split("\r\n")[0] for head, _ in responses],
                         ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK", "HTTP/1.1 404 Not Found"])
        self.assertEqual(len(responses[0][1]), 70000)
        self.assertEqual(json.loads(responses[1][1])["headers"], [["Host", "second"]])

    def test_bad_request(self):
        reply = raw_request(self.upstream.port, b"NOT HTTP AT ALL\r\n\r\n")
        self.assertTrue(reply.startswith(b"HTTP/1.1 400 "), reply)

    def test_close_query(self):
        reply = raw_request(self.upstream.port,
                            b"GET /x?close=1 HTTP/1.1\r\nHost: x\r\n\r\n", timeout=5)
        self.assertIn(b"connection: close", reply)

    def test_websocket_upgrade_echo_tunnel(self):
        with socket.create_connection(("127.0.0.1", self.upstream.port), timeout=5) as sock:
            sock.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\n\r\nearly")
            data = b""
            while not data.endswith(b"early"):
                data += sock.recv(4096)
            self.assertTrue(data.startswith(b"HTTP/1.1 101 Switching Protocols\r\n"))
            self.assertIn(b"upgrade: websocket", data)
            payload = os.urandom(300000)
            sender = threading.Thread(target=sock.sendall, args=(payload,))
            sender.start()
            received = b""
            while len(received) < len(payload):
                received += sock.recv(65536)
            sender.join()
            self.assertEqual(received, payload)

    def test_stats_count_requests_and_connections(self):
        with Upstream(name="counted") as upstream:
            self.assertEqual(upstream.stats()["requests"], 0)
            for _ in range(3):
                http_request("GET", upstream.url("/x"))
            raw_request(upstream.port, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                        b"GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            stats = upstream.stats()
            self.assertEqual(stats["requests"], 5)
            self.assertEqual(stats["connections"], 4)
            self.assertGreaterEqual(stats["accepted"], 4)


class UpstreamCapacityTest(harness.ProcessTestCase):
    """--capacity N and --latency SPEC: N requests in service, the rest wait in FIFO order."""

    SERVICE_S = 0.1

    def send_queued(self, upstream, count, query=""):
        socks = []
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", upstream.port), timeout=30)
            self.addCleanup(sock.close)
            sock.sendall(b"GET /x%s HTTP/1.1\r\nHost: x\r\n\r\n" % query.encode())
            socks.append(sock)
        return socks

    def test_capacity_queues_the_rest_and_latency_grows_with_the_queue(self):
        upstream = self.start(Upstream(name="cap", extra_args=["--capacity", "2",
                                                               "--latency", "fixed:100"]))
        self.assertEqual(upstream.stats()["capacity"], 2)
        started = time.monotonic()
        socks = self.send_queued(upstream, 6)
        finished = []
        for sock in socks:
            head, _ = read_response(sock, timeout=30)
            self.assertIn("200 OK", head)
            finished.append(time.monotonic() - started)
        stats = upstream.stats()
        self.assertEqual(stats["max_in_service"], 2)
        self.assertGreaterEqual(stats["max_queued"], 3)
        self.assertEqual((stats["in_service"], stats["queued"], stats["in_flight"]), (0, 0, 0))
        # 6 requests, 2 at a time, 100 ms each: the last pair leaves after 3 service times.
        # Lower bounds only: a loaded machine may be slower, never faster.
        self.assertGreaterEqual(max(finished), 3 * self.SERVICE_S - 0.01)
        self.assertGreaterEqual(sorted(finished)[2], 2 * self.SERVICE_S - 0.01)

    def test_a_request_delay_is_its_service_time(self):
        upstream = self.start(Upstream(name="cap", extra_args=["--capacity", "1",
                                                               "--latency", "fixed:1"]))
        started = time.monotonic()
        socks = self.send_queued(upstream, 2, "?delay_ms=150")
        for sock in socks:
            read_response(sock, timeout=30)
        self.assertGreaterEqual(time.monotonic() - started, 0.29)
        self.assertEqual(upstream.stats()["max_in_service"], 1)

    def test_a_client_that_leaves_the_queue_is_removed(self):
        upstream = self.start(Upstream(name="cap", extra_args=["--capacity", "1",
                                                               "--latency", "fixed:60000"]))
        socks = self.send_queued(upstream, 3)
        harness.wait_for(lambda: upstream.stats()["queued"] == 2, what="two queued")
        socks[1].close()
        socks[2].close()
        harness.wait_for(lambda: upstream.stats()["queued"] == 0, what="queue empty")
        stats = upstream.stats()
        self.assertEqual((stats["in_service"], stats["in_flight"]), (1, 1))
        socks[0].close()  # in service: its slot is freed too
        harness.wait_for(lambda: upstream.stats()["in_service"] == 0, what="slot freed")
        self.assertEqual(upstream.stats()["in_flight"], 0)

    def test_control_changes_capacity_at_run_time(self):
        upstream = self.start(Upstream(name="cap", extra_args=["--capacity", "1",
                                                               "--latency", "fixed:60000"]))
        self.send_queued(upstream, 4)
        harness.wait_for(lambda: upstream.stats()["queued"] == 3, what="three queued")
        status, _, body = http_request("GET", upstream.url("/__control?capacity=3"))
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["capacity"], 3)
        stats = upstream.stats()
        self.assertEqual((stats["capacity"], stats["in_service"], stats["queued"]), (3, 3, 1))
        # capacity alone leaves a forced status alone, and 0 removes the limit.
        upstream.force_status(503)
        http_request("GET", upstream.url("/__control?capacity=0"))
        stats = upstream.stats()
        self.assertEqual((stats["capacity"], stats["in_service"], stats["queued"]), (0, 4, 0))
        self.assertEqual(http_request("GET", upstream.url("/x?delay_ms=0"))[0], 503)
        upstream.force_status(None)

    def test_every_latency_distribution_serves_requests(self):
        for spec in ("exp:5", "lognormal:5,0.5", "bimodal:1,30,0.2"):
            upstream = self.start(Upstream(name="dist", extra_args=["--latency", spec,
                                                                    "--seed", "7"]))
            for _ in range(5):
                self.assertEqual(http_request("GET", upstream.url("/x"))[0], 200)
            self.assertEqual(upstream.stats()["requests"], 5)


def split_responses(data):
    """Splits concatenated content-length framed responses into [(head, body)]."""
    responses = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            raise AssertionError("truncated response: %r" % data[:200])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        responses.append((head.decode(), rest[:length]))
        data = rest[length:]
    return responses


class _Prefixed:
    """A socket-like object that returns already-read bytes first."""

    def __init__(self, sock, prefix):
        self.sock = sock
        self.prefix = prefix

    def settimeout(self, timeout):
        self.sock.settimeout(timeout)

    def recv(self, n):
        if self.prefix:
            data, self.prefix = self.prefix, b""
            return data
        return self.sock.recv(n)


class UpstreamLargeBodyTest(harness.ProcessTestCase):
    def test_100_mib_download(self):
        upstream = self.start(Upstream(name="big"))
        code, out, err = curl("-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                              upstream.url("/x?body_size=%d" % (100 * MIB)))
        self.assertEqual(code, 0, err)
        self.assertEqual(out.decode(), "200 %d" % (100 * MIB))
        self.assertLess(upstream.rss_bytes(), 32 * MIB)

    def test_100_mib_upload_streamed_from_a_generator(self):
        upstream = self.start(Upstream(name="big"))
        # curl -T - streams stdin as a chunked body; the generator writes 100 MiB of zeroes.
        proc = subprocess.Popen([harness.CURL, "-sS", "-X", "POST", "-T", "-",
                                 "-H", "Expect:", upstream.url("/echo")],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        block = b"\0" * MIB
        peak = 0
        for _ in range(100):
            proc.stdin.write(block)
            peak = max(peak, upstream.rss_bytes())
        proc.stdin.close()
        out = proc.stdout.read()
        err = proc.stderr.read()
        self.assertEqual(proc.wait(timeout=60), 0, err)
        self.assertEqual(json.loads(out)["body_bytes"], 100 * MIB)
        self.assertLess(max(peak, upstream.rss_bytes()), 32 * MIB)

    def test_100_mib_upload_from_file(self):
        upstream = self.start(Upstream(name="big"))
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "body.bin")
            with open(path, "wb") as f:
                f.truncate(100 * MIB)
            code, out, err = curl("-T", path, "-X", "POST", upstream.url("/echo"))
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out)["body_bytes"], 100 * MIB)
        self.assertLess(upstream.rss_bytes(), 32 * MIB)


class UpstreamLifecycleTest(harness.ProcessTestCase):
    def test_command_line_defaults_and_port_file(self):
        upstream = self.start(Upstream(name="cfg", status=202, body_size=11))
        status, headers, body = http_request("GET", upstream.url("/"))
        self.assertEqual((status, len(body), headers["x-upstream-name"]), (202, 11, "cfg"))
        harness.wait_for(lambda: "listening on 127.0.0.1:%d" % upstream.port
                         in upstream.process.stdout(), what="announce line")

    def test_stats_count_requests_in_flight_and_their_peak(self):
        upstream = self.start(Upstream(name="peak"))
        socks = []
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", upstream.port))
            self.addCleanup(sock.close)
            sock.sendall(b"GET /x?delay_ms=60000 HTTP/1.1\r\nHost: x\r\n\r\n")
            socks.append(sock)
        harness.wait_for(lambda: upstream.stats()["in_flight"] == 3, what="three in flight")
        for sock in socks:
            sock.close()  # closed mid-response: no longer in flight
        harness.wait_for(lambda: upstream.stats()["in_flight"] == 0, what="none in flight")
        status, _, _ = http_request("GET", upstream.url("/x"))
        self.assertEqual(status, 200)
        stats = upstream.stats()
        self.assertEqual((stats["in_flight"], stats["max_in_flight"]), (0, 3))

    def test_sigterm_exits_cleanly_with_open_connections(self):
        upstream = self.start(Upstream(name="term"))
        sock = socket.create_connection(("127.0.0.1", upstream.port))
        self.addCleanup(sock.close)
        sock.sendall(b"GET /x?delay_ms=60000 HTTP/1.1\r\nHost: x\r\n\r\n")
        harness.wait_for(lambda: upstream.stats()["active"] >= 2, what="connection")
        started = time.monotonic()
        self.assertEqual(upstream.stop(signal.SIGTERM, timeout=5), 0)
        self.assertLess(time.monotonic() - started, 5)

    def test_bad_latency_spec_fails_with_a_clear_error(self):
        for spec in ("gauss:10", "fixed:", "lognormal:20", "bimodal:1,2,1.5", "exp:-3"):
            result = subprocess.run([harness.find_binary("strait-test-upstream"),
                                     "--latency", spec],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
            self.assertEqual(result.returncode, 2, spec)
            self.assertIn(b"bad --latency " + spec.encode(), result.stderr)
        result = subprocess.run([harness.find_binary("strait-test-upstream"), "--delay-ms", "5",
                                 "--latency", "fixed:5"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        self.assertEqual(result.returncode, 2)
        self.assertIn(b"choose one", result.stderr)

    def test_bad_option_fails(self):
        result = subprocess.run([harness.find_binary("strait-test-upstream"), "--bogus", "1"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(result.returncode, 2)
        self.assertIn(b"unknown option", result.stderr)


if __name__ == "__main__":
    unittest.main()
