#include "ctl/status.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <tuple>

#include "config/discovery.h"

namespace strait::ctl {

namespace {

using nlohmann::json;

std::string stringAt(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Where a type's column goes: push order for the known ones, the others after them.
size_t typeRank(const std::string& type) {
  for (size_t i = 0; i < config::kPushOrder.size(); ++i) {
    if (config::typeName(config::kPushOrder[i]) == type) {
      return i;
    }
  }
  return config::kPushOrder.size();
}

bool typeBefore(const std::string& a, const std::string& b) {
  size_t ra = typeRank(a);
  size_t rb = typeRank(b);
  return ra != rb ? ra < rb : a < b;
}

TypeRow typeRow(const std::string& type, const json& state) {
  TypeRow row;
  row.type = type;
  row.state = stringAt(state, "state");
  if (auto acked = state.find("acked"); acked != state.end() && acked->is_object()) {
    row.acked_version = stringAt(*acked, "version");
  }
  if (auto age = state.find("state_age_seconds"); age != state.end() && age->is_number()) {
    row.age_seconds = age->get<double>();
  }
  row.error = stringAt(state, "error");
  row.applied_version = stringAt(state, "applied");
  return row;
}

NodeRow nodeRow(const json& node, const std::string& replica) {
  NodeRow row;
  row.id = stringAt(node, "id");
  row.group = stringAt(node, "cluster");
  row.transport = stringAt(node, "transport");
  row.replica = replica;
  auto connected = node.find("connected");
  row.connected = connected != node.end() && connected->is_boolean() && connected->get<bool>();
  auto types = node.find("types");
  if (types != node.end() && types->is_object()) {
    for (const auto& [type, state] : types->items()) {
      auto subscribed = state.find("subscribed");
      if (state.is_object() && subscribed != state.end() && subscribed->is_boolean() &&
          subscribed->get<bool>()) {
        row.types.push_back(typeRow(type, state));
      }
    }
  }
  std::sort(row.types.begin(), row.types.end(),
            [](const TypeRow& a, const TypeRow& b) { return typeBefore(a.type, b.type); });
  return row;
}

std::string cell(const TypeRow& type) {
  std::string out = type.state;
  if (!type.acked_version.empty()) {
    out += " " + type.acked_version.substr(0, 8);
  }
  if (type.state == "DRIFTED" && !type.applied_version.empty()) {
    out += " (runs " + type.applied_version.substr(0, 8) + ")";
  }
  return out;
}

std::string age(const NodeRow& node) {
  double oldest = -1;
  for (const TypeRow& type : node.types) {
    if (type.state == "STALE") {
      oldest = std::max(oldest, type.age_seconds);
    }
  }
  if (oldest < 0) {
    return "";
  }
  char text[32];
  std::snprintf(text, sizeof(text), "%.1fs", oldest);
  return text;
}

// Left-aligned columns two spaces apart, the last one unpadded, trailing spaces removed.
std::string renderRows(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) {
        line += std::string(widths[i] - row[i].size() + 2, ' ');
      }
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out += line + "\n";
  }
  return out;
}

void addFinding(std::vector<FindingRow>& findings, const json& f) {
  FindingRow row{stringAt(f, "kind"),    stringAt(f, "group"), stringAt(f, "cluster"),
                 stringAt(f, "subject"), {},                   stringAt(f, "detail")};
  auto nodes = f.find("nodes");
  std::vector<std::string> names;
  if (nodes != f.end() && nodes->is_array()) {
    for (const json& name : *nodes) {
      if (name.is_string()) {
        names.push_back(name.get<std::string>());
      }
    }
  }
  auto same = std::find_if(findings.begin(), findings.end(), [&](const FindingRow& other) {
    return std::tie(other.kind, other.group, other.cluster, other.subject) ==
           std::tie(row.kind, row.group, row.cluster, row.subject);
  });
  FindingRow& target = same != findings.end() ? *same : findings.emplace_back(std::move(row));
  for (std::string& name : names) {
    if (std::find(target.nodes.begin(), target.nodes.end(), name) == target.nodes.end()) {
      target.nodes.push_back(std::move(name));
    }
  }
  std::sort(target.nodes.begin(), target.nodes.end());
}

size_t findingsOf(const MergedStatus& merged, const std::string& node) {
  return static_cast<size_t>(
      std::count_if(merged.findings.begin(), merged.findings.end(), [&](const FindingRow& f) {
        return std::find(f.nodes.begin(), f.nodes.end(), node) != f.nodes.end();
      }));
}

}  // namespace

bool NodeRow::synced() const {
  return !types.empty() && std::all_of(types.begin(), types.end(),
                                       [](const TypeRow& type) { return type.state == "SYNCED"; });
}

MergedStatus mergeStatus(const std::vector<ReplicaStatus>& replicas) {
  MergedStatus merged;
  std::map<std::string, NodeRow> nodes;
  for (const ReplicaStatus& replica : replicas) {
    if (!replica.ok) {
      merged.unreachable.push_back({replica.url, false, replica.error, nullptr});
      continue;
    }
    merged.reached.push_back(replica.url);
    auto list = replica.status.find("nodes");
    if (list == replica.status.end() || !list->is_array()) {
      continue;
    }
    auto findings = replica.status.find("findings");
    if (findings != replica.status.end() && findings->is_array()) {
      for (const json& f : *findings) {
        if (f.is_object()) {
          addFinding(merged.findings, f);
        }
      }
    }
    for (const json& node : *list) {
      if (!node.is_object()) {
        continue;
      }
      NodeRow row = nodeRow(node, replica.url);
      auto [it, inserted] = nodes.try_emplace(row.id, row);
      // The replica the proxy is connected to knows where it stands; an earlier replica's entry
      // is kept otherwise.
      if (!inserted && row.connected && !it->second.connected) {
        it->second = std::move(row);
      }
    }
  }
  for (auto& [id, row] : nodes) {
    merged.nodes.push_back(std::move(row));
  }
  return merged;
}

std::string renderTable(const MergedStatus& merged) {
  if (merged.nodes.empty()) {
    return "no proxies\n";
  }
  std::vector<std::string> columns;
  for (const NodeRow& node : merged.nodes) {
    for (const TypeRow& type : node.types) {
      if (std::find(columns.begin(), columns.end(), type.type) == columns.end()) {
        columns.push_back(type.type);
      }
    }
  }
  std::sort(columns.begin(), columns.end(), typeBefore);
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"NODE", "GROUP"};
  for (const std::string& column : columns) {
    std::string upper = column;
    for (char& c : upper) {
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    header.push_back(upper);
  }
  header.push_back("AGE");
  header.push_back("FINDINGS");
  rows.push_back(header);
  for (const NodeRow& node : merged.nodes) {
    std::vector<std::string> row = {node.id, node.group};
    for (const std::string& column : columns) {
      auto it = std::find_if(node.types.begin(), node.types.end(),
                             [&](const TypeRow& type) { return type.type == column; });
      row.push_back(it != node.types.end() ? cell(*it) : "-");
    }
    row.push_back(age(node));
    size_t findings = findingsOf(merged, node.id);
    row.push_back(findings == 0 ? "" : std::to_string(findings));
    rows.push_back(row);
  }
  std::string out = renderRows(rows);
  bool first = true;
  for (const NodeRow& node : merged.nodes) {
    for (const TypeRow& type : node.types) {
      if (type.state == "NACKED") {
        out += first ? "\nNACK errors:\n" : "";
        first = false;
        out += "  " + node.id + " " + type.type + ": " + type.error + "\n";
      }
    }
  }
  if (!merged.findings.empty()) {
    out += "\nBehaviour findings:\n";
    for (const FindingRow& f : merged.findings) {
      std::string nodes;
      for (const std::string& name : f.nodes) {
        nodes += (nodes.empty() ? "" : ",") + name;
      }
      out += "  " + f.kind + " " + f.group + "/" + f.cluster + " " + f.subject + " [" + nodes +
             "]: " + f.detail + "\n";
    }
  }
  return out;
}

int exitCode(const MergedStatus& merged) {
  if (!merged.unreachable.empty()) {
    return kExitUnreachable;
  }
  if (merged.nodes.empty() || !merged.findings.empty()) {
    return kExitNotSynced;
  }
  for (const NodeRow& node : merged.nodes) {
    if (!node.synced()) {
      return kExitNotSynced;
    }
  }
  return kExitSynced;
}

nlohmann::json statusJson(const MergedStatus& merged) {
  json replicas = json::array();
  for (const std::string& url : merged.reached) {
    replicas.push_back({{"url", url}, {"ok", true}});
  }
  for (const ReplicaStatus& replica : merged.unreachable) {
    replicas.push_back({{"url", replica.url}, {"ok", false}, {"error", replica.error}});
  }
  json nodes = json::array();
  bool synced = !merged.nodes.empty();
  for (const NodeRow& node : merged.nodes) {
    json types = json::object();
    for (const TypeRow& type : node.types) {
      json entry = {{"state", type.state}};
      if (!type.acked_version.empty()) {
        entry["acked_version"] = type.acked_version;
      }
      if (type.age_seconds >= 0) {
        entry["age_seconds"] = type.age_seconds;
      }
      if (type.state == "NACKED") {
        entry["error"] = type.error;
      }
      if (!type.applied_version.empty()) {
        entry["applied_version"] = type.applied_version;
      }
      types[type.type] = entry;
    }
    synced = synced && node.synced();
    nodes.push_back({{"id", node.id},
                     {"group", node.group},
                     {"connected", node.connected},
                     {"transport", node.transport},
                     {"replica", node.replica},
                     {"synced", node.synced()},
                     {"types", types}});
  }
  json findings = json::array();
  for (const FindingRow& f : merged.findings) {
    findings.push_back({{"kind", f.kind},
                        {"group", f.group},
                        {"cluster", f.cluster},
                        {"subject", f.subject},
                        {"nodes", f.nodes},
                        {"detail", f.detail}});
  }
  return {{"replicas", replicas},
          {"nodes", nodes},
          {"findings", findings},
          {"synced", synced},
          {"exit_code", exitCode(merged)}};
}

}  // namespace strait::ctl
