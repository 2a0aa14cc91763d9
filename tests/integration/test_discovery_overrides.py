"""Per-node overrides and JSON source files (docs/discovery-protocol.md, "The snapshot guard and
the source" and "Per-node overrides"), end to end: the real strait-cp and real proxies on port 0.

An item with `node: ID` serves that node alone a different cluster; editing or removing it moves
the node back while the group's other nodes serve on; an invalid override keeps the group's last
good snapshot for every node and is reported in /status naming its file, line and node; a .json
source file is read like a YAML one, and its syntax error is reported with file and line while
the last good config serves.

Upstreams are told apart by the `x-upstream-name` header strait-test-upstream adds. Every wait
polls with a deadline (WAIT), never an upper bound on elapsed time.
"""

import json
import os
import re
import threading
import unittest

import harness
from test_discovery import edge_url, ready

GROUP = "mesh"
WAIT = 30  # seconds: generous, the CI machine is a loaded 2-core box
FAST_WATCH = ["--watch-interval", "100ms"]
# The types a proxy subscribes to (the others are empty sets it never asks for).
PROXY_TYPES = ("clusters", "endpoints", "listeners", "routes")
OVERRIDE = "mesh/p2-override.yaml"


def endpoint(port):
    return "{address: 127.0.0.1, port: %d}" % port


def listeners(body="from the mesh"):
    """Listener edge of group mesh: /hello answered directly, everything else to cluster api."""
    return """listeners:
  - name: edge
    address: 127.0.0.1
    port: 0
    virtual_hosts:
      - name: all
        domains: ["*"]
        routes:
          - match: {path: /hello}
            direct_response: {status: 200, body: "%s"}
          - match: {prefix: /}
            route: {cluster: api, timeout: 10s}
""" % body


def clusters(port):
    return "clusters:\n  - name: api\n    endpoints: [%s]\n" % endpoint(port)


def override(port, extra=""):
    """The override file: cluster api for node p2 only (extra: more keys, on their own line)."""
    text = "clusters:\n  - name: api\n    node: p2\n"
    if extra:
        text += "    %s\n" % extra
    return text + "    endpoints: [%s]\n" % endpoint(port)


def mesh_source(group_port, p2_port=None, body="from the mesh"):
    files = {"mesh/clusters.yaml": clusters(group_port), "mesh/listeners.yaml": listeners(body)}
    if p2_port is not None:
        files[OVERRIDE] = override(p2_port)
    return files


def proxy_config(cp, node_id):
    return """
node: {id: %s, cluster: %s}
admin: {address: 127.0.0.1, port: 0}
workers: 1
control_plane: {address: 127.0.0.1:%d}
""" % (node_id, GROUP, cp.discovery_port)


def served_by(proxy):
    """The name of the upstream that answered a request through the proxy, or None."""
    try:
        status, headers, _ = harness.http_request("GET", edge_url(proxy, "/items"))
    except (OSError, KeyError, RuntimeError):
        return None
    return headers.get("x-upstream-name") if status == 200 else None


def hello(proxy):
    try:
        status, _, body = harness.http_request("GET", edge_url(proxy, "/hello"))
    except (OSError, KeyError, RuntimeError):
        return None
    return body.decode() if status == 200 else None


def node_entry(status, node_id):
    for node in status["nodes"]:
        if node["id"] == node_id:
            return node
    return None


def subscribed(versions):
    return {t: versions[t] for t in PROXY_TYPES}


def converged(cp, node_id):
    """The node's intended versions (of the proxy's types) once it ACKed every one of them,
    read from one /status document; else None."""
    node = node_entry(cp.status(), node_id)
    if node is None or "intended" not in node:
        return None
    intended = subscribed(node["intended"])
    types = node.get("types", {})
    for type_name, version in intended.items():
        if types.get(type_name, {}).get("acked", {}).get("version") != version:
            return None
    return intended


def source_errors(cp):
    return cp.status()["groups"].get(GROUP, {}).get("source_errors")


def line_of(text, needle):
    """1-based line and column of needle's first occurrence in text."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number, line.index(needle) + 1
    raise ValueError("%r not in the text" % needle)


class Sampler:
    """Requests through a proxy in a loop on a thread, until stopped; keeps what answered."""

    def __init__(self, proxy):
        self.proxy = proxy
        self.answers = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            self.answers.append(served_by(self.proxy))
            # Paced, so that a slow convergence does not use up the ephemeral ports with
            # connections in TIME_WAIT.
            self._stop.wait(0.02)

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=WAIT)
        return self.answers


class OverridesTest(harness.ProcessTestCase):

    def setUp(self):
        super().setUp()
        self.a = self.start(harness.Upstream(name="a"))
        self.b = self.start(harness.Upstream(name="b"))

    def start_proxy(self, cp, node_id):
        proxy = self.start(harness.Strait(proxy_config(cp, node_id)))
        harness.wait_for(lambda: ready(proxy), timeout=WAIT, what="%s /ready" % node_id)
        return proxy

    def wait_served_by(self, proxy, name, what):
        harness.wait_for(lambda: served_by(proxy) == name, timeout=WAIT, what=what)
        # Not a lucky pick: every request goes there.
        self.assertEqual([served_by(proxy) for _ in range(5)], [name] * 5)

    def start_mesh(self, cp):
        """p1 and p2 of group mesh, each once it ACKed everything it is meant to run."""
        p1 = self.start_proxy(cp, "p1")
        p2 = self.start_proxy(cp, "p2")
        for node_id in ("p1", "p2"):
            harness.wait_for(lambda: converged(cp, node_id), timeout=WAIT,
                             what="%s ACKed its intended versions" % node_id)
        return p1, p2

    def test_an_override_serves_one_node_other_config_until_edited_or_removed(self):
        cp = self.start(harness.ControlPlane(mesh_source(self.a.port, p2_port=self.b.port),
                                             FAST_WATCH))
        p1, p2 = self.start_mesh(cp)
        self.wait_served_by(p1, "a", "p1 served by a")
        self.wait_served_by(p2, "b", "p2 served by b (its override)")
        self.assertEqual(hello(p2), "from the mesh")  # the group's listener, not overridden

        status = cp.status()
        group = status["groups"][GROUP]
        self.assertEqual(list(group["node_overrides"]), ["p2"])
        p2_versions = group["node_overrides"]["p2"]["versions"]
        # Only the endpoints differ: the override's cluster is otherwise the group's.
        self.assertNotEqual(p2_versions["endpoints"], group["versions"]["endpoints"])
        for type_name in ("clusters", "listeners", "routes"):
            self.assertEqual(p2_versions[type_name], group["versions"][type_name], type_name)
        self.assertEqual(node_entry(status, "p2")["intended"], p2_versions)
        self.assertEqual(node_entry(status, "p1")["intended"], group["versions"])
        self.assertEqual(converged(cp, "p2"), subscribed(p2_versions))
        self.assertEqual(converged(cp, "p1"), subscribed(group["versions"]))
        dump = json.loads(harness.http_request("GET", p2.admin_url("/config_dump"))[2])
        self.assertEqual(subscribed(dump["control_plane"]["versions"]), subscribed(p2_versions))

        sampler = Sampler(p1)
        try:
            # The override now points p2 at a: p2 moves, p1 is untouched.
            cp.write_source({OVERRIDE: override(self.a.port)})
            self.wait_served_by(p2, "a", "p2 moved to a")

            def overrides_are_the_group(status):
                group = status["groups"][GROUP]
                own = group.get("node_overrides", {}).get("p2")
                return own is not None and own["versions"] == group["versions"]

            harness.wait_for(lambda: overrides_are_the_group(cp.status()), timeout=WAIT,
                             what="p2's override versions equal to the group's")
            group_versions = subscribed(cp.status()["groups"][GROUP]["versions"])
            harness.wait_for(lambda: converged(cp, "p2") == group_versions, timeout=WAIT,
                             what="p2 ACKed the group's versions")

            # The override removed: p2 runs the group's config, which it already has.
            os.unlink(cp.source_path(OVERRIDE))
            harness.wait_for(lambda: "node_overrides" not in cp.status()["groups"][GROUP],
                             timeout=WAIT, what="node_overrides gone from /status")
            status = cp.status()
            self.assertEqual(node_entry(status, "p2")["intended"],
                             status["groups"][GROUP]["versions"])
            self.assertEqual(subscribed(status["groups"][GROUP]["versions"]), group_versions)
            self.assertEqual(converged(cp, "p2"), group_versions)
            self.wait_served_by(p2, "a", "p2 still served by a")
        finally:
            answers = sampler.stop()
        self.assertGreater(len(answers), 0)
        self.assertEqual([x for x in answers if x != "a"], [],
                         "p1 answered other than by a while p2's override changed")
        self.assertEqual(converged(cp, "p1"), subscribed(cp.status()["groups"][GROUP]["versions"]))

    def test_an_invalid_override_keeps_the_last_good_snapshot_for_every_node(self):
        cp = self.start(harness.ControlPlane(mesh_source(self.a.port, p2_port=self.b.port),
                                             FAST_WATCH))
        p1, p2 = self.start_mesh(cp)
        self.wait_served_by(p1, "a", "p1 served by a")
        self.wait_served_by(p2, "b", "p2 served by b (its override)")
        before = cp.status()["groups"][GROUP]
        intended = {n: converged(cp, n) for n in ("p1", "p2")}

        # Invalid for p2 (no such policy); had it been published, p2 would move to a.
        bad = override(self.a.port, extra="lb: fastest")
        cp.write_source({OVERRIDE: bad})
        errors = harness.wait_for(lambda: source_errors(cp), timeout=WAIT,
                                  what="the override's error in /status")
        line, column = line_of(bad, "fastest")
        self.assertEqual(len(errors), 1, errors)
        self.assertTrue(errors[0].startswith(
            "%s:%d:%d: clusters[0].lb: for node p2: expected one of " % (
                cp.source_path(OVERRIDE), line, column)), errors[0])
        self.assertIn('"fastest"', errors[0])
        self.assertIn("keeps its last good snapshot", cp.log())

        def unchanged():
            status = cp.status()
            group = status["groups"][GROUP]
            self.assertEqual(group["versions"], before["versions"])
            self.assertEqual(group["node_overrides"], before["node_overrides"])
            for node_id in ("p1", "p2"):
                self.assertEqual(subscribed(node_entry(status, node_id)["intended"]),
                                 intended[node_id], node_id)
                self.assertEqual(converged(cp, node_id), intended[node_id], node_id)
            self.assertEqual([served_by(p1) for _ in range(5)], ["a"] * 5)
            self.assertEqual([served_by(p2) for _ in range(5)], ["b"] * 5)

        unchanged()
        # A valid change to the group's own files is held back too while the override is bad:
        # the group keeps its last good snapshot, overrides included.
        reads = cp.counter("strait_cp_source_reads_total")
        cp.write_source({"mesh/listeners.yaml": listeners("second version")})
        cp.wait_counter("strait_cp_source_reads_total", at_least=reads + 1, timeout=WAIT)
        self.assertEqual(len(source_errors(cp) or []), 1)
        unchanged()
        self.assertEqual(hello(p1), "from the mesh")
        self.assertEqual(hello(p2), "from the mesh")

        # Fixed: both nodes get the held-back listener change, p2 still on its own endpoints.
        cp.write_source({OVERRIDE: override(self.b.port, extra="lb: random")})
        for proxy in (p1, p2):
            harness.wait_for(lambda: hello(proxy) == "second version", timeout=WAIT,
                             what="the fixed source served")
        self.assertIsNone(source_errors(cp))
        group = cp.status()["groups"][GROUP]
        self.assertNotEqual(group["node_overrides"]["p2"]["versions"]["clusters"],
                            group["versions"]["clusters"])  # lb: random for p2 alone
        harness.wait_for(lambda: converged(cp, "p2") == subscribed(
            cp.status()["groups"][GROUP]["node_overrides"]["p2"]["versions"]),
            timeout=WAIT, what="p2 ACKed its fixed override")
        self.assertEqual([served_by(p1) for _ in range(5)], ["a"] * 5)
        self.assertEqual([served_by(p2) for _ in range(5)], ["b"] * 5)


def clusters_json(port):
    return json.dumps({"clusters": [
        {"name": "api", "endpoints": [{"address": "127.0.0.1", "port": port}]}]}, indent=2) + "\n"


class JsonSourceTest(harness.ProcessTestCase):

    def test_a_json_file_is_a_source_and_its_syntax_error_keeps_the_last_good_config(self):
        a = self.start(harness.Upstream(name="a"))
        b = self.start(harness.Upstream(name="b"))
        cp = self.start(harness.ControlPlane({"mesh/clusters.json": clusters_json(a.port),
                                              "mesh/listeners.yaml": listeners()}, FAST_WATCH))
        proxy = self.start(harness.Strait(proxy_config(cp, "p1")))
        harness.wait_for(lambda: ready(proxy), timeout=WAIT, what="p1 /ready")
        harness.wait_for(lambda: served_by(proxy) == "a", timeout=WAIT, what="served by a")
        self.assertEqual(cp.status()["groups"][GROUP]["clusters"], 1)

        # An edit of the JSON file is read again and pushed.
        cp.write_source({"mesh/clusters.json": clusters_json(b.port)})
        harness.wait_for(lambda: served_by(proxy) == "b", timeout=WAIT, what="moved to b")
        harness.wait_for(lambda: converged(cp, "p1"), timeout=WAIT, what="p1 ACKed")
        versions = cp.status()["groups"][GROUP]["versions"]

        # A comma missing between "address" and "port": the parser stops at "port"'s line.
        good = clusters_json(a.port)
        broken = good.replace('"127.0.0.1",', '"127.0.0.1"')
        self.assertNotEqual(broken, good)
        cp.write_source({"mesh/clusters.json": broken})
        errors = harness.wait_for(lambda: source_errors(cp), timeout=WAIT,
                                  what="the JSON syntax error in /status")
        self.assertEqual(len(errors), 1, errors)
        path = cp.source_path("mesh/clusters.json")
        match = re.match(re.escape(path) + r":(\d+):(\d+): invalid JSON: ", errors[0])
        self.assertIsNotNone(match, errors[0])
        self.assertEqual(int(match.group(1)), line_of(broken, '"port"')[0], errors[0])
        self.assertEqual(cp.status()["groups"][GROUP]["versions"], versions)
        self.assertEqual(converged(cp, "p1"), subscribed(versions))
        self.assertEqual([served_by(proxy) for _ in range(5)], ["b"] * 5)

        cp.write_source({"mesh/clusters.json": good})
        harness.wait_for(lambda: served_by(proxy) == "a", timeout=WAIT, what="back on a")
        self.assertIsNone(source_errors(cp))


if __name__ == "__main__":
    unittest.main()
