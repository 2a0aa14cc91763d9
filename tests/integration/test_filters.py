"""The filter chain in the real proxy (issue 5's contract), driven through mtls_authz on a
plaintext listener, where no request has a verified identity: only principal-free rules can
allow. TLS identities are tested in test_tls.py.
"""

import unittest

import harness
from harness import Strait, Upstream, http_request


def authz_config(upstream_port, mode="enforce"):
    return (
        "admin: {address: 127.0.0.1, port: 0}\n"
        "workers: 1\n"
        "listeners:\n"
        "  - name: main\n"
        "    address: 127.0.0.1\n"
        "    port: 0\n"
        "    http:\n"
        "      filters:\n"
        "        - name: mtls_authz\n"
        "          config:\n"
        "            mode: %s\n"
        "            default: deny\n"
        "            rules:\n"
        "              - {name: public, action: allow, methods: [GET], paths: [{prefix: /public/}]}\n"
        "              - {name: web, action: allow, principals: [\"spiffe://example.org/web\"]}\n"
        "    virtual_hosts:\n"
        "      - name: default\n"
        "        domains: [\"*\"]\n"
        "        routes:\n"
        "          - match: {prefix: /}\n"
        "            route: {cluster: backend}\n"
        "clusters:\n"
        "  - name: backend\n"
        "    endpoints: [{address: 127.0.0.1, port: %d}]\n" % (mode, upstream_port))


class AuthzChainTest(harness.ProcessTestCase):
    def test_denied_requests_never_reach_the_upstream(self):
        upstream = self.start(Upstream(name="app"))
        proxy = self.start(Strait(authz_config(upstream.port)))
        status, headers, body = http_request("GET", proxy.url("/public/page"))
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("x-upstream-name"), "app")

        for method, path in (("POST", "/public/page"), ("GET", "/private"),
                             ("GET", "/no/such/route/either")):
            status, headers, body = http_request(method, proxy.url(path), body=b"x" * 10)
            self.assertEqual(status, 403, (method, path))
            self.assertEqual(headers.get("x-strait-authz-reason"), "no_principal")
            self.assertEqual(body, b"access denied: no_principal\n")
            self.assertIsNone(headers.get("x-upstream-name"))
        self.assertEqual(upstream.stats()["requests"], 1)
        self.assertEqual(proxy.counter("strait_dp_authz_allowed_total", {"listener": "main"}), 1)
        self.assertEqual(proxy.counter("strait_dp_authz_denied_total",
                                       {"listener": "main", "reason": "no_principal"}), 3)
        self.assertEqual(proxy.counter("strait_dp_downstream_rq_total",
                                       {"listener": "main", "code_class": "4xx"}), 3)

    def test_dry_run_counts_and_lets_through(self):
        upstream = self.start(Upstream(name="app"))
        proxy = self.start(Strait(authz_config(upstream.port, mode="dry_run")))
        for _ in range(3):
            status, _, _ = http_request("GET", proxy.url("/private"))
            self.assertEqual(status, 200)
        self.assertEqual(upstream.stats()["requests"], 3)
        self.assertEqual(
            proxy.counter("strait_dp_authz_dry_run_denied_total", {"listener": "main"}), 3)
        self.assertEqual(proxy.counter("strait_dp_authz_denied_total",
                                       {"listener": "main", "reason": "no_principal"}), 0)

    def test_keep_alive_connection_survives_a_denial(self):
        upstream = self.start(Upstream(name="app"))
        proxy = self.start(Strait(authz_config(upstream.port)))
        port = proxy.listener_port("main")
        request = (b"GET /private HTTP/1.1\r\nHost: x\r\n\r\n"
                   b"GET /public/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = harness.raw_request(port, request)
        self.assertIn(b"HTTP/1.1 403", data)
        self.assertIn(b"HTTP/1.1 200", data)
        self.assertLess(data.index(b"HTTP/1.1 403"), data.index(b"HTTP/1.1 200"))


if __name__ == "__main__":
    unittest.main()
