#pragma once

// The snapshots strait-cp serves, one per proxy group, and the guard in front of them: a new
// snapshot that is empty, or that drops more than `max_shrink` of a group's clusters or
// endpoints, is refused (kept aside with the reason) unless forced. A refused or invalid group
// keeps serving its last good snapshot.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "control/source.h"

namespace strait::cp {

using GroupSnapshotPtr = std::shared_ptr<const GroupSnapshot>;

class SnapshotStore {
 public:
  struct Refusal {
    std::string reason;
    GroupSnapshotPtr snapshot;  // what was refused; publishForced() publishes it
  };

  // `max_shrink` in [0, 1]: 0.5 refuses losing more than half.
  explicit SnapshotStore(double max_shrink) : max_shrink_(max_shrink) {}

  // Offers a freshly read group. Returns true when it was published (it differs from the one in
  // force and passed the guard, or `force`); false when unchanged or refused.
  bool offer(GroupSnapshot snapshot, bool force = false);
  // A group that is no longer in the source: refused as "empty" unless forced.
  bool offerRemoved(const std::string& group, bool force = false);
  // Publishes the group's refused snapshot. False when none is refused.
  bool publishRefused(const std::string& group);

  GroupSnapshotPtr find(const std::string& group) const;
  std::vector<std::string> groups() const;
  const std::map<std::string, Refusal>& refused() const { return refused_; }
  uint64_t refusedTotal() const { return refused_total_; }
  uint64_t publishedTotal() const { return published_total_; }

  // Called after each publish with the group's new snapshot (null: the group was removed).
  void setOnPublish(std::function<void(const std::string&, const GroupSnapshotPtr&)> callback) {
    on_publish_ = std::move(callback);
  }

 private:
  // Why `next` may not replace `current`, or nullopt.
  std::optional<std::string> refusalReason(const GroupSnapshot* current,
                                           const GroupSnapshot& next) const;
  void publish(const std::string& group, GroupSnapshotPtr snapshot);

  double max_shrink_;
  std::map<std::string, GroupSnapshotPtr> groups_;
  std::map<std::string, Refusal> refused_;
  uint64_t refused_total_ = 0;
  uint64_t published_total_ = 0;
  std::function<void(const std::string&, const GroupSnapshotPtr&)> on_publish_;
};

}  // namespace strait::cp
