#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <unordered_set>

#include "tests/upstream/capacity.h"
#include "tests/upstream/latency.h"
#include "tests/upstream/options.h"

namespace strait::testupstream {

class Connection;

// Counters exposed on GET /__stats so tests can check what actually reached the upstream.
struct ServerStats {
  // Requests answered, not counting /__stats itself.
  uint64_t requests{0};
  // Connections that carried at least one request other than /__stats.
  uint64_t connections{0};
  // Every connection accepted, including the ones used only to read /__stats.
  uint64_t accepted{0};
  uint64_t active{0};
  // Requests (not /__stats) being answered now, queued ones included, and the most there ever
  // were at once. The capacity model's own counters (in service, queued) are in CapacityQueue.
  uint64_t in_flight{0};
  uint64_t max_in_flight{0};
  // Requests whose connection closed before their response was sent (a proxy cancelling a
  // losing hedge closes it).
  uint64_t cancelled{0};
};

// The listener, the signal handlers and the set of live connections, all on one uv loop.
class Server {
 public:
  explicit Server(Options options);
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, announces the port (stdout and --port-file) and runs until SIGTERM/SIGINT.
  int run();

  const Options& options() const { return options_; }
  ServerStats& stats() { return stats_; }
  // Set by GET /__control?status=N (0 clears): every later request, health checks included,
  // is answered with N, so a test can make a running endpoint fail and recover.
  int forcedStatus() const { return forced_status_; }
  void setForcedStatus(int status) { forced_status_ = status; }
  CapacityQueue& capacity() { return capacity_; }
  LatencyModel& latency() { return latency_; }
  uv_loop_t* loop() { return &loop_; }
  void onConnectionClosed(Connection* connection);

 private:
  static void onConnection(uv_stream_t* listener, int status);
  static void onSignal(uv_signal_t* handle, int signum);
  int bind();
  int announce();
  void shutdown();

  Options options_;
  uv_loop_t loop_{};
  uv_tcp_t listener_{};
  uv_signal_t sigterm_{};
  uv_signal_t sigint_{};
  ServerStats stats_;
  CapacityQueue capacity_;
  LatencyModel latency_;
  std::unordered_set<Connection*> connections_;
  bool stopping_{false};
  int forced_status_{0};
};

}  // namespace strait::testupstream
