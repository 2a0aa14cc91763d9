"""Integration tests of downstream HTTP/2 (h2c with prior knowledge) in front of the HTTP/1.1 test
upstream: curl, nghttp and h2load, and a python3-h2 client for what those cannot do (resetting
one stream, withholding flow-control window, ignoring SETTINGS)."""

import hashlib
import json
import os
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

import h2.config
import h2.connection
import h2.events
import h2.settings

import harness
from harness import Strait, Upstream, curl, http_request
from proxy_fixtures import echo_headers, sample_rss, simple_config

NGHTTP = "/usr/bin/nghttp"
H2LOAD = "/usr/bin/h2load"


class H2Client:
    """A minimal python3-h2 client over a blocking socket; the test drives it frame by frame."""

    def __init__(self, port, auto_window=True, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.auto_window = auto_window
        self.responses = {}   # stream id -> {"headers": {...}, "body": bytes, "ended": bool}
        self.resets = {}      # stream id -> error code
        self.goaway = None    # (last_stream_id, error_code)
        self.remote_settings = {}
        self.closed = False
        self.conn.initiate_connection()

    def request(self, path, method="GET", extra=(), end_stream=True):
        stream_id = self.conn.get_next_available_stream_id()
        headers = [(":method", method), (":path", path), (":scheme", "http"),
                   (":authority", "h2.test")] + list(extra)
        self.conn.send_headers(stream_id, headers, end_stream=end_stream)
        self.responses[stream_id] = {"headers": {}, "body": b"", "ended": False}
        return stream_id

    def reset(self, stream_id):
        self.conn.reset_stream(stream_id)

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def pump(self, timeout=0.2):
        """Sends what is queued, then reads once (up to timeout) and handles the events."""
        self.flush()
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
            return
        for event in self.conn.receive_data(data):
            self._handle(event)
        self.flush()

    def _handle(self, event):
        if isinstance(event, h2.events.ResponseReceived):
            self.responses[event.stream_id]["headers"] = dict(
                (k.decode(), v.decode()) for k, v in event.headers)
        elif isinstance(event, h2.events.DataReceived):
            self.responses[event.stream_id]["body"] += event.data
            if self.auto_window:
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            self.responses[event.stream_id]["ended"] = True
        elif isinstance(event, h2.events.StreamReset):
            self.resets[event.stream_id] = event.error_code
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = (event.last_stream_id, event.error_code)
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            for code, setting in event.changed_settings.items():
                self.remote_settings[int(code)] = setting.new_value

    def wait(self, predicate, timeout=10, what="h2 condition"):
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("timed out waiting for " + what)
            if self.closed:
                raise EOFError("connection closed while waiting for " + what)
            self.pump()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class H2Upstream:
    """A small HTTP/2 (h2c prior knowledge) server on python3-h2, one thread per connection.

    Every request is answered like a unary gRPC call: HEADERS (:status 200, content-type
    application/grpc), one DATA frame echoing the request body (or `body_size` bytes from the
    query), then trailers grpc-status: 0 and grpc-message: ok. It records each request's headers
    and body size, and how many connections it accepted."""

    def __init__(self, tls_context=None):
        self.tls_context = tls_context  # a server ssl.SSLContext: h2 over TLS (ALPN h2)
        self.alpn = []                  # the protocol each TLS connection negotiated
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.requests = []
        self.connections = 0
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
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock):
        if self.tls_context is not None:
            try:
                sock = self.tls_context.wrap_socket(sock, server_side=True)
            except (OSError, ssl.SSLError):
                sock.close()
                return
            with self.lock:
                self.alpn.append(sock.selected_alpn_protocol())
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        streams = {}
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    return
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        streams[event.stream_id] = {
                            "headers": [(k.decode(), v.decode()) for k, v in event.headers],
                            "body": b""}
                    elif isinstance(event, h2.events.DataReceived):
                        streams[event.stream_id]["body"] += event.data
                        conn.acknowledge_received_data(event.flow_controlled_length,
                                                       event.stream_id)
                    elif isinstance(event, h2.events.StreamEnded):
                        self._answer(conn, event.stream_id, streams.pop(event.stream_id))
                sock.sendall(conn.data_to_send())
        except (OSError, h2.exceptions.ProtocolError):
            return
        finally:
            sock.close()

    def _answer(self, conn, stream_id, request):
        with self.lock:
            self.requests.append(request)
        headers = dict(request["headers"])
        path = headers.get(":path", "/")
        body = request["body"]
        if "body_size=" in path:
            body = b"y" * int(path.split("body_size=")[1].split("&")[0])
        conn.send_headers(stream_id, [(":status", "200"), ("content-type", "application/grpc"),
                                      ("x-h2-upstream", "yes")])
        if body:
            conn.send_data(stream_id, body)
        conn.send_headers(stream_id, [("grpc-status", "0"), ("grpc-message", "ok")],
                          end_stream=True)


class Http2Test(harness.ProcessTestCase):

    def setUp(self):
        super().setUp()
        self.upstream = self.start(Upstream())

    def proxy(self, http_options=""):
        proxy = self.start(Strait(simple_config(self.upstream.port, http_options=http_options)))
        return proxy, proxy.listener_port("main")

    def test_curl_get_and_post_1mib_through_http1_upstream(self):
        proxy, port = self.proxy()
        code, out, err = curl("--http2-prior-knowledge", "-D", "-", "-o", "/dev/null",
                              "http://127.0.0.1:%d/x?body_size=1048576" % port)
        self.assertEqual(code, 0, err)
        head = out.decode()
        self.assertTrue(head.startswith("HTTP/2 200"), head)
        self.assertIn("x-upstream-name: upstream", head)
        self.assertNotIn("connection:", head.lower())
        self.assertNotIn("transfer-encoding", head.lower())
        code, out, err = curl("--http2-prior-knowledge", "-w", "%{size_download}", "-o",
                              "/dev/null", "http://127.0.0.1:%d/x?body_size=1048576" % port)
        self.assertEqual((code, out), (0, b"1048576"), err)

        body = os.urandom(1024 * 1024)
        with tempfile.NamedTemporaryFile() as f:
            f.write(body)
            f.flush()
            code, out, err = curl("--http2-prior-knowledge", "--data-binary", "@" + f.name,
                                  "-H", "content-type: application/octet-stream",
                                  "http://127.0.0.1:%d/echo" % port)
        self.assertEqual(code, 0, err)
        doc, headers = echo_headers(out)
        self.assertEqual(doc["method"], "POST")
        self.assertEqual(doc["body_bytes"], len(body))
        self.assertEqual(headers["host"], ["127.0.0.1:%d" % port])
        self.assertEqual(headers["x-forwarded-proto"], ["http"])
        self.assertIn("x-request-id", headers)
        self.assertEqual(proxy.counter("strait_dp_downstream_rq_total",
                                       {"listener": "main", "code_class": "2xx"}), 3)

    def test_http1_still_works_on_the_same_listener(self):
        _, port = self.proxy()
        status, headers, body = http_request("GET", "http://127.0.0.1:%d/x?body_size=10" % port)
        self.assertEqual((status, len(body)), (200, 10))
        code, out, err = curl("--http1.1", "-w", "%{http_version} %{http_code}", "-o",
                              "/dev/null", "http://127.0.0.1:%d/x" % port)
        self.assertEqual((code, out), (0, b"1.1 200"), err)
        # POST starts with P like the preface: still HTTP/1.1.
        status, _, body = http_request("POST", "http://127.0.0.1:%d/echo" % port, body=b"abc")
        self.assertEqual((status, json.loads(body)["body_bytes"]), (200, 3))

    def test_nghttp_concurrent_streams_on_one_connection(self):
        _, port = self.proxy()
        urls = ["http://127.0.0.1:%d/x?body_size=%d&delay_ms=100" % (port, 1000 * (i + 1))
                for i in range(6)]
        start = time.monotonic()
        result = subprocess.run([NGHTTP, "-v", "-n"] + urls, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, timeout=30)
        elapsed = time.monotonic() - start
        out = result.stdout.decode(errors="replace")
        self.assertEqual(result.returncode, 0, out)
        self.assertEqual(out.count(":status: 200"), 6, out)
        self.assertIn("SETTINGS_MAX_CONCURRENT_STREAMS(0x03):100", out)
        # Six 100 ms responses concurrently, not one after another.
        self.assertLess(elapsed, 0.55, out)
        self.assertEqual(self.upstream.stats()["requests"], 6)

    def test_h2load_no_failures(self):
        proxy, port = self.proxy()
        result = subprocess.run([H2LOAD, "-n", "2000", "-c", "4", "-m", "10",
                                 "http://127.0.0.1:%d/x?body_size=100" % port],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        out = result.stdout.decode(errors="replace")
        self.assertEqual(result.returncode, 0, out)
        self.assertIn("2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, 0 errored",
                      out)
        self.assertIn("status codes: 2000 2xx", out)
        summary = [line for line in out.splitlines() if line.startswith("finished in")]
        print("\nh2load -n 2000 -c 4 -m 10 through strait: %s" % summary)

    def test_rst_stream_of_one_stream_leaves_the_other(self):
        self.proxy_under_test, port = self.proxy()
        client = H2Client(port)
        self.addCleanup(client.close)
        slow = client.request("/x?delay_ms=3000&body_size=10")
        fast = client.request("/x?delay_ms=300&body_size=100")
        client.flush()
        harness.wait_for(lambda: self.upstream.stats()["requests"] >= 2, what="both upstream")
        client.reset(slow)
        client.wait(lambda: client.responses[fast]["ended"], what="the other stream")
        self.assertEqual(client.responses[fast]["headers"][":status"], "200")
        self.assertEqual(len(client.responses[fast]["body"]), 100)
        self.assertFalse(client.responses[slow]["ended"])
        self.assertIsNone(client.goaway)
        # The connection still serves new streams.
        again = client.request("/x?body_size=5")
        client.wait(lambda: client.responses[again]["ended"], what="a new stream")
        self.assertEqual(len(client.responses[again]["body"]), 5)
        # Nothing is left accounted to the reset stream, here or upstream.
        proxy = self.proxy_under_test
        harness.wait_for(lambda: proxy.counter("strait_dp_downstream_rq_active") == 0
                         and proxy.counter("strait_dp_upstream_rq_active") == 0,
                         what="no request active")

    def test_slow_reader_keeps_memory_bounded(self):
        proxy, port = self.proxy()
        client = H2Client(port, auto_window=False)
        self.addCleanup(client.close)
        baseline = proxy.rss_bytes()
        stream = client.request("/x?body_size=%d" % (512 * 1024 * 1024))
        client.wait(lambda: client.responses[stream]["headers"], what="response headers")
        samples = []
        stop = threading.Event()
        sampler = threading.Thread(target=sample_rss, args=(proxy, stop, samples))
        sampler.start()
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            client.pump(0.1)  # reads what the window lets through, never grants more
        stop.set()
        sampler.join()
        got = len(client.responses[stream]["body"])
        self.assertLessEqual(got, 65535)  # the initial stream window, never replenished
        growth = max(samples) - baseline
        print("\nslow h2 reader: %d body bytes delivered, strait RSS growth %.1f MiB" % (
            got, growth / 1048576.0))
        self.assertLess(growth, 32 * 1024 * 1024)
        # Granting window lets the body flow again.
        client.conn.acknowledge_received_data(got, stream)
        client.conn.increment_flow_control_window(8 * 1024 * 1024)
        client.conn.increment_flow_control_window(8 * 1024 * 1024, stream)
        client.wait(lambda: len(client.responses[stream]["body"]) > 1024 * 1024,
                    what="more body after WINDOW_UPDATE")

    def test_goaway_on_drain_finishes_the_stream_in_flight(self):
        # nghttp, not python3-h2: h2 treats a GOAWAY as the end of the connection and refuses
        # the frames of the streams that are still allowed to finish.
        proxy, port = self.proxy()
        client = subprocess.Popen([NGHTTP, "-v", "http://127.0.0.1:%d/x?delay_ms=700&body_size=20"
                                   % port], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.addCleanup(lambda: client.poll() is None and client.kill())
        harness.wait_for(lambda: self.upstream.stats()["requests"] >= 1, what="upstream request")
        status, _, _ = http_request("POST", proxy.admin_url("/drain"))
        self.assertEqual(status, 200)
        out = client.communicate(timeout=20)[0].decode(errors="replace")
        self.assertEqual(client.returncode, 0, out)
        goaway = out.index("recv GOAWAY frame")
        self.assertRegex(out[goaway:], r"^recv GOAWAY frame <length=8, flags=0x00, stream_id=0>\s+"
                         r"\(last_stream_id=13, error_code=NO_ERROR\(0x00\)")
        # The stream in flight (13) still gets its whole response after the GOAWAY.
        self.assertIn(":status: 200", out[goaway:])
        self.assertRegex(out[goaway:], r"recv DATA frame <length=20, flags=0x01, stream_id=13>")
        proxy.process.proc.wait(timeout=10)  # drained: no connection left, the proxy exits
        self.assertIn("drained", proxy.log())

    def test_streams_over_max_concurrent_streams_are_refused(self):
        _, port = self.proxy("      http2: {max_concurrent_streams: 2}\n")
        client = H2Client(port)
        self.addCleanup(client.close)
        # Three requests in the first flight, before the client has seen the server's SETTINGS.
        ids = [client.request("/x?delay_ms=300&body_size=7") for _ in range(3)]
        client.wait(lambda: all(client.responses[i]["ended"] or i in client.resets for i in ids),
                    what="every stream answered or refused")
        self.assertEqual(client.remote_settings.get(h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS),
                         2)
        answered = [i for i in ids if client.responses[i]["ended"]]
        refused = [i for i in ids if i in client.resets]
        self.assertEqual(len(answered), 2)
        self.assertEqual(refused, [ids[2]])
        self.assertEqual(client.resets[ids[2]], 7)  # REFUSED_STREAM
        self.assertEqual(self.upstream.stats()["requests"], 2)

    def test_idle_connections_close_at_idle_timeout(self):
        proxy, port = self.proxy("      idle_timeout: 300ms\n")
        client = H2Client(port)
        self.addCleanup(client.close)
        stream = client.request("/x?body_size=3")
        client.wait(lambda: client.responses[stream]["ended"], what="the response")
        start = time.monotonic()
        client.wait(lambda: client.closed, timeout=5, what="the idle close")
        self.assertEqual(client.goaway, (stream, 0))
        self.assertGreaterEqual(time.monotonic() - start, 0.2)
        # A connection that never sends a byte is closed too (before any protocol is chosen),
        # and still counted.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            self.assertEqual(sock.recv(1), b"")
        harness.wait_for(lambda: proxy.counter("strait_dp_downstream_cx_total") == 2,
                         what="both connections counted")
        self.assertEqual(proxy.counter("strait_dp_downstream_cx_active"), 0)

    def h2_upstream_proxy(self, cluster_extra=""):
        upstream = H2Upstream()
        self.addCleanup(upstream.close)
        proxy = self.start(Strait(simple_config(
            upstream.port, clusters_extra="    protocol: http2\n" + cluster_extra)))
        return upstream, proxy, proxy.listener_port("main")

    def test_http2_upstream_connection_retires_after_max_requests_per_connection(self):
        upstream, proxy, port = self.h2_upstream_proxy("    max_requests_per_connection: 3\n")
        for _ in range(7):
            status, _, _ = http_request("GET", "http://127.0.0.1:%d/x" % port)
            self.assertEqual(status, 200)
        # Three streams per connection: 3 + 3 + 1.
        self.assertEqual(upstream.connections, 3)
        self.assertEqual(proxy.counter("strait_dp_upstream_cx_total"), 3)

    def test_http2_upstream_over_tls_negotiates_h2(self):
        import tls_fixtures
        certs = tls_fixtures.make_certs()
        self.addCleanup(tls_fixtures.remove_tree, certs)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(os.path.join(certs, "upstream.pem"),
                                os.path.join(certs, "upstream.key"))
        context.set_alpn_protocols(["h2"])
        upstream = H2Upstream(tls_context=context)
        self.addCleanup(upstream.close)
        proxy = self.start(Strait(simple_config(
            upstream.port,
            clusters_extra="    protocol: http2\n"
                           "    tls: {sni: backend.internal, ca: %s}\n"
                           % os.path.join(certs, "ca-example.org.pem"))))
        for _ in range(3):
            status, headers, _ = http_request("GET", proxy.url("/x?body_size=100"))
            self.assertEqual(status, 200)
            self.assertEqual(headers.get("content-type"), "application/grpc")
        self.assertEqual(len(upstream.requests), 3)
        # One TLS connection, multiplexed, and it negotiated h2.
        self.assertEqual(upstream.alpn, ["h2"])

    def test_grpc_call_through_to_an_http2_upstream_keeps_trailers(self):
        upstream, _, port = self.h2_upstream_proxy()
        message = b"\x00\x00\x00\x00\x05hello"  # a gRPC length-prefixed message
        with tempfile.NamedTemporaryFile() as f:
            f.write(message)
            f.flush()
            result = subprocess.run(
                [NGHTTP, "-v", "-H", ":method: POST", "-H", "content-type: application/grpc",
                 "-H", "te: trailers", "-d", f.name, "http://127.0.0.1:%d/pkg.Svc/Call" % port],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        out = result.stdout.decode(errors="replace")
        self.assertEqual(result.returncode, 0, out)
        self.assertIn(":status: 200", out)
        self.assertIn("content-type: application/grpc", out)
        # The trailers arrive as a trailing HEADERS frame that ends the stream.
        trailer_at = out.index("grpc-status: 0")
        self.assertIn("grpc-message: ok", out[trailer_at:])
        self.assertRegex(out[trailer_at:], r"recv HEADERS frame <length=\d+, flags=0x05")
        self.assertEqual(len(upstream.requests), 1)
        seen = dict(upstream.requests[0]["headers"])
        self.assertEqual(seen[":method"], "POST")
        self.assertEqual(seen[":path"], "/pkg.Svc/Call")
        self.assertEqual(seen["te"], "trailers")
        self.assertEqual(upstream.requests[0]["body"], message)

    def test_http1_client_to_http2_upstream_and_multiplexing(self):
        upstream, proxy, port = self.h2_upstream_proxy()
        status, headers, body = http_request("POST", "http://127.0.0.1:%d/echo" % port,
                                             body=b"abc" * 1000)
        self.assertEqual((status, body), (200, b"abc" * 1000))
        self.assertEqual(headers["x-h2-upstream"], "yes")
        self.assertNotIn("grpc-status", headers)  # HTTP/1.1 responses carry no trailers yet
        result = subprocess.run([H2LOAD, "-n", "500", "-c", "4", "-m", "10",
                                 "http://127.0.0.1:%d/x?body_size=50" % port],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        out = result.stdout.decode(errors="replace")
        self.assertIn("500 total, 500 started, 500 done, 500 succeeded, 0 failed, 0 errored", out)
        # Every request went over one multiplexed upstream connection.
        self.assertEqual(upstream.connections, 1)
        self.assertEqual(len(upstream.requests), 501)
        self.assertEqual(proxy.counter("strait_dp_upstream_cx_total"), 1)

    def test_header_block_left_open_ends_the_connection_at_request_headers_timeout(self):
        import hpack
        proxy, port = self.proxy("      request_headers_timeout: 300ms\n")
        block = hpack.Encoder().encode([(":method", "GET"), (":scheme", "http"),
                                        (":path", "/x"), (":authority", "example")])
        # HEADERS on stream 1 without END_HEADERS: a CONTINUATION must follow, and never does.
        headers = len(block).to_bytes(3, "big") + b"\x01\x00" + (1).to_bytes(4, "big") + block
        settings = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            started = time.monotonic()
            sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + settings + headers)
            received = b""
            while True:
                chunk = sock.recv(65536)  # the server's SETTINGS, ACK, then GOAWAY and EOF
                if not chunk:
                    break
                received += chunk
            elapsed = time.monotonic() - started
        self.assertGreaterEqual(elapsed, 0.28)
        self.assertLess(elapsed, 4)
        # A GOAWAY frame (type 7) with NO_ERROR was the last thing said.
        goaway = received.rfind(b"\x07\x00\x00\x00\x00\x00")
        self.assertGreater(goaway, 0, received)
        self.assertEqual(received[goaway + 10:goaway + 14], b"\x00\x00\x00\x00")
        self.assertEqual(proxy.counter("strait_dp_downstream_rq_rejected_total",
                                       {"status": "408"}), 1)
        self.assertEqual(self.upstream.stats()["requests"], 0)
        self.assertEqual(proxy.counter("strait_dp_downstream_cx_active"), 0)

    def test_header_block_completed_in_time_is_served(self):
        # A request whose header block comes whole is not touched by a short timeout.
        proxy, port = self.proxy("      request_headers_timeout: 200ms\n")
        code, out, err = curl("--http2-prior-knowledge", "-w", "%{http_code}", "-o", "/dev/null",
                              "http://127.0.0.1:%d/x" % port)
        self.assertEqual((code, out), (0, b"200"), err)
        self.assertEqual(proxy.counter("strait_dp_downstream_rq_rejected_total",
                                       {"status": "408"}), 0)

    def test_route_timeout_answers_504_on_its_stream_only(self):
        proxy = self.start(Strait(simple_config(
            self.upstream.port,
            routes="          - match: {prefix: /}\n"
                   "            route: {cluster: backend, timeout: 300ms}\n")))
        port = proxy.listener_port("main")
        # Two streams on one connection: the slow one times out, the fast one is answered.
        result = subprocess.run(
            [NGHTTP, "-n", "-v", "http://127.0.0.1:%d/slow?delay_ms=3000" % port,
             "http://127.0.0.1:%d/fast" % port],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        out = result.stdout.decode(errors="replace")
        self.assertEqual(out.count(":status: 504"), 1, out)
        self.assertEqual(out.count(":status: 200"), 1, out)
        self.assertEqual(proxy.counter("strait_dp_upstream_rq_timeout_total",
                                       {"cluster": "backend"}), 1)
        self.assertEqual(proxy.counter("strait_dp_downstream_cx_total"), 1)

    def test_request_headers_over_the_limit_get_431(self):
        proxy, port = self.proxy("      max_request_headers_kb: 1\n")
        code, out, err = curl("--http2-prior-knowledge", "-H", "x-big: " + "a" * 2000, "-w",
                              "%{http_code}", "-o", "/dev/null", "http://127.0.0.1:%d/x" % port)
        self.assertEqual((code, out), (0, b"431"), err)
        self.assertEqual(proxy.counter("strait_dp_downstream_rq_rejected_total",
                                       {"status": "431"}), 1)
        self.assertEqual(self.upstream.stats()["requests"], 0)


if __name__ == "__main__":
    unittest.main()
