"""Hot reload (file watch, symlink swaps, SIGHUP, invalid configs) and graceful drain, including
the two load tests of issue 3: 50 reloads under wrk with zero errors, and SIGTERM under wrk with
every request that reached the upstream answered."""

import json
import os
import signal
import subprocess
import threading
import time
import unittest

import harness

RELOADS = 50


def config(upstream_port, tag, drain="{delay: 0s, timeout: 10s}", timeout="15s"):
    return f"""
admin: {{address: 127.0.0.1, port: 0}}
workers: 2
drain: {drain}
listeners:
  - name: main
    address: 127.0.0.1
    port: 0
    virtual_hosts:
      - name: default
        domains: ["*"]
        routes:
          - match: {{prefix: /}}
            route: {{cluster: backend, timeout: {timeout}}}
            request_headers_to_add: [{{name: x-config-tag, value: "{tag}"}}]
clusters:
  - name: backend
    endpoints: [{{address: 127.0.0.1, port: {upstream_port}}}]
"""


INVALID = "listeners: [{name: main, port: not-a-port}]\n"


def replace_file(path, text):
    """Writes like an editor does: a new file renamed over the old one."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def echo_tag(proxy):
    status, _, body = harness.http_request("GET", proxy.url("/echo"))
    if status != 200:
        return None
    headers = dict((name, value) for name, value in json.loads(body)["headers"])
    return headers.get("x-config-tag")


def reloads(proxy):
    return (proxy.counter("strait_dp_config_reload_total") +
            proxy.counter("strait_dp_config_reload_rejected_total"))


class ReloadTest(harness.ProcessTestCase):

    def setUp(self):
        super().setUp()
        self.upstream = self.start(harness.Upstream())
        self.proxy = self.start(harness.Strait(config(self.upstream.port, "v1")))

    def test_file_change_is_applied_and_shown_in_config_dump(self):
        self.assertEqual(echo_tag(self.proxy), "v1")
        replace_file(self.proxy.config_path, config(self.upstream.port, "v2"))
        harness.wait_for(lambda: echo_tag(self.proxy) == "v2", timeout=10, what="v2 applied")
        _, _, body = harness.http_request("GET", self.proxy.admin_url("/config_dump"))
        dump = json.loads(body)
        self.assertEqual(dump["version"], 2)
        self.assertIn("applied_at", dump)
        self.assertEqual(self.proxy.counter("strait_dp_config_version"), 2)

    def test_configmap_symlink_swap_is_applied(self):
        # The layout of a Kubernetes ConfigMap volume: strait.yaml -> ..data/strait.yaml,
        # ..data -> ..v1; an update creates ..v2 and renames a new ..data symlink over the old.
        workdir = os.path.dirname(self.proxy.config_path)
        for version, tag in (("..v1", "v1"), ("..v2", "v2")):
            os.mkdir(os.path.join(workdir, version))
            with open(os.path.join(workdir, version, "strait.yaml"), "w", encoding="utf-8") as f:
                f.write(config(self.upstream.port, tag))
        os.symlink("..v1", os.path.join(workdir, "..data"))
        link_tmp = os.path.join(workdir, "strait.yaml.link")
        os.symlink("..data/strait.yaml", link_tmp)
        os.replace(link_tmp, self.proxy.config_path)
        data_tmp = os.path.join(workdir, "..data_tmp")
        os.symlink("..v2", data_tmp)
        os.replace(data_tmp, os.path.join(workdir, "..data"))
        harness.wait_for(lambda: echo_tag(self.proxy) == "v2", timeout=10,
                         what="v2 applied through the ..data swap")

    def test_invalid_config_is_rejected_and_the_old_one_keeps_serving(self):
        replace_file(self.proxy.config_path, INVALID)
        self.proxy.wait_counter("strait_dp_config_reload_rejected_total", at_least=1)
        self.assertIn("rejected", self.proxy.log())
        self.assertEqual(echo_tag(self.proxy), "v1")
        self.assertEqual(self.proxy.counter("strait_dp_config_version"), 1)

    def test_sighup_reloads(self):
        with open(self.proxy.config_path, "w", encoding="utf-8") as f:
            f.write(config(self.upstream.port, "v3"))
        os.kill(self.proxy.pid, signal.SIGHUP)
        harness.wait_for(lambda: echo_tag(self.proxy) == "v3", timeout=10, what="v3 applied")

    def test_a_reload_adds_and_removes_listeners_without_a_restart(self):
        second = """
  - name: second
    address: 127.0.0.1
    port: 0
    virtual_hosts:
      - name: all
        domains: ["*"]
        routes: [{match: {prefix: /}, direct_response: {status: 200, body: "second\\n"}}]
"""
        text = config(self.upstream.port, "v2")
        with_second = text.replace("clusters:", second.lstrip("\n") + "clusters:", 1)
        replace_file(self.proxy.config_path, with_second)

        def second_port():
            listeners = json.loads(harness.http_request(
                "GET", self.proxy.admin_url("/listeners"))[2])["listeners"]
            ports = [l["port"] for l in listeners if l["name"] == "second"]
            return ports[0] if ports else None

        port = harness.wait_for(second_port, timeout=10, what="listener second bound")

        def answers():
            try:
                status, _, body = harness.http_request("GET", "http://127.0.0.1:%d/" % port)
            except OSError:
                return None
            return (status, body)

        self.assertEqual(harness.wait_for(answers, timeout=10, what="second serves"),
                         (200, b"second\n"))
        self.assertEqual(echo_tag(self.proxy), "v2")  # the first listener kept serving
        # Removed again: the port stops accepting, the other listener serves on.
        replace_file(self.proxy.config_path, config(self.upstream.port, "v3"))
        harness.wait_for(lambda: echo_tag(self.proxy) == "v3", timeout=10, what="v3 applied")

        def refused():
            try:
                harness.http_request("GET", "http://127.0.0.1:%d/" % port, timeout=2)
            except OSError:
                return True
            return None

        harness.wait_for(refused, timeout=10, what="second's port closed")
        self.assertIsNone(second_port())

    def test_a_listener_on_a_port_in_use_is_rejected_and_the_old_config_serves(self):
        busy = self.upstream.port  # bound by the upstream
        text = config(self.upstream.port, "v2").replace(
            "clusters:", """  - name: clash
    address: 127.0.0.1
    port: %d
    virtual_hosts: [{name: all, domains: ["*"], routes: [{match: {prefix: /}, direct_response: {status: 200}}]}]
clusters:""" % busy, 1)
        replace_file(self.proxy.config_path, text)
        self.proxy.wait_counter("strait_dp_config_reload_rejected_total", at_least=1)
        self.assertIn("listener clash", self.proxy.log())
        self.assertEqual(echo_tag(self.proxy), "v1")

    def test_fifty_reloads_under_load_drop_nothing(self):
        configs = [config(self.upstream.port, "a"), config(self.upstream.port, "b"), INVALID]
        result = {}
        load = threading.Thread(target=lambda: result.update(
            harness.wrk(self.proxy.url("/"), connections=10, duration_s=12)))
        load.start()
        done = 0
        for i in range(RELOADS):
            before = reloads(self.proxy)
            # Write in place (as SIGHUP users do) half the time, rename-over the other half.
            if i % 2 == 0:
                replace_file(self.proxy.config_path, configs[i % 3])
            else:
                with open(self.proxy.config_path, "w", encoding="utf-8") as f:
                    f.write(configs[i % 3])
            os.kill(self.proxy.pid, signal.SIGHUP)
            harness.wait_for(lambda: reloads(self.proxy) > before, timeout=10,
                             what="reload %d processed" % i)
            done += 1
        load.join()
        self.assertEqual(done, RELOADS)
        self.assertGreater(result["requests"], 1000)
        self.assertEqual(result["non_2xx_3xx"], 0, result["raw"])
        self.assertEqual(result["socket_errors"], 0, result["raw"])
        self.assertGreaterEqual(self.proxy.counter("strait_dp_config_reload_rejected_total"), 16)
        print("\nreload under load: %d reloads, %d requests served, %.0f req/s, 0 errors" % (
            RELOADS, result["requests"], result["requests_per_s"]))


class DrainTest(harness.ProcessTestCase):

    def test_sigterm_under_load_answers_every_request_that_reached_the_upstream(self):
        upstream = self.start(harness.Upstream())
        proxy = self.start(harness.Strait(config(upstream.port, "d",
                                                 drain="{delay: 500ms, timeout: 10s}")))
        result = {}
        load = threading.Thread(target=lambda: result.update(
            harness.wrk(proxy.url("/"), connections=20, duration_s=4)))
        load.start()
        harness.wait_for(lambda: proxy.counter("strait_dp_downstream_rq_total",
                                               {"code_class": "2xx"}) > 2000,
                         timeout=10, what="load running")
        os.kill(proxy.pid, signal.SIGTERM)
        # /ready fails as soon as the main loop has taken the signal, well inside drain.delay
        # (500 ms) while the listeners still accept. The signal and the admin request race to
        # the main loop, so poll rather than assume the signal won.
        sent = time.monotonic()
        harness.wait_for(
            lambda: harness.http_request("GET", proxy.admin_url("/ready"))[0] == 503,
            timeout=2, what="/ready to turn 503")
        self.assertLess(time.monotonic() - sent, 0.5)
        code = proxy.process.proc.wait(timeout=15)
        load.join()
        self.assertEqual(code, 0)
        served_by_upstream = upstream.stats()["requests"]
        self.assertGreater(result["requests"], 1000)
        self.assertEqual(result["non_2xx_3xx"], 0, result["raw"])
        # Every request the proxy forwarded got its response to the client: no response lost.
        self.assertEqual(served_by_upstream, result["requests"],
                         "upstream served %d, wrk completed %d\n%s" % (
                             served_by_upstream, result["requests"], result["raw"]))
        self.assertIn("drained", proxy.log())
        print("\ndrain under load: %d requests completed, all answered; wrk errors %s" % (
            result["requests"], result["errors"]))

    def test_busy_connection_gets_connection_close_and_finishes(self):
        upstream = self.start(harness.Upstream())
        proxy = self.start(harness.Strait(config(upstream.port, "d")))
        out = {}

        def slow_request():
            out["response"] = harness.http_request("GET", proxy.url("/?delay_ms=800"))

        client = threading.Thread(target=slow_request)
        client.start()
        harness.wait_for(lambda: proxy.counter("strait_dp_downstream_rq_active") >= 1,
                         timeout=10, what="request in flight")
        status, _, _ = harness.http_request("POST", proxy.admin_url("/drain"))
        self.assertEqual(status, 200)
        client.join()
        status, headers, _ = out["response"]
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("connection"), "close")
        self.assertEqual(proxy.process.proc.wait(timeout=10), 0)

    def test_drain_timeout_exits_with_a_request_still_running(self):
        upstream = self.start(harness.Upstream())
        proxy = self.start(harness.Strait(config(upstream.port, "d",
                                                 drain="{delay: 0s, timeout: 300ms}")))
        client = threading.Thread(target=lambda: self._ignore_errors(
            lambda: harness.http_request("GET", proxy.url("/?delay_ms=5000"))))
        client.start()
        harness.wait_for(lambda: proxy.counter("strait_dp_downstream_rq_active") >= 1,
                         timeout=10, what="request in flight")
        started = time.monotonic()
        os.kill(proxy.pid, signal.SIGTERM)
        self.assertEqual(proxy.process.proc.wait(timeout=10), 0)
        self.assertLess(time.monotonic() - started, 4.0)
        client.join()

    def test_second_sigterm_exits_at_once(self):
        upstream = self.start(harness.Upstream())
        proxy = self.start(harness.Strait(config(upstream.port, "d",
                                                 drain="{delay: 0s, timeout: 60s}")))
        client = threading.Thread(target=lambda: self._ignore_errors(
            lambda: harness.http_request("GET", proxy.url("/?delay_ms=8000"))))
        client.start()
        harness.wait_for(lambda: proxy.counter("strait_dp_downstream_rq_active") >= 1,
                         timeout=10, what="request in flight")
        os.kill(proxy.pid, signal.SIGTERM)
        harness.wait_for(lambda: "draining" in proxy.log(), timeout=5, what="drain started")
        started = time.monotonic()
        os.kill(proxy.pid, signal.SIGTERM)
        self.assertEqual(proxy.process.proc.wait(timeout=10), 0)
        self.assertLess(time.monotonic() - started, 4.0)
        client.join()

    @staticmethod
    def _ignore_errors(fn):
        try:
            fn()
        except Exception:  # the proxy exits under the request: any outcome is fine here
            pass


if __name__ == "__main__":
    unittest.main()
