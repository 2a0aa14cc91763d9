"""The Grafana dashboard deploy/grafana/strait-mesh.json (docs/observability.md) against the real
binaries: the JSON is a dashboard Grafana can import (unique panel ids, every query panel on the
${datasource} variable with at least one PromQL target, core panel types only, expressions that
parse), and every metric its expressions name is a family that a real strait-cp and a real proxy
connected to it export (the `# TYPE` lines of strait-cp's /metrics and the proxy's /stats),
with every label they group or select by present on that family's samples.

One strait-cp, one proxy and one upstream on port 0; the cluster has outlier_detection, so the
proxy declares the outlier families (their series exist from the start, at 0). Waits poll with a
deadline.
"""

import json
import os
import re
import subprocess
import tempfile
import unittest

import harness
from test_discovery import edge_url, mesh, proxy_config, ready

DASHBOARD = os.path.join(harness.REPO_ROOT, "deploy", "grafana", "strait-mesh.json")
PROMTOOL = "/usr/bin/promtool"
WAIT = 20  # seconds: generous, the CI machine is a loaded 2-core box
DATASOURCE = "${datasource}"
# Panel types that ship with Grafana (no external plugin).
CORE_PANELS = {"row", "timeseries", "stat", "table", "gauge", "bargauge", "text", "heatmap",
               "piechart", "state-timeline", "status-history", "barchart", "histogram", "logs"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

METRIC = re.compile(r"\bstrait_[A-Za-z0-9_:]*")
BY_CLAUSE = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
MATCHERS = re.compile(r"\{([^}]*)\}")
MATCHER_LABEL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")
TYPE_LINE = re.compile(r"^# TYPE (\S+) (\S+)\s*$")


def load_dashboard():
    with open(DASHBOARD, encoding="utf-8") as f:
        return json.load(f)


def all_panels(dashboard):
    """Every panel, rows' nested panels (collapsed rows keep theirs inside) included."""
    for panel in dashboard.get("panels", []):
        yield panel
        for inner in panel.get("panels", []):
            yield inner


def targets(dashboard):
    """(panel title, expr) of every target of every query panel."""
    for panel in all_panels(dashboard):
        for target in panel.get("targets", []):
            yield panel.get("title"), target.get("expr", "")


def without_strings(expr):
    """The expression with its string literals blanked, so a label value is never a token."""
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)


def metric_tokens(expr):
    return set(METRIC.findall(without_strings(expr)))


def label_names(expr):
    """Labels an expression groups or selects by (le is the histogram's own)."""
    text = without_strings(expr)
    names = set()
    for clause in BY_CLAUSE.findall(text):
        names.update(n.strip() for n in clause.split(",") if n.strip())
    for matchers in MATCHERS.findall(text):
        names.update(MATCHER_LABEL.findall(matchers))
    return names


def families(text):
    """{family name: kind} from the `# TYPE name kind` lines of a scrape."""
    found = {}
    for line in text.splitlines():
        match = TYPE_LINE.match(line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def family_of(name, kinds):
    """The family a sample or expression name belongs to: itself, or a histogram's (or
    summary's) family for its _bucket/_sum/_count series; None when there is none."""
    if name in kinds:
        return name
    for suffix in HISTOGRAM_SUFFIXES:
        base = name[:-len(suffix)]
        if name.endswith(suffix) and kinds.get(base) in ("histogram", "summary"):
            return base
    return None


def labels_by_family(text, kinds):
    """{family: label names seen on its samples}."""
    seen = {}
    for name, labels, _ in harness.parse_prometheus(text):
        family = family_of(name, kinds)
        if family is not None:
            seen.setdefault(family, set()).update(labels)
    return seen


def promtool_check_rules(exprs):
    """promtool's parse of every expression (Grafana's $__ variables replaced by durations),
    as recording rules; (returncode, output)."""
    lines = ["groups:", "  - name: strait-mesh-dashboard", "    rules:"]
    for i, expr in enumerate(exprs):
        expr = expr.replace("$__rate_interval", "5m").replace("$__range", "1h")
        lines.append("      - record: dashboard:expr_%d" % i)
        lines.append("        expr: %s" % json.dumps(expr))
    with tempfile.NamedTemporaryFile("w", suffix=".yml", prefix="strait-dashboard-",
                                     delete=False) as f:
        f.write("\n".join(lines) + "\n")
    try:
        result = subprocess.run([PROMTOOL, "check", "rules", f.name], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, timeout=60)
    finally:
        os.unlink(f.name)
    return result.returncode, result.stdout.decode()


def promtool_check_metrics(text):
    result = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    return result.returncode, result.stdout.decode()


def with_outlier_detection(files):
    """The mesh() source with outlier detection on cluster api."""
    files = dict(files)
    files["edge/clusters.yaml"] = files["edge/clusters.yaml"].replace(
        "connect_timeout: 1s", "connect_timeout: 1s\n    outlier_detection: {consecutive_5xx: 5}")
    assert "outlier_detection" in files["edge/clusters.yaml"]
    return files


class DashboardJsonTest(unittest.TestCase):
    """The file alone: a dashboard Grafana imports, on the datasource variable."""

    def setUp(self):
        self.dashboard = load_dashboard()

    def test_is_a_dashboard_with_a_prometheus_datasource_variable(self):
        d = self.dashboard
        self.assertIsInstance(d.get("title"), str)
        self.assertTrue(d.get("uid"))
        self.assertGreaterEqual(d.get("schemaVersion", 0), 36)
        variables = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
        self.assertIn("datasource", variables)
        self.assertEqual(variables["datasource"].get("type"), "datasource")
        self.assertEqual(variables["datasource"].get("query"), "prometheus")
        self.assertNotIn("__requires", d, "no plugin requirements")

    def test_panels_have_unique_ids_a_datasource_and_targets(self):
        panels = list(all_panels(self.dashboard))
        self.assertGreater(len(panels), 0)
        ids = [p.get("id") for p in panels]
        self.assertTrue(all(isinstance(i, int) for i in ids), ids)
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        self.assertEqual(duplicates, [], "duplicate panel ids")
        queries = [p for p in panels if p.get("type") != "row"]
        self.assertGreater(len(queries), 0)
        for panel in panels:
            title = panel.get("title")
            self.assertIn(panel.get("type"), CORE_PANELS, "%r: not a core panel type" % title)
            pos = panel.get("gridPos", {})
            self.assertTrue(all(k in pos for k in ("h", "w", "x", "y")), title)
            self.assertLessEqual(pos["x"] + pos["w"], 24, title)
        for panel in queries:
            title = panel.get("title")
            self.assertEqual(panel.get("datasource"), {"type": "prometheus", "uid": DATASOURCE},
                             title)
            self.assertGreaterEqual(len(panel.get("targets", [])), 1, "%r has no target" % title)
            ref_ids = [t.get("refId") for t in panel["targets"]]
            self.assertEqual(len(ref_ids), len(set(ref_ids)), "%r: refIds %s" % (title, ref_ids))
            for target in panel["targets"]:
                self.assertEqual(target.get("datasource", {}).get("uid"), DATASOURCE, title)
                self.assertTrue(target.get("expr", "").strip(), "%r: empty expr" % title)
                self.assertTrue(metric_tokens(target["expr"]),
                                "%r: %r names no strait_ metric" % (title, target["expr"]))

    def test_expressions_parse(self):
        if not os.path.exists(PROMTOOL):
            self.skipTest("promtool is not installed")
        code, output = promtool_check_rules([expr for _, expr in targets(self.dashboard)])
        self.assertEqual(code, 0, output)


class DashboardMetricsTest(harness.ProcessTestCase):
    """Every metric and label of the dashboard, in what the real binaries export."""

    def test_every_dashboard_metric_is_exported(self):
        upstream = self.start(harness.Upstream(name="a"))
        cp = self.start(harness.ControlPlane(with_outlier_detection(mesh([upstream.port])),
                                             ["--watch-interval", "100ms"]))
        proxy = self.start(harness.Strait(proxy_config(cp)))
        harness.wait_for(lambda: ready(proxy), timeout=WAIT, what="proxy /ready")
        harness.wait_for(lambda: cp.counter("strait_cp_connected_proxies") == 1, timeout=WAIT,
                         what="one proxy connected to strait-cp")
        # Traffic: requests proxied to the upstream and direct responses.
        for _ in range(5):
            self.assertEqual(harness.http_request("GET", edge_url(proxy, "/items"))[0], 200)
            self.assertEqual(harness.http_request("GET", edge_url(proxy, "/hello"))[0], 200)
        # A source change, so the convergence and push latency histograms have samples.
        cp.write_source(with_outlier_detection(mesh([upstream.port], body="second version")))

        def served_second():
            status, _, body = harness.http_request("GET", edge_url(proxy, "/hello"))
            return status == 200 and body == b"second version"

        harness.wait_for(served_second, timeout=WAIT, what="the new route served")
        cp.wait_counter("strait_cp_convergence_seconds_count", {"type": "routes"}, timeout=WAIT)
        proxy.wait_counter("strait_dp_upstream_rq_total", {"cluster": "api"}, at_least=5,
                           timeout=WAIT)

        cp_text = cp.metrics_text()
        dp_text = proxy.stats_text()
        if os.path.exists(PROMTOOL):
            for label, text in (("strait-cp /metrics", cp_text), ("strait /stats", dp_text)):
                code, output = promtool_check_metrics(text)
                self.assertEqual(code, 0, "promtool check metrics on %s:\n%s" % (label, output))

        kinds = families(cp_text)
        kinds.update(families(dp_text))
        self.assertTrue(any(k.startswith("strait_cp_") for k in kinds), "no strait_cp_ family")
        self.assertTrue(any(k.startswith("strait_dp_") for k in kinds), "no strait_dp_ family")
        labels = labels_by_family(cp_text, kinds)
        for family, names in labels_by_family(dp_text, kinds).items():
            labels.setdefault(family, set()).update(names)

        missing = {}      # dashboard name -> titles of the panels that use it
        bad_labels = []   # (title, expr, label)
        used = set()
        for title, expr in targets(load_dashboard()):
            expr_families = set()
            for token in metric_tokens(expr):
                family = family_of(token, kinds)
                if family is None:
                    missing.setdefault(token, set()).add(title)
                else:
                    expr_families.add(family)
                    used.add(family)
            if not expr_families:
                continue
            available = set().union(*(labels.get(f, set()) for f in expr_families))
            if any(kinds[f] == "histogram" for f in expr_families):
                available.add("le")
            for name in sorted(label_names(expr)):
                if name not in available:
                    bad_labels.append((title, expr, name))
        self.assertEqual(
            missing, {},
            "dashboard metrics not exported by strait-cp or strait: %s" % ", ".join(
                "%s (%s)" % (name, "; ".join(sorted(t))) for name, t in sorted(missing.items())))
        self.assertEqual(bad_labels, [], "labels the exported families do not carry")
        # The dashboard covers both planes.
        self.assertTrue(any(f.startswith("strait_cp_") for f in used))
        self.assertTrue(any(f.startswith("strait_dp_") for f in used))


if __name__ == "__main__":
    unittest.main()
