"""Integration tests of the admin endpoints and of the strait command line (--validate, --help,
--version)."""

import json
import os
import re
import subprocess
import tempfile
import unittest

import harness
import tls_fixtures
from harness import Strait, Upstream, http_request
from proxy_fixtures import simple_config

PROMTOOL = "/usr/bin/promtool"

INVALID_EXAMPLE = os.path.join(harness.REPO_ROOT, "config", "examples", "invalid.yaml")
EDGE_EXAMPLE = os.path.join(harness.REPO_ROOT, "config", "examples", "edge.yaml")

# FILE:LINE:COL: path: message
ERROR_LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<path>[^ ]+?): (?P<msg>.+)$")


class AdminEndpointsTest(harness.ProcessTestCase):
    @classmethod
    def setUpClass(cls):
        cls.upstream = Upstream(name="adm")
        cls.proxy = Strait(simple_config(cls.upstream.port, workers=2))

    @classmethod
    def tearDownClass(cls):
        cls.proxy.__exit__(None, None, None)
        cls.upstream.__exit__(None, None, None)

    def admin(self, path, method="GET"):
        return http_request(method, self.proxy.admin_url(path))

    def test_ready_and_live(self):
        self.assertEqual(self.admin("/ready")[0], 200)
        status, headers, body = self.admin("/live")
        self.assertEqual((status, body), (200, b"OK\n"))
        self.assertTrue(headers["content-type"].startswith("text/plain"))

    def test_index_unknown_path_and_method(self):
        status, _, body = self.admin("/")
        self.assertEqual(status, 200)
        for path in (b"/ready", b"/stats", b"/clusters", b"/drain", b"/reload"):
            self.assertIn(path, body)
        self.assertEqual(self.admin("/nope")[0], 404)
        self.assertEqual(self.admin("/drain", method="GET")[0], 405)
        self.assertEqual(self.admin("/stats", method="POST")[0], 405)

    def test_stats_pass_promtool_and_count_requests(self):
        for _ in range(3):
            self.assertEqual(http_request("GET", self.proxy.url("/x"))[0], 200)
        self.assertEqual(http_request("GET", self.proxy.url("/x?status=503"))[0], 503)
        status, headers, body = self.admin("/stats")
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/plain; version=0.0.4"))
        result = subprocess.run([PROMTOOL, "check", "metrics"], input=body,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        self.assertEqual(result.returncode, 0, result.stdout.decode())
        text = body.decode()
        value = harness.prometheus_value
        self.assertGreaterEqual(value(text, "strait_dp_downstream_rq_total",
                                      {"listener": "main", "code_class": "2xx"}), 3)
        self.assertGreaterEqual(value(text, "strait_dp_downstream_rq_total",
                                      {"listener": "main", "code_class": "5xx"}), 1)
        self.assertEqual(value(text, "strait_dp_workers"), 2)
        self.assertGreaterEqual(value(text, "strait_dp_upstream_rq_total",
                                      {"cluster": "backend"}), 4)
        self.assertGreater(value(text, "strait_dp_downstream_cx_total", {"listener": "main"}), 0)
        self.assertIn("# TYPE strait_dp_downstream_rq_time_seconds histogram", text)

    def test_listeners(self):
        status, headers, body = self.admin("/listeners")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "application/json")
        listeners = json.loads(body)["listeners"]
        self.assertEqual([entry["name"] for entry in listeners], ["main"])
        self.assertEqual(listeners[0]["address"], "127.0.0.1")
        self.assertGreater(listeners[0]["port"], 0)

    def test_clusters(self):
        doc = json.loads(self.admin("/clusters")[2])
        cluster = doc["clusters"][0]
        self.assertEqual((cluster["name"], cluster["lb"]), ("backend", "round_robin"))
        endpoint = cluster["endpoints"][0]
        self.assertEqual(endpoint["address"], "127.0.0.1:%d" % self.upstream.port)
        for key in ("health", "cx_active", "cx_connect_fail", "rq_active", "rq_total",
                    "rq_error"):
            self.assertIn(key, endpoint)

    def test_config_dump(self):
        status, headers, body = self.admin("/config_dump")
        self.assertEqual(status, 200)
        doc = json.loads(body)
        self.assertEqual(doc["version"], 1)
        self.assertEqual(doc["source"], self.proxy.config_path)
        self.assertEqual(doc["config"]["listeners"][0]["name"], "main")
        self.assertEqual(doc["config"]["clusters"][0]["endpoints"][0]["port"],
                         self.upstream.port)


class AdminLifecycleTest(harness.ProcessTestCase):
    def test_config_dump_redacts_secrets(self):
        upstream = self.start(Upstream(name="sec"))
        certs = tls_fixtures.make_certs()
        self.addCleanup(tls_fixtures.remove_tree, certs)
        # Real files (cluster tls loads them at start), with "very-secret-key" in the key's path.
        secret_key = os.path.join(certs, "very-secret-key.pem")
        os.rename(os.path.join(certs, "client.key"), secret_key)
        config = simple_config(upstream.port, clusters_extra=(
            "    tls: {sni: backend.internal, ca: %s/ca-example.org.pem, cert: %s/client.pem, "
            "key: %s}\n" % (certs, certs, secret_key)))
        proxy = self.start(Strait(config))
        body = http_request("GET", proxy.admin_url("/config_dump"))[2]
        self.assertNotIn(b"very-secret-key", body)
        tls = json.loads(body)["config"]["clusters"][0]["tls"]
        self.assertEqual(tls["key"], "[redacted]")
        self.assertEqual(tls["sni"], "backend.internal")

    def test_drain_fails_readiness(self):
        upstream = self.start(Upstream(name="drain"))
        proxy = self.start(Strait(simple_config(upstream.port)))
        self.assertEqual(http_request("GET", proxy.admin_url("/ready"))[0], 200)
        status, _, body = http_request("POST", proxy.admin_url("/drain"))
        self.assertEqual((status, body), (200, b"draining\n"))
        # An idle proxy may exit at once when draining; if it is still up, /ready says 503.
        def drained():
            if not proxy.process.alive():
                return True
            try:
                return http_request("GET", proxy.admin_url("/ready"), timeout=2)[0] == 503
            except OSError:
                return not proxy.process.alive()
        harness.wait_for(drained, what="/ready 503 or exit")

    def test_reload_applies_good_and_rejects_bad(self):
        upstream = self.start(Upstream(name="rel"))
        proxy = self.start(Strait(simple_config(upstream.port)))
        self.assertEqual(http_request("GET", proxy.url("/x"))[1]["x-upstream-name"], "rel")
        routes = ("          - match: {prefix: /}\n"
                  "            direct_response: {status: 200, body: reloaded}\n")
        with open(proxy.config_path, "w") as f:
            f.write(simple_config(upstream.port, routes=routes))
        status, _, body = http_request("POST", proxy.admin_url("/reload"))
        self.assertEqual((status, body), (200, b"applied\n"))
        self.assertEqual(http_request("GET", proxy.url("/x"))[2], b"reloaded")
        self.assertEqual(json.loads(http_request("GET", proxy.admin_url("/config_dump"))[2])
                         ["version"], 2)
        self.assertEqual(proxy.counter("strait_dp_config_version"), 2)

        with open(proxy.config_path, "w") as f:
            f.write("workers: lots\n")
        status, _, _ = http_request("POST", proxy.admin_url("/reload"))
        self.assertEqual(status, 400)
        self.assertEqual(proxy.counter("strait_dp_config_reload_rejected_total"), 1)
        # The old config keeps serving.
        self.assertEqual(http_request("GET", proxy.url("/x"))[2], b"reloaded")


class CommandLineTest(unittest.TestCase):
    def run_strait(self, *args):
        result = subprocess.run([harness.find_binary("strait")] + list(args),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        return result.returncode, result.stdout.decode(), result.stderr.decode()

    def test_validate_good_file(self):
        code, out, err = self.run_strait("--config", EDGE_EXAMPLE, "--validate")
        self.assertEqual(code, 0, err)
        self.assertEqual(out, "%s: OK\n" % EDGE_EXAMPLE)

    def test_validate_bad_file_reports_every_error(self):
        code, out, err = self.run_strait("--validate", "--config", INVALID_EXAMPLE)
        self.assertEqual(code, 1)
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 10, err)
        for line in lines:
            match = ERROR_LINE.match(line)
            self.assertIsNotNone(match, line)
            self.assertEqual(match.group("file"), INVALID_EXAMPLE)
        self.assertEqual(lines[0], '%s:4:29: admin.prot: unknown key "prot" (did you mean "port"?)'
                         % INVALID_EXAMPLE)
        self.assertIn('%s:16:30: listeners[0].virtual_hosts[0].routes[0].route.cluster: '
                      'unknown cluster "bakend" (did you mean "backend"?)' % INVALID_EXAMPLE, lines)
        # In file order.
        numbers = [int(ERROR_LINE.match(line).group("line")) for line in lines]
        self.assertEqual(numbers, sorted(numbers))

    def test_validate_own_file_with_a_typo(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "typo.yaml")
            with open(path, "w") as f:
                f.write(simple_config(8080).replace("clusters:\n  - name: backend\n",
                                                    "clusters:\n  - name: backend\n    lb: fast\n"))
            code, _, err = self.run_strait("--config", path, "--validate")
            self.assertEqual(code, 1)
            match = ERROR_LINE.match(err.strip())
            self.assertIsNotNone(match, err)
            self.assertEqual(match.group("path"), "clusters[0].lb")
            self.assertIn('"fast"', match.group("msg"))

            missing = os.path.join(tmp, "missing.yaml")
            code, _, err = self.run_strait("--config", missing, "--validate")
            self.assertEqual(code, 1)
            self.assertTrue(err.startswith(missing + ": "), err)

    def test_help_and_version(self):
        code, out, _ = self.run_strait("--help")
        self.assertEqual(code, 0)
        self.assertTrue(out.startswith("usage: strait --config FILE"))
        self.assertIn("--validate", out)
        code, out, _ = self.run_strait("-h")
        self.assertEqual(code, 0)
        code, out, _ = self.run_strait("--version")
        self.assertEqual(code, 0)
        self.assertRegex(out, r"^strait \d+\.\d+\.\d+\n$")

    def test_usage_errors_exit_2(self):
        code, _, err = self.run_strait("--bogus")
        self.assertEqual(code, 2)
        self.assertIn("unknown option --bogus", err)
        code, _, err = self.run_strait()
        self.assertEqual(code, 2)
        self.assertIn("--config FILE is required", err)
        code, _, err = self.run_strait("--config")
        self.assertEqual(code, 2)


if __name__ == "__main__":
    unittest.main()
