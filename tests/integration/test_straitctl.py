"""straitctl (docs/straitctl.md) against the real strait-cp and proxy on port 0: `status` exits 0
when the proxy is SYNCED, 1 with the NACK message when it refuses a push, 2 naming a --cp that
cannot be reached; `diff` finds no difference on a SYNCED proxy and the listener's port in a
NACKed push, compares pushed secrets by name, and exits 2 for an unknown node or an unreachable
strait-cp (strait-cp's /intended/<node> with it); `validate` on a good and a bad strait.yaml;
`certs` makes SPIFFE certificates that openssl reads."""

import json
import os
import shutil
import socket
import subprocess
import tempfile

import harness
import test_discovery
from test_discovery import mesh, proxy_config, ready


def straitctl(*args):
    """Runs straitctl; returns (exit code, stdout, stderr)."""
    result = subprocess.run([harness.wait_for_binary("straitctl")] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def closed_port():
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MeshTestCase(harness.ProcessTestCase):
    """strait-cp serving group edge (cluster api on upstream a) and proxy edge-1, /ready;
    upstream b holds a port for the tests that make the proxy NACK."""

    def setUp(self):
        super().setUp()
        self.a = self.start(harness.Upstream(name="a"))
        self.b = self.start(harness.Upstream(name="b"))
        self.cp = self.start(harness.ControlPlane(mesh([self.a.port]),
                                                  ["--watch-interval", "100ms"]))
        self.proxy = self.start(harness.Strait(proxy_config(self.cp)))
        harness.wait_for(lambda: ready(self.proxy), timeout=20, what="proxy /ready")


class StraitctlStatusTest(MeshTestCase):

    def status(self, *extra):
        return straitctl("status", "--cp", self.cp.admin_url(""), *extra)

    def wait_status(self, code, what, showing=""):
        """Polls straitctl status until it exits with `code` and its output holds `showing`
        (every push passes through STALE, which exits 1 too); returns its result."""
        def reached():
            result = self.status()
            return result if result[0] == code and showing in result[1] else None

        return harness.wait_for(reached, timeout=20, interval=0.1, what=what)

    def test_synced_then_nacked(self):
        _, out, err = self.wait_status(0, "straitctl status exit 0")
        self.assertEqual(err, "")
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith("NODE"), out)
        for column in ("GROUP", "CLUSTERS", "ENDPOINTS", "LISTENERS", "ROUTES", "AGE"):
            self.assertIn(column, lines[0])
        row = [line for line in lines if line.startswith("edge-1 ")]
        self.assertEqual(len(row), 1, out)
        self.assertIn("edge", row[0])
        self.assertIn("SYNCED", row[0])
        self.assertNotIn("NACK", out)
        # The ACKed version's first 8 hex digits are shown.
        routes = self.cp.status()["groups"]["edge"]["versions"]["routes"]
        self.assertIn("SYNCED " + routes[:8], row[0])

        # Valid to strait-cp, but the port is taken on the proxy's machine (by upstream b).
        self.cp.write_source(mesh([self.a.port], listener_port=self.b.port))
        _, out, _ = self.wait_status(1, "straitctl status exit 1 with the NACK",
                                     showing="NACK errors:")
        row = [line for line in out.splitlines() if line.startswith("edge-1 ")][0]
        self.assertIn("NACKED", row)
        self.assertIn("NACK errors:", out)
        nack = [line for line in out.splitlines() if line.strip().startswith("edge-1 listeners:")]
        self.assertEqual(len(nack), 1, out)
        self.assertIn("listener edge", nack[0])

        code, out, _ = self.status("--json")
        self.assertEqual(code, 1)
        doc = json.loads(out)
        self.assertEqual(doc["exit_code"], 1)
        self.assertFalse(doc["synced"])
        self.assertEqual(doc["replicas"], [{"url": self.cp.admin_url(""), "ok": True}])
        node = doc["nodes"][0]
        self.assertEqual((node["id"], node["group"], node["connected"]), ("edge-1", "edge", True))
        self.assertEqual(node["types"]["listeners"]["state"], "NACKED")
        self.assertIn("listener edge", node["types"]["listeners"]["error"])
        self.assertEqual(node["types"]["clusters"]["state"], "SYNCED")

    def test_an_unreachable_replica_is_named_and_the_others_still_show(self):
        self.wait_status(0, "straitctl status exit 0")
        down = "http://127.0.0.1:%d" % closed_port()
        code, out, err = self.status("--cp", down)
        self.assertEqual(code, 2, out + err)
        self.assertIn(down, err)
        self.assertIn("refused", err)
        self.assertIn("edge-1", out)  # what the reachable replica knows
        code, out, err = self.status("--cp", down, "--json")
        self.assertEqual(code, 2)
        doc = json.loads(out)
        self.assertEqual(doc["exit_code"], 2)
        self.assertEqual([r["ok"] for r in doc["replicas"]], [True, False])
        self.assertEqual(doc["replicas"][1]["url"], down)
        self.assertEqual([n["id"] for n in doc["nodes"]], ["edge-1"])


def wait_synced(cp):
    """Polls straitctl status until every proxy is SYNCED (exit 0)."""
    harness.wait_for(lambda: straitctl("status", "--cp", cp.admin_url(""))[0] == 0,
                     timeout=30, interval=0.1, what="straitctl status exit 0")


class StraitctlDiffTest(MeshTestCase):

    def diff(self, *extra, node="edge-1"):
        return straitctl("diff", node, "--cp", self.cp.admin_url(""),
                         "--proxy", self.proxy.admin_url(""), *extra)

    def test_no_differences_when_synced_then_the_nacked_port(self):
        wait_synced(self.cp)
        code, out, err = self.diff()
        self.assertEqual((code, out, err),
                         (0, "edge-1: no differences with strait-cp's intended config\n", ""))

        # Valid to strait-cp, but the port is taken on the proxy's machine (by upstream b): the
        # proxy NACKs and keeps its listener on port 0.
        self.cp.write_source(mesh([self.a.port], listener_port=self.b.port))
        harness.wait_for(
            lambda: "NACK errors:" in straitctl("status", "--cp", self.cp.admin_url(""))[1],
            timeout=20, interval=0.1, what="the listeners NACKed")
        code, out, err = self.diff()
        self.assertEqual(code, 1, out + err)
        lines = out.splitlines()
        self.assertEqual(lines[:2], ["--- strait-cp/listeners/edge", "+++ edge-1/listeners/edge"],
                         out)
        self.assertIn('-  "port": %d' % self.b.port, lines)
        self.assertIn('+  "port": 0', lines)
        self.assertEqual(len([line for line in lines if line.startswith("@@ ")]), 1, out)
        self.assertEqual(lines[-1], "edge-1: 1 resource differs from strait-cp's intended config")

        code, out, _ = self.diff("--json")
        self.assertEqual(code, 1)
        doc = json.loads(out)
        self.assertEqual((doc["node"], doc["group"], doc["exit_code"]), ("edge-1", "edge", 1))
        self.assertEqual([(d["type"], d["name"]) for d in doc["differences"]],
                         [("listeners", "edge")])
        self.assertEqual(doc["differences"][0]["intended"]["port"], self.b.port)
        self.assertEqual(doc["differences"][0]["proxy"]["port"], 0)

    def test_intended_endpoint(self):
        wait_synced(self.cp)
        code, _, body = harness.http_request("GET", self.cp.admin_url("/intended/edge-1"))
        self.assertEqual(code, 200, body)
        doc = json.loads(body)
        self.assertEqual((doc["node"], doc["group"]), ("edge-1", "edge"))
        self.assertEqual(list(doc["types"]), sorted(["secrets", "filter_configs", "clusters",
                                                     "endpoints", "listeners", "routes",
                                                     "carbon_signals"]))
        versions = self.cp.status()["groups"]["edge"]["versions"]
        for name, entry in doc["types"].items():
            self.assertEqual(entry["version"], versions[name], name)
        self.assertEqual(doc["types"]["listeners"]["resources"],
                         [{"name": "edge", "resource": {"name": "edge", "address": "127.0.0.1",
                                                        "port": 0}}])
        self.assertEqual([r["name"] for r in doc["types"]["endpoints"]["resources"]], ["api"])
        # A node that never connected: by its group, or a 404 that says what to give.
        code, _, body = harness.http_request("GET", self.cp.admin_url("/intended/edge-9"))
        self.assertEqual(code, 404)
        self.assertIn(b"unknown node edge-9", body)
        self.assertIn(b"?group=", body)
        code, _, body = harness.http_request("GET",
                                             self.cp.admin_url("/intended/edge-9?group=edge"))
        self.assertEqual(code, 200, body)
        self.assertEqual(json.loads(body)["node"], "edge-9")
        code, _, body = harness.http_request("GET",
                                             self.cp.admin_url("/intended/edge-9?group=web"))
        self.assertEqual(code, 404)
        self.assertIn(b"group web has no snapshot", body)

    def test_errors_exit_two(self):
        wait_synced(self.cp)
        code, out, err = self.diff(node="edge-9")
        self.assertEqual((code, out), (2, ""))
        self.assertIn("unknown node edge-9", err)
        # The proxy at --proxy is another node.
        code, out, err = self.diff("--group", "edge", node="edge-9")
        self.assertEqual(code, 2, out + err)
        self.assertIn("is node edge-1, not edge-9", err)
        down = "http://127.0.0.1:%d" % closed_port()
        code, out, err = straitctl("diff", "edge-1", "--cp", down)
        self.assertEqual(code, 2)
        self.assertIn("refused", err)
        code, out, err = straitctl("diff", "edge-1", "--cp", down, "--json")
        self.assertEqual(code, 2)
        self.assertEqual(json.loads(out)["exit_code"], 2)
        code, _, err = straitctl("diff", "--cp", down)
        self.assertEqual(code, 2)
        self.assertIn("usage: straitctl diff NODE", err)

    def test_the_proxy_admin_address_from_status(self):
        wait_synced(self.cp)
        # The proxy's reports (one follows each applied update) tell strait-cp its admin address.
        admin = harness.wait_for(
            lambda: [n for n in self.cp.status()["nodes"] if n["id"] == "edge-1"][0].get("admin"),
            timeout=20, interval=0.1, what="edge-1's admin address in /status")
        self.assertEqual(admin, self.proxy.admin_address.strip())
        code, out, err = straitctl("diff", "edge-1", "--cp", self.cp.admin_url(""))
        self.assertEqual(code, 0, out + err)
        self.assertIn("no differences", out)


class StraitctlDiffSecretsTest(test_discovery.CertsTestCase):
    """Pushed secrets compare by name: the proxy's /config_dump holds the files it wrote, and
    both sides redact a listener's `secret` reference alike."""

    source = test_discovery.DiscoverySecretsTest.source
    install = test_discovery.DiscoverySecretsTest.install

    def test_secrets_compare_by_name(self):
        upstream = self.start(harness.Upstream(name="a"))
        cp = harness.ControlPlane(self.source(upstream.port), ["--watch-interval", "100ms"])
        self.start(cp)
        self.install(cp, self.cert("server.pem"), self.cert("server.key"))
        proxy = self.start(harness.Strait(proxy_config(cp)))
        harness.wait_for(lambda: ready(proxy), timeout=30, what="proxy /ready")
        wait_synced(cp)
        code, _, body = harness.http_request("GET", cp.admin_url("/intended/edge-1"))
        self.assertEqual(code, 200)
        self.assertNotIn(b"PRIVATE KEY", body)
        secrets = {r["name"]: r["resource"]
                   for r in json.loads(body)["types"]["secrets"]["resources"]}
        self.assertEqual(secrets["edge-cert"]["private_key"], "[redacted]")
        self.assertIn("BEGIN CERTIFICATE", secrets["edge-cert"]["certificate_chain"])
        code, out, err = straitctl("diff", "edge-1", "--cp", cp.admin_url(""),
                                   "--proxy", proxy.admin_url(""))
        self.assertEqual(code, 0, out + err)
        self.assertEqual(out.splitlines()[0],
                         "edge-1: no differences with strait-cp's intended config")
        self.assertIn("secrets are compared by name only", out)


class StraitctlStatusNoProxyTest(harness.ProcessTestCase):

    def test_no_proxies_is_one(self):
        cp = self.start(harness.ControlPlane(mesh([closed_port()])))
        code, out, _ = straitctl("status", "--cp", cp.admin_url(""))
        self.assertEqual(code, 1)
        self.assertEqual(out, "no proxies\n")


class StraitctlValidateTest(harness.ProcessTestCase):

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="straitctl-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def test_a_good_and_a_bad_file(self):
        good = self.write("good.yaml", "admin: {address: 127.0.0.1, port: 0}\nworkers: 1\n")
        code, out, _ = straitctl("validate", good)
        self.assertEqual((code, out), (0, "%s: ok\n" % good))
        bad = self.write("bad.yaml", "admin: {address: 127.0.0.1, port: 0}\nworkers: lots\n")
        code, out, _ = straitctl("validate", bad)
        self.assertEqual(code, 1)
        self.assertRegex(out, r"^%s:2:\d+: workers: " % bad)

    def test_a_source_directory(self):
        for name, text in mesh([8080]).items():
            self.write(os.path.join("source", name), text)
        code, out, _ = straitctl("validate", os.path.join(self.dir, "source"))
        self.assertEqual(code, 0, out)
        self.assertIn("group edge: ok", out)
        self.write("source/edge/more.yaml", "clusters:\n  - name: api\n    endpoints: []\n")
        code, out, _ = straitctl("validate", os.path.join(self.dir, "source"))
        self.assertEqual(code, 1, out)
        self.assertIn("group edge: ", out)
        self.assertIn("api", out)


class StraitctlCertsTest(harness.ProcessTestCase):

    def test_a_ca_and_spiffe_workload_certificates(self):
        out_dir = tempfile.mkdtemp(prefix="straitctl-certs-")
        self.addCleanup(shutil.rmtree, out_dir, True)
        code, out, err = straitctl("certs", "--out", out_dir, "--trust-domain", "mesh.test",
                                   "--workload", "default/web", "--workload", "edge/gateway")
        self.assertEqual(code, 0, out + err)
        for name, uri in (("default.web", "spiffe://mesh.test/ns/default/sa/web"),
                          ("edge.gateway", "spiffe://mesh.test/ns/edge/sa/gateway")):
            pem = os.path.join(out_dir, name + ".pem")
            san = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", pem],
                                 stdout=subprocess.PIPE, check=True).stdout.decode()
            self.assertIn("URI:" + uri, san)
            verify = subprocess.run(["openssl", "verify", "-CAfile",
                                     os.path.join(out_dir, "ca.pem"), pem],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            self.assertEqual(verify.returncode, 0, verify.stdout)
            self.assertEqual(os.stat(os.path.join(out_dir, name + ".key")).st_mode & 0o777, 0o600)


if __name__ == "__main__":
    import unittest
    unittest.main()
