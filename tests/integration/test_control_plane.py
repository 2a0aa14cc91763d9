"""Integration tests of strait-cp, the control plane (docs/discovery-protocol.md), driven over the
HTTP/1.1 long-poll transport with curl: the responses and their versions, ACK/NACK/stale
bookkeeping, the hold time, bad requests, the source watch (invalid files, _shared, the shrink
guard and POST /force), the admin port and the command line.

Every strait-cp runs on port 0 with a fresh source directory; waits poll with a deadline.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import harness
from harness import ControlPlane, http_request, wait_for

PROMTOOL = "/usr/bin/promtool"
TYPE_PREFIX = "type.strait.dev/"
VERSION = re.compile(r"^[0-9a-f]{16}$")
NONCE = re.compile(r"^[0-9a-f]{8}-\d+$")
EMPTY_VERSION = "cbf29ce484222325"  # FNV-1a 64 of nothing: the version of an empty set
WAIT = 20  # seconds: generous, the CI machine is a loaded 2-core box
FAST_WATCH = ["--watch-interval", "100ms"]
SHORT_HOLD = ["--hold", "300ms"]
LONG_HOLD = ["--hold", "60s"]  # a parked poll outlives every wait of a test

# The listeners of group edge, in an order that is not sorted by name.
EDGE_LISTENERS = """\
listeners:
  - name: public
    address: 127.0.0.1
    port: 8080
    virtual_hosts:
      - name: default
        domains: ["*"]
        routes:
          - match: {prefix: /api}
            route: {cluster: api}
          - match: {prefix: /}
            route: {cluster: web}
  - name: internal
    address: 127.0.0.1
    port: 8081
    virtual_hosts:
      - name: ops
        domains: ["*"]
        routes:
          - match: {prefix: /}
            direct_response: {status: 200, body: "ok\\n"}
"""


def edge_clusters(api_port=9000, api_lb="least_request", web=True):
    """The clusters of group edge (not sorted by name; `resolver` has no static endpoints)."""
    text = "clusters:\n"
    if web:
        text += """\
  - name: web
    endpoints:
      - {address: 127.0.0.1, port: 9001, weight: 3}
      - {address: 127.0.0.1, port: 9002, weight: 1}
"""
    return text + """\
  - name: api
    endpoints: [{address: 127.0.0.1, port: %d}]
    lb: %s
    connect_timeout: 1s
  - name: resolver
    dns: {name: example.com, port: 80}
""" % (api_port, api_lb)


def edge_source(**cluster_args):
    return {"edge/listeners.yaml": EDGE_LISTENERS,
            "edge/clusters.yaml": edge_clusters(**cluster_args)}


# The same group written differently: other files, other order, flow style, quoted strings and
# the listeners as JSON. The canonical form, hence every version, must not change.
EDGE_OTHER_LAYOUT = {
    "edge/a-clusters.yml": """\
clusters:
  - {name: "resolver", dns: {port: 80, name: "example.com"}}
  - connect_timeout: "1s"
    lb: 'least_request'
    endpoints:
      - {port: 9000, address: "127.0.0.1"}
    name: api
""",
    "edge/b-clusters.yaml": """\
clusters:
  - name: web
    endpoints: [{weight: 3, port: 9001, address: 127.0.0.1},
                {port: 9002, weight: 1, address: 127.0.0.1}]
""",
    "edge/listeners.json": json.dumps({"listeners": [
        {"virtual_hosts": [{"routes": [{"direct_response": {"body": "ok\n", "status": 200},
                                        "match": {"prefix": "/"}}],
                            "domains": ["*"], "name": "ops"}],
         "port": 8081, "name": "internal", "address": "127.0.0.1"},
        {"name": "public", "address": "127.0.0.1", "port": 8080,
         "virtual_hosts": [{"name": "default", "domains": ["*"],
                            "routes": [{"match": {"prefix": "/api"}, "route": {"cluster": "api"}},
                                       {"match": {"prefix": "/"}, "route": {"cluster": "web"}}]}]},
    ]}, indent=1),
}

# What the doc says each type carries for EDGE_LISTENERS + edge_clusters(), sorted by name.
EXPECTED_EDGE = {
    "clusters": [
        ("api", {"name": "api", "lb": "least_request", "connect_timeout": "1s"}),
        ("resolver", {"name": "resolver", "dns": {"name": "example.com", "port": 80}}),
        ("web", {"name": "web"}),
    ],
    "endpoints": [
        ("api", {"endpoints": [{"address": "127.0.0.1", "port": 9000}]}),
        ("web", {"endpoints": [{"address": "127.0.0.1", "port": 9001, "weight": 3},
                               {"address": "127.0.0.1", "port": 9002, "weight": 1}]}),
    ],
    "listeners": [
        ("internal", {"name": "internal", "address": "127.0.0.1", "port": 8081}),
        ("public", {"name": "public", "address": "127.0.0.1", "port": 8080}),
    ],
    "routes": [
        ("internal", {"virtual_hosts": [{"name": "ops", "domains": ["*"], "routes": [
            {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": "ok\n"}}]}]}),
        ("public", {"virtual_hosts": [{"name": "default", "domains": ["*"], "routes": [
            {"match": {"prefix": "/api"}, "route": {"cluster": "api"}},
            {"match": {"prefix": "/"}, "route": {"cluster": "web"}}]}]}),
    ],
}


def fleet_clusters(count):
    """A group of `count` clusters with one endpoint each (no listeners)."""
    return "clusters:\n" + "".join(
        "  - name: c%d\n    endpoints: [{address: 127.0.0.1, port: %d}]\n" % (i, 9100 + i)
        for i in range(1, count + 1))


def fnv1a64(text):
    h = 0xcbf29ce484222325
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 0x100000001b3) & 0xffffffffffffffff
    return "%016x" % h


def resources_version(resources):
    """config::resourcesVersion: FNV-1a of `name TAB body LF` per resource, sorted by name, the
    body being the canonical (compact, sorted keys) JSON."""
    text = "".join("%s\t%s\n" % (r["name"], json.dumps(r["resource"], sort_keys=True,
                                                        separators=(",", ":")))
                   for r in sorted(resources, key=lambda r: r["name"]))
    return fnv1a64(text)


def discovery_request(node_id, group="edge", version="", nonce="", **extra):
    """A DiscoveryRequest as JSON text (the type comes from the poll's path)."""
    request = {"node": {"id": node_id, "cluster": group}, "version_info": version,
               "response_nonce": nonce}
    request.update(extra)
    return json.dumps(request)


def _curl_poll_argv(cp, type_name, body, method="POST", max_time=90):
    argv = [harness.CURL, "-sS", "-X", method, "--max-time", str(max_time),
            "-w", "\n%{http_code}", cp.discovery_url("/v1/discovery/" + type_name)]
    if body is not None:
        argv += ["-H", "content-type: application/json", "--data-binary", body]
    return argv


def _parse_curl_output(code, out, err):
    body, _, status = out.rpartition(b"\n")
    if code != 0 or not status.isdigit() or status == b"000":
        raise RuntimeError("curl failed (exit %d): %s %r" % (code, err, out[-300:]))
    return int(status), body


def poll(cp, type_name, body, method="POST"):
    """One long-poll with curl over HTTP/1.1: (status, body bytes)."""
    result = subprocess.run(_curl_poll_argv(cp, type_name, body, method), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, timeout=120)
    return _parse_curl_output(result.returncode, result.stdout,
                              result.stderr.decode("utf-8", errors="replace"))


class BackgroundPoll:
    """A long-poll left running in a curl subprocess (a parked poll), answered later."""

    def __init__(self, cp, type_name, body):
        self.proc = subprocess.Popen(_curl_poll_argv(cp, type_name, body), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)

    def result(self, timeout=WAIT):
        out, err = self.proc.communicate(timeout=timeout)
        return _parse_curl_output(self.proc.returncode, out, err.decode("utf-8", errors="replace"))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


def one_response(body):
    """The one DiscoveryResponse line of a 200 long-poll answer, parsed."""
    if not body.endswith(b"\n"):
        raise AssertionError("a response line ends with a newline: %r" % body[-100:])
    lines = body[:-1].split(b"\n")
    if len(lines) != 1:
        raise AssertionError("expected one DiscoveryResponse line, got %d: %r" % (len(lines), body))
    return json.loads(lines[0])


def node_status(status, node_id):
    for node in status["nodes"]:
        if node["id"] == node_id:
            return node
    raise AssertionError("node %s not in /status: %s" % (node_id, json.dumps(status["nodes"])))


def type_status(cp, node_id, type_name):
    return node_status(cp.status(), node_id)["types"][type_name]


def sync_states(text, node_id):
    """strait_cp_proxy_sync_state of one node as {type: state}: one sample per type, of 1."""
    states = {}
    for name, labels, value in harness.parse_prometheus(text):
        if name == "strait_cp_proxy_sync_state" and labels.get("node") == node_id:
            if labels["type"] in states or value != 1:
                raise AssertionError("%s %s: a second sample or not 1: %s" %
                                     (node_id, labels["type"], text))
            states[labels["type"]] = labels["state"]
    return states


class DiscoveryTestCase(harness.ProcessTestCase):
    def control_plane(self, files, extra_args=()):
        return self.start(ControlPlane(files, extra_args=list(extra_args)))

    def background_poll(self, cp, type_name, body):
        pending = BackgroundPoll(cp, type_name, body)
        self.addCleanup(pending.close)
        return pending

    def first_poll(self, cp, type_name, node_id, group="edge"):
        """A node's first poll of a type: asserts a 200 and returns the parsed response."""
        status, body = poll(cp, type_name, discovery_request(node_id, group))
        self.assertEqual(status, 200, body)
        return one_response(body)

    def group_version(self, cp, group, type_name):
        return cp.status()["groups"][group]["versions"][type_name]

    def wait_group_version_change(self, cp, group, type_name, old):
        """Waits until the group serves another version of the type; returns it."""
        def changed():
            version = cp.status()["groups"].get(group, {}).get("versions", {}).get(type_name, old)
            return version if version != old else None

        return wait_for(changed, timeout=WAIT,
                        what="group %s %s to leave version %s" % (group, type_name, old))


class FirstPollTest(DiscoveryTestCase):
    def test_first_poll_returns_every_resource_sorted_with_its_body(self):
        cp = self.control_plane(edge_source(), ["--id", "cp-test-1"])
        status = cp.status()
        nonces = set()
        for type_name, expected in EXPECTED_EDGE.items():
            with self.subTest(type=type_name):
                code, raw = poll(cp, type_name, discovery_request("edge-1"))
                self.assertEqual(code, 200, raw)
                response = one_response(raw)
                self.assertEqual(response["type_url"], TYPE_PREFIX + type_name)
                self.assertRegex(response["version_info"], VERSION)
                self.assertEqual(response["version_info"],
                                 status["groups"]["edge"]["versions"][type_name])
                self.assertEqual(response["version_info"], resources_version(response["resources"]))
                self.assertRegex(response["nonce"], NONCE)
                nonces.add(response["nonce"])
                self.assertEqual(response["control_plane"], {"identifier": "cp-test-1"})
                self.assertEqual([(r["name"], r["resource"]) for r in response["resources"]],
                                 expected)
        self.assertEqual(len(nonces), len(EXPECTED_EDGE), "a fresh nonce per response")
        self.assertEqual(status["groups"]["edge"]["clusters"], 3)
        self.assertEqual(status["groups"]["edge"]["endpoints"], 3)
        self.assertEqual(status["groups"]["edge"]["listeners"], 2)
        for type_name in EXPECTED_EDGE:
            self.assertEqual(cp.counter("strait_cp_pushes_total", {"type": type_name}), 1)

    def test_types_without_a_source_are_empty_sets(self):
        cp = self.control_plane(edge_source())
        for type_name in ("secrets", "filter_configs", "carbon_signals"):
            with self.subTest(type=type_name):
                response = self.first_poll(cp, type_name, "edge-1")
                self.assertEqual(response["type_url"], TYPE_PREFIX + type_name)
                self.assertEqual(response["resources"], [])
                self.assertEqual(response["version_info"], EMPTY_VERSION)

    def test_type_url_in_the_body_may_repeat_the_path(self):
        cp = self.control_plane(edge_source())
        code, raw = poll(cp, "clusters", discovery_request("edge-1",
                                                           type_url=TYPE_PREFIX + "clusters"))
        self.assertEqual(code, 200, raw)
        self.assertEqual(one_response(raw)["type_url"], TYPE_PREFIX + "clusters")

    def test_replicas_reading_the_same_source_agree_on_versions(self):
        first = self.control_plane(edge_source(), ["--id", "replica-a"])
        second = self.control_plane(EDGE_OTHER_LAYOUT, ["--id", "replica-b"])
        self.assertEqual(first.status()["groups"]["edge"]["versions"],
                         second.status()["groups"]["edge"]["versions"])
        for type_name in EXPECTED_EDGE:
            with self.subTest(type=type_name):
                a = self.first_poll(first, type_name, "edge-1")
                b = self.first_poll(second, type_name, "edge-1")
                self.assertEqual(a["version_info"], b["version_info"])
                self.assertEqual(a["resources"], b["resources"])
                self.assertEqual(a["control_plane"]["identifier"], "replica-a")
                self.assertEqual(b["control_plane"]["identifier"], "replica-b")

    def test_a_proxy_moving_replicas_is_not_sent_what_it_runs(self):
        # The doc: a proxy that moves to another replica sends the version it runs in its first
        # request and is not sent it again (the poll parks and times out with 304).
        first = self.control_plane(edge_source())
        second = self.control_plane(EDGE_OTHER_LAYOUT, SHORT_HOLD)
        running = self.first_poll(first, "clusters", "edge-1")["version_info"]
        code, raw = poll(second, "clusters", discovery_request("edge-1", version=running))
        self.assertEqual((code, raw), (304, b""))
        self.assertEqual(type_status(second, "edge-1", "clusters")["acked"], {"version": running})


class AckNackTest(DiscoveryTestCase):
    def test_ack_parks_the_poll_until_an_endpoint_change(self):
        cp = self.control_plane(edge_source(api_port=9000), LONG_HOLD + FAST_WATCH)
        clusters_version = self.group_version(cp, "edge", "clusters")
        first = self.first_poll(cp, "endpoints", "edge-1")
        v1 = first["version_info"]

        parked = self.background_poll(cp, "endpoints", discovery_request(
            "edge-1", version=v1, nonce=first["nonce"]))
        # The ACK is counted when the poll arrives; nothing is new, so it stays parked.
        cp.wait_counter("strait_cp_acks_total", {"type": "endpoints"}, at_least=1, timeout=WAIT)
        endpoints = type_status(cp, "edge-1", "endpoints")
        self.assertEqual(endpoints["acked"], {"version": v1})
        self.assertEqual(endpoints["acks"], 1)
        self.assertFalse(endpoints["awaiting_answer"])
        self.assertIsNone(parked.proc.poll(), "an ACKed poll with nothing new parks")

        cp.write_source({"edge/clusters.yaml": edge_clusters(api_port=9100)})
        code, raw = parked.result(timeout=WAIT)
        self.assertEqual(code, 200, raw)
        second = one_response(raw)
        v2 = second["version_info"]
        self.assertNotEqual(v2, v1)
        self.assertEqual(v2, self.group_version(cp, "edge", "endpoints"))
        self.assertEqual(v2, resources_version(second["resources"]))
        self.assertNotEqual(second["nonce"], first["nonce"])
        api = dict((r["name"], r["resource"]) for r in second["resources"])["api"]
        self.assertEqual(api, {"endpoints": [{"address": "127.0.0.1", "port": 9100}]})
        # Only the endpoints changed: the clusters' version stays.
        self.assertEqual(self.group_version(cp, "edge", "clusters"), clusters_version)
        self.assertEqual(cp.counter("strait_cp_pushes_total", {"type": "endpoints"}), 2)

        # ACK the new version: /status shows it for the node and the type.
        self.background_poll(cp, "endpoints", discovery_request(
            "edge-1", version=v2, nonce=second["nonce"]))
        cp.wait_counter("strait_cp_acks_total", {"type": "endpoints"}, at_least=2, timeout=WAIT)
        node = node_status(cp.status(), "edge-1")
        self.assertEqual((node["cluster"], node["transport"]), ("edge", "poll"))
        self.assertEqual(node["types"]["endpoints"]["acked"], {"version": v2})
        self.assertEqual(node["types"]["endpoints"]["sent"],
                         {"version": v2, "nonce": second["nonce"]})
        self.assertEqual(cp.counter("strait_cp_acks_total", {"type": "endpoints"}), 2)
        self.assertEqual(cp.counter("strait_cp_acks_total", {"type": "clusters"}), 0)

    def test_hold_time_answers_304_without_a_body(self):
        cp = self.control_plane(edge_source(), SHORT_HOLD)
        first = self.first_poll(cp, "clusters", "edge-1")
        code, raw = poll(cp, "clusters", discovery_request(
            "edge-1", version=first["version_info"], nonce=first["nonce"]))
        self.assertEqual((code, raw), (304, b""))
        self.assertEqual(type_status(cp, "edge-1", "clusters")["acked"],
                         {"version": first["version_info"]})
        self.assertEqual(cp.counter("strait_cp_acks_total", {"type": "clusters"}), 1)
        self.assertEqual(cp.counter("strait_cp_pushes_total", {"type": "clusters"}), 1)

    def test_nack_is_kept_and_that_version_is_not_sent_again(self):
        cp = self.control_plane(edge_source(), SHORT_HOLD + FAST_WATCH)
        first = self.first_poll(cp, "clusters", "edge-1")
        v1 = first["version_info"]
        message = 'clusters/api: lb: expected one of round_robin, random, got "least_request"'
        code, raw = poll(cp, "clusters", discovery_request(
            "edge-1", version="", nonce=first["nonce"],
            error_detail={"code": 3, "message": message}))
        # The proxy refused v1: nothing else to send, so the poll waits out its hold.
        self.assertEqual((code, raw), (304, b""))
        clusters = type_status(cp, "edge-1", "clusters")
        self.assertEqual(clusters["nacked"], {"version": v1, "code": 3, "message": message})
        self.assertNotIn("acked", clusters)
        self.assertEqual((clusters["nacks"], clusters["acks"]), (1, 0))
        self.assertEqual(cp.counter("strait_cp_nacks_total", {"type": "clusters"}), 1)
        self.assertEqual(cp.counter("strait_cp_acks_total", {"type": "clusters"}), 0)

        # Reopening the type does not bring the refused version back either.
        code, raw = poll(cp, "clusters", discovery_request("edge-1"))
        self.assertEqual((code, raw), (304, b""))
        self.assertEqual(cp.counter("strait_cp_pushes_total", {"type": "clusters"}), 1)

        # A newer version is sent.
        cp.write_source({"edge/clusters.yaml": edge_clusters(api_lb="round_robin")})
        v2 = self.wait_group_version_change(cp, "edge", "clusters", v1)
        code, raw = poll(cp, "clusters", discovery_request("edge-1"))
        self.assertEqual(code, 200, raw)
        second = one_response(raw)
        self.assertEqual(second["version_info"], v2)
        self.assertEqual(dict((r["name"], r["resource"]) for r in second["resources"])["api"]["lb"],
                         "round_robin")

    def test_an_answer_with_another_version_is_a_nack(self):
        cp = self.control_plane(edge_source(), SHORT_HOLD)
        first = self.first_poll(cp, "listeners", "edge-1")
        code, raw = poll(cp, "listeners", discovery_request(
            "edge-1", version="0123456789abcdef", nonce=first["nonce"]))
        self.assertEqual((code, raw), (304, b""))
        nacked = type_status(cp, "edge-1", "listeners")["nacked"]
        self.assertEqual((nacked["version"], nacked["code"]), (first["version_info"], 2))
        self.assertIn("0123456789abcdef", nacked["message"])
        self.assertEqual(cp.counter("strait_cp_nacks_total", {"type": "listeners"}), 1)
        self.assertEqual(cp.counter("strait_cp_acks_total", {"type": "listeners"}), 0)

    def test_stale_nonce_is_counted_and_ignored(self):
        cp = self.control_plane(edge_source(), SHORT_HOLD)
        first = self.first_poll(cp, "clusters", "edge-1")
        # A plain poll (empty nonce) reopens the type: the same version under a new nonce.
        second = self.first_poll(cp, "clusters", "edge-1")
        self.assertEqual(second["version_info"], first["version_info"])
        self.assertNotEqual(second["nonce"], first["nonce"])

        # Answering the superseded nonce: ignored (no ACK, nothing sent), counted.
        code, raw = poll(cp, "clusters", discovery_request(
            "edge-1", version=first["version_info"], nonce=first["nonce"]))
        self.assertEqual((code, raw), (304, b""))
        self.assertEqual(cp.counter("strait_cp_stale_nonces_total", {"type": "clusters"}), 1)
        self.assertEqual(cp.counter("strait_cp_acks_total", {"type": "clusters"}), 0)
        self.assertEqual(cp.counter("strait_cp_pushes_total", {"type": "clusters"}), 2)
        clusters = type_status(cp, "edge-1", "clusters")
        self.assertEqual(clusters["stale_nonces"], 1)
        self.assertNotIn("acked", clusters)
        self.assertTrue(clusters["awaiting_answer"])
        self.assertEqual(clusters["sent"]["nonce"], second["nonce"])

        # The current nonce still ACKs.
        code, raw = poll(cp, "clusters", discovery_request(
            "edge-1", version=second["version_info"], nonce=second["nonce"]))
        self.assertEqual((code, raw), (304, b""))
        self.assertEqual(cp.counter("strait_cp_acks_total", {"type": "clusters"}), 1)
        self.assertEqual(type_status(cp, "edge-1", "clusters")["acked"],
                         {"version": second["version_info"]})


class PushOrderTest(DiscoveryTestCase):
    # Removals go last on long-polls too: a parked clusters poll is not sent the set without
    # the dropped cluster while the routes change that stopped using it is unanswered, and the
    # routes ACK releases it.
    def test_a_dropped_cluster_goes_out_after_the_routes_that_used_it(self):
        cp = self.control_plane(edge_source(), LONG_HOLD + FAST_WATCH + ["--max-shrink", "100%"])
        clusters = self.first_poll(cp, "clusters", "edge-1")
        routes = self.first_poll(cp, "routes", "edge-1")
        parked_clusters = self.background_poll(cp, "clusters", discovery_request(
            "edge-1", version=clusters["version_info"], nonce=clusters["nonce"]))
        cp.wait_counter("strait_cp_acks_total", {"type": "clusters"}, at_least=1, timeout=WAIT)
        parked_routes = self.background_poll(cp, "routes", discovery_request(
            "edge-1", version=routes["version_info"], nonce=routes["nonce"]))
        cp.wait_counter("strait_cp_acks_total", {"type": "routes"}, at_least=1, timeout=WAIT)

        # Drop cluster web and the route to it. The listeners go first, so that a read between
        # the two writes is still valid (a route to web while web exists).
        cp.write_source({"edge/listeners.yaml": EDGE_LISTENERS.replace("{cluster: web}",
                                                                       "{cluster: api}")})
        cp.write_source({"edge/clusters.yaml": edge_clusters(web=False)})
        final_clusters = self.wait_group_version_change(cp, "edge", "clusters",
                                                        clusters["version_info"])
        self.wait_group_version_change(cp, "edge", "routes", routes["version_info"])
        code, raw = parked_routes.result(timeout=WAIT)
        self.assertEqual(code, 200, raw)
        new_routes = one_response(raw)
        self.assertNotIn("web", json.dumps(new_routes["resources"]))

        # The routes change is unanswered: the proxy must not have been sent the clusters
        # without web yet.
        node = node_status(cp.status(), "edge-1")
        self.assertTrue(node["types"]["routes"]["awaiting_answer"])
        self.assertNotEqual(node["types"]["clusters"]["sent"]["version"], final_clusters,
                            "clusters without web were sent before the routes were answered")
        if parked_clusters.proc.poll() is not None:
            code, raw = parked_clusters.result()
            self.assertIn("web", [r["name"] for r in one_response(raw)["resources"]])

        # Once the routes are ACKed, the final set of clusters follows.
        self.background_poll(cp, "routes", discovery_request(
            "edge-1", version=new_routes["version_info"], nonce=new_routes["nonce"]))
        code, raw = parked_clusters.result(timeout=WAIT)
        self.assertEqual(code, 200, raw)
        self.assertEqual(one_response(raw)["version_info"], final_clusters)


class BadRequestTest(DiscoveryTestCase):
    def test_bad_requests_are_answered_and_counted(self):
        cp = self.control_plane(edge_source())
        code, raw = poll(cp, "bogus", discovery_request("edge-1"))
        self.assertEqual(code, 404)
        self.assertIn(b'unknown resource type "bogus"', raw)
        code, raw = poll(cp, "clusters", None, method="GET")
        self.assertEqual(code, 405, raw)
        code, raw = poll(cp, "clusters", "this is not JSON")
        self.assertEqual(code, 400)
        self.assertTrue(raw.startswith(b"bad DiscoveryRequest"), raw)
        code, raw = poll(cp, "clusters", json.dumps({"node": {"id": 7, "cluster": "edge"}}))
        self.assertEqual(code, 400)
        self.assertEqual(raw, b"bad DiscoveryRequest: node.id: expected a string\n")
        code, raw = poll(cp, "clusters", discovery_request("edge-1",
                                                           type_url=TYPE_PREFIX + "routes"))
        self.assertEqual(code, 400)
        self.assertIn(b"type_url", raw)
        # The stream's path is a POST too.
        code, _, raw = http_request("GET", cp.discovery_url("/v1/discovery"))
        self.assertEqual(code, 405, raw)
        self.assertEqual(cp.counter("strait_cp_bad_requests_total"), 6)
        self.assertEqual(cp.counter("strait_cp_rejected_identities_total"), 0)
        self.assertEqual(cp.status()["nodes"], [])

    def test_a_request_without_node_id_and_cluster_is_a_bad_request(self):
        cp = self.control_plane(edge_source())
        for body in ("{}", json.dumps({"node": {"id": "edge-1"}}),
                     json.dumps({"node": {"cluster": "edge"}})):
            with self.subTest(body=body):
                code, raw = poll(cp, "clusters", body)
                self.assertEqual(code, 400)
                self.assertEqual(
                    raw, b"bad DiscoveryRequest: node.id and node.cluster are required\n")
        self.assertEqual(cp.counter("strait_cp_bad_requests_total"), 3)
        self.assertEqual(cp.counter("strait_cp_rejected_identities_total"), 0)


class SourceTest(DiscoveryTestCase):
    def test_invalid_file_keeps_the_last_good_snapshot(self):
        cp = self.control_plane(edge_source(), FAST_WATCH)
        v1 = self.group_version(cp, "edge", "clusters")
        bad = edge_clusters(api_lb="fastest")
        cp.write_source({"edge/clusters.yaml": bad})
        errors = wait_for(lambda: cp.status()["groups"]["edge"].get("source_errors"),
                          timeout=WAIT, what="the source error in /status")
        lines = bad.splitlines()
        line = next(i for i, text in enumerate(lines) if "lb: fastest" in text)
        column = lines[line].index("fastest")
        self.assertEqual(len(errors), 1, errors)
        self.assertTrue(errors[0].startswith("%s:%d:%d: clusters[1].lb: expected one of " % (
            cp.source_path("edge/clusters.yaml"), line + 1, column + 1)), errors[0])
        self.assertIn('"fastest"', errors[0])
        self.assertIn("keeps its last good snapshot", cp.log())
        self.assertGreaterEqual(cp.counter("strait_cp_source_errors_total"), 1)
        # Still served: the last good version.
        self.assertEqual(self.group_version(cp, "edge", "clusters"), v1)
        self.assertEqual(self.first_poll(cp, "clusters", "edge-1")["version_info"], v1)

        cp.write_source({"edge/clusters.yaml": edge_clusters(api_lb="random")})
        v2 = self.wait_group_version_change(cp, "edge", "clusters", v1)
        self.assertNotIn("source_errors", cp.status()["groups"]["edge"])
        response = self.first_poll(cp, "clusters", "edge-2")
        self.assertEqual(response["version_info"], v2)
        self.assertEqual(response["resources"][0]["resource"]["lb"], "random")

    def test_shrunk_snapshot_is_refused_until_forced(self):
        cp = self.control_plane({"fleet/clusters.yaml": fleet_clusters(4)}, LONG_HOLD + FAST_WATCH)
        first = self.first_poll(cp, "clusters", "fleet-1", group="fleet")
        v1 = first["version_info"]
        self.assertEqual([r["name"] for r in first["resources"]], ["c1", "c2", "c3", "c4"])
        self.assertEqual(cp.counter("strait_cp_snapshots_published_total"), 1)

        cp.write_source({"fleet/clusters.yaml": fleet_clusters(1)})
        reason = wait_for(lambda: cp.status()["groups"]["fleet"].get("refused"), timeout=WAIT,
                          what="the refusal in /status")
        self.assertEqual(reason, "clusters 4 -> 1 (75% fewer, over the limit of 50%)")
        self.assertEqual(cp.counter("strait_cp_snapshots_refused_total"), 1)
        self.assertEqual(cp.counter("strait_cp_snapshots_published_total"), 1)
        self.assertIn("POST /force/fleet", cp.log())
        group = cp.status()["groups"]["fleet"]
        self.assertEqual((group["clusters"], group["versions"]["clusters"]), (4, v1))
        still = self.first_poll(cp, "clusters", "fleet-2", group="fleet")
        self.assertEqual(still["version_info"], v1)
        self.assertEqual(len(still["resources"]), 4)

        # fleet-1 ACKs and parks; the forced snapshot reaches it.
        parked = self.background_poll(cp, "clusters", discovery_request(
            "fleet-1", group="fleet", version=v1, nonce=first["nonce"]))
        cp.wait_counter("strait_cp_acks_total", {"type": "clusters"}, at_least=1, timeout=WAIT)
        code, _, body = http_request("POST", cp.admin_url("/force/fleet"))
        self.assertEqual(code, 200, body)
        code, raw = parked.result(timeout=WAIT)
        self.assertEqual(code, 200, raw)
        forced = one_response(raw)
        self.assertNotEqual(forced["version_info"], v1)
        self.assertEqual([r["name"] for r in forced["resources"]], ["c1"])
        group = cp.status()["groups"]["fleet"]
        self.assertNotIn("refused", group)
        self.assertEqual((group["clusters"], group["versions"]["clusters"]),
                         (1, forced["version_info"]))
        self.assertEqual(cp.counter("strait_cp_snapshots_published_total"), 2)
        self.assertEqual(cp.counter("strait_cp_snapshots_refused_total"), 1)
        # Nothing is refused any more.
        code, _, _ = http_request("POST", cp.admin_url("/force/fleet"))
        self.assertEqual(code, 404)

    def test_guard_limits_and_force_flag(self):
        # 4 -> 1 drops 75% of the clusters: published at once over an 80% limit or with --force.
        for args in (["--max-shrink", "80%"], ["--force"]):
            with self.subTest(args=args):
                cp = self.control_plane({"fleet/clusters.yaml": fleet_clusters(4)},
                                        FAST_WATCH + args)
                v1 = self.group_version(cp, "fleet", "clusters")
                cp.write_source({"fleet/clusters.yaml": fleet_clusters(1)})
                self.wait_group_version_change(cp, "fleet", "clusters", v1)
                group = cp.status()["groups"]["fleet"]
                self.assertEqual(group["clusters"], 1)
                self.assertNotIn("refused", group)
                self.assertEqual(cp.counter("strait_cp_snapshots_refused_total"), 0)
                self.assertEqual(cp.counter("strait_cp_snapshots_published_total"), 2)

    def test_empty_snapshot_is_refused(self):
        cp = self.control_plane({"fleet/clusters.yaml": fleet_clusters(2)}, FAST_WATCH)
        v1 = self.group_version(cp, "fleet", "clusters")
        cp.write_source({"fleet/clusters.yaml": "clusters: []\n"})
        reason = wait_for(lambda: cp.status()["groups"]["fleet"].get("refused"), timeout=WAIT,
                          what="the refusal in /status")
        self.assertEqual(reason, "empty snapshot (no clusters and no listeners)")
        self.assertEqual(cp.counter("strait_cp_snapshots_refused_total"), 1)
        self.assertEqual(self.first_poll(cp, "clusters", "fleet-1", "fleet")["version_info"], v1)

    def test_removed_group_folder_is_refused_until_forced(self):
        cp = self.control_plane({"fleet/clusters.yaml": fleet_clusters(2),
                                 "other/clusters.yaml": fleet_clusters(1)},
                                SHORT_HOLD + FAST_WATCH)
        shutil.rmtree(cp.source_path("fleet"))
        reason = wait_for(lambda: cp.status()["groups"]["fleet"].get("refused"), timeout=WAIT,
                          what="the refusal in /status")
        self.assertEqual(reason, "the group's folder is gone (an empty snapshot)")
        self.assertEqual(cp.counter("strait_cp_snapshots_refused_total"), 1)
        self.assertEqual(len(self.first_poll(cp, "clusters", "fleet-1", "fleet")["resources"]), 2)
        code, _, body = http_request("POST", cp.admin_url("/force/fleet"))
        self.assertEqual(code, 200, body)
        self.assertEqual(sorted(cp.status()["groups"]), ["other"])
        # Nothing to serve for the group any more: a poll waits out its hold.
        self.assertEqual(poll(cp, "clusters", discovery_request("fleet-2", "fleet")), (304, b""))

    def test_shared_files_apply_to_every_group(self):
        shared = ("clusters:\n  - name: telemetry\n"
                  "    endpoints: [{address: 127.0.0.1, port: %d}]\n")
        cp = self.control_plane({
            "_shared/telemetry.yaml": shared % 4317,
            "alpha/clusters.yaml": "clusters:\n  - name: alpha-api\n"
                                   "    endpoints: [{address: 127.0.0.1, port: 9001}]\n",
            "beta/clusters.yaml": "clusters:\n  - name: beta-api\n"
                                  "    endpoints: [{address: 127.0.0.1, port: 9002}]\n",
        }, FAST_WATCH)
        self.assertEqual(sorted(cp.status()["groups"]), ["alpha", "beta"])
        for group in ("alpha", "beta"):
            with self.subTest(group=group):
                response = self.first_poll(cp, "endpoints", group + "-1", group=group)
                self.assertEqual([r["name"] for r in response["resources"]],
                                 [group + "-api", "telemetry"])
                self.assertEqual(response["resources"][1]["resource"],
                                 {"endpoints": [{"address": "127.0.0.1", "port": 4317}]})
        # A change in _shared publishes every group.
        before = {g: self.group_version(cp, g, "endpoints") for g in ("alpha", "beta")}
        cp.write_source({"_shared/telemetry.yaml": shared % 4318})
        for group in ("alpha", "beta"):
            self.wait_group_version_change(cp, group, "endpoints", before[group])

    def test_a_name_in_shared_and_in_a_group_file_is_an_error_naming_both(self):
        shared = ("clusters:\n  - name: telemetry\n"
                  "    endpoints: [{address: 127.0.0.1, port: 4317}]\n")
        own = "clusters:\n  - name: alpha-api\n    endpoints: [{address: 127.0.0.1, port: 9001}]\n"
        cp = self.control_plane({
            "_shared/telemetry.yaml": shared,
            "alpha/clusters.yaml": own,
            "beta/clusters.yaml": "clusters:\n  - name: beta-api\n"
                                  "    endpoints: [{address: 127.0.0.1, port: 9002}]\n",
        }, FAST_WATCH)
        v1 = self.group_version(cp, "alpha", "clusters")
        beta = self.group_version(cp, "beta", "clusters")
        duplicated = own + shared.replace("clusters:\n", "")
        cp.write_source({"alpha/clusters.yaml": duplicated})
        errors = wait_for(lambda: cp.status()["groups"]["alpha"].get("source_errors"),
                          timeout=WAIT, what="the duplicate name in /status")
        self.assertEqual(len(errors), 1, errors)
        line = 1 + duplicated.splitlines().index("  - name: telemetry")
        self.assertTrue(errors[0].startswith("%s:%d:5: clusters[1]: " % (
            cp.source_path("alpha/clusters.yaml"), line)), errors[0])
        self.assertIn('cluster "telemetry" is defined twice', errors[0])
        self.assertIn("first at %s:2:5, clusters[0]" % cp.source_path("_shared/telemetry.yaml"),
                      errors[0])
        status = cp.status()["groups"]
        self.assertEqual(status["alpha"]["versions"]["clusters"], v1)
        self.assertNotIn("source_errors", status["beta"])
        self.assertEqual(status["beta"]["versions"]["clusters"], beta)


class SyncStateTest(DiscoveryTestCase):
    # One node through STALE, SYNCED, NACKED and DISCONNECTED as /status and /metrics show them;
    # the types it never subscribed to are NOT_SENT.
    def test_sync_states_in_status_and_metrics(self):
        cp = self.control_plane(edge_source(), LONG_HOLD)
        clusters = self.first_poll(cp, "clusters", "edge-1")
        status = type_status(cp, "edge-1", "clusters")
        self.assertEqual(status["state"], "STALE")
        self.assertGreaterEqual(status["state_age_seconds"], 0)
        self.assertLess(status["state_age_seconds"], WAIT)
        self.assertEqual(type_status(cp, "edge-1", "secrets")["state"], "NOT_SENT")
        states = sync_states(cp.metrics_text(), "edge-1")
        self.assertEqual(states, {"clusters": "STALE", "endpoints": "NOT_SENT",
                                  "listeners": "NOT_SENT", "routes": "NOT_SENT",
                                  "secrets": "NOT_SENT", "filter_configs": "NOT_SENT",
                                  "carbon_signals": "NOT_SENT"})

        # ACK it (the poll then parks: nothing else to send).
        before = time.time()
        parked = [self.background_poll(cp, "clusters", discovery_request(
            "edge-1", version=clusters["version_info"], nonce=clusters["nonce"]))]
        cp.wait_counter("strait_cp_acks_total", {"type": "clusters"}, timeout=WAIT)
        after = time.time()
        status = type_status(cp, "edge-1", "clusters")
        self.assertEqual(status["state"], "SYNCED")
        self.assertNotIn("state_age_seconds", status)
        acked_at = cp.counter("strait_cp_proxy_last_ack_timestamp_seconds",
                              {"node": "edge-1", "type": "clusters"})
        self.assertGreaterEqual(acked_at, before - 0.01)
        self.assertLessEqual(acked_at, after + 0.01)

        # NACK the routes: the proxy's error is kept.
        routes = self.first_poll(cp, "routes", "edge-1")
        message = "routes/public: virtual_hosts[0].routes[0]: unknown cluster api"
        parked.append(self.background_poll(cp, "routes", discovery_request(
            "edge-1", nonce=routes["nonce"], error_detail={"code": 3, "message": message})))
        cp.wait_counter("strait_cp_nacks_total", {"type": "routes"}, timeout=WAIT)
        status = type_status(cp, "edge-1", "routes")
        self.assertEqual((status["state"], status["error"]), ("NACKED", message))
        text = cp.metrics_text()
        self.assertEqual(sync_states(text, "edge-1")["routes"], "NACKED")
        self.assertEqual(sync_states(text, "edge-1")["clusters"], "SYNCED")
        self.assertEqual(harness.prometheus_value(
            text, "strait_cp_proxy_last_ack_timestamp_seconds", {"type": "routes"}), 0)

        # The proxy goes away (its parked polls end): every type is DISCONNECTED, the last ACK
        # stays.
        for pending in parked:
            pending.close()
        wait_for(lambda: set(sync_states(cp.metrics_text(), "edge-1").values()) ==
                 {"DISCONNECTED"}, timeout=WAIT, what="edge-1 DISCONNECTED in /metrics")
        node = node_status(cp.status(), "edge-1")
        self.assertFalse(node["connected"])
        self.assertEqual({t["state"] for t in node["types"].values()}, {"DISCONNECTED"})
        self.assertNotIn("error", node["types"]["routes"])
        self.assertEqual(cp.counter("strait_cp_proxy_last_ack_timestamp_seconds",
                                    {"node": "edge-1", "type": "clusters"}), acked_at)

    # A node id with a quote and a backslash is escaped in the labels; promtool accepts the
    # families.
    def test_sync_state_labels_are_escaped_and_pass_promtool(self):
        cp = self.control_plane(edge_source(), SHORT_HOLD)
        node_id = 'edge "1" \\ canary'
        first = self.first_poll(cp, "clusters", node_id)
        code, raw = poll(cp, "clusters", discovery_request(
            node_id, version=first["version_info"], nonce=first["nonce"]))
        self.assertEqual(code, 304, raw)
        text = cp.metrics_text()
        self.assertIn('node="edge \\"1\\" \\\\ canary"', text)
        self.assertEqual(sync_states(text, node_id)["clusters"], "SYNCED")
        self.assertGreater(harness.prometheus_value(
            text, "strait_cp_proxy_last_ack_timestamp_seconds", {"node": node_id}), 0)
        if not os.path.exists(PROMTOOL):
            self.skipTest("promtool is not installed")
        result = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(result.returncode, 0, result.stdout.decode())


class AdminTest(DiscoveryTestCase):
    def test_ready_live_and_metrics(self):
        cp = self.control_plane(edge_source())
        self.assertEqual(http_request("GET", cp.admin_url("/ready"))[::2], (200, b"READY\n"))
        self.assertEqual(http_request("GET", cp.admin_url("/live"))[::2], (200, b"OK\n"))
        self.first_poll(cp, "clusters", "edge-1")
        code, headers, body = http_request("GET", cp.admin_url("/metrics"))
        self.assertEqual(code, 200)
        self.assertTrue(headers["content-type"].startswith("text/plain; version=0.0.4"))
        text = body.decode()
        version = self.group_version(cp, "edge", "clusters")
        self.assertEqual(harness.prometheus_value(text, "strait_cp_snapshot_info", {
            "group": "edge", "type": "clusters", "version": version}), 1)
        self.assertEqual(harness.prometheus_value(text, "strait_cp_snapshots_published_total"), 1)
        self.assertEqual(harness.prometheus_value(text, "strait_cp_source_reads_total"), 1)
        self.assertEqual(harness.prometheus_value(text, "strait_cp_pushes_total",
                                                  {"type": "clusters"}), 1)
        self.assertEqual(harness.prometheus_value(text, "strait_cp_connected_proxies"), 0)
        if not os.path.exists(PROMTOOL):
            self.skipTest("promtool is not installed")
        result = subprocess.run([PROMTOOL, "check", "metrics"], input=body,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(result.returncode, 0, result.stdout.decode())

    def test_status_is_json_and_unknown_admin_paths_are_404(self):
        cp = self.control_plane(edge_source())
        code, headers, _ = http_request("GET", cp.admin_url("/status"))
        self.assertEqual(code, 200)
        self.assertEqual(headers["content-type"], "application/json")
        self.assertEqual(http_request("GET", cp.admin_url("/nope"))[0], 404)
        self.assertEqual(http_request("POST", cp.admin_url("/force/edge"))[0], 404)


class CommandLineTest(harness.ProcessTestCase):
    def run_cp(self, args):
        source = tempfile.mkdtemp(prefix="strait-cp-source-")
        self.addCleanup(shutil.rmtree, source, True)
        harness.write_tree(source, {"edge/clusters.yaml": fleet_clusters(1)})
        argv = [harness.wait_for_binary("strait-cp"), "--source", source,
                "--admin", "127.0.0.1:0"] + list(args)
        # A strait-cp that does not refuse would run until this timeout fails the test.
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)

    def test_refuses_a_public_plaintext_listener(self):
        result = self.run_cp(["--listen", "0.0.0.0:0"])
        self.assertEqual(result.returncode, 2)
        self.assertIn(b"plaintext on loopback only (got 0.0.0.0)", result.stderr)

    def test_refuses_bad_flags(self):
        listen = ["--listen", "127.0.0.1:0"]
        # (arguments, message, whether the usage follows the message)
        cases = [
            (listen + ["--bogus", "1"], b"unknown flag --bogus", True),
            (listen + ["--hold", "soon"], b"--hold: expected a duration", True),
            (listen + ["--watch-interval", "0ms"], b"--watch-interval: expected a duration", True),
            (listen + ["--max-shrink", "50"], b"--max-shrink: expected a percentage", True),
            (listen + ["--tls-cert", "/nonexistent.pem"], b"go together", True),
            (listen + ["--id"], b"--id needs a value", True),
            (["--listen", "nowhere"], b"--listen and --admin take host:port", False),
        ]
        for args, message, usage in cases:
            with self.subTest(args=args):
                result = self.run_cp(args)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn(message, result.stderr)
                self.assertEqual(b"usage: strait-cp" in result.stderr, usage, result.stderr)

    def test_source_is_required(self):
        result = subprocess.run([harness.wait_for_binary("strait-cp"), "--listen", "127.0.0.1:0"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(result.returncode, 2)
        self.assertIn(b"--source DIR is required", result.stderr)


if __name__ == "__main__":
    unittest.main()
