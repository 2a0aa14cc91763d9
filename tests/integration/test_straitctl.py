"""straitctl (docs/straitctl.md) against the real strait-cp and proxy on port 0: `status` exits 0
when the proxy is SYNCED, 1 with the NACK message when it refuses a push, 2 naming a --cp that
cannot be reached; `validate` on a good and a bad strait.yaml; `certs` makes SPIFFE certificates
that openssl reads."""

import json
import os
import shutil
import socket
import subprocess
import tempfile

import harness
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


class StraitctlStatusTest(harness.ProcessTestCase):

    def setUp(self):
        super().setUp()
        self.a = self.start(harness.Upstream(name="a"))
        self.b = self.start(harness.Upstream(name="b"))
        self.cp = self.start(harness.ControlPlane(mesh([self.a.port]),
                                                  ["--watch-interval", "100ms"]))
        self.proxy = self.start(harness.Strait(proxy_config(self.cp)))
        harness.wait_for(lambda: ready(self.proxy), timeout=20, what="proxy /ready")

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
