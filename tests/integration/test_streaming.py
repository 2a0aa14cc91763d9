"""Integration tests of large bodies through the proxy with backpressure (1 GiB each way, RSS
bounded), and a short wrk burst."""

import json
import subprocess
import threading
import time
import unittest

import harness
from harness import Strait, Upstream, curl
from proxy_fixtures import sample_rss, simple_config

MIB = 1024 * 1024
GIB = 1024 * MIB
# The bound for the release build. Under AddressSanitizer freed memory sits in a
# quarantine (256 MiB by default) before reuse, so there the check only catches runaway growth.
RSS_LIMIT = 256 * MIB if harness.sanitized_build() else 64 * MIB


class StreamingTest(harness.ProcessTestCase):
    def setUp(self):
        super().setUp()
        self.upstream = self.start(Upstream(name="stream"))
        self.proxy = self.start(Strait(simple_config(self.upstream.port, workers=2)))
        self.samples = []
        self.stop_sampling = threading.Event()
        self.sampler = threading.Thread(target=sample_rss,
                                        args=(self.proxy, self.stop_sampling, self.samples))
        self.sampler.start()
        self.addCleanup(self.sampler.join)
        self.addCleanup(self.stop_sampling.set)

    def peak_rss(self):
        self.stop_sampling.set()
        self.sampler.join()
        self.assertGreater(len(self.samples), 0)
        return max(self.samples)

    def test_1_gib_download(self):
        started = time.monotonic()
        code, out, err = curl("-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                              self.proxy.url("/x?body_size=%d" % GIB), timeout=120)
        elapsed = time.monotonic() - started
        self.assertEqual(code, 0, err)
        self.assertEqual(out.decode(), "200 %d" % GIB)
        peak = self.peak_rss()
        print("\n1 GiB download: %.1fs, peak proxy RSS %.1f MiB, %d samples"
              % (elapsed, peak / MIB, len(self.samples)))
        self.assertLess(peak, RSS_LIMIT)
        # The upstream connection stays pooled: its byte counter moves without it closing.
        self.proxy.wait_counter("strait_dp_upstream_cx_rx_bytes_total", {"cluster": "backend"},
                                at_least=GIB)
        self.proxy.wait_counter("strait_dp_downstream_cx_tx_bytes_total", {"listener": "main"},
                                at_least=GIB)

    def test_1_gib_upload_from_a_generator(self):
        started = time.monotonic()
        # curl -T - streams stdin as a chunked body; `head` generates 1 GiB of zeroes.
        generator = subprocess.Popen(["head", "-c", str(GIB), "/dev/zero"],
                                     stdout=subprocess.PIPE)
        try:
            upload = subprocess.run([harness.CURL, "-sS", "-X", "POST", "-T", "-", "-H", "Expect:",
                                     self.proxy.url("/echo")], stdin=generator.stdout,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        finally:
            generator.stdout.close()
            generator.wait(timeout=30)
        elapsed = time.monotonic() - started
        self.assertEqual(upload.returncode, 0, upload.stderr)
        self.assertEqual(json.loads(upload.stdout)["body_bytes"], GIB)
        peak = self.peak_rss()
        print("\n1 GiB upload: %.1fs, peak proxy RSS %.1f MiB, %d samples"
              % (elapsed, peak / MIB, len(self.samples)))
        self.assertLess(peak, RSS_LIMIT)
        self.proxy.wait_counter("strait_dp_upstream_cx_tx_bytes_total", {"cluster": "backend"},
                                at_least=GIB)
        self.proxy.wait_counter("strait_dp_downstream_cx_rx_bytes_total", {"listener": "main"},
                                at_least=GIB)


class WrkBurstTest(harness.ProcessTestCase):
    def test_wrk_burst_has_no_errors(self):
        upstream = self.start(Upstream(name="wrk"))
        proxy = self.start(Strait(simple_config(upstream.port, workers=2)))
        result = harness.wrk(proxy.url("/x?body_size=100"), connections=50, duration_s=2,
                             threads=2)
        self.assertGreater(result["requests"], 0, result["raw"])
        self.assertEqual(result["non_2xx_3xx"], 0, result["raw"])
        self.assertEqual(result["socket_errors"], 0, result["raw"])
        served = proxy.counter("strait_dp_downstream_rq_total", {"code_class": "2xx"})
        self.assertGreaterEqual(served, result["requests"])
        self.assertEqual(proxy.counter("strait_dp_downstream_rq_total", {"code_class": "5xx"}), 0)
        print("\nwrk: %d requests, %.0f req/s, p99 %s ms" % (
            result["requests"], result["requests_per_s"], result["p99_ms"]))


if __name__ == "__main__":
    unittest.main()
