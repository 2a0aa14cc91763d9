#include "control/admin.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>

#include "config/canonical.h"
#include "control/status_page.h"
#include "control/sync_state.h"

namespace strait::cp {

namespace {

using config::ResourceType;
using nlohmann::json;

std::string label(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void family(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += " ";
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += " ";
  out += type;
  out += "\n";
}

// The sync state of one node's type. The applied version comes from the node's last report when
// that report came after its last ACK of the type (an earlier one tells what ran before it).
SyncResult syncOf(const NodeView& view, const SnapshotStore& store, ResourceType type,
                  SteadyTime now) {
  static const TypeState kNothing;
  const TypeState& state = view.session != nullptr ? view.session->state(type) : kNothing;
  std::string intended;  // none while the group has no snapshot
  if (GroupSnapshotPtr snapshot = store.find(view.node.cluster)) {
    intended = snapshot->forNode(view.node.id).version(type);
  }
  std::optional<std::string> applied;
  if (view.report != nullptr && state.acked.has_value() && view.report->at >= state.acked->at) {
    const std::string& version = view.report->report.applied[static_cast<size_t>(type)];
    if (!version.empty()) {
      applied = version;
    }
  }
  return evaluateSync(view.connected, state, intended, applied, now);
}

json typeJson(const TypeState& state, const SyncResult& sync,
              const DivergenceDetector::Entry* report, ResourceType type) {
  json out = json::object();
  out["state"] = std::string(syncStateName(sync.state));
  if (report != nullptr && !report->report.applied[static_cast<size_t>(type)].empty()) {
    out["applied"] = report->report.applied[static_cast<size_t>(type)];
  }
  if (sync.state == SyncState::Stale) {
    out["state_age_seconds"] = std::chrono::duration<double>(sync.age).count();
  }
  if (sync.state == SyncState::Nacked) {
    out["error"] = sync.error;
  }
  out["subscribed"] = state.subscribed;
  out["awaiting_answer"] = state.awaiting;
  if (state.sent.has_value()) {
    out["sent"] = {{"version", state.sent->version}, {"nonce", state.sent->nonce}};
  }
  if (state.acked.has_value()) {
    out["acked"] = {{"version", state.acked->version}};
  }
  if (state.nack.has_value()) {
    out["nacked"] = {{"version", state.nack->version},
                     {"code", state.nack->error.code},
                     {"message", state.nack->error.message}};
  }
  out["acks"] = state.acks;
  out["nacks"] = state.nacks;
  out["stale_nonces"] = state.stale;
  return out;
}

// strait_cp_proxy_sync_state and strait_cp_proxy_last_ack_timestamp_seconds: per node and
// type, the state as a label (one line, the current state's) and when the last ACK came.
void proxyMetrics(std::string& out, const ControlPlaneState& state, SteadyTime now) {
  std::vector<NodeView> nodes = state.discovery.nodes();
  family(out, "strait_cp_proxy_sync_state", "gauge",
         "Each proxy's sync state per resource type, as the state label (DISCONNECTED, "
         "NOT_SENT, NACKED, STALE, LAGGING, DRIFTED or SYNCED; always 1).");
  for (const NodeView& view : nodes) {
    for (ResourceType type : config::kPushOrder) {
      SyncResult sync = syncOf(view, state.store, type, now);
      out += "strait_cp_proxy_sync_state{node=\"" + label(view.node.id) + "\",type=\"" +
             std::string(config::typeName(type)) + "\",state=\"" +
             std::string(syncStateName(sync.state)) + "\"} 1\n";
    }
  }
  family(out, "strait_cp_proxy_last_ack_timestamp_seconds", "gauge",
         "Unix time of each proxy's last ACK per resource type (or of the first request in "
         "which it named the version it runs).");
  for (const NodeView& view : nodes) {
    if (view.session == nullptr) {
      continue;
    }
    for (ResourceType type : config::kPushOrder) {
      const std::optional<AckedState>& acked = view.session->state(type).acked;
      if (!acked.has_value()) {
        continue;
      }
      char value[32];
      std::snprintf(value, sizeof(value), "%.3f",
                    std::chrono::duration<double>(acked->wall_at.time_since_epoch()).count());
      out += "strait_cp_proxy_last_ack_timestamp_seconds{node=\"" + label(view.node.id) +
             "\",type=\"" + std::string(config::typeName(type)) + "\"} " + value + "\n";
    }
  }
}

}  // namespace

std::string metricsText(const ControlPlaneState& state, SteadyTime now) {
  std::string out;
  const DiscoveryServer& discovery = state.discovery;
  family(out, "strait_cp_connected_proxies", "gauge", "Discovery streams open now.");
  out += "strait_cp_connected_proxies " + std::to_string(discovery.connectedStreams()) + "\n";
  struct Counter {
    const char* name;
    const char* help;
    uint64_t TypeCounters::*field;
  };
  for (const Counter& c :
       {Counter{"strait_cp_pushes_total", "DiscoveryResponses sent, per resource type.",
                &TypeCounters::pushes},
        Counter{"strait_cp_acks_total", "ACKs received, per resource type.", &TypeCounters::acks},
        Counter{"strait_cp_nacks_total", "NACKs received, per resource type.",
                &TypeCounters::nacks},
        Counter{"strait_cp_stale_nonces_total",
                "Requests ignored because they answered a superseded nonce.",
                &TypeCounters::stale}}) {
    family(out, c.name, "counter", c.help);
    for (ResourceType type : config::kPushOrder) {
      out += std::string(c.name) + "{type=\"" + std::string(config::typeName(type)) + "\"} " +
             std::to_string(discovery.counters(type).*c.field) + "\n";
    }
  }
  struct Timing {
    const char* name;
    const char* help;
    Histogram TypeCounters::*field;
  };
  for (const Timing& t :
       {Timing{"strait_cp_push_latency_seconds",
               "From a DiscoveryResponse sent to its ACK, per resource type.",
               &TypeCounters::push_latency},
        Timing{"strait_cp_convergence_seconds",
               "From strait-cp seeing a source change to each proxy's ACK of the version it "
               "brought, per resource type (proxies connected before the change).",
               &TypeCounters::convergence}}) {
    family(out, t.name, "histogram", t.help);
    for (ResourceType type : config::kPushOrder) {
      (discovery.counters(type).*t.field)
          .render(out, t.name, "type=\"" + std::string(config::typeName(type)) + "\"");
    }
  }
  family(out, "strait_cp_snapshot_build_seconds", "histogram",
         "Source reads: parsing, validating and cutting every group into resources.");
  state.snapshot_build.render(out, "strait_cp_snapshot_build_seconds", "");
  family(out, "strait_cp_rejected_identities_total", "counter",
         "Discovery requests refused because the client identity may not claim its node.");
  out += "strait_cp_rejected_identities_total " + std::to_string(discovery.rejectedIdentities()) +
         "\n";
  family(out, "strait_cp_bad_requests_total", "counter",
         "Discovery requests that were not valid protocol messages.");
  out += "strait_cp_bad_requests_total " + std::to_string(discovery.badRequests()) + "\n";
  family(out, "strait_cp_snapshots_published_total", "counter",
         "Group snapshots published (changed and accepted).");
  out += "strait_cp_snapshots_published_total " + std::to_string(state.store.publishedTotal()) +
         "\n";
  family(out, "strait_cp_snapshots_refused_total", "counter",
         "Group snapshots refused by the guard (empty, or shrunk over --max-shrink).");
  out += "strait_cp_snapshots_refused_total " + std::to_string(state.store.refusedTotal()) + "\n";
  family(out, "strait_cp_source_reads_total", "counter", "Reads of the source directory.");
  out += "strait_cp_source_reads_total " + std::to_string(state.source_reads) + "\n";
  family(out, "strait_cp_source_errors_total", "counter",
         "Source reads in which some group had an invalid file.");
  out += "strait_cp_source_errors_total " + std::to_string(state.source_errors_total) + "\n";
  family(out, "strait_cp_snapshot_info", "gauge",
         "The version in force per group and resource type (always 1).");
  for (const std::string& group : state.store.groups()) {
    GroupSnapshotPtr snapshot = state.store.find(group);
    for (ResourceType type : config::kPushOrder) {
      out += "strait_cp_snapshot_info{group=\"" + label(group) + "\",type=\"" +
             std::string(config::typeName(type)) + "\",version=\"" + snapshot->version(type) +
             "\"} 1\n";
    }
  }
  proxyMetrics(out, state, now);
  family(out, "strait_cp_reports_total", "counter",
         "Behaviour reports received from proxies (on their streams or POST /v1/report).");
  out += "strait_cp_reports_total " + std::to_string(discovery.reports()) + "\n";
  family(out, "strait_cp_divergence_findings", "gauge",
         "Behavioural divergence found now (always 1): kind ejected_intended_healthy (subject: "
         "the endpoint), locality_share or concurrency_at_floor (subject: the node).");
  for (const Finding& f : state.discovery.findings(now)) {
    out += "strait_cp_divergence_findings{kind=\"" + f.kind + "\",group=\"" + label(f.group) +
           "\",cluster=\"" + label(f.cluster) + "\",subject=\"" + label(f.subject) + "\"} 1\n";
  }
  return out;
}

namespace {

double seconds(SteadyTime::duration d) {
  return std::max(0.0, std::chrono::duration<double>(d).count());
}

json findingsJson(const std::vector<Finding>& findings, SteadyTime now) {
  json out = json::array();
  for (const Finding& f : findings) {
    out.push_back({{"kind", f.kind},
                   {"group", f.group},
                   {"cluster", f.cluster},
                   {"subject", f.subject},
                   {"nodes", f.nodes},
                   {"value", f.value},
                   {"detail", f.detail},
                   {"for_seconds", seconds(now - f.since)}});
  }
  return out;
}

json versionsJson(const GroupSnapshot& snapshot) {
  json versions = json::object();
  for (ResourceType type : config::kPushOrder) {
    versions[std::string(config::typeName(type))] = snapshot.version(type);
  }
  return versions;
}

}  // namespace

std::string statusJson(const ControlPlaneState& state, SteadyTime now) {
  json out = json::object();
  json groups = json::object();
  for (const std::string& group : state.store.groups()) {
    GroupSnapshotPtr snapshot = state.store.find(group);
    groups[group] = {{"versions", versionsJson(*snapshot)},
                     {"clusters", snapshot->clusters},
                     {"endpoints", snapshot->endpoints},
                     {"listeners", snapshot->listeners}};
    if (!snapshot->nodes.empty()) {
      json overrides = json::object();
      for (const auto& [node, own] : snapshot->nodes) {
        overrides[node] = {{"versions", versionsJson(*own)}};
      }
      groups[group]["node_overrides"] = overrides;
    }
  }
  for (const auto& [group, refusal] : state.store.refused()) {
    groups[group]["refused"] = refusal.reason;
  }
  for (const auto& [group, errors] : state.source_errors) {
    json list = json::array();
    for (const config::ConfigError& error : errors) {
      list.push_back(error.toString());
    }
    groups[group]["source_errors"] = list;
  }
  out["groups"] = groups;
  json nodes = json::array();
  for (const NodeView& view : state.discovery.nodes()) {
    json node = {{"id", view.node.id},
                 {"cluster", view.node.cluster},
                 {"connected", view.connected},
                 {"transport", view.transport}};
    if (GroupSnapshotPtr snapshot = state.store.find(view.node.cluster)) {
      node["intended"] = versionsJson(snapshot->forNode(view.node.id));
    }
    if (view.last_seen != SteadyTime{}) {
      node["last_seen_seconds_ago"] = seconds(now - view.last_seen);
    }
    if (view.report != nullptr) {
      node["report"] = {{"age_seconds", seconds(now - view.report->at)},
                        {"interval_ms", view.report->report.interval_ms},
                        {"count", view.report->count},
                        {"clusters", view.report->report.clusters.size()}};
      if (!view.report->report.admin.empty()) {
        node["admin"] = view.report->report.admin;
      }
    }
    if (view.session != nullptr) {
      // Every type, subscribed or not, as /metrics' strait_cp_proxy_sync_state shows them.
      json types = json::object();
      for (ResourceType type : config::kPushOrder) {
        types[std::string(config::typeName(type))] =
            typeJson(view.session->state(type), syncOf(view, state.store, type, now),
                     view.report, type);
      }
      node["types"] = types;
    }
    nodes.push_back(node);
  }
  out["nodes"] = nodes;
  out["findings"] = findingsJson(state.discovery.findings(now), now);
  // The convergence histogram per type, cumulative as in /metrics, for the status page.
  json convergence = json::object();
  for (ResourceType type : config::kPushOrder) {
    const Histogram& h = state.discovery.counters(type).convergence;
    json buckets = json::array();
    for (size_t i = 0; i < Histogram::kBounds.size(); i++) {
      buckets.push_back({{"le", Histogram::kBounds[i]}, {"count", h.cumulative(i)}});
    }
    convergence[std::string(config::typeName(type))] = {
        {"count", h.count()}, {"sum_seconds", h.sum()}, {"buckets", buckets}};
  }
  out["convergence"] = convergence;
  return out.dump(2) + "\n";
}

namespace {

constexpr std::string_view kIntended = "/intended/";

int hexValue(char c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

// A path segment or query value with its %XX escapes decoded (a bad escape is kept as is).
std::string percentDecoded(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); i++) {
    if (text[i] == '%' && i + 2 < text.size() && hexValue(text[i + 1]) >= 0 &&
        hexValue(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hexValue(text[i + 1]) * 16 + hexValue(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// What follows the `?` of a request target, or "".
std::string queryOf(const std::string& target) {
  size_t mark = target.find('?');
  return mark == std::string::npos ? "" : target.substr(mark + 1);
}

// The value of `key` in a query string ("a=1&group=edge"), decoded; "" when absent.
std::string queryValue(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    std::string_view pair = query.substr(0, query.find('&'));
    query.remove_prefix(std::min(query.size(), pair.size() + 1));
    if (pair.substr(0, pair.find('=')) == key && pair.size() > key.size()) {
      return percentDecoded(pair.substr(key.size() + 1));
    }
  }
  return "";
}

}  // namespace

std::optional<std::string> intendedJson(const ControlPlaneState& state, const std::string& node,
                                        std::string group, std::string& error) {
  if (group.empty()) {
    bool known = false;
    for (const NodeView& view : state.discovery.nodes()) {
      if (view.node.id == node) {
        group = view.node.cluster;
        known = true;
      }
    }
    if (!known) {
      error = "unknown node " + node +
              ": it has not connected to this strait-cp (give ?group=NAME for its group)";
      return std::nullopt;
    }
  }
  GroupSnapshotPtr snapshot = state.store.find(group);
  if (snapshot == nullptr) {
    error = "group " + group + " has no snapshot (no valid source folder for it yet)";
    return std::nullopt;
  }
  const GroupSnapshot& mine = snapshot->forNode(node);
  json types = json::object();
  for (ResourceType type : config::kPushOrder) {
    json resources = json::array();
    for (const config::Resource& resource : mine.of(type)) {
      // Redacted as the proxy's /config_dump is: no private key leaves on the admin port.
      resources.push_back({{"name", resource.name},
                           {"resource", config::redactSecrets(json::parse(
                                            resource.body, nullptr, /*allow_exceptions=*/false))}});
    }
    types[std::string(config::typeName(type))] = {{"version", mine.version(type)},
                                                  {"resources", std::move(resources)}};
  }
  json out = {{"node", node}, {"group", group}, {"types", std::move(types)}};
  return out.dump(2) + "\n";
}

void serveAdmin(const ExchangePtr& exchange, ControlPlaneState& state) {
  const HttpRequest& request = exchange->request();
  std::string path = request.path.substr(0, request.path.find('?'));
  bool get = request.method == "GET" || request.method == "HEAD";
  if (path == "/live" && get) {
    exchange->respond(200, "text/plain", "OK\n");
  } else if (path == "/ready" && get) {
    if (state.source_read) {
      exchange->respond(200, "text/plain", "READY\n");
    } else {
      exchange->respond(503, "text/plain", "NOT READY: the source was not read yet\n");
    }
  } else if (path == "/metrics" && get) {
    exchange->respond(200, "text/plain; version=0.0.4",
                      metricsText(state, std::chrono::steady_clock::now()));
  } else if (path == "/status" && get) {
    // A browser (Accept: text/html) gets the page; scripts, curl and straitctl the JSON, which
    // ?format=json asks for whatever the Accept header says.
    std::string query = queryOf(request.path);
    std::string_view accept = request.header("accept").value_or("");
    if (query.find("format=json") == std::string::npos &&
        accept.find("text/html") != std::string_view::npos) {
      exchange->respond(200, "text/html; charset=utf-8", statusPageHtml());
    } else {
      exchange->respond(200, "application/json",
                        statusJson(state, std::chrono::steady_clock::now()));
    }
  } else if (path.rfind("/force/", 0) == 0 && request.method == "POST") {
    std::string group = path.substr(7);
    if (state.store.publishRefused(group)) {
      exchange->respond(200, "text/plain", "published the refused snapshot of " + group + "\n");
    } else {
      exchange->respond(404, "text/plain", "no refused snapshot for group " + group + "\n");
    }
  } else if (path.starts_with(kIntended) && path.size() > kIntended.size() && get) {
    std::string error;
    std::optional<std::string> body =
        intendedJson(state, percentDecoded(std::string_view(path).substr(kIntended.size())),
                     queryValue(queryOf(request.path), "group"), error);
    if (body.has_value()) {
      exchange->respond(200, "application/json", *body);
    } else {
      exchange->respond(404, "text/plain", error + "\n");
    }
  } else if (path == "/" && get) {
    exchange->respond(200, "text/plain",
                      "GET /ready /live /metrics /status /intended/<node>[?group=NAME]; "
                      "POST /force/<group>\n");
  } else {
    exchange->respond(404, "text/plain", "unknown admin path " + path + "\n");
  }
}

}  // namespace strait::cp
