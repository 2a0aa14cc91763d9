"""Behavioural divergence (issue 12, control/divergence.h) with the real strait-cp and two real
proxies on port 0: cluster api has three endpoints in the source, one of which answers 503 to
everything. Both proxies eject it by outlier detection while the source still lists it, so
strait-cp, from the proxies' reports, names the endpoint and the two proxies: on /status, on
/metrics, in `straitctl status` (exit 1) and on the status page's data. The finding is there once
each proxy has sent two reports after its ejection (counted in /status, not timed)."""

import json
import os
import re
import shutil
import subprocess
import tempfile

import harness
from test_discovery import edge_url, ready
from test_status_page import CHROMIUM, CHROMIUM_FLAGS

WAIT = 30  # seconds, a deadline for polls on a loaded 2-core machine
NODES = ("edge-1", "edge-2")


def source(ports):
    endpoints = ", ".join("{address: 127.0.0.1, port: %d}" % p for p in ports)
    return {
        "edge/clusters.yaml": """clusters:
  - name: api
    endpoints: [%s]
    connect_timeout: 1s
    outlier_detection:
      consecutive_5xx: 3
      interval: 1s
      base_ejection_time: 300s
      max_ejection_percent: 50
""" % endpoints,
        "edge/listeners.yaml": """listeners:
  - name: edge
    address: 127.0.0.1
    port: 0
    virtual_hosts:
      - name: all
        domains: ["*"]
        routes:
          - match: {prefix: /}
            route: {cluster: api, timeout: 10s}
""",
    }


def proxy_config(cp, node_id):
    return """
node: {id: %s, cluster: edge}
admin: {address: 127.0.0.1, port: 0}
workers: 1
control_plane: {address: 127.0.0.1:%d, report_interval: 300ms}
""" % (node_id, cp.discovery_port)


def straitctl(*args):
    result = subprocess.run([harness.wait_for_binary("straitctl")] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    return result.returncode, result.stdout.decode(), result.stderr.decode()


class GrayFailureTest(harness.ProcessTestCase):

    def setUp(self):
        super().setUp()
        self.good = [self.start(harness.Upstream(name="good-%d" % i)) for i in range(2)]
        self.bad = self.start(harness.Upstream(name="bad", status=503))
        self.bad_address = "127.0.0.1:%d" % self.bad.port
        self.cp = self.start(harness.ControlPlane(
            source([u.port for u in self.good] + [self.bad.port]), ["--watch-interval", "100ms"]))
        self.proxies = {n: self.start(harness.Strait(proxy_config(self.cp, n))) for n in NODES}
        for node, proxy in self.proxies.items():
            harness.wait_for(lambda p=proxy: ready(p), timeout=WAIT, what=node + " /ready")

    def nodes(self):
        return {n["id"]: n for n in self.cp.status()["nodes"]}

    def report_counts(self):
        return {n: self.nodes().get(n, {}).get("report", {}).get("count", 0) for n in NODES}

    def ejected(self, proxy):
        _, _, body = harness.http_request("GET", proxy.admin_url("/clusters"))
        for cluster in json.loads(body)["clusters"]:
            if cluster["name"] == "api":
                return [e["address"] for e in cluster["endpoints"] if e["outlier_ejected"]]
        return []

    def test_an_endpoint_every_proxy_ejects_is_named_with_the_proxies(self):
        # Reports arrive, and nothing diverges while no request was sent.
        harness.wait_for(lambda: all(c > 0 for c in self.report_counts().values()),
                         timeout=WAIT, what="a report from each proxy")
        self.assertEqual(self.cp.status()["findings"], [])
        self.assertEqual(self.cp.status()["groups"]["edge"]["endpoints"], 3)

        # Traffic through both proxies: each sees the 503s and ejects the endpoint.
        statuses = {}
        for node, proxy in self.proxies.items():
            for _ in range(30):
                status, _, _ = harness.http_request("GET", edge_url(proxy, "/x"))
                statuses[status] = statuses.get(status, 0) + 1
            harness.wait_for(lambda p=proxy: self.ejected(p) == [self.bad_address],
                             timeout=WAIT, what=node + " ejecting " + self.bad_address)
        self.assertGreater(statuses.get(503, 0), 0, statuses)
        self.assertGreater(statuses.get(200, 0), 0, statuses)

        # Within two report intervals: once each proxy sent two reports after its ejection.
        after = self.report_counts()
        harness.wait_for(lambda: all(self.report_counts()[n] >= after[n] + 2 for n in NODES),
                         timeout=WAIT, what="two more reports from each proxy")
        findings = self.cp.status()["findings"]
        self.assertEqual(len(findings), 1, findings)
        finding = findings[0]
        self.assertEqual((finding["kind"], finding["group"], finding["cluster"],
                          finding["subject"], finding["nodes"]),
                         ("ejected_intended_healthy", "edge", "api", self.bad_address,
                          list(NODES)))
        self.assertIn("2 of 2 proxies", finding["detail"])

        # straitctl names the endpoint and both proxies, and exits 1 although all is SYNCED.
        code, out, err = straitctl("status", "--cp", self.cp.admin_url(""))
        self.assertEqual((code, err), (1, ""), out)
        lines = out.splitlines()
        self.assertIn("Behaviour findings:", lines, out)
        line = lines[lines.index("Behaviour findings:") + 1].strip()
        self.assertTrue(line.startswith("ejected_intended_healthy edge/api %s [edge-1,edge-2]: "
                                        % self.bad_address), out)
        header = lines[0].split()
        self.assertEqual(header[-1], "FINDINGS")
        for node in NODES:
            row = [l for l in lines if l.startswith(node + " ")][0]
            self.assertNotIn("NACKED", row)
            self.assertTrue(row.rstrip().endswith(" 1"), row)  # one finding names the node
        code, out, _ = straitctl("status", "--cp", self.cp.admin_url(""), "--json")
        doc = json.loads(out)
        self.assertEqual(code, 1)
        self.assertTrue(all(n["synced"] for n in doc["nodes"]), doc["nodes"])
        self.assertEqual([(f["subject"], f["nodes"]) for f in doc["findings"]],
                         [(self.bad_address, list(NODES))])

        # /metrics: one sample for the finding; the reports counted; promtool accepts it.
        text = self.cp.metrics_text()
        if os.path.exists("/usr/bin/promtool"):
            check = subprocess.run(["/usr/bin/promtool", "check", "metrics"], input=text.encode(),
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            self.assertEqual(check.returncode, 0, check.stdout.decode())
        samples = harness.parse_prometheus(text)
        found = [labels for name, labels, value in samples
                 if name == "strait_cp_divergence_findings" and value == 1]
        self.assertEqual(found, [{"kind": "ejected_intended_healthy", "group": "edge",
                                  "cluster": "api", "subject": self.bad_address}])
        reports = [value for name, _, value in samples if name == "strait_cp_reports_total"]
        self.assertGreaterEqual(reports[0], sum(after.values()) + 4)

        # The status page, rendered by headless Chromium, lists it.
        if os.path.exists(CHROMIUM):
            profile = tempfile.mkdtemp(prefix="strait-chromium-")
            self.addCleanup(shutil.rmtree, profile, True)
            dom = subprocess.run([CHROMIUM] + CHROMIUM_FLAGS +
                                 ["--user-data-dir=" + profile, "--virtual-time-budget=10000",
                                  "--dump-dom", self.cp.admin_url("/status")],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 timeout=120).stdout.decode()
            entry = re.search(r'<li class="finding" data-kind="ejected_intended_healthy" '
                              r'data-subject="%s">(.*?)</li>' % re.escape(self.bad_address), dom)
            self.assertIsNotNone(entry, dom[-3000:])
            self.assertIn("edge-1, edge-2", entry.group(1))

        # A proxy that goes away stops counting: with one of two left the endpoint is still
        # ejected by all who report it.
        self.proxies["edge-2"].process.kill()
        harness.wait_for(lambda: self.cp.status()["findings"][0]["nodes"] == ["edge-1"]
                         if self.cp.status()["findings"] else False,
                         timeout=WAIT, what="the finding naming edge-1 alone")
