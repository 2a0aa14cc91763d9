#pragma once

// `straitctl status`, the pure half: the /status documents of several strait-cp replicas merged
// into one list of proxies, rendered as a table or JSON, and the exit code. No network here
// (status_command.cc fetches), so unit tests drive it with JSON text.

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace strait::ctl {

// What one --cp answered: its parsed /status, or why there is none.
struct ReplicaStatus {
  std::string url;
  bool ok = false;
  std::string error;      // when !ok: "connect 127.0.0.1:1: Connection refused"
  nlohmann::json status;  // when ok: the /status document
};

// One subscribed resource type of a proxy.
struct TypeRow {
  std::string type;           // "listeners"
  std::string state;          // SYNCED, NOT_SENT, NACKED, STALE, LAGGING, DRIFTED, DISCONNECTED
  std::string acked_version;  // empty when nothing was ACKed
  double age_seconds = -1;    // STALE only; -1 otherwise
  std::string error;          // NACKED only
  std::string applied_version;  // what the proxy reports it runs (DRIFTED: not the ACKed one)
};

// One proxy as the replica that knows it best sees it.
struct NodeRow {
  std::string id;
  std::string group;  // node.cluster
  bool connected = false;
  std::string transport;
  std::string replica;         // the --cp it was taken from
  std::vector<TypeRow> types;  // the subscribed ones, in push order

  // Every subscribed type SYNCED (and at least one subscribed).
  bool synced() const;
};

// A behavioural divergence a replica found (control/divergence.h).
struct FindingRow {
  std::string kind;     // ejected_intended_healthy, locality_share, concurrency_at_floor
  std::string group;
  std::string cluster;
  std::string subject;  // the endpoint or the node
  std::vector<std::string> nodes;  // the proxies whose reports show it
  std::string detail;
};

struct MergedStatus {
  std::vector<NodeRow> nodes;              // sorted by id
  // Every replica's findings; one found by several (same kind, group, cluster, subject) once,
  // with the union of their nodes. Each replica judges from the reports of its own proxies.
  std::vector<FindingRow> findings;
  std::vector<std::string> reached;        // the replicas that answered, in --cp order
  std::vector<ReplicaStatus> unreachable;  // the replicas that gave no /status (no document)
};

enum ExitCode : int { kExitSynced = 0, kExitNotSynced = 1, kExitUnreachable = 2 };

// Merges the replicas' nodes. A node known to several replicas: the entry of the replica it is
// connected to; when none (or several) has it connected, the first such replica in --cp order
// (/status carries no time of last contact to tell the most recent one).
MergedStatus mergeStatus(const std::vector<ReplicaStatus>& replicas);

// The table (NODE, GROUP, one column per subscribed type, AGE, FINDINGS: how many findings
// name the node), then the NACK errors, then the behaviour findings; or "no proxies". Ends in a
// newline.
std::string renderTable(const MergedStatus& merged);

// 2 when a replica was unreachable (what the others know is still shown); else 1 when there is
// no proxy, one is not SYNCED in every subscribed type, or there is a behaviour finding; else 0.
int exitCode(const MergedStatus& merged);

// The --json output: {"replicas": [{url, ok, error?}], "nodes": [...], "findings": [...],
// "synced": bool, "exit_code": N} (docs/straitctl.md).
nlohmann::json statusJson(const MergedStatus& merged);

}  // namespace strait::ctl
