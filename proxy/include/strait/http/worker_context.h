#pragma once

// What a worker lends to the HTTP connections and streams it runs (proxy/http): its loop, its
// stats shard, its random generator, its clusters, the config in force and its access log. The
// server's Worker fills one per worker thread (proxy/server/worker.h); a test fills one with
// fakes (tests/mocks/). Never shared between threads.

#include <cstdint>
#include <memory>
#include <string>

#include "config/types.h"
#include "strait/accesslog/sink.h"
#include "strait/common/random.h"
#include "strait/event/dispatcher.h"
#include "strait/stats/stats.h"
#include "strait/upstream/conn_pool.h"

namespace strait::http {

struct ListenerRuntime;  // proxy/http/listener_runtime.h

// The config in force as the HTTP layer reads it: one immutable snapshot (the server's
// server::Snapshot). A connection holds the one it started a request with, so what it points
// into stays valid however many configs are published meanwhile.
class SnapshotView {
 public:
  virtual ~SnapshotView() = default;
  // The runtime of listener `name`, or nullptr when this config has no such listener.
  virtual const ListenerRuntime* findListener(const std::string& name) const = 0;
  // The config's access_log block, or nullptr when it has none.
  virtual const config::AccessLog* accessLog() const = 0;
};

using SnapshotViewSharedPtr = std::shared_ptr<const SnapshotView>;

struct WorkerContext {
  event::Dispatcher& dispatcher;
  stats::Shard& shard;
  RandomGenerator& random;
  upstream::ClusterManager& clusters;
  SnapshotViewSharedPtr snapshot;  // the config in force on this worker
  bool draining = false;           // answer with "connection: close" and stop keeping connections
  uint32_t index = 0;
  accesslog::Sink* access_log = nullptr;  // null: the process has no access log writer
};

}  // namespace strait::http
