"""Integration tests of TLS: termination with SNI, ALPN, TLS 1.2/1.3 and session resumption,
mTLS with SPIFFE identities (the bad-certificate matrix), x-forwarded-client-cert, certificate
rotation under traffic, and TLS to upstreams. Real clients: curl, openssl s_client, gnutls-cli,
Python's ssl module. Every certificate is generated per run by certs/make-dev-certs.sh."""

import os
import re
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import http.client

import harness
from harness import Strait, Upstream, curl, http_request, wait_for
import tls_fixtures
from tls_fixtures import (TlsUpstream, cert_serial, cert_sha256, echo_headers, gnutls_cli,
                          s_client, tls_config)

FAILURES = "strait_dp_tls_handshake_failures_total"
CERTS = None


def setUpModule():
    global CERTS
    CERTS = tls_fixtures.make_certs()


def tearDownModule():
    tls_fixtures.remove_tree(CERTS)


def cert(name):
    return os.path.join(CERTS, name + ".pem")


def key(name):
    return os.path.join(CERTS, name + ".key")


class TlsTerminationTest(harness.ProcessTestCase):
    @classmethod
    def setUpClass(cls):
        cls.upstream = Upstream(name="tls")
        cls.proxy = Strait(tls_config(cls.upstream.port, CERTS))
        cls.port = cls.proxy.listener_port("main")

    @classmethod
    def tearDownClass(cls):
        cls.proxy.__exit__(None, None, None)
        cls.upstream.__exit__(None, None, None)

    def curl_https(self, client, *args, host="localhost"):
        argv = ["--cacert", cert("ca-example.org"), "--resolve",
                "%s:%d:127.0.0.1" % (host, self.port)]
        if client:
            argv += ["--cert", cert(client), "--key", key(client)]
        return curl(*(argv + list(args) + ["https://%s:%d/echo" % (host, self.port)]), timeout=30)

    def failures(self, reason):
        return self.proxy.counter(FAILURES, {"listener": "main", "reason": reason})

    def test_mtls_principal_reaches_upstream_and_spoofed_xfcc_is_removed(self):
        code, body, err = self.curl_https("client", "-H", "x-forwarded-client-cert: By=evil;URI=spiffe://example.org/ns/admin",
                                          host="api.example.com")
        self.assertEqual(code, 0, err)
        headers = echo_headers(body)
        xfcc = [v for n, v in headers if n == "x-forwarded-client-cert"]
        self.assertEqual(xfcc, ["By=spiffe://example.org/ns/edge/sa/gateway;"
                                "URI=spiffe://example.org/ns/default/sa/web;Hash=%s"
                                % cert_sha256(cert("client"))])
        self.assertIn(("x-forwarded-proto", "https"), headers)

    def test_other_trust_domain_is_verified_against_its_own_bundle(self):
        code, body, err = self.curl_https("client-other")
        self.assertEqual(code, 0, err)
        xfcc = dict(echo_headers(body))["x-forwarded-client-cert"]
        # The fallback certificate (no SNI match for localhost) carries no SPIFFE ID: no By=.
        self.assertEqual(xfcc, "URI=spiffe://other.org/ns/batch/sa/job;Hash=%s"
                         % cert_sha256(cert("client-other")))

    def test_bad_client_certificates_are_rejected(self):
        matrix = [
            (None, "no_client_cert"),
            ("bad-expired", "bad_client_cert"),
            ("bad-notyet", "bad_client_cert"),
            ("bad-wrongdomain", "unknown_ca"),
            ("bad-selfsigned", "unknown_ca"),
            ("bad-usage", "bad_client_cert"),
            ("bad-nouri", "bad_client_cert"),
            ("bad-twouri", "bad_client_cert"),
        ]
        requests_before = self.upstream.stats()["requests"]
        for client, reason in matrix:
            with self.subTest(client=client):
                before = self.failures(reason)
                code, body, err = self.curl_https(client)
                self.assertNotEqual(code, 0, "%s was accepted: %r" % (client, body[:200]))
                self.proxy.wait_counter(FAILURES, {"listener": "main", "reason": reason},
                                        at_least=before + 1)
        self.assertEqual(self.upstream.stats()["requests"], requests_before)
        # And a good certificate still gets through afterwards.
        self.assertEqual(self.curl_https("client")[0], 0)

    def test_sni_selects_exact_then_wildcard_then_fallback(self):
        cases = [("api.example.com", "CN = api.example.com"),
                 ("foo.example.com", r"CN = \*.example.com"),
                 ("a.b.example.com", "CN = default.local"),
                 ("unknown.net", "CN = default.local"),
                 (None, "CN = default.local")]
        for name, subject in cases:
            with self.subTest(servername=name):
                code, out = s_client(self.port, "-cert", cert("client"), "-key", key("client"),
                                     servername=name)
                self.assertRegex(out, r"subject=.*%s" % subject)

    def test_tls12_and_tls13(self):
        for flag, version in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
            with self.subTest(version=version):
                code, out = s_client(self.port, flag, "-cert", cert("client"), "-key",
                                     key("client"),
                                     input_bytes=b"GET /echo HTTP/1.1\r\nHost: x\r\n"
                                                 b"Connection: close\r\n\r\n")
                self.assertIn("New, %s" % version, out)
                self.assertIn("HTTP/1.1 200", out)

    def test_session_resumption(self):
        workdir = tempfile.mkdtemp(prefix="strait-sess-")
        self.addCleanup(shutil.rmtree, workdir, True)
        before = self.proxy.counter("strait_dp_tls_handshakes_resumed_total", {"listener": "main"})
        # TLS 1.2 with session IDs (the server-side cache), TLS 1.2 tickets, TLS 1.3 tickets.
        for label, args in (("tls12-cache", ["-tls1_2", "-no_ticket"]), ("tls12-ticket", ["-tls1_2"]),
                            ("tls13", ["-tls1_3"])):
            with self.subTest(label):
                sess = os.path.join(workdir, label)
                base = args + ["-cert", cert("client"), "-key", key("client")]
                # A request and a clean close, so the session (and a TLS 1.3 ticket) is stored.
                request = b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                _, out = s_client(self.port, *(base + ["-sess_out", sess]), input_bytes=request)
                self.assertIn("New, ", out)
                _, out = s_client(self.port, *(base + ["-sess_in", sess]), input_bytes=request)
                self.assertIn("Reused, ", out)
                self.assertIn("HTTP/1.1 200", out)
        self.assertGreaterEqual(self.proxy.counter("strait_dp_tls_handshakes_resumed_total",
                                                   {"listener": "main"}), before + 3)

    def test_alpn_prefers_the_listeners_order(self):
        # The listener lists [h2, http/1.1]: h2 when the client offers it, else http/1.1.
        _, out = s_client(self.port, "-alpn", "http/1.1,h2", "-cert", cert("client"), "-key",
                          key("client"))
        self.assertIn("ALPN protocol: h2", out)
        _, out = s_client(self.port, "-alpn", "http/1.1", "-cert", cert("client"), "-key",
                          key("client"))
        self.assertIn("ALPN protocol: http/1.1", out)
        _, out = s_client(self.port, "-alpn", "spdy/3", "-cert", cert("client"), "-key",
                          key("client"))
        self.assertIn("No ALPN negotiated", out)

    def test_http2_over_mtls_carries_the_principal(self):
        code, body, err = self.curl_https("client", "--http2", "-w", "\n%{http_version}",
                                          host="api.example.com")
        self.assertEqual(code, 0, err)
        body, _, version = body.rpartition(b"\n")
        self.assertEqual(version, b"2")
        headers = echo_headers(body)
        xfcc = dict(headers)["x-forwarded-client-cert"]
        self.assertIn("URI=spiffe://example.org/ns/default/sa/web", xfcc)
        self.assertIn(("x-forwarded-proto", "https"), headers)

    def test_gnutls_cli(self):
        code, out = gnutls_cli(self.port, "--x509cafile", cert("ca-example.org"),
                               "--x509certfile", cert("client"), "--x509keyfile", key("client"),
                               "--sni-hostname", "api.example.com", "--verify-hostname",
                               "api.example.com",
                               input_bytes=b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close"
                                           b"\r\n\r\n")
        self.assertIn("Handshake was completed", out)
        self.assertIn("HTTP/1.1 200", out)
        self.assertIn("spiffe://example.org/ns/default/sa/web", out)

    def test_protocol_version_and_cipher_failures_are_counted(self):
        for args, reason in (
                (["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"], "protocol_version"),
                (["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"], "no_shared_cipher")):
            with self.subTest(reason=reason):
                before = self.failures(reason)
                _, out = s_client(self.port, *args)
                self.assertIn("alert", out)
                self.proxy.wait_counter(FAILURES, {"listener": "main", "reason": reason},
                                        at_least=before + 1)

    def test_plain_http_to_tls_listener_is_refused(self):
        data = harness.raw_request(self.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=3)
        self.assertNotIn(b"HTTP/1.1 200", data)
        self.assertTrue(self.proxy.process.alive())


class TlsConnectionEdgesTest(harness.ProcessTestCase):
    def test_handshake_timeout_and_pipelining_with_a_proxy_written_100_continue(self):
        upstream = self.start(Upstream(name="edges"))
        proxy = self.start(Strait(tls_config(
            upstream.port, CERTS, listener_extra="    http: {request_headers_timeout: 300ms}\n")))
        port = proxy.listener_port("main")
        labels = {"listener": "main", "reason": "other"}
        before = proxy.counter(FAILURES, labels)
        # Half a ClientHello, then nothing: the handshake gets request_headers_timeout.
        data = harness.raw_request(port, b"\x16\x03\x01\x00\x80\x01\x00", timeout=10)
        self.assertEqual(data, b"")
        proxy.wait_counter(FAILURES, labels, at_least=before + 1)

        # The proxy writes "100 Continue" while the same decrypted record still holds the body
        # and a second request: neither may be disturbed by that write.
        context = ssl.create_default_context(cafile=cert("ca-example.org"))
        context.load_cert_chain(cert("client"), key("client"))
        with socket_for(port, context) as sock:
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                         b"Content-Length: 10\r\n\r\n0123456789"
                         b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            received = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        self.assertTrue(received.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200"),
                        received[:200])
        self.assertIn(b'"body_bytes":10', received)
        self.assertEqual(received.count(b"HTTP/1.1 200"), 2, received)


def socket_for(port, context):
    import socket
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return context.wrap_socket(raw, server_hostname="localhost")


class OptionalClientCertificateTest(harness.ProcessTestCase):
    def test_without_client_certificate_no_xfcc_and_append_forward(self):
        upstream = self.start(Upstream(name="opt"))
        proxy = self.start(Strait(tls_config(upstream.port, CERTS, require_client_certificate=False,
                                             listener_extra="    forward_client_cert: append_forward\n")))
        port = proxy.listener_port("main")
        base = ["--cacert", cert("ca-example.org"), "https://localhost:%d/echo" % port]
        code, body, err = curl("-H", "x-forwarded-client-cert: URI=spoofed", *base)
        self.assertEqual(code, 0, err)
        self.assertNotIn("x-forwarded-client-cert", dict(echo_headers(body)))
        code, body, err = curl("-H", "x-forwarded-client-cert: By=front;URI=spiffe://example.org/x",
                               "--cert", cert("client"), "--key", key("client"), *base)
        self.assertEqual(code, 0, err)
        self.assertEqual(dict(echo_headers(body))["x-forwarded-client-cert"],
                         "By=front;URI=spiffe://example.org/x,"
                         "URI=spiffe://example.org/ns/default/sa/web;Hash=%s"
                         % cert_sha256(cert("client")))


class CertificateRotationTest(harness.ProcessTestCase):
    def issue(self, directory, name, cn, san):
        """Signs a fresh server certificate with the example.org CA into directory/name.*"""
        tmp = os.path.join(directory, "tmp-" + name)
        run = lambda *a: subprocess.run(a, check=True, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, timeout=30)
        run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-out", tmp + ".key")
        run("openssl", "req", "-new", "-key", tmp + ".key", "-subj", "/CN=%s" % cn, "-out",
            tmp + ".csr")
        with open(tmp + ".ext", "w") as f:
            f.write("subjectAltName=%s\nkeyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth\n" % san)
        run("openssl", "x509", "-req", "-in", tmp + ".csr", "-CA", cert("ca-example.org"),
            "-CAkey", key("ca-example.org"), "-set_serial", "0x%s" % os.urandom(8).hex(),
            "-days", "30", "-extfile", tmp + ".ext", "-out", tmp + ".pem")
        return tmp

    def install(self, directory, tmp, name):
        # Key first, then certificate, each by rename: a reader sees a mismatched pair at worst,
        # which strait refuses (keeping the old pair) until the second rename lands.
        os.rename(tmp + ".key", os.path.join(directory, name + ".key"))
        os.rename(tmp + ".pem", os.path.join(directory, name + ".pem"))

    def served_serial(self, port):
        _, out = s_client(port, "-cert", cert("client"), "-key", key("client"))
        pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
        if not pem:
            return None
        result = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=pem.group(0).encode(),
                                stdout=subprocess.PIPE, timeout=30)
        return result.stdout.decode().strip().split("=", 1)[1].upper()

    def test_rotation_under_traffic(self):
        live = tempfile.mkdtemp(prefix="strait-live-certs-")
        self.addCleanup(shutil.rmtree, live, True)
        for name in ("server", "wildcard", "default"):
            shutil.copy(cert(name), live)
            shutil.copy(key(name), live)
        upstream = self.start(Upstream(name="rot"))
        proxy = self.start(Strait(tls_config(upstream.port, CERTS, cert_dir=live, workers=2)))
        port = proxy.listener_port("main")
        old_serial = cert_serial(os.path.join(live, "default.pem"))
        self.assertEqual(self.served_serial(port), old_serial)

        context = ssl.create_default_context(cafile=cert("ca-example.org"))
        context.load_cert_chain(cert("client"), key("client"))
        stop = threading.Event()
        results = {"ok": 0, "failed": []}

        def traffic():
            # A new connection (a full handshake) for every request, plus keep-alive requests.
            while not stop.is_set():
                try:
                    conn = http.client.HTTPSConnection("localhost", port, context=context, timeout=10)
                    for _ in range(3):
                        conn.request("GET", "/echo")
                        response = conn.getresponse()
                        response.read()
                        if response.status != 200:
                            results["failed"].append(response.status)
                        else:
                            results["ok"] += 1
                    conn.close()
                except Exception as e:  # noqa: BLE001 - every failure is recorded
                    results["failed"].append(repr(e))

        threads = [threading.Thread(target=traffic) for _ in range(2)]
        for t in threads:
            t.start()
        try:
            tmp = self.issue(live, "default", "rotated.local", "DNS:localhost,IP:127.0.0.1")
            new_serial = cert_serial(tmp + ".pem")
            wait_for(lambda: results["ok"] > 20, timeout=20, what="traffic before rotation")
            self.install(live, tmp, "default")
            wait_for(lambda: self.served_serial(port) == new_serial, timeout=20,
                     what="new handshakes presenting the new serial")
            # A broken certificate file: logged, refused, the rotated one keeps serving.
            rejected = proxy.counter("strait_dp_config_reload_rejected_total")
            with open(os.path.join(live, "default.pem"), "w") as f:
                f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n")
            proxy.wait_counter("strait_dp_config_reload_rejected_total", at_least=rejected + 1)
            ok_before = results["ok"]
            wait_for(lambda: results["ok"] > ok_before + 20, timeout=20, what="traffic after")
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
        self.assertEqual(results["failed"], [])
        self.assertGreater(results["ok"], 40)
        self.assertEqual(self.served_serial(port), new_serial)
        self.assertIn("certificate change not applied", proxy.log())


class UpstreamTlsTest(harness.ProcessTestCase):
    def proxy_to(self, upstream_port, tls_line):
        config = (
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
            "    endpoints: [{address: 127.0.0.1, port: %d}]\n"
            "    tls: %s\n" % (upstream_port, tls_line))
        return self.start(Strait(config))

    def test_sni_and_ca_verification(self):
        with TlsUpstream(cert("upstream"), key("upstream")) as upstream:
            proxy = self.proxy_to(upstream.port, "{sni: backend.internal, ca: %s}"
                                  % cert("ca-example.org"))
            status, _, body = http_request("GET", proxy.url("/x"))
            self.assertEqual(status, 200, body)
            self.assertIn(b'"sni": "backend.internal"', body)
            # Keep-alive: the second request reuses the TLS connection.
            self.assertEqual(http_request("GET", proxy.url("/y"))[0], 200)

    def test_wrong_ca_gives_503_with_the_reason(self):
        with TlsUpstream(cert("upstream"), key("upstream")) as upstream:
            proxy = self.proxy_to(upstream.port, "{sni: backend.internal, ca: %s}"
                                  % cert("ca-other.org"))
            status, _, body = http_request("GET", proxy.url("/x"))
            self.assertEqual(status, 503)
            self.assertIn(b"certificate verify failed", body)
            self.assertGreaterEqual(proxy.counter("strait_dp_upstream_cx_connect_fail_total",
                                                  {"cluster": "backend"}), 1)

    def test_wrong_name_gives_503(self):
        with TlsUpstream(cert("upstream"), key("upstream")) as upstream:
            proxy = self.proxy_to(upstream.port, "{sni: wrong.internal, ca: %s}"
                                  % cert("ca-example.org"))
            status, _, body = http_request("GET", proxy.url("/x"))
            self.assertEqual(status, 503)
            self.assertIn(b"hostname mismatch", body)

    def test_health_checks_run_over_tls(self):
        with TlsUpstream(cert("upstream"), key("upstream")) as upstream:
            proxy = self.proxy_to(upstream.port, "{sni: backend.internal, ca: %s}\n"
                                  "    health_check: {path: /healthz, interval: 100ms, timeout: 1s}"
                                  % cert("ca-example.org"))
            labels = {"cluster": "backend"}
            proxy.wait_counter("strait_dp_health_check_attempts_total", labels, at_least=3)
            self.assertEqual(proxy.counter("strait_dp_health_check_failures_total", labels), 0)
            self.assertEqual(proxy.counter("strait_dp_health_check_healthy_hosts", labels), 1)
            self.assertIn("backend.internal", upstream.server_names)

    def test_client_certificate_rotation(self):
        live = tempfile.mkdtemp(prefix="strait-cluster-certs-")
        self.addCleanup(shutil.rmtree, live, True)
        both = os.path.join(live, "both-cas.pem")
        with open(both, "w") as out:
            for name in ("ca-example.org", "ca-other.org"):
                with open(cert(name)) as f:
                    out.write(f.read())
        shutil.copy(cert("client"), os.path.join(live, "node.pem"))
        shutil.copy(key("client"), os.path.join(live, "node.key"))
        with TlsUpstream(cert("upstream"), key("upstream"), client_ca=both) as upstream:
            proxy = self.proxy_to(upstream.port, "{sni: backend.internal, ca: %s, cert: %s/node.pem, "
                                  "key: %s/node.key}" % (cert("ca-example.org"), live, live))
            status, _, body = http_request("GET", proxy.url("/x"))
            self.assertEqual(status, 200, body)
            self.assertIn(b"spiffe://example.org/ns/default/sa/web", body)
            for src, dst in ((key("client-other"), "node.key"), (cert("client-other"), "node.pem")):
                tmp = os.path.join(live, "tmp")
                shutil.copy(src, tmp)
                os.rename(tmp, os.path.join(live, dst))

            def rotated():
                status, _, body = http_request("GET", proxy.url("/x"))
                self.assertEqual(status, 200, body)
                return b"spiffe://other.org/ns/batch/sa/job" in body

            wait_for(rotated, timeout=20, what="upstream seeing the rotated client certificate")

    def test_client_certificate_for_upstream_mtls(self):
        with TlsUpstream(cert("upstream"), key("upstream"),
                         client_ca=cert("ca-example.org")) as upstream:
            proxy = self.proxy_to(upstream.port, "{sni: backend.internal, ca: %s, cert: %s, key: %s}"
                                  % (cert("ca-example.org"), cert("client"), key("client")))
            status, _, body = http_request("GET", proxy.url("/x"))
            self.assertEqual(status, 200, body)
            self.assertIn(b"spiffe://example.org/ns/default/sa/web", body)


if __name__ == "__main__":
    unittest.main()
