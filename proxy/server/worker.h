#pragma once

// A worker thread: one event loop, its own listening sockets (SO_REUSEPORT), the connections it
// accepted, its connection pools and stats shard. The main thread talks to it only by post().

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "proxy/accesslog/worker_log.h"
#include "proxy/event/dispatcher_impl.h"
#include "proxy/http/server_connection.h"
#include "proxy/network/listener_impl.h"
#include "proxy/server/load_signals.h"
#include "proxy/server/process_signals.h"
#include "proxy/server/snapshot.h"
#include "proxy/upstream/worker_clusters.h"
#include "strait/http/worker_context.h"

namespace strait::server {

// A bound, listening socket for one listener on one worker.
struct ListenSocket {
  std::string listener_name;
  int fd;
};

class Worker {
 public:
  // `access_log` (may be null) is the process's access log writer; it must outlive the worker.
  // `signals` (may be null) gets this worker's event-loop lag; it must outlive the worker.
  Worker(uint32_t index, stats::Store& store, TimeSource& time_source,
         accesslog::Writer* access_log = nullptr, ProcessSignalsImpl* signals = nullptr);
  ~Worker();

  // Starts the thread with the first snapshot and this worker's listening sockets.
  void start(SnapshotSharedPtr snapshot, std::vector<ListenSocket> sockets);
  // Adopts a new snapshot; streams in flight keep theirs.
  void updateSnapshot(SnapshotSharedPtr snapshot);
  // Listeners a new config added (posted after the snapshot that names them) and removed: a
  // removed listener stops accepting; its connections finish on the snapshot they hold.
  void addListeners(std::vector<ListenSocket> sockets);
  void removeListener(const std::string& name);
  // Stops accepting, closes idle connections and marks busy ones to close after their
  // response. `on_idle` runs (on the worker thread) once no connection is left.
  void startDrain(std::function<void()> on_idle);
  // Stops the loop (closing what is left) and joins the thread.
  void stop();

  uint32_t index() const { return index_; }
  size_t connectionCount() const { return connection_count_.load(std::memory_order_relaxed); }

 private:
  void run(SnapshotSharedPtr snapshot, std::vector<ListenSocket> sockets);
  void listen(ListenSocket socket);
  void checkDrained();
  // Measures how late the loop runs a LagMeter::kPeriod timer (ProcessSignals::eventLoopLag()).
  void onLagTick();

  const uint32_t index_;
  stats::Store& store_;
  event::DispatcherImpl dispatcher_;
  DefaultRandomGenerator random_;
  upstream::WorkerClusters clusters_;
  std::unique_ptr<accesslog::WorkerLog> access_log_;
  http::WorkerContext context_;
  struct NamedListener {
    std::string name;
    std::unique_ptr<network::ListenerImpl> listener;
  };
  std::vector<NamedListener> listeners_;
  http::ServerConnection::List connections_;
  std::function<void()> on_drained_;
  event::TimerPtr drain_check_;
  ProcessSignalsImpl* signals_;
  LagMeter lag_meter_;
  event::TimerPtr lag_timer_;
  MonotonicTime lag_due_{};
  std::atomic<size_t> connection_count_{0};
  std::thread thread_;
};

}  // namespace strait::server
