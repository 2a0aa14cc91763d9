"""Integration test of lb: ring_hash with a route hash_policy: the same key reaches the same
upstream every time (on every worker), and different keys spread over the upstreams."""

import unittest

import harness
from harness import Strait, Upstream, http_request


def ring_hash_config(ports):
    endpoints = ", ".join("{address: 127.0.0.1, port: %d}" % port for port in ports)
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
        "          - match: {prefix: /ip/}\n"
        "            route: {cluster: backend, hash_policy: [{source_ip: true}]}\n"
        "          - match: {prefix: /}\n"
        "            route:\n"
        "              cluster: backend\n"
        "              hash_policy: [{header: X-User}, {cookie: session}]\n"
        "clusters:\n"
        "  - name: backend\n"
        "    lb: ring_hash\n"
        "    endpoints: [%s]\n" % endpoints)


class RingHashTest(harness.ProcessTestCase):
    @classmethod
    def setUpClass(cls):
        cls.upstreams = [Upstream(name="u%d" % i) for i in range(3)]
        cls.proxy = Strait(ring_hash_config([u.port for u in cls.upstreams]))
        cls.url = "http://127.0.0.1:%d/" % cls.proxy.listener_port("main")

    @classmethod
    def tearDownClass(cls):
        cls.proxy.__exit__(None, None, None)
        for upstream in cls.upstreams:
            upstream.__exit__(None, None, None)

    def served_by(self, headers, path=""):
        status, response_headers, _ = http_request("GET", self.url + path, headers=headers)
        self.assertEqual(status, 200)
        return response_headers["x-upstream-name"]

    def test_same_header_same_upstream(self):
        seen = set()
        for user in range(30):
            # Fresh connections each time, so both workers take part.
            names = {self.served_by({"x-user": "user-%d" % user}) for _ in range(4)}
            self.assertEqual(len(names), 1, "user-%d went to %s" % (user, names))
            seen |= names
        self.assertGreaterEqual(len(seen), 2)

    def test_cookie_is_the_fallback_key(self):
        seen = set()
        for session in range(30):
            cookie = "theme=dark; session=s%d; lang=en" % session
            names = {self.served_by({"cookie": cookie}) for _ in range(4)}
            self.assertEqual(len(names), 1, "session s%d went to %s" % (session, names))
            seen |= names
        self.assertGreaterEqual(len(seen), 2)

    def test_header_wins_over_cookie(self):
        by_header = self.served_by({"x-user": "alice"})
        for session in range(10):
            self.assertEqual(
                self.served_by({"x-user": "alice", "cookie": "session=s%d" % session}), by_header)

    def test_source_ip_pins_one_client(self):
        # Every request comes from 127.0.0.1; the user header is not part of this route's key.
        names = {self.served_by({"x-user": "user-%d" % i}, path="ip/x") for i in range(20)}
        self.assertEqual(len(names), 1, names)


if __name__ == "__main__":
    unittest.main()
