#include "control/snapshot_store.h"

#include <cmath>

namespace strait::cp {

namespace {

// "clusters 10 -> 4 (60% fewer, over the limit of 50%)", when `after` is below what the limit
// allows.
std::optional<std::string> shrink(const char* what, size_t before, size_t after,
                                  double max_shrink) {
  if (before == 0 || after >= before) {
    return std::nullopt;
  }
  double lost = static_cast<double>(before - after) / static_cast<double>(before);
  if (lost <= max_shrink + 1e-9) {
    return std::nullopt;
  }
  return std::string(what) + " " + std::to_string(before) + " -> " + std::to_string(after) +
         " (" + std::to_string(static_cast<int>(std::lround(lost * 100))) +
         "% fewer, over the limit of " +
         std::to_string(static_cast<int>(std::lround(max_shrink * 100))) + "%)";
}

}  // namespace

std::optional<std::string> SnapshotStore::refusalReason(const GroupSnapshot* current,
                                                        const GroupSnapshot& next) const {
  if (next.clusters == 0 && next.listeners == 0) {
    return std::string("empty snapshot (no clusters and no listeners)");
  }
  if (current == nullptr) {
    return std::nullopt;
  }
  if (auto reason = shrink("clusters", current->clusters, next.clusters, max_shrink_)) {
    return reason;
  }
  return shrink("endpoints", current->endpoints, next.endpoints, max_shrink_);
}

bool SnapshotStore::offer(GroupSnapshot snapshot, bool force) {
  std::string group = snapshot.group;
  auto it = groups_.find(group);
  const GroupSnapshot* current = it == groups_.end() ? nullptr : it->second.get();
  if (current != nullptr && current->fingerprint() == snapshot.fingerprint()) {
    refused_.erase(group);  // the source went back to what is served
    return false;
  }
  auto next = std::make_shared<const GroupSnapshot>(std::move(snapshot));
  if (!force) {
    if (std::optional<std::string> reason = refusalReason(current, *next)) {
      auto refused = refused_.find(group);
      bool same = refused != refused_.end() && refused->second.snapshot != nullptr &&
                  refused->second.snapshot->fingerprint() == next->fingerprint();
      if (!same) {
        refused_total_++;  // counted once per distinct refused snapshot
        refused_[group] = Refusal{*reason, next};
      }
      return false;
    }
  }
  publish(group, std::move(next));
  return true;
}

bool SnapshotStore::offerRemoved(const std::string& group, bool force) {
  if (groups_.count(group) == 0) {
    return false;
  }
  if (!force) {
    if (refused_.count(group) == 0 || refused_[group].snapshot != nullptr) {
      refused_total_++;
      refused_[group] = Refusal{"the group's folder is gone (an empty snapshot)", nullptr};
    }
    return false;
  }
  publish(group, nullptr);
  return true;
}

bool SnapshotStore::publishRefused(const std::string& group) {
  auto it = refused_.find(group);
  if (it == refused_.end()) {
    return false;
  }
  GroupSnapshotPtr snapshot = it->second.snapshot;
  publish(group, std::move(snapshot));
  return true;
}

void SnapshotStore::publish(const std::string& group, GroupSnapshotPtr snapshot) {
  refused_.erase(group);
  if (snapshot == nullptr) {
    groups_.erase(group);
  } else {
    groups_[group] = snapshot;
  }
  published_total_++;
  if (on_publish_) {
    on_publish_(group, snapshot);
  }
}

GroupSnapshotPtr SnapshotStore::find(const std::string& group) const {
  auto it = groups_.find(group);
  return it == groups_.end() ? nullptr : it->second;
}

std::vector<std::string> SnapshotStore::groups() const {
  std::vector<std::string> out;
  for (const auto& [name, snapshot] : groups_) {
    out.push_back(name);
  }
  return out;
}

}  // namespace strait::cp
