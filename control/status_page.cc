#include "control/status_page.h"

namespace strait::cp {

namespace {

// The DOM the tests read: a tr.node[data-node] per proxy, a td.state[data-type] per resource
// type whose text is the state, an li.nack per NACK error, an li.finding[data-kind] per
// behavioural divergence finding, #updated once a refresh landed.
constexpr std::string_view kPage = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>strait-cp status</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
  h1 { font-size: 1.3em; margin: 0 0 .2em; }
  h2 { font-size: 1.1em; margin: 1.4em 0 .4em; }
  table { border-collapse: collapse; }
  th, td { padding: .25em .6em; border-bottom: 1px solid #ddd; text-align: left; }
  th { background: #f4f4f4; }
  td.state { font-family: ui-monospace, monospace; font-size: 12px; }
  .SYNCED { background: #d9f2d9; }
  .NACKED { background: #f8c9c9; }
  .STALE, .LAGGING, .DRIFTED { background: #fbe7b5; }
  .DISCONNECTED, .NOT_SENT { background: #e6e6e6; }
  .muted { color: #777; }
  li.finding { font-size: 13px; }
  li.finding .kind { font-family: ui-monospace, monospace; background: #fbe7b5; padding: 0 .3em; }
  li.nack, li.source-error { font-family: ui-monospace, monospace; font-size: 12px; }
  .bar { display: inline-block; height: .8em; background: #6a9fd8; }
</style>
</head>
<body>
<h1>strait-cp</h1>
<div class="muted">updated <span id="updated">never</span> &middot; refreshes every 2 s &middot;
  <a href="/status?format=json">JSON</a> &middot; <a href="/metrics">metrics</a></div>
<div id="fetch-error" class="muted"></div>
<h2>Proxies</h2>
<div id="proxies"></div>
<h2>Latest NACKs</h2>
<ul id="nacks"><li class="muted">none</li></ul>
<h2>Behaviour findings</h2>
<ul id="findings"><li class="muted">none: the proxies behave as intended</li></ul>
<h2>Source</h2>
<ul id="source"><li class="muted">no errors, no refusals</li></ul>
<h2>Convergence (source change to ACK)</h2>
<div id="convergence"></div>
<script>
"use strict";
const TYPES = ["secrets", "filter_configs", "clusters", "endpoints", "listeners", "routes",
               "carbon_signals"];

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function shown(node) {
  // The types a node takes part in: subscribed, or with something sent or ACKed.
  return TYPES.filter(t => {
    const s = (node.types || {})[t];
    return s && (s.subscribed || s.sent || s.acked);
  });
}

function renderProxies(status) {
  const box = document.getElementById("proxies");
  box.replaceChildren();
  const nodes = status.nodes || [];
  if (nodes.length === 0) { box.append(el("p", {class: "muted"}, "no proxies")); return; }
  const types = TYPES.filter(t => nodes.some(n => shown(n).includes(t)));
  const groups = [...new Set(nodes.map(n => n.cluster))].sort();
  for (const group of groups) {
    const info = (status.groups || {})[group] || {};
    box.append(el("h3", {}, "group " + group, el("span", {class: "muted"},
        info.versions ? "  clusters " + info.clusters + ", endpoints " + info.endpoints +
                        ", listeners " + info.listeners : "  (no snapshot)")));
    const table = el("table", {class: "group", "data-group": group});
    table.append(el("tr", {}, el("th", {}, "node"), el("th", {}, "transport"),
                    ...types.map(t => el("th", {}, t))));
    for (const node of nodes.filter(n => n.cluster === group)) {
      const row = el("tr", {class: "node", "data-node": node.id},
                     el("td", {}, node.id), el("td", {}, node.connected ? node.transport : "-"));
      for (const t of types) {
        const s = (node.types || {})[t] || {};
        const state = s.state || "NOT_SENT";
        const version = s.acked ? " " + s.acked.version.slice(0, 8) : "";
        const age = s.state_age_seconds !== undefined ?
            " " + s.state_age_seconds.toFixed(1) + "s" : "";
        row.append(el("td", {class: "state " + state, "data-type": t,
                             title: s.error || ""}, state + version + age));
      }
      table.append(row);
    }
    box.append(table);
  }
}

function renderNacks(status) {
  const list = document.getElementById("nacks");
  list.replaceChildren();
  for (const node of status.nodes || []) {
    for (const [type, s] of Object.entries(node.types || {})) {
      if (s.state === "NACKED" && s.error) {
        list.append(el("li", {class: "nack", "data-node": node.id, "data-type": type},
                       node.id + " " + type + ": " + s.error));
      }
    }
  }
  if (!list.children.length) list.append(el("li", {class: "muted"}, "none"));
}

function renderFindings(status) {
  const list = document.getElementById("findings");
  list.replaceChildren();
  for (const f of status.findings || []) {
    list.append(el("li", {class: "finding", "data-kind": f.kind, "data-subject": f.subject},
                   el("span", {class: "kind"}, f.kind), " " + f.group + "/" + f.cluster + ": " +
                   f.detail + " (for " + f.for_seconds.toFixed(0) + " s)"));
  }
  if (!list.children.length) {
    list.append(el("li", {class: "muted"}, "none: the proxies behave as intended"));
  }
}

function renderSource(status) {
  const list = document.getElementById("source");
  list.replaceChildren();
  for (const [group, info] of Object.entries(status.groups || {})) {
    if (info.refused) list.append(el("li", {class: "refused"}, group + ": refused: " + info.refused));
    for (const error of info.source_errors || []) {
      list.append(el("li", {class: "source-error"}, group + ": " + error));
    }
  }
  if (!list.children.length) list.append(el("li", {class: "muted"}, "no errors, no refusals"));
}

function renderConvergence(status) {
  const box = document.getElementById("convergence");
  box.replaceChildren();
  const table = el("table", {id: "convergence-table"});
  table.append(el("tr", {}, el("th", {}, "type"), el("th", {}, "ACKs"), el("th", {}, "mean"),
                  el("th", {}, "distribution (le seconds: count)")));
  for (const [type, h] of Object.entries(status.convergence || {})) {
    if (!h.count) continue;
    const cells = el("td", {});
    let previous = 0;
    for (const b of h.buckets) {
      const n = b.count - previous;
      previous = b.count;
      if (n > 0) {
        cells.append(el("span", {}, "≤" + b.le + ": " + n + " "),
                     el("span", {class: "bar", style: "width:" + Math.min(200, 4 * n) + "px"}),
                     " ");
      }
    }
    table.append(el("tr", {"data-type": type}, el("td", {}, type), el("td", {}, h.count),
                    el("td", {}, (1000 * h.sum_seconds / h.count).toFixed(1) + " ms"), cells));
  }
  box.append(table.children.length > 1 ? table : el("p", {class: "muted"}, "nothing yet"));
}

async function refresh() {
  try {
    const response = await fetch("/status?format=json", {cache: "no-store"});
    const status = await response.json();
    renderProxies(status);
    renderNacks(status);
    renderFindings(status);
    renderSource(status);
    renderConvergence(status);
    document.getElementById("fetch-error").textContent = "";
    document.getElementById("updated").textContent = new Date().toISOString();
  } catch (e) {
    document.getElementById("fetch-error").textContent = "cannot read /status: " + e;
  }
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
)html";

}  // namespace

std::string_view statusPageHtml() { return kPage; }

}  // namespace strait::cp
