#pragma once

// Behavioural divergence (issue 12, docs/discovery-protocol.md "Reports"): where the proxies
// behave differently from what strait-cp intends, from what they report on their streams. Three
// findings:
//
// - ejected_intended_healthy: an endpoint the source lists (so strait-cp calls it healthy) that
//   most of the proxies reporting its cluster have ejected or see unhealthy: a gray failure the
//   control plane cannot see by itself. Subject: the endpoint; nodes: those that ejected it.
// - locality_share: a proxy's traffic share per locality over its last window, against the
//   intended one (the weights of the cluster's endpoints per locality in the source): their L1
//   distance (0 to 2) above `share_l1_threshold` in every report for `share_hold`, on windows of
//   at least `share_min_requests` requests. Subject: the node.
// - concurrency_at_floor: a proxy whose concurrency limit for a cluster sits at its floor while
//   another proxy of the group reporting the cluster is above its own. Subject: the node.
//
// Pure bookkeeping: the caller passes the time (tests drive a simulated clock) and the snapshot
// each node is intended to run.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "config/report.h"
#include "control/source.h"

namespace strait::cp {

struct DivergenceOptions {
  double share_l1_threshold = 0.3;
  std::chrono::steady_clock::duration share_hold = std::chrono::seconds(30);
  uint64_t share_min_requests = 20;
  // A report older than this many of its intervals no longer counts (the proxy went quiet).
  uint64_t stale_intervals = 3;
};

struct Finding {
  std::string kind;  // "ejected_intended_healthy", "locality_share", "concurrency_at_floor"
  std::string group;
  std::string cluster;
  std::string subject;             // the endpoint ("10.0.0.1:8080") or the node
  std::vector<std::string> nodes;  // the proxies whose reports show it, sorted
  std::string detail;              // one line for a human
  double value = 0;                // the fraction ejecting, the L1 distance, the limit
  std::chrono::steady_clock::time_point since{};  // first seen
};

class DivergenceDetector {
 public:
  using SteadyTime = std::chrono::steady_clock::time_point;
  // The snapshot a node is intended to run (GroupSnapshot::forNode of its group's); null: none.
  using IntendedFn = std::function<const GroupSnapshot*(const std::string& group,
                                                        const std::string& node)>;

  explicit DivergenceDetector(DivergenceOptions options = {}) : options_(options) {}

  // A proxy's report. `intended` tells what it should run (for the locality share).
  void onReport(const std::string& node, const std::string& group, config::ProxyReport report,
                SteadyTime now, const IntendedFn& intended);
  // The node is gone (its stream closed): its reports stop counting.
  void onDisconnect(const std::string& node);

  // The findings now, sorted by kind, group, cluster, subject.
  std::vector<Finding> findings(SteadyTime now, const IntendedFn& intended);

  struct Entry {
    std::string group;
    config::ProxyReport report;
    SteadyTime at{};
    uint64_t count = 0;  // reports from the node since it connected
  };
  // The node's last report, null if none (or it disconnected since).
  const Entry* report(const std::string& node) const;

  // What the source says of one endpoint of a cluster.
  struct IntendedEndpoint {
    std::string locality;  // "region/zone", "" for none
    uint64_t weight = 1;
  };
  using IntendedEndpoints = std::map<std::string, IntendedEndpoint>;  // by "host:port"

 private:
  bool fresh(const Entry& entry, SteadyTime now) const;
  // The cluster's endpoints in `snapshot`, parsed once per endpoints version (every scrape
  // evaluates every report: a mesh of many proxies and clusters must not re-parse them all).
  const IntendedEndpoints& intendedEndpoints(const GroupSnapshot& snapshot,
                                             const std::string& cluster);

  DivergenceOptions options_;
  std::map<std::string, Entry> reports_;  // by node
  // Per node and cluster ("node\ncluster"): since when every report's share was over the threshold.
  std::map<std::string, SteadyTime> share_over_since_;
  std::map<std::string, double> share_distance_;  // the last report's L1 distance, same keys
  std::map<std::string, SteadyTime> first_seen_;  // per finding key
  std::map<std::string, IntendedEndpoints> endpoints_cache_;  // by "version\ncluster"
};

// The intended traffic share per locality ("region/zone") of one cluster in `snapshot`: its
// endpoints' weights, normalized. Empty if the snapshot has no endpoints for it.
std::map<std::string, double> intendedShare(const GroupSnapshot& snapshot,
                                            const std::string& cluster);

// The L1 distance of two shares (sum of |a - b| over every locality of either): 0 to 2.
double shareDistance(const std::map<std::string, double>& a, const std::map<std::string, double>& b);

}  // namespace strait::cp
