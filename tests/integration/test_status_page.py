"""strait-cp's status page in headless Chromium (Debian's chromium): three proxies, one SYNCED,
one NACKing (a per-node override whose listener port is taken on its machine), one gone
(DISCONNECTED); the page's DOM, after its script fetched /status, shows the three states and the
NACK's text. A screenshot is kept under build/test-artifacts/ for a person to look at."""

import html.parser
import os
import shutil
import subprocess
import tempfile
import unittest

import harness
from test_discovery import acked, mesh, node_state, proxy_config, ready

CHROMIUM = "/usr/bin/chromium"
# As the machine notes say: without the background-networking flags Chromium tries Google's
# hosts on a closed network at every start.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


class _Dom(html.parser.HTMLParser):
    """The page's proxies ({node: {type: state text}}) and NACK lines, from a dumped DOM."""

    def __init__(self):
        super().__init__()
        self.states = {}
        self.nacks = []
        self.updated = ""
        self._node = None
        self._cell = None  # (node, type) of the td.state being read
        self._in = None    # "nack" or "updated" while inside one
        self._text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "tr" and "node" in classes:
            self._node = a.get("data-node")
            self.states.setdefault(self._node, {})
        elif tag == "td" and "state" in classes and self._node is not None:
            self._cell, self._text = (self._node, a.get("data-type")), ""
        elif tag == "li" and "nack" in classes:
            self._in, self._text = "nack", ""
        elif a.get("id") == "updated":
            self._in, self._text = "updated", ""

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            node, type_name = self._cell
            self.states[node][type_name] = self._text.strip()
            self._cell = None
        elif tag == "li" and self._in == "nack":
            self.nacks.append(self._text.strip())
            self._in = None
        elif tag == "span" and self._in == "updated":
            self.updated = self._text.strip()
            self._in = None
        elif tag == "tr":
            self._node = None

    def handle_data(self, data):
        if self._cell is not None or self._in is not None:
            self._text += data


@unittest.skipUnless(os.path.exists(CHROMIUM), "chromium is not installed")
class StatusPageTest(harness.ProcessTestCase):

    def chromium(self, *args):
        profile = tempfile.mkdtemp(prefix="strait-chromium-")
        self.addCleanup(shutil.rmtree, profile, True)
        # --virtual-time-budget lets the page's fetch and rendering finish before the dump.
        return subprocess.run([CHROMIUM] + CHROMIUM_FLAGS + ["--user-data-dir=" + profile,
                                                             "--virtual-time-budget=10000"] +
                              list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=120)

    def test_the_page_shows_synced_nacked_and_disconnected_proxies(self):
        upstream = self.start(harness.Upstream(name="a"))
        taken = self.start(harness.Upstream(name="taken"))
        files = mesh([upstream.port])
        # edge-2's own listener asks for a port that is taken on its machine: it NACKs.
        files["edge/edge-2.yaml"] = """listeners:
  - name: edge
    node: edge-2
    address: 127.0.0.1
    port: %d
    virtual_hosts: [{name: all, domains: ["*"], routes: [{match: {prefix: /}, route: {cluster: api}}]}]
""" % taken.port
        cp = self.start(harness.ControlPlane(files, ["--watch-interval", "100ms"]))
        one = self.start(harness.Strait(proxy_config(cp, node_id="edge-1")))
        harness.wait_for(lambda: ready(one), timeout=30, what="edge-1 ready")
        self.start(harness.Strait(proxy_config(cp, node_id="edge-2")))
        three = self.start(harness.Strait(proxy_config(cp, node_id="edge-3")))
        harness.wait_for(lambda: ready(three), timeout=30, what="edge-3 ready")
        for type_name in ("clusters", "endpoints", "listeners", "routes"):
            harness.wait_for(lambda: acked(cp, "edge-1", type_name), timeout=20,
                             what="edge-1 %s ACKed" % type_name)
        harness.wait_for(lambda: (node_state(cp, "edge-2", "listeners") or {}).get("state") ==
                         "NACKED", timeout=30, what="edge-2 NACKs its listener")
        three.stop()
        harness.wait_for(lambda: (node_state(cp, "edge-3", "listeners") or {}).get("state") ==
                         "DISCONNECTED", timeout=30, what="edge-3 disconnected")

        url = cp.admin_url("/status")
        dom = None

        def rendered():
            nonlocal dom
            result = self.chromium("--dump-dom", url)
            parsed = _Dom()
            parsed.feed(result.stdout.decode("utf-8", "replace"))
            dom = parsed
            return parsed if parsed.updated not in ("", "never") else None

        harness.wait_for(rendered, timeout=120, what="the page rendered its first refresh")
        self.assertTrue(dom.states["edge-1"]["listeners"].startswith("SYNCED"), dom.states)
        self.assertTrue(dom.states["edge-1"]["routes"].startswith("SYNCED"), dom.states)
        self.assertEqual(dom.states["edge-2"]["listeners"], "NACKED", dom.states)
        self.assertTrue(dom.states["edge-3"]["listeners"].startswith("DISCONNECTED"), dom.states)
        nack = [line for line in dom.nacks if line.startswith("edge-2 listeners: ")]
        self.assertEqual(len(nack), 1, dom.nacks)
        self.assertIn("listener edge", nack[0])
        self.assertEqual(nack[0], "edge-2 listeners: " +
                         node_state(cp, "edge-2", "listeners")["error"])

        # A screenshot for a person; a test artifact, not an assertion beyond "it was made".
        artifacts = os.path.join(os.path.dirname(harness.find_binary("strait-cp")), "..",
                                 "test-artifacts")
        os.makedirs(artifacts, exist_ok=True)
        shot = os.path.abspath(os.path.join(artifacts, "status-page.png"))
        result = self.chromium("--window-size=1280,900", "--screenshot=" + shot, url)
        self.assertTrue(os.path.exists(shot) and os.path.getsize(shot) > 1000,
                        result.stderr.decode("utf-8", "replace")[-2000:])
        print("status page screenshot:", shot)

    def test_scripts_still_get_json(self):
        cp = self.start(harness.ControlPlane(mesh([1])))
        status, headers, _ = harness.http_request("GET", cp.admin_url("/status"))
        self.assertEqual((status, headers["content-type"]), (200, "application/json"))
        status, headers, body = harness.http_request(
            "GET", cp.admin_url("/status"), headers={"Accept": "text/html,*/*"})
        self.assertEqual(headers["content-type"], "text/html; charset=utf-8")
        self.assertIn(b"<title>strait-cp status</title>", body)
        status, headers, _ = harness.http_request(
            "GET", cp.admin_url("/status?format=json"), headers={"Accept": "text/html"})
        self.assertEqual(headers["content-type"], "application/json")


if __name__ == "__main__":
    unittest.main()
