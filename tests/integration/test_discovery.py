"""The proxy driven by strait-cp (docs/discovery-protocol.md): the real strait-cp and real
proxies on port 0. A push is ACKed and serves; a resource the proxy cannot apply is NACKed with
its reason while the old config serves; endpoints change under load without a failed request;
strait-cp killed under load costs no request, and the proxy reconverges when it is back; a proxy
restarted while strait-cp is down serves its persisted config."""

import hashlib
import json
import os
import shutil
import socket
import ssl
import stat
import threading
import unittest

import harness
import tls_fixtures


def mesh(upstream_ports, body="from the mesh", listener_port=0):
    endpoints = ", ".join("{address: 127.0.0.1, port: %d}" % p for p in upstream_ports)
    return {
        "edge/clusters.yaml": """clusters:
  - name: api
    endpoints: [%s]
    connect_timeout: 1s
""" % endpoints,
        "edge/listeners.yaml": """listeners:
  - name: edge
    address: 127.0.0.1
    port: %d
    virtual_hosts:
      - name: all
        domains: ["*"]
        routes:
          - match: {path: /hello}
            direct_response: {status: 200, body: "%s"}
          - match: {prefix: /}
            route: {cluster: api, timeout: 10s}
""" % (listener_port, body),
    }


def proxy_config(cp, node_id="edge-1", workers=1):
    return """
node: {id: %s, cluster: edge}
admin: {address: 127.0.0.1, port: 0}
workers: %d
control_plane: {address: 127.0.0.1:%d}
""" % (node_id, workers, cp.discovery_port)


def ready(proxy):
    status, _, _ = harness.http_request("GET", proxy.admin_url("/ready"))
    return status == 200


def edge_url(proxy, path):
    """The URL on listener edge, which arrives from strait-cp after the proxy started."""
    proxy.listener_port("edge")  # (refetches /listeners when it is not known yet)
    return proxy.url(path, listener="edge")


def hello(proxy):
    try:
        status, _, body = harness.http_request("GET", edge_url(proxy, "/hello"))
    except (OSError, KeyError, RuntimeError):
        return None
    return body.decode() if status == 200 else None


def node_state(cp, node_id, type_name):
    for node in cp.status()["nodes"]:
        if node["id"] == node_id:
            return node.get("types", {}).get(type_name)
    return None


def acked(cp, node_id, type_name):
    """The version the node ACKed of that type, once it is the group's current one."""
    state = node_state(cp, node_id, type_name)
    current = cp.status()["groups"]["edge"]["versions"][type_name]
    if state and state.get("acked", {}).get("version") == current:
        return current
    return None


class DiscoveryTest(harness.ProcessTestCase):

    def setUp(self):
        super().setUp()
        self.a = self.start(harness.Upstream(name="a"))
        self.b = self.start(harness.Upstream(name="b"))

    def start_proxy(self, cp, **kwargs):
        proxy = self.start(harness.Strait(proxy_config(cp, **kwargs)))
        harness.wait_for(lambda: ready(proxy), timeout=20, what="proxy /ready")
        return proxy

    def test_a_push_is_acked_and_serves(self):
        cp = self.start(harness.ControlPlane(mesh([self.a.port]), ["--watch-interval", "100ms"]))
        proxy = self.start(harness.Strait(proxy_config(cp)))
        harness.wait_for(lambda: ready(proxy), timeout=20, what="first config applied")
        self.assertEqual(harness.wait_for(lambda: hello(proxy), timeout=10), "from the mesh")
        status, headers, _ = harness.http_request("GET", edge_url(proxy, "/items"))
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("x-upstream-name"), "a")
        for type_name in ("clusters", "endpoints", "listeners", "routes"):
            harness.wait_for(lambda: acked(cp, "edge-1", type_name), timeout=10,
                             what="%s ACKed" % type_name)
        self.assertEqual(cp.counter("strait_cp_connected_proxies"), 1)
        self.assertEqual(proxy.counter("strait_dp_discovery_connected"), 1)
        dump = json.loads(harness.http_request("GET", proxy.admin_url("/config_dump"))[2])
        self.assertEqual(dump["applied_by"], "control_plane")
        self.assertTrue(dump["control_plane"]["connected"])
        self.assertEqual(dump["control_plane"]["versions"]["routes"],
                         cp.status()["groups"]["edge"]["versions"]["routes"])
        # A change in the source reaches the proxy.
        cp.write_source(mesh([self.a.port], body="second version"))
        harness.wait_for(lambda: hello(proxy) == "second version", timeout=20,
                         what="the new route body served")
        self.assertGreaterEqual(
            proxy.counter("strait_dp_discovery_update_successes_total", {"type": "routes"}), 2)
        # Telemetry of the two planes: the control plane timed the pushes and the convergence
        # of the change (source change -> this proxy's ACK); the proxy's version gauge spells
        # the ACKed routes version.
        routes = harness.wait_for(lambda: acked(cp, "edge-1", "routes"), timeout=20,
                                  what="the new routes ACKed")
        self.assertGreaterEqual(
            cp.counter("strait_cp_push_latency_seconds_count", {"type": "routes"}), 2)
        self.assertGreaterEqual(
            cp.counter("strait_cp_convergence_seconds_count", {"type": "routes"}), 1)
        self.assertGreaterEqual(cp.counter("strait_cp_snapshot_build_seconds_count"), 2)
        harness.wait_for(
            lambda: proxy.counter("strait_dp_discovery_version", {"type": "routes"}) ==
            int(routes[:13], 16), timeout=10, what="the proxy's routes version gauge")

    def test_a_file_reload_keeps_what_strait_cp_pushed(self):
        cp = self.start(harness.ControlPlane(mesh([self.a.port]), ["--watch-interval", "100ms"]))
        proxy = self.start_proxy(cp)
        harness.wait_for(lambda: hello(proxy), timeout=10)
        # The file's own part changes (a static cluster and a drain setting); the pushed
        # listener and routes stay.
        text = proxy_config(cp) + """drain: {delay: 0s, timeout: 5s}
clusters:
  - name: bootstrap
    endpoints: [{address: 127.0.0.1, port: %d}]
""" % self.b.port
        with open(proxy.config_path + ".tmp", "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(proxy.config_path + ".tmp", proxy.config_path)

        def reloaded():
            dump = json.loads(harness.http_request("GET", proxy.admin_url("/config_dump"))[2])
            return dump if dump["applied_by"] == "file_change" else None

        dump = harness.wait_for(reloaded, timeout=20, what="the file change applied")
        names = sorted(c["name"] for c in dump["config"]["clusters"])
        self.assertEqual(names, ["api", "bootstrap"])
        self.assertEqual(hello(proxy), "from the mesh")
        self.assertEqual(dump["control_plane"]["versions"]["routes"],
                         cp.status()["groups"]["edge"]["versions"]["routes"])

    def test_a_resource_the_proxy_cannot_apply_is_nacked_and_the_old_config_serves(self):
        cp = self.start(harness.ControlPlane(mesh([self.a.port]), ["--watch-interval", "100ms"]))
        proxy = self.start_proxy(cp)
        harness.wait_for(lambda: hello(proxy), timeout=10)
        # Valid to strait-cp, but the port is taken on the proxy's machine (by upstream b).
        cp.write_source(mesh([self.a.port], listener_port=self.b.port))

        def nacked():
            state = node_state(cp, "edge-1", "listeners")
            return state.get("nacked") if state else None

        nack = harness.wait_for(nacked, timeout=20, what="listeners NACKed")
        self.assertEqual(nack["code"], 3)
        self.assertIn("listener edge", nack["message"])
        self.assertEqual(nack["version"], cp.status()["groups"]["edge"]["versions"]["listeners"])
        self.assertEqual(hello(proxy), "from the mesh")  # the old listener serves on
        self.assertGreaterEqual(cp.counter("strait_cp_nacks_total", {"type": "listeners"}), 1)
        self.assertGreaterEqual(
            proxy.counter("strait_dp_discovery_update_rejections_total", {"type": "listeners"}), 1)

    def test_endpoints_change_under_load_without_a_failed_request(self):
        cp = self.start(harness.ControlPlane(mesh([self.a.port]), ["--watch-interval", "100ms"]))
        proxy = self.start_proxy(cp, workers=2)
        harness.wait_for(lambda: hello(proxy), timeout=10)
        url = edge_url(proxy, "/items")
        result = {}
        load = threading.Thread(target=lambda: result.update(harness.wrk(url, 8, 4)))
        load.start()
        # Add b, then remove a, while wrk runs: each an endpoint-only push.
        cp.write_source(mesh([self.a.port, self.b.port]))
        harness.wait_for(lambda: self.b.stats()["requests"] > 0, timeout=20, what="b gets traffic")
        cp.write_source(mesh([self.b.port]))
        harness.wait_for(lambda: acked(cp, "edge-1", "endpoints"), timeout=20,
                         what="a's removal ACKed")
        load.join()
        self.assertGreater(result["requests"], 0)
        self.assertEqual(result["non_2xx_3xx"], 0, result["raw"])
        self.assertEqual(result["socket_errors"], 0, result["raw"])
        # Endpoint-only changes: the listeners and clusters were pushed once.
        self.assertEqual(
            proxy.counter("strait_dp_discovery_update_successes_total", {"type": "clusters"}), 1)
        self.assertGreaterEqual(
            proxy.counter("strait_dp_discovery_update_successes_total", {"type": "endpoints"}), 3)

    def test_strait_cp_killed_under_load_costs_nothing_and_the_proxy_reconverges(self):
        cp = self.start(harness.ControlPlane(mesh([self.a.port]), ["--watch-interval", "100ms"]))
        port = cp.discovery_port
        proxy = self.start_proxy(cp, workers=2)
        harness.wait_for(lambda: hello(proxy), timeout=10)
        url = edge_url(proxy, "/items")
        result = {}
        load = threading.Thread(target=lambda: result.update(harness.wrk(url, 8, 3)))
        load.start()
        cp.stop(sig=9)
        harness.wait_for(lambda: proxy.counter("strait_dp_discovery_connected") == 0 or None,
                         timeout=20, what="the proxy sees strait-cp gone")
        load.join()
        self.assertGreater(result["requests"], 0)
        self.assertEqual(result["non_2xx_3xx"], 0, result["raw"])
        self.assertEqual(result["socket_errors"], 0, result["raw"])
        dump = json.loads(harness.http_request("GET", proxy.admin_url("/config_dump"))[2])
        self.assertFalse(dump["control_plane"]["connected"])
        self.assertIn("strait-cp is away", dump["control_plane"]["serving"])
        self.assertTrue(ready(proxy))  # serving the last good config: still ready
        # Back on the same port, with a changed source: the proxy reconnects and applies it.
        source = dict(mesh([self.a.port], body="after the restart"))
        again = self.start(harness.ControlPlane(source, ["--watch-interval", "100ms",
                                                         "--listen", "127.0.0.1:%d" % port]))
        self.assertEqual(again.discovery_port, port)
        harness.wait_for(lambda: hello(proxy) == "after the restart", timeout=60,
                         what="reconverged on the restarted strait-cp")
        harness.wait_for(lambda: acked(again, "edge-1", "routes"), timeout=20)
        proxy.wait_counter("strait_dp_discovery_connected", at_least=1, timeout=20)

    def test_a_proxy_restarted_while_strait_cp_is_down_serves_its_persisted_config(self):
        cp = self.start(harness.ControlPlane(mesh([self.a.port]), ["--watch-interval", "100ms"]))
        first = self.start_proxy(cp)
        harness.wait_for(lambda: hello(first), timeout=10)
        persisted = os.path.join(first.workdir, "last-good.json")
        harness.wait_for(lambda: os.path.exists(persisted), timeout=10, what=persisted)
        state = open(persisted, encoding="utf-8").read()
        cp.stop()
        first.stop()
        # A new proxy process whose config folder holds that state; strait-cp is gone.
        proxy = self.start(PersistedStrait(proxy_config(cp), state))
        harness.wait_for(lambda: ready(proxy), timeout=20, what="ready from the persisted config")
        self.assertEqual(harness.wait_for(lambda: hello(proxy), timeout=10), "from the mesh")
        dump = json.loads(harness.http_request("GET", proxy.admin_url("/config_dump"))[2])
        self.assertEqual(dump["applied_by"], "persisted")
        self.assertFalse(dump["control_plane"]["connected"])

    def test_without_strait_cp_or_a_persisted_config_the_proxy_is_not_ready(self):
        cp = self.start(harness.ControlPlane(mesh([self.a.port])))
        port = cp.discovery_port
        cp.stop()
        proxy = self.start(harness.Strait(proxy_config(cp)))
        status, _, body = harness.http_request("GET", proxy.admin_url("/ready"))
        self.assertEqual(status, 503)
        self.assertIn(b"waiting for the first config from strait-cp", body)
        again = self.start(harness.ControlPlane(mesh([self.a.port]),
                                                ["--listen", "127.0.0.1:%d" % port]))
        harness.wait_for(lambda: ready(proxy), timeout=60, what="ready once strait-cp is up")
        self.assertEqual(harness.wait_for(lambda: hello(proxy), timeout=10), "from the mesh")
        self.assertIsNotNone(again)


class DiscoveryFilterConfigTest(harness.ProcessTestCase):
    """A filter's config pushed as its own resource: the listener names it, and a change of the
    filter config alone reaches the proxy without a new listeners version."""

    @staticmethod
    def source(upstream_port, status):
        files = mesh([upstream_port])
        files["edge/filters.yaml"] = """filter_configs:
  - name: chaos
    filter: fault
    config: {abort: {status: %d, percent: 100}, match: {prefix: /chaos}}
""" % status
        files["edge/listeners.yaml"] = """listeners:
  - name: edge
    address: 127.0.0.1
    port: 0
    http: {filters: [{filter_config: chaos}]}
    virtual_hosts:
      - name: all
        domains: ["*"]
        routes:
          - match: {prefix: /}
            route: {cluster: api}
"""
        return files

    def test_a_filter_config_change_alone_reaches_the_proxy(self):
        upstream = self.start(harness.Upstream(name="a"))
        cp = self.start(harness.ControlPlane(self.source(upstream.port, 503),
                                             ["--watch-interval", "100ms"]))
        proxy = self.start(harness.Strait(proxy_config(cp)))
        harness.wait_for(lambda: ready(proxy), timeout=30, what="proxy /ready")

        def status_of(path):
            try:
                return harness.http_request("GET", edge_url(proxy, path))[0]
            except (OSError, KeyError, RuntimeError):
                return None

        harness.wait_for(lambda: status_of("/chaos") == 503, timeout=20, what="the fault served")
        self.assertEqual(status_of("/other"), 200)
        harness.wait_for(lambda: acked(cp, "edge-1", "filter_configs"), timeout=20,
                         what="filter_configs ACKed")
        listeners = cp.status()["groups"]["edge"]["versions"]["listeners"]
        filter_configs = cp.status()["groups"]["edge"]["versions"]["filter_configs"]
        cp.write_source(self.source(upstream.port, 418))
        harness.wait_for(lambda: status_of("/chaos") == 418, timeout=30,
                         what="the new filter config served")
        versions = cp.status()["groups"]["edge"]["versions"]
        self.assertEqual(versions["listeners"], listeners)
        self.assertNotEqual(versions["filter_configs"], filter_configs)
        harness.wait_for(lambda: acked(cp, "edge-1", "filter_configs"), timeout=20,
                         what="the new filter_configs ACKed")
        # A filter config the proxy's filter refuses is an error of its file in strait-cp.
        bad = self.source(upstream.port, 99)
        cp.write_source({"edge/filters.yaml": bad["edge/filters.yaml"]})

        def source_errors():
            return cp.status()["groups"]["edge"].get("source_errors")

        errors = harness.wait_for(source_errors, timeout=20, what="the source error")
        self.assertIn("filters.yaml:4:", errors[0])
        self.assertIn("filter_configs[0].config.abort.status", errors[0])
        self.assertEqual(status_of("/chaos"), 418)


class CertsTestCase(harness.ProcessTestCase):
    """A test class with the dev certificates of certs/make-dev-certs.sh, made once."""

    @classmethod
    def setUpClass(cls):
        cls.certs = tls_fixtures.make_certs()

    @classmethod
    def tearDownClass(cls):
        tls_fixtures.remove_tree(cls.certs)

    def cert(self, name):
        return os.path.join(self.certs, name)


class DiscoveryTlsTest(CertsTestCase):
    """mTLS between the proxies and strait-cp: a proxy's certificate names the group it may
    claim (client.pem is spiffe://example.org/ns/default/sa/web)."""

    def proxy_config(self, cp, group, cert="client"):
        return """
node: {id: %s-1, cluster: %s}
admin: {address: 127.0.0.1, port: 0}
workers: 1
control_plane:
  address: 127.0.0.1:%d
  tls: {ca: %s, cert: %s, key: %s}
""" % (group, group, cp.discovery_port, self.cert("ca-example.org.pem"),
       self.cert(cert + ".pem"), self.cert(cert + ".key"))

    def test_a_proxy_may_claim_only_the_group_its_certificate_names(self):
        upstream = self.start(harness.Upstream(name="a"))
        source = {}
        for group in ("web", "edge"):
            for name, text in mesh([upstream.port]).items():
                source[name.replace("edge/", group + "/")] = text
        cp = self.start(harness.ControlPlane(source, [
            "--tls-cert", self.cert("server.pem"), "--tls-key", self.cert("server.key"),
            "--tls-ca", self.cert("ca-example.org.pem")]))
        web = self.start(harness.Strait(self.proxy_config(cp, "web")))
        harness.wait_for(lambda: ready(web), timeout=20, what="web proxy ready over mTLS")
        self.assertEqual(harness.wait_for(lambda: hello(web), timeout=10), "from the mesh")
        # The same certificate claiming group edge: refused, counted, and said why.
        edge = self.start(harness.Strait(self.proxy_config(cp, "edge")))
        cp.wait_counter("strait_cp_rejected_identities_total", at_least=1)

        def refusal():
            dump = json.loads(harness.http_request("GET", edge.admin_url("/config_dump"))[2])
            return dump["control_plane"]["last_error"] or None

        reason = harness.wait_for(refusal, timeout=20, what="the refusal's reason")
        self.assertIn("403", reason)
        self.assertIn("may not claim node.cluster \"edge\"", reason)
        self.assertFalse(ready(edge))
        self.assertNotIn("edge-1", [n["id"] for n in cp.status()["nodes"]])

    def test_a_certificate_from_another_ca_fails_the_handshake(self):
        cp = self.start(harness.ControlPlane(mesh([1]), [
            "--tls-cert", self.cert("server.pem"), "--tls-key", self.cert("server.key"),
            "--tls-ca", self.cert("ca-example.org.pem")]))
        proxy = self.start(harness.Strait(self.proxy_config(cp, "edge", cert="client-other")))

        def failed():
            dump = json.loads(harness.http_request("GET", proxy.admin_url("/config_dump"))[2])
            return dump["control_plane"]["last_error"] or None

        self.assertTrue(harness.wait_for(failed, timeout=20, what="handshake failure"))
        self.assertFalse(ready(proxy))
        self.assertEqual(cp.status()["nodes"], [])


class PersistedStrait(harness.Strait):
    """A proxy whose config folder already holds a persisted discovery state."""

    def __init__(self, config_text, persisted_text):
        import tempfile
        original = tempfile.mkdtemp

        def mkdtemp(*args, **kwargs):
            folder = original(*args, **kwargs)
            with open(os.path.join(folder, "last-good.json"), "w", encoding="utf-8") as f:
                f.write(persisted_text)
            return folder

        tempfile.mkdtemp = mkdtemp
        try:
            super().__init__(config_text)
        finally:
            tempfile.mkdtemp = original


if __name__ == "__main__":
    unittest.main()


class DiscoverySecretsTest(CertsTestCase):
    """Secrets pushed by strait-cp: a TLS listener whose certificate and trust bundle come from
    the source's PEM files, served by the proxy, rotated by changing the files, and a pair that
    does not match NACKed while the old certificate serves."""

    def source(self, upstream_port):
        files = mesh([upstream_port])
        files["edge/secrets.yaml"] = """secrets:
  - {name: edge-cert, cert: pki/edge.pem, key: pki/edge.key}
  - {name: mesh-ca, ca: pki/ca.pem}
"""
        files["edge/listeners.yaml"] = """listeners:
  - name: edge
    address: 127.0.0.1
    port: 0
    tls:
      certificates: [{secret: edge-cert}]
      client_validation:
        trust_bundles: [{trust_domain: example.org, secret: mesh-ca}]
    virtual_hosts:
      - name: all
        domains: ["*"]
        routes:
          - match: {prefix: /}
            route: {cluster: api}
"""
        return files

    def install(self, cp, cert, key):
        """Copies a certificate pair into the source's pki folder (the key last, atomically)."""
        pki = cp.source_path("edge/pki")
        os.makedirs(pki, exist_ok=True)
        for src, dst in ((self.cert("ca-example.org.pem"), "ca.pem"), (cert, "edge.pem"),
                         (key, "edge.key")):
            shutil.copyfile(src, os.path.join(pki, dst + ".tmp"))
            os.replace(os.path.join(pki, dst + ".tmp"), os.path.join(pki, dst))

    def served(self, port):
        """The SHA-256 of the certificate the listener presents, and the answer to GET /items
        with the client certificate; None while the listener is not there."""
        context = ssl.create_default_context(cafile=self.cert("ca-example.org.pem"))
        context.check_hostname = False
        context.load_cert_chain(self.cert("client.pem"), self.cert("client.key"))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                with context.wrap_socket(raw, server_hostname="localhost") as tls:
                    der = tls.getpeercert(binary_form=True)
                    tls.sendall(b"GET /items HTTP/1.1\r\nHost: localhost\r\n"
                                b"Connection: close\r\n\r\n")
                    data = b""
                    while True:
                        chunk = tls.recv(65536)
                        if not chunk:
                            break
                        data += chunk
        except (OSError, ssl.SSLError):
            return None
        return hashlib.sha256(der).hexdigest(), data.split(b"\r\n", 1)[0].decode()

    def test_a_pushed_secret_serves_rotates_and_a_bad_pair_is_nacked(self):
        upstream = self.start(harness.Upstream(name="a"))
        cp = harness.ControlPlane(self.source(upstream.port), ["--watch-interval", "100ms"])
        self.start(cp)
        self.install(cp, self.cert("server.pem"), self.cert("server.key"))
        proxy = self.start(harness.Strait(proxy_config(cp)))
        harness.wait_for(lambda: ready(proxy), timeout=30, what="proxy /ready")
        port = harness.wait_for(lambda: proxy.listener_port("edge"), timeout=20)
        first = harness.wait_for(lambda: self.served(port), timeout=30, what="TLS served")
        self.assertEqual(first, (tls_fixtures.cert_sha256(self.cert("server.pem")),
                                 "HTTP/1.1 200 OK"))
        harness.wait_for(lambda: acked(cp, "edge-1", "secrets"), timeout=20, what="secrets ACKed")
        # The private key is in no admin output, and the files the proxy wrote are its own.
        dump = harness.http_request("GET", proxy.admin_url("/config_dump"))[2].decode()
        self.assertNotIn("PRIVATE KEY", dump)
        secrets_dir = os.path.join(proxy.workdir, "last-good.json.secrets")
        self.assertEqual(stat.S_IMODE(os.stat(secrets_dir).st_mode), 0o700)
        keys = [f for f in os.listdir(secrets_dir) if f.endswith(".key")]
        self.assertEqual(len(keys), 1)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(secrets_dir, keys[0])).st_mode), 0o600)
        self.assertEqual(
            stat.S_IMODE(os.stat(os.path.join(proxy.workdir, "last-good.json")).st_mode), 0o600)

        # Rotation: new files in the source, a new certificate served, the old files pruned.
        self.install(cp, self.cert("default.pem"), self.cert("default.key"))
        rotated = tls_fixtures.cert_sha256(self.cert("default.pem"))
        harness.wait_for(lambda: (self.served(port) or ("",))[0] == rotated, timeout=30,
                         what="the rotated certificate served")
        harness.wait_for(
            lambda: [f for f in os.listdir(secrets_dir) if f.endswith(".key")] != keys,
            timeout=20, what="the old key file pruned")
        self.assertEqual(len([f for f in os.listdir(secrets_dir) if f.endswith(".key")]), 1)

        # A certificate with another's key: valid PEM to strait-cp, refused by the proxy.
        self.install(cp, self.cert("server.pem"), self.cert("default.key"))

        def nacked():
            state = node_state(cp, "edge-1", "secrets")
            return state.get("nacked") if state else None

        nack = harness.wait_for(nacked, timeout=30, what="secrets NACKed")
        self.assertIn("listener edge tls: key", nack["message"])
        self.assertIn("edge-cert", nack["message"])  # the file is named by the secret
        self.assertIn("key values mismatch", nack["message"])
        self.assertEqual(self.served(port), (rotated, "HTTP/1.1 200 OK"))
        self.assertGreaterEqual(
            proxy.counter("strait_dp_discovery_update_rejections_total", {"type": "secrets"}), 1)
