#pragma once

// What a worker lends to the connections it runs: its loop, its stats shard, its random
// generator, its cluster pools and the snapshot in force. One per worker thread; never shared.

#include <cstdint>

#include "proxy/accesslog/worker_log.h"
#include "proxy/event/dispatcher_impl.h"
#include "proxy/server/snapshot.h"
#include "proxy/upstream/worker_clusters.h"
#include "strait/common/random.h"
#include "strait/stats/stats.h"

namespace strait::server {

struct WorkerContext {
  event::DispatcherImpl& dispatcher;
  stats::Shard& shard;
  RandomGenerator& random;
  upstream::WorkerClusters& clusters;
  SnapshotSharedPtr snapshot;  // the config in force on this worker
  bool draining = false;       // answer with "connection: close" and stop keeping connections
  uint32_t index = 0;
  accesslog::WorkerLog* access_log = nullptr;  // null: the process has no access log writer
};

}  // namespace strait::server
